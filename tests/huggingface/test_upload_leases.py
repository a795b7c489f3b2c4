"""How long what the Hugging Face commit protocol hands out and keeps lasts: objects staged for a
commit that never comes are removed by ``modelshelf gc`` after ``HF_STAGING_LEASE_SECONDS``; transfer
URLs expire after ``UPLOAD_URL_EXPIRY`` and are judged again at each use; parts sent straight to S3
are safe from gc while their URLs work, and a completion that comes after gc took them fails
saying so, recording nothing."""
from __future__ import annotations

import datetime
import hashlib
import os
import time
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from package_api.access.members import MemberService
from package_api.access.models import Project, Role, User
from package_api.db import db, utcnow
from package_api.ops.maintenance import expiry_steps
from package_api.packages.gc import GarbageCollector, GcReport
from package_api.packages.leases import UploadLeases
from package_api.packages.models import Package, PackageFile, Upload
from plugin.huggingface.staging import GC_LABEL
from plugin.registry.projection import HF_STAGING_PACKAGE_NAME
from tests.huggingface.test_writes_api import HEADER, MODEL, batch, commit, hf, ndjson, path_of, staged_files
from tests.support.world import World, create_model

MIB = 1024 * 1024


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all", "HF_REGULAR_MAX_SIZE": 1024, "HF_LFS_PART_SIZE": 4096}


@pytest.fixture
def project(client: FlaskClient, world: World) -> int:
    project = world.projects["private"]
    create_model(client, project, MODEL, world.headers("developer"))
    return project


def collect(app: Flask, *, dry_run: bool = False, later: datetime.timedelta = datetime.timedelta(0)) -> GcReport:
    """``modelshelf gc`` with the plugins' steps, as if run ``later`` than now (for upload leases)."""
    with app.app_context():
        leases = UploadLeases(db.session, clock=lambda: utcnow() + later)
        collector = GarbageCollector(db.session, app.extensions["modelshelf.storage"], leases, steps=expiry_steps(app))
        return collector.collect(dry_run=dry_run)


def age_staging(app: Flask, project: int, by: datetime.timedelta) -> None:
    """Make the project's staged files look ``by`` older."""
    with app.app_context():
        staging = select(Package.id).where(Package.project_id == project, Package.name == HF_STAGING_PACKAGE_NAME)
        db.session.execute(
            update(PackageFile)
            .where(PackageFile.package_id.in_(staging.scalar_subquery()))
            .values(created_at=PackageFile.created_at - by)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def lfs_line(path: str, oid: str, size: int) -> dict[str, Any]:
    return {"key": "lfsFile", "value": {"path": path, "oid": oid, "size": size, "algo": "sha256"}}


def test_gc_removes_uploads_no_commit_took_once_their_lease_is_over(
    app: Flask, client: FlaskClient, world: World, project: int
) -> None:
    committed, orphan = b"c" * 3000, b"o" * 3000
    for content in (committed, orphan):
        answer = batch(client, world, project, content, ["basic"])
        assert client.put("/" + path_of(answer["actions"]["upload"]["href"]), data=content).status_code == 200
    # The first part of a multipart upload never completed.
    parts = batch(client, world, project, b"p" * 10_000, ["basic", "multipart"])["actions"]["upload"]["header"]
    assert client.put("/" + path_of(parts["00001"]), data=b"p" * 4096).status_code == 200
    made = commit(client, world, project, "1.0.0", lfs_line("w.bin", hashlib.sha256(committed).hexdigest(), 3000))
    assert made.status_code == 200, made.get_json()
    assert len(staged_files(app, project)) == 2  # the orphan and the part: the commit took its object

    # Within the lease (a day by default) gc keeps them: a commit may still come.
    assert collect(app).expired == {GC_LABEL: 0}
    assert len(staged_files(app, project)) == 2

    age_staging(app, project, datetime.timedelta(days=1, minutes=1))
    dry = collect(app, dry_run=True)
    assert dry.expired == {GC_LABEL: 2}
    assert f"; 2 {GC_LABEL}" in dry.summary(dry_run=True)
    assert len(staged_files(app, project)) == 2  # a dry run changes nothing
    report = collect(app)
    assert report.expired == {GC_LABEL: 2} and report.files == 2 and report.blobs == 2
    assert staged_files(app, project) == []

    # The orphan's bytes are gone: a commit naming it is told to upload it first; the batch asks for it.
    late = commit(client, world, project, "1.0.1", lfs_line("o.bin", hashlib.sha256(orphan).hexdigest(), 3000))
    assert late.status_code == 404 and "upload it first" in late.get_json()["error"]
    assert "actions" in batch(client, world, project, orphan, ["basic"])
    # The committed object stays with its version.
    assert hf(client, world, "GET", f"/{project}/{MODEL}/resolve/1.0.0/w.bin").data == committed
    assert collect(app).expired == {GC_LABEL: 0}


def test_a_shorter_staging_lease(settings: dict[str, object]) -> None:
    """``HF_STAGING_LEASE_SECONDS`` sets the lease (read when the app starts)."""
    from package_api import create_app

    app = create_app({**settings, "HF_STAGING_LEASE_SECONDS": 60})
    with app.app_context():
        step = expiry_steps(app)[GC_LABEL]
        assert step.keywords == {"lease": datetime.timedelta(seconds=60)}  # type: ignore[attr-defined]
        db.session.remove()
        db.engine.dispose()


def set_role(app: Flask, project: int, username: str, role: Role) -> None:
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        MemberService(db.session).update(db.session.get(Project, project), user_id, role)  # type: ignore[arg-type]
        db.session.commit()


def test_transfer_urls_expire_and_are_judged_again_at_each_use(
    app: Flask, client: FlaskClient, world: World, project: int
) -> None:
    content = b"t" * 3000
    href = "/" + path_of(batch(client, world, project, content, ["basic"])["actions"]["upload"]["href"])

    # The developer the URL was made for is now a guest: the URL no longer stores anything.
    set_role(app, project, "developer", Role.GUEST)
    demoted = client.put(href, data=content)
    assert demoted.status_code == 403, demoted.get_data(as_text=True)
    assert staged_files(app, project) == []
    set_role(app, project, "developer", Role.DEVELOPER)
    assert client.put(href, data=content).status_code == 200

    # A URL works UPLOAD_URL_EXPIRY seconds (15 minutes by default; 1 here), then says to ask again.
    app.config["MODELSHELF"]["UPLOAD_URL_EXPIRY"] = 1
    other = b"u" * 3000
    href = "/" + path_of(batch(client, world, project, other, ["basic"])["actions"]["upload"]["href"])
    time.sleep(2.1)
    expired = client.put(href, data=other)
    assert expired.status_code == 401 and "ask the batch API for a new one" in expired.get_json()["error"]
    assert len(staged_files(app, project)) == 1  # the first object only


def _send_parts(answer: dict[str, Any], content: bytes) -> list[dict[str, Any]]:
    """PUT each part to its presigned S3 URL, as the client does; the parts' ETags."""
    header = answer["actions"]["upload"]["header"]
    size = int(header["chunk_size"])
    etags = []
    for number, key in enumerate(sorted(k for k in header if k.isdigit()), start=1):
        assert header[key].startswith("http") and "/hf/" not in header[key]  # straight to the store
        sent = requests.put(header[key], data=content[(number - 1) * size : number * size], timeout=60)
        assert sent.status_code == 200, sent.text
        etags.append({"partNumber": number, "etag": sent.headers["ETag"]})
    return etags


def _lease_of(app: Flask) -> Upload:
    with app.app_context():
        (lease,) = db.session.scalars(select(Upload))
        db.session.expunge(lease)
        return lease


@pytest.mark.s3
class TestPartsStraightToS3:
    @pytest.fixture
    def settings(self, settings: dict[str, object], s3_settings: dict[str, object]) -> dict[str, object]:
        return {
            **settings, **s3_settings, "S3_REDIRECT_DOWNLOADS": True, "HF_LFS_PART_SIZE": 5 * MIB,
            "UPLOAD_URL_EXPIRY": 600, "UPLOAD_LEASE_SECONDS": 60, "MAX_FILE_SIZE": 64 * MIB,
        }

    def test_gc_leaves_them_while_their_urls_work(self, app: Flask, client: FlaskClient, world: World, project: int) -> None:
        content = os.urandom(11 * MIB)
        answer = batch(client, world, project, content, ["basic", "multipart"])
        # The lease lasts as long as the part URLs work, plus the lease time: no heartbeat sees the parts.
        lease = _lease_of(app)
        assert lease.expires_at - lease.started_at == datetime.timedelta(seconds=600 + 60)
        # gc past the lease time, but while the URLs still work: it takes nothing.
        report = collect(app, later=datetime.timedelta(seconds=61))
        assert report.abandoned == 0
        etags = _send_parts(answer, content)
        complete = client.post("/" + path_of(answer["actions"]["upload"]["href"]), json={"oid": answer["oid"], "parts": etags})
        assert complete.status_code == 200, complete.get_data(as_text=True)
        made = commit(client, world, project, "1.0.0", lfs_line("w.bin", answer["oid"], len(content)))
        assert made.status_code == 200, made.get_json()
        download = hf(client, world, "GET", f"/{project}/{MODEL}/resolve/1.0.0/w.bin")
        assert download.status_code == 302
        assert requests.get(download.headers["Location"], timeout=60).content == content

    def test_a_completion_after_gc_took_the_parts_fails_saying_so(
        self, app: Flask, client: FlaskClient, world: World, project: int
    ) -> None:
        content = os.urandom(6 * MIB)
        answer = batch(client, world, project, content, ["basic", "multipart"])
        etags = _send_parts(answer, content)
        # gc once the URLs have expired and the lease with them: the parts are reclaimed.
        report = collect(app, later=datetime.timedelta(seconds=600 + 61))
        assert report.abandoned == 1 and report.bytes == len(content)
        complete = client.post("/" + path_of(answer["actions"]["upload"]["href"]), json={"oid": answer["oid"], "parts": etags})
        assert complete.status_code == 503, complete.get_data(as_text=True)
        assert "abandoned" in complete.get_json()["error"]
        assert staged_files(app, project) == []
        refused = commit(client, world, project, "1.0.0", lfs_line("w.bin", answer["oid"], len(content)))
        assert refused.status_code == 404 and "upload it first" in refused.get_json()["error"]
        assert "actions" in batch(client, world, project, content, ["basic", "multipart"])  # send it again


def test_a_deploy_token_publishes_through_lfs(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    """The transfer URLs a deploy token asked for are judged with its own scopes at each use."""
    from package_api.access.tokens import DeployTokenService

    with app.app_context():
        found = db.session.get(Project, project)
        assert found is not None
        _, secret = DeployTokenService(db.session).create(found, "publisher", ["write_package_registry", "read_package_registry"])
        db.session.commit()
    bearer = {"Authorization": f"Bearer {secret}"}
    content = b"d" * 3000
    oid = hashlib.sha256(content).hexdigest()
    response = client.post(
        f"/hf/{project}/{MODEL}.git/info/lfs/objects/batch", headers=bearer,
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(content)}]},
    )
    assert response.status_code == 200, response.get_json()
    [answer] = response.get_json()["objects"]
    assert client.put("/" + path_of(answer["actions"]["upload"]["href"]), data=content).status_code == 200
    made = client.post(
        f"/hf/api/models/{project}/{MODEL}/commit/3.0.0", headers={**bearer, "Content-Type": "application/x-ndjson"},
        data=ndjson(HEADER, lfs_line("d.bin", oid, len(content))),
    )
    assert made.status_code == 200, made.get_json()
    assert hf(client, world, "GET", f"/{project}/{MODEL}/resolve/3.0.0/d.bin").data == content
