"""Projects through GitLab's projects API: the list a caller sees, feature access levels and
visibility in settings, and deleting a project with everything in it (its bytes left to gc).
The model registry plugin is loaded, so that its feature and its tables are part of the picture."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect, select, text

from package_api.access.ci_jobs import JobService
from package_api.access.models import Project, User
from package_api.access.tokens import CiTokenService
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.packages.gc import GarbageCollector
from tests.support.world import generic_url


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


def project_url(project: int | str) -> str:
    return f"/api/v4/projects/{project}"


# -- the list --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "seen"),
    [
        (None, {"public"}),
        ("outsider", {"public", "internal"}),
        ("guest", {"public", "internal", "private"}),
        ("root", {"public", "internal", "private"}),
    ],
)
def test_the_list_holds_what_the_caller_can_see(client, world, caller, seen):
    r = client.get("/api/v4/projects", headers=world.headers(caller) if caller else {})

    assert r.status_code == 200
    assert {p["path_with_namespace"] for p in r.json} == {f"acme/{v}" for v in seen}
    assert r.headers["X-Total"] == str(len(seen))


def test_the_list_narrows_to_memberships_and_pages(app, client, world):
    from package_api.access.projects import ProjectService
    from package_api.access.users import UserService

    with app.app_context():
        ProjectService(db.session).create("outsider/own", UserService(db.session).get("outsider"))
        db.session.commit()
    headers = world.headers("outsider")

    members_only = client.get("/api/v4/projects?membership=true", headers=headers)
    owned = client.get("/api/v4/projects?owned=true", headers=world.headers("maintainer"))
    maintained = client.get("/api/v4/projects?min_access_level=40", headers=world.headers("maintainer"))
    searched = client.get("/api/v4/projects?search=INTERN", headers=headers)
    paged = client.get("/api/v4/projects?order_by=path&sort=asc&per_page=2&page=2", headers=headers)

    assert [p["path_with_namespace"] for p in members_only.json] == ["outsider/own"]
    assert owned.json == []
    assert len(maintained.json) == 3
    assert [p["path_with_namespace"] for p in searched.json] == ["acme/internal"]
    assert [p["path"] for p in paged.json] == ["public"]  # internal, own | public
    assert paged.headers["X-Total"] == "3" and paged.headers["X-Page"] == "2"
    assert client.get("/api/v4/projects?order_by=stars", headers=headers).status_code == 400


# -- settings ---------------------------------------------------------------------------------------


def test_a_project_shows_each_features_access_level(client, world):
    body = client.get(project_url(world.projects["private"]), headers=world.headers("guest")).json

    assert body["package_registry_access_level"] == "enabled"
    assert body["model_registry_access_level"] == "enabled"
    assert body["packages_enabled"] is True
    assert body["visibility"] == "private"


@pytest.mark.parametrize(("caller", "status"), [("developer", 403), ("maintainer", 200), ("owner", 200), ("root", 200)])
def test_maintainers_set_feature_access_levels(client, world, caller, status):
    project = world.projects["private"]

    r = client.put(
        project_url(project),
        json={"package_registry_access_level": "disabled", "model_registry_access_level": "private"},
        headers=world.headers(caller),
    )

    assert r.status_code == status
    body = client.get(project_url(project), headers=world.headers("owner")).json
    if status == 200:
        assert r.json == body
        assert (body["package_registry_access_level"], body["model_registry_access_level"]) == ("disabled", "private")
        assert body["packages_enabled"] is False
    else:
        assert body["package_registry_access_level"] == "enabled"


def test_a_disabled_package_registry_refuses_uploads_and_downloads(client, world):
    project = world.projects["public"]
    client.put(generic_url(project, version="latest-build"), data=b"x", headers=world.headers("developer"))

    client.put(project_url(project), json={"package_registry_access_level": "disabled"}, headers=world.headers("maintainer"))

    assert client.get(generic_url(project, version="latest-build"), headers=world.headers("developer")).status_code == 403
    r = client.put(generic_url(project, version="latest-build", path="b.bin"), data=b"y", headers=world.headers("developer"))
    assert r.status_code == 403


def test_invalid_settings_change_nothing(client, world):
    project = world.projects["private"]

    r = client.put(
        project_url(project),
        json={"model_registry_access_level": "private", "package_registry_access_level": "members"},
        headers=world.headers("owner"),
    )

    assert (r.status_code, r.json) == (400, {"error": "package_registry_access_level does not have a valid value"})
    body = client.get(project_url(project), headers=world.headers("owner")).json
    assert body["model_registry_access_level"] == "enabled"


def test_visibility_needs_an_owner(client, world):
    project = world.projects["private"]

    by_maintainer = client.put(project_url(project), json={"visibility": "public"}, headers=world.headers("maintainer"))
    unchanged = client.put(project_url(project), json={"visibility": "private", "description": "d"}, headers=world.headers("maintainer"))
    by_owner = client.put(project_url(project), json={"visibility": "internal"}, headers=world.headers("owner"))

    assert by_maintainer.status_code == 403
    assert unchanged.status_code == 200 and unchanged.json["description"] == "d"
    assert by_owner.status_code == 200 and by_owner.json["visibility"] == "internal"
    assert client.get(project_url(project), headers=world.headers("outsider")).status_code == 200


def test_settings_changes_are_audited(app, client, world):
    project = world.projects["private"]
    client.put(project_url(project), json={"model_registry_access_level": "disabled"}, headers=world.headers("maintainer"))

    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.project_id == project).order_by(AuditEvent.id.desc()))
        assert (event.event_name, event.author_name) == ("project_feature_access_level_updated", "maintainer")
        assert json.loads(event.details) == {"feature": "model_registry", "from": "enabled", "to": "disabled"}


# -- deletion ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("caller", "status"), [(None, 401), ("outsider", 404), ("maintainer", 403), ("owner", 202), ("root", 202)])
def test_only_owners_delete_a_project(client, world, caller, status):
    project = world.projects["private"]

    r = client.delete(project_url(project), headers=world.headers(caller) if caller else {})

    assert r.status_code == status
    if status == 202:
        assert r.json == {"message": "202 Accepted"}
        assert client.get(project_url(project), headers=world.headers("root")).status_code == 404
    else:
        assert client.get(project_url(project), headers=world.headers("root")).status_code == 200


def test_deleting_a_project_deletes_everything_in_it_and_gc_reclaims_its_bytes(app, client, world, storage):
    doomed, kept = world.projects["private"], world.projects["public"]
    headers = world.headers("owner")
    # A model and its version (the plugin projects it), a plain package, bytes shared with another
    # project, every kind of token and a CI job.
    assert client.post(f"{project_url(doomed)}/ml/models", json={"name": "fraud"}, headers=headers).status_code == 201
    assert client.put(generic_url(doomed, name="fraud", version="1.0.0", path="model.onnx"), data=b"weights", headers=headers).status_code == 201
    assert client.put(generic_url(doomed, name="tools", version="nightly", path="shared.bin"), data=b"shared", headers=headers).status_code == 201
    assert client.put(generic_url(kept, name="tools", version="nightly", path="shared.bin"), data=b"shared", headers=headers).status_code == 201
    bot = client.post(f"{project_url(doomed)}/access_tokens", json={"name": "bot", "scopes": ["api"]}, headers=headers).json
    deploy = client.post(f"{project_url(doomed)}/deploy_tokens", json={"name": "d", "scopes": ["read_package_registry"]}, headers=headers).json
    client.put(project_url(doomed), json={"model_registry_access_level": "private"}, headers=headers)
    with app.app_context():
        project = db.session.get(Project, doomed)
        CiTokenService(db.session).rotate(project)
        _, job_token = JobService(db.session).register(project, {"user": "developer", "job_id": "1"})
        db.session.commit()
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM ml_models WHERE project_id = :p"), {"p": doomed}) == 1
    blobs_before = set(storage.keys())

    assert client.delete(project_url(doomed), headers=headers).status_code == 202

    with app.app_context():
        inspector = inspect(db.engine)
        for table in inspector.get_table_names():
            columns = {c["name"] for c in inspector.get_columns(table)}
            if "project_id" in columns and table != "audit_events":
                count = db.session.scalar(text(f"SELECT count(*) FROM {table} WHERE project_id = :p"), {"p": doomed})
                assert count == 0, f"{table} keeps rows of the deleted project"
        assert db.session.scalar(select(User).where(User.id == bot["user_id"])) is None
        assert db.session.scalar(text("SELECT count(*) FROM ml_model_versions")) == 0
        assert db.session.scalar(text("SELECT count(*) FROM package_files")) == 1  # the kept project's
        if db.engine.dialect.name == "sqlite":
            assert db.session.execute(text("PRAGMA foreign_key_check")).all() == []
        query = select(AuditEvent.event_name).where(AuditEvent.project_id == doomed).order_by(AuditEvent.id)
        trail = db.session.scalars(query).all()  # in the order written (PostgreSQL returns rows in any order without it)
        assert trail[-1] == "project_deleted" and "member_added" in trail  # the trail outlives the project
    for token in (bot["token"], job_token):
        assert client.get("/api/v4/user", headers={"PRIVATE-TOKEN": token} if token.startswith("mspat-") else {"JOB-TOKEN": token}).status_code == 401
    assert client.get(generic_url(kept), headers={"DEPLOY-TOKEN": deploy["token"]}).status_code == 401

    with app.app_context():
        report = GarbageCollector(db.session, storage).collect()
    assert report.blobs == 1 and report.bytes == len(b"weights")
    after = set(storage.keys())
    assert after < blobs_before and len(after) == len(blobs_before) - 1
    shared = client.get(generic_url(kept, name="tools", version="nightly", path="shared.bin"), headers=headers)
    assert shared.data == b"shared"
