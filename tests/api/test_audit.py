"""The audit trail: each change leaves exactly one event (actor, token type, time, target, IP) on
every surface (generic upload, packages API, model registry REST, MLflow, pages), a change that
fails leaves none, a retried transaction leaves one; and ``GET /api/v4/projects/:id/audit_events``
(Maintainers) with GitLab's entity, filters and pagination."""
from __future__ import annotations

import datetime
import hashlib
import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from package_api import audit
from package_api.access.members import MemberService
from package_api.access.models import Project, Role
from package_api.access.tokens import CiTokenService, DeployTokenService
from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.identity import COMMAND_LINE, Actor, Principal, PrincipalKind
from package_api.packages.models import Package, PackageFile
from tests.support.jobs import register_job
from tests.support.pages import signed_in
from tests.support.world import World, generic_url

IP = "203.0.113.7"  # TEST-NET-3: the address every request of these tests comes from


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def project(world: World) -> int:
    return world.projects["private"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = IP
    return client


class Trail:
    """The events recorded since the last ``mark``."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.since = 0
        self.mark()

    def mark(self) -> None:
        with self.app.app_context():
            self.since = db.session.scalar(select(func.max(AuditEvent.id))) or 0

    def new(self) -> list[dict[str, Any]]:
        with self.app.app_context():
            rows = db.session.scalars(select(AuditEvent).where(AuditEvent.id > self.since).order_by(AuditEvent.id))
            found = [
                {
                    "event_name": e.event_name,
                    "project_id": e.project_id,
                    "author_id": e.author_id,
                    "author_name": e.author_name,
                    "token_type": e.token_type,
                    "target_type": e.target_type,
                    "target_id": e.target_id,
                    "target_details": e.target_details,
                    "ip_address": e.ip_address,
                    "details": audit.details_of(e),
                    "created_at": e.created_at,
                }
                for e in rows
            ]
        self.mark()
        return found

    def one(self) -> dict[str, Any]:
        """The single event since the last mark (and mark again)."""
        found = self.new()
        assert len(found) == 1, [e["event_name"] for e in found]
        return found[0]

    def none(self) -> None:
        found = self.new()
        assert found == [], [e["event_name"] for e in found]


@pytest.fixture
def trail(app: Flask, world: World) -> Trail:
    return Trail(app)  # after the world is seeded: its projects and members are not the test's


def user_id(app: Flask, username: str) -> int:
    with app.app_context():
        return UserService(db.session).get(username).id


def _by(event: dict[str, Any], app: Flask, username: str, token_type: str = "personal_access_token") -> None:
    assert (event["author_name"], event["author_id"], event["token_type"]) == (
        username,
        user_id(app, username),
        token_type,
    )
    assert event["ip_address"] == IP


def _package_id(app: Flask, project: int, name: str, version: str) -> int:
    with app.app_context():
        package = db.session.scalar(
            select(Package).where(Package.project_id == project, Package.name == name, Package.version == version)
        )
        assert package is not None
        return package.id


# -- packages ----------------------------------------------------------------------------------------


def test_generic_upload_second_file_and_deletions(app: Flask, client: FlaskClient, world: World, project: int, trail: Trail) -> None:
    developer, maintainer = world.headers("developer"), world.headers("maintainer")
    assert client.put(generic_url(project, "tool", "nightly", "a.bin"), data=b"aaa", headers=developer).status_code == 201
    created = trail.one()
    package_id = _package_id(app, project, "tool", "nightly")
    assert created["event_name"] == "package_created"
    assert (created["project_id"], created["target_type"], created["target_id"]) == (project, "Package", package_id)
    assert created["target_details"] == "tool/nightly"
    assert created["details"] == {
        "name": "tool",
        "version": "nightly",
        "package_id": package_id,
        "file_name": "a.bin",
        "size": 3,
        "sha256": hashlib.sha256(b"aaa").hexdigest(),
    }
    _by(created, app, "developer")
    assert abs(created["created_at"] - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)) < datetime.timedelta(minutes=1)

    assert client.put(generic_url(project, "tool", "nightly", "dir/b.bin"), data=b"b", headers=developer).status_code == 201
    added = trail.one()
    files = client.get(f"/api/v4/projects/{project}/packages/{package_id}/package_files", headers=developer).json
    file_b = next(f for f in files if f["file_name"] == "dir/b.bin")
    assert (added["event_name"], added["target_type"], added["target_id"]) == ("package_file_added", "PackageFile", file_b["id"])
    assert added["target_details"] == "tool/nightly/dir/b.bin"
    _by(added, app, "developer")

    trail.mark()  # the listing above is a read
    url = f"/api/v4/projects/{project}/packages/{package_id}"
    assert client.delete(f"{url}/package_files/{file_b['id']}", headers=maintainer).status_code == 204
    deleted_file = trail.one()
    assert (deleted_file["event_name"], deleted_file["target_id"]) == ("package_file_deleted", file_b["id"])
    _by(deleted_file, app, "maintainer")

    assert client.delete(url, headers=maintainer).status_code == 204
    deleted = trail.one()
    assert (deleted["event_name"], deleted["target_type"], deleted["target_id"]) == ("package_deleted", "Package", package_id)
    _by(deleted, app, "maintainer")


def test_reads_record_nothing(client: FlaskClient, world: World, project: int, trail: Trail) -> None:
    client.put(generic_url(project, "tool", "nightly"), data=b"x", headers=world.headers("developer"))
    trail.mark()
    headers = world.headers("maintainer")
    assert client.get(generic_url(project, "tool", "nightly"), headers=headers).status_code == 200
    assert client.get(f"/api/v4/projects/{project}/packages", headers=headers).status_code == 200
    assert client.get(f"/api/v4/projects/{project}/audit_events", headers=headers).status_code == 200
    trail.none()


def test_upload_by_digest_records_one_file_added(app: Flask, client: FlaskClient, world: World, project: int, trail: Trail) -> None:
    developer = world.headers("developer")
    client.put(generic_url(project, "tool", "1", "a.bin"), data=b"same", headers=developer)
    trail.mark()
    digest = hashlib.sha256(b"same").hexdigest()
    assert client.put(generic_url(project, "tool", "2", "a.bin") + f"?sha256={digest}", headers=developer).status_code == 201
    created = trail.one()
    assert created["event_name"] == "package_created"
    assert created["details"]["sha256"] == digest
    _by(created, app, "developer")


def test_a_semver_package_of_a_model_is_audited_as_a_model_version_on_every_surface(
    app: Flask, client: FlaskClient, world: World, project: int, trail: Trail
) -> None:
    developer = world.headers("developer")
    assert client.put(generic_url(project, "tarball", "1.4.0", "t.tgz"), data=b"t", headers=developer).status_code == 201
    assert trail.one()["event_name"] == "package_created"  # no model of that name: a plain package
    assert client.post(f"/api/v4/projects/{project}/ml/models", json={"name": "fraud"}, headers=developer).status_code == 201
    made = trail.one()
    assert (made["event_name"], made["details"]["origin"]) == ("model_created", "api")
    assert client.put(generic_url(project, "fraud", "1.4.0", "model.onnx"), data=b"w", headers=developer).status_code == 201
    created = trail.one()
    assert (created["event_name"], created["target_type"]) == ("model_version_created", "Package")
    assert created["target_details"] == "fraud/1.4.0"
    client.put(generic_url(project, "fraud", "1.4.0", "extra.txt"), data=b"e", headers=developer)
    assert trail.one()["event_name"] == "model_version_file_added"
    package_id = _package_id(app, project, "fraud", "1.4.0")
    assert client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers=developer).status_code == 204
    assert trail.one()["event_name"] == "model_version_deleted"


def test_failed_changes_record_nothing(app: Flask, client: FlaskClient, world: World, project: int, trail: Trail) -> None:
    developer = world.headers("developer")
    too_big = b"x" * (app.config["MODELSHELF"]["MAX_FILE_SIZE"] + 1)
    assert client.put(generic_url(project, "tool", "1"), data=too_big, headers=developer).status_code == 400
    streamed = client.put(  # no Content-Length (curl -T -): refused while streaming, after a lease was taken
        generic_url(project, "tool", "1"),
        headers={**developer, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": io.BytesIO(too_big), "wsgi.input_terminated": True},
    )
    assert streamed.status_code == 400
    assert client.put(generic_url(project, "tool", "1"), data=b"x", headers=world.headers("guest")).status_code == 403
    assert client.put(generic_url(project, "tool", "1"), data=b"x", headers=world.headers("outsider")).status_code == 404
    assert client.put(generic_url(project, "bad name", "1"), data=b"x", headers=developer).status_code == 400
    assert client.put(
        generic_url(project, "tool", "1"), data=b"x", headers={**developer, "X-Checksum-SHA256": "0" * 64}
    ).status_code == 400
    trail.none()

    # A duplicate the project refuses: the first upload is recorded, the second is not.
    assert client.put(
        f"/api/v4/projects/{project}", json={"generic_duplicates_allowed": False}, headers=world.headers("maintainer")
    ).status_code == 200
    trail.mark()
    assert client.put(generic_url(project, "tool", "1"), data=b"x", headers=developer).status_code == 201
    assert trail.one()["event_name"] == "package_created"
    assert client.put(generic_url(project, "tool", "1"), data=b"y", headers=developer).status_code == 400
    trail.none()

    models = f"/api/v4/projects/{project}/ml/models"
    assert client.post(models, json={"name": "m"}, headers=world.headers("reporter")).status_code == 201
    trail.mark()
    assert client.post(models, json={"name": "m"}, headers=world.headers("reporter")).status_code == 409
    assert client.post(models, json={"name": "n"}, headers=world.headers("guest")).status_code == 403
    assert client.delete(f"{models}/m", headers=world.headers("guest")).status_code == 403
    assert client.post(f"{models}/m/versions", json={"version": "not-semver"}, headers=world.headers("reporter")).status_code == 400
    trail.none()


def test_a_transaction_retried_after_a_lost_race_records_one_event(
    app: Flask, client: FlaskClient, world: World, project: int, trail: Trail
) -> None:
    """Another writer creates the package between our lookup and our insert: the upload's
    transaction loses, rolls back (its event with it) and is redone as adding a file to the
    winner's package, which it records once."""
    developer = world.headers("developer")
    client.put(generic_url(project, "seed", "1", "w.bin"), data=b"weights", headers=developer)
    trail.mark()
    raced = {"done": False}

    def create_first(session: Session, *_: Any) -> None:
        mine = [o for o in session.new if isinstance(o, Package) and o.name == "raced"]
        if mine and not raced["done"]:
            raced["done"] = True
            with db.engine.connect() as other:  # a concurrent writer, on its own connection
                other.execute(insert(Package).values(project_id=project, name="raced", version="1", package_type="generic"))
                other.commit()

    event.listen(Session, "before_flush", create_first)
    try:
        digest = hashlib.sha256(b"weights").hexdigest()
        response = client.put(generic_url(project, "raced", "1", "w.bin") + f"?sha256={digest}", headers=developer)
    finally:
        event.remove(Session, "before_flush", create_first)
    assert raced["done"] and response.status_code == 201
    [recorded] = trail.new()
    assert recorded["event_name"] == "package_file_added"  # the retry found the winner's package
    assert recorded["target_details"] == "raced/1/w.bin"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Package).where(Package.name == "raced")) == 1
        assert db.session.scalar(select(func.count()).select_from(PackageFile).join(Package).where(Package.name == "raced")) == 1


# -- model registry REST -------------------------------------------------------------------------------


def test_models_versions_and_artifacts_through_the_rest_api(
    app: Flask, client: FlaskClient, world: World, project: int, trail: Trail
) -> None:
    reporter = world.headers("reporter")
    models = f"/api/v4/projects/{project}/ml/models"
    model = client.post(models, json={"name": "fraud", "description": "v0"}, headers=reporter).json
    created = trail.one()
    assert (created["event_name"], created["target_type"], created["target_id"]) == ("model_created", "Model", model["id"])
    assert created["details"]["name"] == "fraud"
    _by(created, app, "reporter")

    assert client.put(f"{models}/fraud", json={"description": "better"}, headers=reporter).status_code == 200
    updated = trail.one()
    assert updated["event_name"] == "model_updated"
    assert {k: updated["details"][k] for k in ("change", "from", "to")} == {"change": "description", "from": "v0", "to": "better"}
    assert client.put(f"{models}/fraud", json={"description": "better"}, headers=reporter).status_code == 200
    trail.none()  # nothing changed

    assert client.post(f"{models}/fraud/versions", json={"version": "1.0.0"}, headers=reporter).status_code == 201
    version = client.get(f"{models}/fraud/versions/1.0.0", headers=reporter).json
    created = trail.one()
    package_id = _package_id(app, project, "fraud", "1.0.0")
    assert (created["event_name"], created["target_type"], created["target_id"]) == ("model_version_created", "Package", package_id)
    _by(created, app, "reporter")

    assert client.put(f"{models}/fraud/versions/1.0.0", json={"description": "d"}, headers=reporter).status_code == 200
    updated = trail.one()
    assert (updated["event_name"], updated["target_id"], updated["details"]["to"]) == ("model_version_updated", package_id, "d")

    files = f"/api/v4/projects/{project}/packages/ml_models/{version['id']}/files"
    assert client.put(f"{files}/weights/model.bin", data=b"m", headers=reporter).status_code == 201
    added = trail.one()
    assert (added["event_name"], added["target_type"]) == ("model_version_file_added", "PackageFile")
    assert added["details"]["file_name"] == "weights/model.bin"
    _by(added, app, "reporter")
    [listed] = client.get(f"{models}/fraud/versions/1.0.0/files", headers=reporter).json
    trail.mark()
    assert client.delete(f"{models}/fraud/versions/1.0.0/files/{listed['id']}", headers=reporter).status_code == 204
    deleted = trail.one()
    assert (deleted["event_name"], deleted["target_id"]) == ("model_version_file_deleted", listed["id"])

    assert client.delete(f"{models}/fraud/versions/1.0.0", headers=reporter).status_code == 204
    deleted = trail.one()
    assert (deleted["event_name"], deleted["target_id"]) == ("model_version_deleted", package_id)

    client.post(f"{models}/fraud/versions", json={"version": "2.0.0"}, headers=reporter)
    trail.mark()
    assert client.delete(f"{models}/fraud", headers=reporter).status_code == 204
    deleted = trail.one()  # one event for the model, naming the versions that went with it
    assert (deleted["event_name"], deleted["target_id"], deleted["details"]["versions"]) == ("model_deleted", model["id"], ["2.0.0"])
    _by(deleted, app, "reporter")


def test_a_long_description_keeps_the_details_whole_json(app: Flask, client: FlaskClient, world: World, project: int, trail: Trail) -> None:
    models = f"/api/v4/projects/{project}/ml/models"
    client.post(models, json={"name": "m", "description": "a" * 9000}, headers=world.headers("reporter"))
    client.put(f"{models}/m", json={"description": "b" * 9000}, headers=world.headers("reporter"))
    created, updated = trail.new()
    assert created["details"]["description"].startswith("aaa") and len(created["details"]["description"]) < 1000
    assert updated["details"]["from"].startswith("aaa") and updated["details"]["to"].startswith("bbb")


# -- MLflow --------------------------------------------------------------------------------------------


def test_mlflow_registry_and_tracking(app: Flask, client: FlaskClient, world: World, project: int, trail: Trail) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['developer']}"}
    root = f"/api/v4/projects/{project}/ml/mlflow/api/2.0"

    def call(method: str, endpoint: str, body: dict[str, Any]) -> Any:
        response = client.open(f"{root}/mlflow/{endpoint}", method=method, json=body, headers=headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    experiment_id = call("POST", "experiments/create", {"name": "exp"})["experiment_id"]
    created = trail.one()
    assert (created["event_name"], created["target_type"], created["details"]["experiment_id"]) == (
        "experiment_created",
        "Experiment",
        experiment_id,
    )
    _by(created, app, "developer")
    run_id = call("POST", "runs/create", {"experiment_id": experiment_id, "start_time": 1})["run"]["info"]["run_id"]
    run = trail.one()
    assert (run["event_name"], run["details"]["run_id"]) == ("run_created", run_id)

    call("POST", "runs/log-metric", {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0})
    call("POST", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    call("POST", "runs/set-tag", {"run_id": run_id, "key": "team", "value": "a"})
    trail.none()  # tracking data

    artifact = f"{root}/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/model/w.bin"
    assert client.put(artifact, data=b"weights", headers=headers).status_code == 200
    stored = trail.one()  # a run's artifacts are a (plain) package's files
    assert (stored["event_name"], stored["details"]["file_name"]) == ("package_created", "model/w.bin")

    call("POST", "registered-models/create", {"name": "m", "tags": [{"key": "k", "value": "v"}]})
    created = trail.one()  # not also its default experiment, nor its tags
    assert (created["event_name"], created["target_type"], created["target_details"]) == ("model_created", "Model", "m")
    _by(created, app, "developer")

    version = call("POST", "model-versions/create", {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id})
    created = trail.one()  # not also one per attached file, nor the version's own run
    assert (created["event_name"], created["target_details"]) == ("model_version_created", "m/1.0.0")
    assert version["model_version"]["version"] == "1"
    _by(created, app, "developer")

    call("POST", "registered-models/alias", {"name": "m", "alias": "champion", "version": "1"})
    alias = trail.one()
    assert (alias["event_name"], alias["details"]["alias"], alias["details"]["to"]) == ("model_alias_set", "champion", "1.0.0")
    call("POST", "model-versions/set-tag", {"name": "m", "version": "1", "key": "k", "value": "v"})
    assert trail.one()["event_name"] == "model_version_tag_set"
    call("POST", "model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Production", "archive_existing_versions": False})
    stage = trail.one()
    assert (stage["event_name"], stage["details"]["to"]) == ("model_version_stage_updated", "Production")
    call("POST", "registered-models/rename", {"name": "m", "new_name": "n"})
    renamed = trail.one()  # not also one per version package
    assert (renamed["event_name"], renamed["details"]["from"], renamed["details"]["to"]) == ("model_updated", "m", "n")
    call("DELETE", "model-versions/delete", {"name": "n", "version": "1"})
    assert trail.one()["event_name"] == "model_version_deleted"
    call("DELETE", "registered-models/delete", {"name": "n"})
    assert trail.one()["event_name"] == "model_deleted"
    call("POST", "runs/delete", {"run_id": run_id})
    assert trail.one()["event_name"] == "run_deleted"
    call("POST", "experiments/delete", {"experiment_id": experiment_id})
    assert trail.one()["event_name"] == "experiment_deleted"


# -- token types ---------------------------------------------------------------------------------------


def test_deploy_tokens_job_tokens_and_sessions(app: Flask, client: FlaskClient, world: World, project: int, trail: Trail) -> None:
    with app.app_context():
        row, secret = DeployTokenService(db.session).create(
            db.session.get(Project, project), "ci", ["read_package_registry", "write_package_registry"]
        )
        deploy_username = row.username
        db.session.commit()
    trail.mark()
    assert client.put(generic_url(project, "tool", "1"), data=b"x", headers={"DEPLOY-TOKEN": secret}).status_code == 201
    deployed = trail.one()
    assert (deployed["token_type"], deployed["author_name"], deployed["author_id"]) == ("deploy_token", deploy_username, None)
    assert deployed["ip_address"] == IP

    _, job_token = register_job(app, project, "developer", "4242")
    trail.mark()
    assert client.put(generic_url(project, "tool", "2"), data=b"x", headers={"JOB-TOKEN": job_token}).status_code == 201
    _by(trail.one(), app, "developer", "job_token")

    csrf = signed_in(app, client, "reporter")
    models = f"/api/v4/projects/{project}/ml/models"
    assert client.post(models, json={"name": "by-session"}, headers={"X-CSRF-Token": csrf}).status_code == 201
    _by(trail.one(), app, "reporter", "session")
    # A page's form post: the pages' own principal is the actor.
    page = client.post("/acme/private/-/ml/models/new", data={"name": "by-page", "description": "", "csrf_token": csrf})
    assert page.status_code == 302
    by_page = trail.one()
    assert (by_page["event_name"], by_page["target_details"]) == ("model_created", "by-page")
    _by(by_page, app, "reporter", "session")


# -- projects, settings, members -----------------------------------------------------------------------


def test_project_creation_settings_and_members(app: Flask, client: FlaskClient, world: World, project: int, trail: Trail) -> None:
    response = client.post("/api/v4/projects", json={"path": "new"}, headers=world.headers("developer"))
    assert response.status_code == 201
    created = trail.one()  # not also the creator's membership
    assert (created["event_name"], created["target_type"], created["target_id"]) == ("project_created", "Project", response.json["id"])
    assert (created["project_id"], created["target_details"]) == (response.json["id"], "developer/new")
    _by(created, app, "developer")

    maintainer = world.headers("maintainer")
    url = f"/api/v4/projects/{project}"
    assert client.put(url, json={"generic_duplicates_allowed": False}, headers=maintainer).status_code == 200
    changed = trail.one()
    assert (changed["event_name"], changed["target_type"], changed["target_id"]) == (
        "project_package_settings_updated",
        "Project",
        project,
    )
    assert changed["details"]["generic_duplicates_allowed"] is False
    _by(changed, app, "maintainer")
    assert client.put(url, json={"generic_duplicates_allowed": False}, headers=maintainer).status_code == 200
    trail.none()  # nothing changed
    assert client.put(url, json={"visibility": "internal"}, headers=world.headers("owner")).status_code == 200
    visibility = trail.one()
    assert (visibility["event_name"], visibility["details"]["from"], visibility["details"]["to"]) == (
        "project_visibility_updated",
        "private",
        "internal",
    )
    assert client.put(url, json={"visibility": "public"}, headers=maintainer).status_code == 403
    trail.none()

    with app.app_context():  # the command line (``modelshelf admin``) has no request: its events say cli
        service, users = MemberService(db.session, actor=COMMAND_LINE), UserService(db.session, actor=COMMAND_LINE)
        target = db.session.get(Project, project)
        newcomer = users.create("newcomer")  # services commit their own changes
        assert trail.one()["event_name"] == "user_created"
        service.put(target, newcomer, Role.DEVELOPER)
        added = trail.one()
        assert (added["event_name"], added["target_type"], added["target_id"]) == ("member_added", "User", newcomer.id)
        assert (added["token_type"], added["author_id"], added["ip_address"]) == ("cli", None, "")
        assert added["details"]["access_level"] == int(Role.DEVELOPER)
        service.put(target, newcomer, Role.DEVELOPER)
        trail.none()
        service.put(target, newcomer, Role.MAINTAINER)
        updated = trail.one()
        assert (updated["event_name"], updated["details"]["access_level"]) == (
            "member_updated",
            {"from": int(Role.DEVELOPER), "to": int(Role.MAINTAINER)},
        )


def test_the_author_is_the_actor_a_service_is_given(app: Flask, world: World, project: int, trail: Trail) -> None:
    """A service records its changes as the actor its constructor names (the request contexts pass
    the caller and its address, the command line ``COMMAND_LINE``), and ``audit.record`` the actor
    it is given."""
    with app.app_context():
        owner = UserService(db.session).get("owner")
        caller = Actor(Principal(user=owner, scopes=frozenset({"api"}), kind=PrincipalKind.SESSION), "198.51.100.9")
        target = db.session.get_one(Project, project)
        CiTokenService(db.session, actor=caller).rotate(target)
        by_caller = trail.one()
        assert (by_caller["event_name"], by_caller["author_id"], by_caller["author_name"]) == (
            "ci_token_rotated",
            owner.id,
            "owner",
        )
        assert (by_caller["token_type"], by_caller["ip_address"]) == ("session", "198.51.100.9")
        CiTokenService(db.session, actor=COMMAND_LINE).rotate(target)
        by_command = trail.one()
        assert (by_command["author_id"], by_command["author_name"], by_command["token_type"]) == (None, "", "cli")
        assert by_command["ip_address"] == ""

        audit.record(db.session, "package_created", project=project, target_type="Package", actor=caller)
        db.session.commit()
        given = trail.one()
        assert (given["author_name"], given["token_type"], given["ip_address"]) == ("owner", "session", "198.51.100.9")


# -- the API -------------------------------------------------------------------------------------------


def _events(client: FlaskClient, project: int | str, headers: dict[str, str], **query: Any) -> Any:
    return client.get(f"/api/v4/projects/{project}/audit_events", headers=headers, query_string=query)


def test_who_may_read_the_audit_events(client: FlaskClient, world: World, project: int) -> None:
    client.put(generic_url(project, "tool", "1"), data=b"x", headers=world.headers("developer"))
    for user, status in [
        ("maintainer", 200),
        ("owner", 200),
        ("root", 200),
        ("developer", 403),
        ("reporter", 403),
        ("guest", 403),
        ("outsider", 404),
    ]:
        assert _events(client, project, world.headers(user)).status_code == status, user
    assert _events(client, project, {}).status_code == 404  # a read: the private project stays hidden
    assert _events(client, world.projects["public"], {}).status_code == 401
    # A read, so a read_api token of a Maintainer may make it (GitLab: read_api covers every GET).
    assert _events(client, project, world.headers("maintainer", read_only=True)).status_code == 200
    assert _events(client, world.projects["public"], world.headers("outsider")).status_code == 403


def test_the_entity_and_a_single_event(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    client.put(generic_url(project, "tool", "1", "f.bin"), data=b"x", headers=world.headers("developer"))
    maintainer = world.headers("maintainer")
    newest = _events(client, project, maintainer).json[0]
    package_id = _package_id(app, project, "tool", "1")
    assert newest == {
        "id": newest["id"],
        "author_id": user_id(app, "developer"),
        "entity_id": project,
        "entity_type": "Project",
        "event_name": "package_created",
        "details": {
            "custom_message": "Package created",
            "name": "tool",
            "version": "1",
            "package_id": package_id,
            "file_name": "f.bin",
            "size": 1,
            "sha256": hashlib.sha256(b"x").hexdigest(),
            "author_name": "developer",
            "author_class": "User",
            "token_type": "personal_access_token",
            "target_id": package_id,
            "target_type": "Package",
            "target_details": "tool/1",
            "ip_address": IP,
            "entity_path": "acme/private",
        },
        "created_at": newest["created_at"],
    }
    assert datetime.datetime.fromisoformat(newest["created_at"]).tzinfo is not None  # ...Z
    single = client.get(f"/api/v4/projects/{project}/audit_events/{newest['id']}", headers=maintainer)
    assert (single.status_code, single.json) == (200, newest)
    # An event of another project is not found through this one.
    other = world.projects["public"]
    assert client.get(f"/api/v4/projects/{other}/audit_events/{newest['id']}", headers=maintainer).status_code == 404
    assert client.get(f"/api/v4/projects/{project}/audit_events/999999", headers=maintainer).status_code == 404
    assert all(e["entity_id"] == other for e in _events(client, other, maintainer).json)


def _seed_events(app: Flask, project: int, times: list[datetime.datetime]) -> list[int]:
    ids = []
    with app.app_context():
        for when in times:
            recorded = audit.record(
                db.session, "package_created", project=project, target_type="Package", actor=COMMAND_LINE
            )
            recorded.created_at = when
            db.session.flush()
            ids.append(recorded.id)
        db.session.commit()
    return ids


def test_filters_and_pagination(app: Flask, client: FlaskClient, world: World) -> None:
    project = world.projects["public"]
    maintainer = world.headers("maintainer")
    with app.app_context():  # only the seeded events below
        db.session.execute(AuditEvent.__table__.delete().where(AuditEvent.project_id == project))
        db.session.commit()
    days = [datetime.datetime(2024, 5, d, 12, 0, 0) for d in (1, 2, 3, 4, 5)]
    ids = _seed_events(app, project, days)

    everything = _events(client, project, maintainer)
    assert [e["id"] for e in everything.json] == ids[::-1]  # newest first
    assert everything.json[0]["created_at"] == "2024-05-05T12:00:00.000Z"
    assert everything.json[0]["author_id"] is None and everything.json[0]["details"]["author_class"] == "System"

    between = _events(client, project, maintainer, created_after="2024-05-02T12:00:00Z", created_before="2024-05-04")
    assert [e["id"] for e in between.json] == [ids[2], ids[1]]  # on or after, on or before
    offset = _events(client, project, maintainer, created_after="2024-05-04T13:00:00+02:00")
    assert [e["id"] for e in offset.json] == [ids[4], ids[3]]  # 11:00 UTC on the 4th
    assert _events(client, project, maintainer, created_after="2030-01-01").json == []
    for bad in ("yesterday", "2024-13-01", "2024-05-01T25:00:00Z", "0001-01-01T00:00:00+01:00"):
        response = _events(client, project, maintainer, created_after=bad)
        assert (response.status_code, response.json) == (400, {"error": "created_after is invalid"}), bad
    assert _events(client, project, maintainer, created_before="soon").status_code == 400

    first = _events(client, project, maintainer, per_page=2)
    assert [e["id"] for e in first.json] == [ids[4], ids[3]]
    assert (first.headers["X-Total"], first.headers["X-Total-Pages"], first.headers["X-Next-Page"]) == ("5", "3", "2")
    assert 'rel="next"' in first.headers["Link"]
    last = _events(client, project, maintainer, per_page=2, page=3)
    assert [e["id"] for e in last.json] == [ids[0]]
    assert last.headers["X-Next-Page"] == ""
    assert _events(client, project, maintainer, page=0).status_code == 400
    filtered = _events(client, project, maintainer, per_page=1, created_before="2024-05-02T23:59:59Z")
    assert filtered.headers["X-Total"] == "2"
    assert "created_before=2024-05-02T23" in filtered.headers["Link"]


def test_details_are_clipped_to_stay_valid_json(app: Flask, world: World) -> None:
    with app.app_context():
        recorded = audit.record(
            db.session,
            "model_updated",
            project=world.projects["private"],
            target_type="Model",
            details={f"k{i}": "v" * 2000 for i in range(20)},
            actor=COMMAND_LINE,
        )
        db.session.commit()
        loaded = json.loads(recorded.details)
        assert len(recorded.details) <= audit.MAX_DETAILS
        assert loaded["k0"].startswith("vvv") and loaded.get("truncated") is True
