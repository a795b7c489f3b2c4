"""``modelshelf gc`` and ``modelshelf verify`` on the Xet store: a xorb no file uses goes once it is
older than the grace period, a file's xorbs go with the last version holding it, and verify reads every
xorb back (and every Xet file, through the blob verify)."""
from __future__ import annotations

import datetime
import hashlib
import io
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from package_api.db import db, utcnow
from package_api.plugin_api import base_storage
from plugin.huggingface import xet_files, xet_maintenance
from plugin.huggingface.models import XetFile, XetFileXorb, XetXorb
from plugin.huggingface.xet.format import chunk_hash, hash_to_hex
from plugin.huggingface.xet.xorb import MAX_XORB_BYTES
from plugin.huggingface.xet_direct import direct_prefix
from plugin.huggingface.xet_holds import GRACE
from plugin.huggingface.xorbs import xorb_key
from tests.huggingface.test_xet_api import chunks_of, shard_of, xorb
from tests.unit.test_cli import Invoke, cli, data_dir, opened  # noqa: F401  (fixtures)


def backdate(data: Path) -> None:
    """Make every Xet row older than the grace period."""
    with opened(data):
        past = datetime.datetime(2020, 1, 1)
        db.session.execute(update(XetXorb).values(created_at=past))
        db.session.execute(update(XetFile).values(created_at=past))
        db.session.commit()


def test_gc_and_verify_of_xorbs(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice")
    project = cli("admin", "create-project", "team/llm", "--owner", "alice").stdout.strip()
    headers = {"PRIVATE-TOKEN": cli("admin", "create-token", "--user", "alice").stdout.strip()}
    chunks, spare = chunks_of("used", 3), chunks_of("spare", 2)
    used, used_data = xorb(chunks)
    unused, unused_data = xorb(spare)
    content = b"".join(chunks)
    with opened(data_dir) as app:
        client = app.test_client()
        assert client.post(f"/api/v4/projects/{project}/ml/models", json={"name": "llm"}, headers=headers).status_code == 201
        token = client.get(f"/hf/api/models/{project}/llm/xet-write-token/main", headers=headers).get_json()["accessToken"]
        cas = {"Authorization": f"Bearer {token}"}
        for name, data in ((used, used_data), (unused, unused_data)):
            assert client.post(f"/hf/cas/v1/xorbs/default/{name}", data=data, headers=cas).status_code == 200
        assert client.post("/hf/cas/v1/shards", data=shard_of(used, chunks)[1], headers=cas).status_code == 200
        sha256 = hashlib.sha256(content).hexdigest()
        line = b'{"key":"header","value":{"summary":"w"}}\n{"key":"lfsFile","value":{"path":"w.bin","oid":"%s","size":%d}}\n'
        made = client.post(f"/hf/api/models/{project}/llm/commit/main", data=line % (sha256.encode(), len(content)), headers=headers)
        assert made.status_code == 200, made.get_json()
    xorbs = data_dir / "blobs" / "xet" / "xorbs"

    # Young: nothing goes, whatever uses it.
    assert "xet" not in cli("gc").stdout
    assert sorted(p.name for p in xorbs.rglob("*") if p.is_file()) == sorted([used, unused])
    backdate(data_dir)
    dry = cli("gc", "--dry-run").stdout
    assert f"xet: would remove 0 files and 1 xorbs ({len(unused_data)} bytes)" in dry
    assert f"xet: removed 0 files and 1 xorbs ({len(unused_data)} bytes)" in cli("gc").stdout
    assert sorted(p.name for p in xorbs.rglob("*") if p.is_file()) == [used]

    # verify reads the xorb and the file rebuilt from it; a damaged xorb is reported by both.
    checked = cli("verify")
    assert checked.exit_code == 0 and "verified 1 xorbs" in checked.stdout
    stored = next(p for p in xorbs.rglob("*") if p.is_file())
    stored.write_bytes(stored.read_bytes()[:-5] + b"xxxxx")
    damaged = cli("verify")
    assert damaged.exit_code == 1, damaged.stdout
    assert f"corrupted xorb {used}" in damaged.stdout
    assert f"unreadable blob {hashlib.sha256(content).hexdigest()}" in damaged.stdout  # the file, rebuilt
    stored.write_bytes(used_data)

    # The version deleted: its blob, then its file and xorb go in the same run.
    with opened(data_dir) as app:
        client = app.test_client()
        assert client.delete(f"/api/v4/projects/{project}/ml/models/llm", headers=headers).status_code in (200, 204)
    result = cli("gc").stdout
    assert f"xet: removed 1 files and 1 xorbs ({len(used_data)} bytes)" in result
    assert [p for p in (data_dir / "blobs" / "xet").rglob("*") if p.is_file()] == []


# -- objects no row names, and gc racing an upload (plugin.huggingface.xet_holds) -----------------------


def _xet_project(cli: Invoke, data_dir: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, object]) -> tuple[str, dict[str, str]]:  # noqa: F811
    for name, value in settings.items():
        monkeypatch.setenv(f"MODELSHELF_{name}", str(value))
    cli("admin", "create-user", "alice")
    project = cli("admin", "create-project", "team/llm", "--owner", "alice").stdout.strip()
    return project, {"PRIVATE-TOKEN": cli("admin", "create-token", "--user", "alice").stdout.strip()}


def _cas(client: FlaskClient, project: str, headers: dict[str, str]) -> dict[str, str]:
    if client.get(f"/api/v4/projects/{project}/ml/models/llm", headers=headers).status_code == 404:
        assert client.post(f"/api/v4/projects/{project}/ml/models", json={"name": "llm"}, headers=headers).status_code == 201
    token = client.get(f"/hf/api/models/{project}/llm/xet-write-token/main", headers=headers).get_json()["accessToken"]
    return {"Authorization": f"Bearer {token}"}


def _stored(app: Flask) -> set[str]:
    store = base_storage()
    return {key.rsplit("/", 1)[-1] for prefix in ("xet/xorbs/", "xet/files/") for key in store.keys(prefix)}


def test_objects_no_row_names_go_once_older_than_the_grace(
    cli: Invoke, data_dir: Path, monkeypatch: pytest.MonkeyPatch, backend_settings: dict[str, object]  # noqa: F811
) -> None:
    """A xorb stored without a row (a server killed before recording it, or one sent straight to the store
    whose shard never came) goes once its store modification time is older than the grace period; a
    younger one and one a file uses stay."""
    project, headers = _xet_project(cli, data_dir, monkeypatch, backend_settings)
    chunks = chunks_of("used", 3)
    used, used_data = xorb(chunks)
    old, old_data = xorb(chunks_of("old-orphan", 2))
    young, young_data = xorb(chunks_of("young-orphan", 2))
    with opened(data_dir) as app:
        client = app.test_client()
        cas = _cas(client, project, headers)
        assert client.post(f"/hf/cas/v1/xorbs/default/{used}", data=used_data, headers=cas).status_code == 200
        assert client.post("/hf/cas/v1/shards", data=shard_of(used, chunks)[1], headers=cas).status_code == 200
        base_storage().put(xorb_key(old), io.BytesIO(old_data))  # as a direct upload (or a crash) leaves it
        time.sleep(1.2)  # S3 keeps whole seconds
        cutoff = utcnow().replace(microsecond=0)
        time.sleep(1.0)
        base_storage().put(xorb_key(young), io.BytesIO(young_data))
        assert {used, old, young} <= _stored(app)
    monkeypatch.setattr(xet_maintenance, "utcnow", lambda: cutoff + GRACE)

    dry = cli("gc", "--dry-run").stdout
    assert f"xet: would remove 1 objects no row names ({len(old_data)} bytes)" in dry, dry
    assert "xet: 1 objects no row names yet, younger than 1 day" in dry
    result = cli("gc").stdout
    assert f"xet: removed 1 objects no row names ({len(old_data)} bytes)" in result, result
    assert "removed 0 files and" not in result  # the file and its xorb are used: no line for them
    with opened(data_dir) as app:
        stored = _stored(app)
        assert used in stored and young in stored and old not in stored
        assert db.session.scalar(select(XetXorb).where(XetXorb.hash == old)) is None  # the claim went too
        # The young one is recorded when it is uploaded after all, and its shard counts.
        client = app.test_client()
        cas = _cas(client, project, headers)
        assert client.post(f"/hf/cas/v1/xorbs/default/{young}", data=young_data, headers=cas).status_code == 200
    checked = cli("verify")
    assert checked.exit_code == 0 and "verified 2 xorbs" in checked.stdout, checked.stdout


def test_a_direct_upload_no_shard_named_goes_once_older_than_the_grace(
    cli: Invoke, data_dir: Path, monkeypatch: pytest.MonkeyPatch, backend_settings: dict[str, object]  # noqa: F811
) -> None:
    """A xorb put straight into the store through an upload grant (``xet_direct``: a key of its own)
    whose shard never came goes once older than the grace period; a younger one stays."""
    _xet_project(cli, data_dir, monkeypatch, backend_settings)
    old, old_data = xorb(chunks_of("direct-old", 2))
    young, young_data = xorb(chunks_of("direct-young", 2))
    old_key, young_key = direct_prefix(old, 7) + "0123456789abcdef", direct_prefix(young, 7) + "fedcba9876543210"
    with opened(data_dir):
        base_storage().put(old_key, io.BytesIO(old_data))
        time.sleep(1.2)  # S3 keeps whole seconds
        cutoff = utcnow().replace(microsecond=0)
        time.sleep(1.0)
        base_storage().put(young_key, io.BytesIO(young_data))
    monkeypatch.setattr(xet_maintenance, "utcnow", lambda: cutoff + GRACE)
    result = cli("gc").stdout
    assert f"xet: removed 1 objects no row names ({len(old_data)} bytes)" in result, result
    assert "xet: 1 objects no row names yet, younger than 1 day" in result
    with opened(data_dir):
        assert set(base_storage().keys("xet/")) == {young_key}


@pytest.mark.s3
def test_upload_grants_never_committed_are_aborted_once_older_than_the_grace(
    cli: Invoke, data_dir: Path, monkeypatch: pytest.MonkeyPatch, s3_settings: dict[str, object]  # noqa: F811
) -> None:
    """Each grant begins a multipart upload; one never committed (a client that asked and went, or
    asked for thousands) would stay in the bucket for ever without a lifecycle rule: gc aborts those
    begun before the grace period (their commit cannot come any more), keeps a younger one and a
    blob upload's, and touches no object."""
    _xet_project(cli, data_dir, monkeypatch, {**s3_settings, "S3_REDIRECT_DOWNLOADS": True})
    old, _ = xorb(chunks_of("grant-old", 2))
    young, _ = xorb(chunks_of("grant-young", 2))
    old_key, young_key = direct_prefix(old, 7) + "0123456789abcdef", direct_prefix(young, 7) + "fedcba9876543210"
    with opened(data_dir):
        store = base_storage()
        assert store.begin_parts(old_key, MAX_XORB_BYTES) is not None
        assert store.begin_parts("xet/xorbs/00/not-a-grant", MAX_XORB_BYTES) is not None  # not a grant's key
        time.sleep(1.2)  # S3 keeps whole seconds
        cutoff = utcnow().replace(microsecond=0)
        time.sleep(1.0)
        assert store.begin_parts(young_key, MAX_XORB_BYTES) is not None
        assert {r.key for r in store.remnants("xet/")} == {old_key, young_key, "xet/xorbs/00/not-a-grant"}
    monkeypatch.setattr(xet_maintenance, "utcnow", lambda: cutoff + GRACE)
    assert "xet: would abort 1 upload grants never committed, older than 1 day" in cli("gc", "--dry-run").stdout
    result = cli("gc").stdout
    assert "xet: aborted 1 upload grants never committed, older than 1 day" in result, result
    with opened(data_dir):
        assert {r.key for r in base_storage().remnants("xet/")} == {young_key, "xet/xorbs/00/not-a-grant"}


def test_a_shard_naming_a_xorb_gc_removes_meanwhile_is_refused_whole(
    cli: Invoke, data_dir: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """gc removes an old unused xorb after a shard naming it was parsed and before it counts: the shard is
    refused (400, naming the xorb), no file, link or manifest is left, and the client's retry (xorb, then
    shard) works. A deduplication answer holds the xorb it names, so gc leaves that one alone."""
    project, headers = _xet_project(cli, data_dir, monkeypatch, {})
    chunks, kept = chunks_of("raced", 3), chunks_of("answered", 2)
    name, data = xorb(chunks)
    answered, answered_data = xorb(kept)
    with opened(data_dir) as app:
        client = app.test_client()
        cas = _cas(client, project, headers)
        for hex_hash, body in ((name, data), (answered, answered_data)):
            assert client.post(f"/hf/cas/v1/xorbs/default/{hex_hash}", data=body, headers=cas).status_code == 200
    backdate(data_dir)
    with opened(data_dir) as app:
        client = app.test_client()
        cas = _cas(client, project, headers)
        assert client.get(f"/hf/cas/v1/chunks/default-merkledb/{hash_to_hex(chunk_hash(kept[0]))}", headers=cas).status_code == 200
        check = xet_files.validate_file_terms
        ran: list[str] = []

        def then_gc(*args: Any) -> Any:
            result = check(*args)
            if not ran:  # another process's gc, between the shard's checks and what makes it count
                with Session(db.engine) as other:
                    ran.extend(xet_maintenance.collect(other, base_storage(), False))
            return result

        monkeypatch.setattr(xet_files, "validate_file_terms", then_gc)
        refused = client.post("/hf/cas/v1/shards", data=shard_of(name, chunks)[1], headers=cas)
        assert refused.status_code == 400, refused.get_json()
        assert f"xorb {name} was removed by gc (upload it again)" in refused.get_json()["error"]
        assert ran == [f"xet: removed 0 files and 1 xorbs ({len(data)} bytes)"]  # the answered one stayed
        assert db.session.scalars(select(XetFile)).all() == [] and db.session.scalars(select(XetFileXorb)).all() == []
        assert _stored(app) == {answered}
        assert client.post(f"/hf/cas/v1/xorbs/default/{name}", data=data, headers=cas).status_code == 200
        again = client.post("/hf/cas/v1/shards", data=shard_of(name, chunks)[1], headers=cas)
        assert again.status_code == 200 and again.get_json() == {"result": 1}
        assert len(db.session.scalars(select(XetFileXorb)).all()) == 1
    checked = cli("verify")
    assert checked.exit_code == 0 and "verified 2 xorbs" in checked.stdout, checked.stdout
