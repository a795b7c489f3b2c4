"""The package pipeline (``package_api.packages.pipeline``): what a package change does happens in
its one transaction, in the stated order: the checks (before the bytes flow), rows, the plugins' steps
(the model version, then its run), provenance, audit; one commit; then the signals. A check that
refuses stores nothing; a step that fails undoes the package; a lost race redoes the whole change."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, Insert, event, func, select
from sqlalchemy.orm import Session

from package_api import signals
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.errors import InvalidInput
from package_api.packages.models import Blob, Package, PackageBuildInfo, Upload
from package_api.packages.pipeline import PackageChange, package_steps, register_package_step
from plugin.registry.models import Model, ModelOrigin, ModelVersion
from tests.support.jobs import register_job
from tests.support.world import World, create_model, generic_url

#: What creating the first version of a model writes, in its one transaction (a first upload adds a
#: blob and a file; a CI job adds its provenance). The model exists already: models are made on purpose.
VERSION_TABLES = {"packages", "ml_model_versions", "ml_version_commits", "ml_experiments", "ml_runs", "ml_run_tags",
                  "ml_model_version_registrations", "audit_events"}  # fmt: skip
#: What stamping a token's ``last_used_at`` writes, in a transaction of its own.
STAMPS = ({"ci_jobs"}, {"personal_access_tokens"})


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def project(world: World) -> int:
    return world.projects["private"]


@pytest.fixture
def model(client: FlaskClient, world: World, project: int) -> dict[str, Any]:
    return create_model(client, project, "fraud-detector", world.headers("reporter"))


@pytest.fixture
def transactions() -> Iterator[list[set[str]]]:
    """The tables each committed transaction wrote (those that wrote nothing, or only stamped a token,
    are left out): the rows its flushes wrote, and the rows it inserted without a flush."""
    committed: list[set[str]] = []
    written: set[str] = set()

    def flushed(session: Session, _: Any) -> None:
        for row in [*session.new, *session.dirty, *session.deleted]:
            written.add(row.__table__.name)

    def executed(_connection: Connection, statement: Any, *_: Any) -> None:
        if isinstance(statement, Insert):  # through the session or its connection (package_api.row_writes)
            written.add(statement.table.name)

    def commit(_: Session) -> None:
        if written and written not in STAMPS:
            committed.append(set(written))
        written.clear()

    def rollback(_: Session, previous: Any) -> None:
        written.clear()

    hooks = (("after_flush", flushed), ("after_commit", commit), ("after_soft_rollback", rollback))
    for name, hook in hooks:
        event.listen(Session, name, hook)
    event.listen(Engine, "before_execute", executed)
    yield committed
    event.remove(Engine, "before_execute", executed)
    for name, hook in hooks:
        event.remove(Session, name, hook)


def count(app: Flask, table: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def test_the_steps_in_order(app: Flask) -> None:
    assert package_steps(app, "created") == ["model_version", "hf_commit", "version_run"]
    assert package_steps(app, "deleted") == ["alias_history", "model_version"]
    assert package_steps(app, "file_added") == package_steps(app, "file_deleted") == ["hf_commit"]
    with pytest.raises(ValueError, match="unknown package event"):
        register_package_step(app, "renamed", "x", lambda change: None)
    with pytest.raises(ValueError, match="named 'version_run' already"):
        register_package_step(app, "created", "version_run", lambda change: None)
    with pytest.raises(ValueError, match="not a registered"):
        register_package_step(app, "created", "card", lambda change: None, after="thumbnail")
    register_package_step(app, "created", "between", lambda change: None, after="model_version")
    assert package_steps(app, "created") == ["model_version", "between", "hf_commit", "version_run"]


def test_a_first_upload_by_a_ci_job_is_one_transaction(
    app: Flask, client: FlaskClient, world: World, project: int, model: dict[str, Any], transactions: list[set[str]]
) -> None:
    job_id, token = register_job(app, project, "developer", "41")
    transactions.clear()
    url = generic_url(project, "fraud-detector", "1.0.0", "model.onnx")
    assert client.put(url, data=b"weights", headers={"JOB-TOKEN": token}).status_code == 201
    # The lease (committed before the bytes flow), then everything else at once.
    lease, *rest = transactions
    assert lease == {"uploads"}
    assert rest == [VERSION_TABLES | {"blobs", "package_files", "package_build_infos"}]
    [package_id] = [p for p in _ids(app, Package.id, Package.name == "fraud-detector")]
    assert count(app, PackageBuildInfo, PackageBuildInfo.package_id == package_id, PackageBuildInfo.ci_job_id == job_id) == 1


def test_a_version_made_through_the_api_by_a_ci_job_is_one_transaction(
    app: Flask, client: FlaskClient, world: World, project: int, transactions: list[set[str]]
) -> None:
    models = f"/api/v4/projects/{project}/ml/models"
    assert client.post(models, json={"name": "ranker"}, headers=world.headers("developer")).status_code == 201
    job_id, token = register_job(app, project, "developer", "42")
    transactions.clear()
    created = client.post(f"{models}/ranker/versions", json={"version": "2.0.0", "description": "d"},
                          headers={"JOB-TOKEN": token})  # fmt: skip
    assert created.status_code == 201 and created.json["description"] == "d"
    assert transactions == [VERSION_TABLES | {"package_build_infos"}]
    assert created.json["ci_job"]["id"] == job_id


def test_a_semver_package_of_no_model_is_a_plain_package(
    app: Flask, client: FlaskClient, world: World, project: int, transactions: list[set[str]]
) -> None:
    url = generic_url(project, "release-tarball", "2.3.4", "release.tar.gz")
    assert client.put(url, data=b"tarball", headers=world.headers("developer")).status_code == 201
    assert transactions == [{"uploads"}, {"blobs", "packages", "package_files", "audit_events"}]
    assert count(app, Model) == count(app, ModelVersion) == 0
    assert _ids(app, AuditEvent.event_name, AuditEvent.target_details == "release-tarball/2.3.4") == ["package_created"]


def test_a_check_refuses_before_the_bytes_flow(
    app: Flask, client: FlaskClient, world: World, project: int, model: dict[str, Any], transactions: list[set[str]]
) -> None:
    """The model registry's check: under a model's name, versions are semantic versions. An upload it
    refuses takes no lease, stores no byte and writes nothing."""
    storage = app.extensions["modelshelf.storage"]
    url = generic_url(project, "fraud-detector", "build-7", "model.onnx")
    for headers in (world.headers("reporter"), {"JOB-TOKEN": register_job(app, project, "developer", "43")[1]}):
        transactions.clear()
        refused = client.put(url, data=b"weights", headers=headers)
        assert (refused.status_code, refused.json) == (
            400, {"message": "400 Bad request - fraud-detector is a model: versions must be semantic versions, e.g. 1.4.0"}
        )
        assert transactions == [] and list(storage.keys()) == []
    assert count(app, Package) == count(app, Upload) == 0


def test_a_step_that_fails_undoes_the_package(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    def refuse(change: PackageChange) -> None:
        if change.package.name == "refused":
            raise InvalidInput("refused by a step")

    register_package_step(app, "created", "refuse", refuse)
    created: list[str] = []
    with signals.package_created.connected_to(lambda sender, package: created.append(package.name)):
        refused = client.put(generic_url(project, "refused", "1.0.0"), data=b"bytes", headers=world.headers("developer"))
        assert refused.status_code == 400 and refused.json == {"message": "400 Bad request - refused by a step"}
        assert client.put(generic_url(project, "kept", "1.0.0"), data=b"kept", headers=world.headers("developer")).status_code == 201
    assert created == ["kept"]
    assert count(app, Package, Package.name == "refused") == 0
    assert count(app, Model, Model.name == "refused") == 0
    assert count(app, AuditEvent, AuditEvent.target_details.like("refused/%")) == 0
    assert count(app, Blob) == 1 and count(app, Upload) == 0  # the refused bytes went with their lease


def test_a_signal_receiver_that_fails_after_the_commit_keeps_the_upload(
    app: Flask, client: FlaskClient, world: World, project: int
) -> None:
    """Signals are notifications after the commit: a receiver that raises fails the request, as it
    always did, but cannot undo the upload or cost it its bytes."""

    def broken(sender: Flask, package: Package) -> None:
        raise RuntimeError("a broken receiver")

    with signals.package_created.connected_to(broken), pytest.raises(RuntimeError, match="a broken receiver"):
        client.put(generic_url(project, "kept", "1.0.0"), data=b"kept", headers=world.headers("developer"))
    assert client.get(generic_url(project, "kept", "1.0.0"), headers=world.headers("developer")).data == b"kept"
    assert count(app, Upload) == 0


def test_a_lost_race_in_a_step_redoes_the_whole_upload(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    """A step's write loses a race for a unique row (here: a second model of the same name, as a
    concurrent writer's row would be): the whole upload (lease claim, blob, package, file, version,
    run, audit) is rolled back and redone, and recorded once."""
    create_model(client, project, "fraud", world.headers("reporter"))
    attempts: list[str] = []

    def collide(change: PackageChange) -> None:
        attempts.append(change.package.name)
        if len(attempts) == 1:
            change.session.add(Model(project_id=project, name="fraud", description="", origin=ModelOrigin.API))
            change.session.flush()  # model "fraud" exists: a unique violation

    register_package_step(app, "created", "collide", collide, after="version_run")
    created: list[str] = []
    with signals.package_created.connected_to(lambda sender, package: created.append(package.name)):
        response = client.put(generic_url(project, "fraud", "1.0.0"), data=b"w", headers=world.headers("developer"))
    assert response.status_code == 201
    assert attempts == ["fraud", "fraud"] and created == ["fraud"]
    assert count(app, Model, Model.name == "fraud") == 1
    assert _ids(app, ModelVersion.sequence) == [1]
    assert count(app, Package, Package.name == "fraud") == 1 and count(app, Blob) == 1 and count(app, Upload) == 0
    assert count(app, AuditEvent, AuditEvent.event_name == "model_version_created") == 1


def test_deleting_a_version_package_forgets_the_version_in_the_same_transaction(
    app: Flask, client: FlaskClient, world: World, project: int, transactions: list[set[str]]
) -> None:
    create_model(client, project, "fraud", world.headers("reporter"))
    assert client.put(generic_url(project, "fraud", "1.0.0"), data=b"w", headers=world.headers("developer")).status_code == 201
    [package_id] = _ids(app, Package.id, Package.name == "fraud")
    transactions.clear()
    deleted: list[int] = []
    with signals.package_deleted.connected_to(lambda sender, package: deleted.append(package.id)):
        url = f"/api/v4/projects/{project}/packages/{package_id}"
        assert client.delete(url, headers=world.headers("maintainer")).status_code == 204
    assert deleted == [package_id]
    assert transactions == [{"packages", "package_files", "ml_model_versions", "audit_events"}]
    assert count(app, ModelVersion) == 0


def _ids(app: Flask, column: Any, *where: Any) -> list[Any]:
    with app.app_context():
        return list(db.session.scalars(select(column).where(*where)))
