"""Token transports, wrong tokens, scopes, expiry and the role rules of the generic API."""
from __future__ import annotations

import base64
import datetime

import pytest

from package_api.access.tokens import TokenService
from package_api.access.users import UserService
from package_api.db import db
from package_api.identity import ANONYMOUS, Principal, PrincipalKind
from tests.support.world import generic_url


def _put(client, project, headers, path="file.bin"):
    return client.put(generic_url(project, path=path), data=b"x", headers=headers)


def test_every_token_transport_is_accepted(client, world):
    token = world.tokens["developer"]
    project = world.projects["private"]
    basic = base64.b64encode(f"whoever:{token}".encode()).decode()
    assert _put(client, project, {"PRIVATE-TOKEN": token}, "a").status_code == 201
    assert _put(client, project, {"Authorization": f"Bearer {token}"}, "b").status_code == 201
    assert _put(client, project, {"Authorization": f"Basic {basic}"}, "c").status_code == 201
    r = client.put(generic_url(project, path="d") + f"?private_token={token}", data=b"x")
    assert r.status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {"PRIVATE-TOKEN": "mspat-wrong"},
        {"Authorization": "Bearer mspat-wrong"},
        {"Authorization": "Basic " + base64.b64encode(b"u:mspat-wrong").decode()},
        {"Authorization": "Basic !!!not-base64"},
    ],
)
def test_wrong_token_is_401_even_on_a_public_project(client, world, headers):
    url = generic_url(world.projects["public"])
    _put(client, world.projects["public"], world.headers("developer"))
    assert client.get(url, headers=headers).status_code == 401
    r = client.put(url, data=b"y", headers=headers)
    assert (r.status_code, r.json) == (401, {"message": "401 Unauthorized"})
    assert client.get(url).data == b"x"  # nothing changed


def test_anonymous_reads_public_but_not_private(client, world):
    for visibility in ("public", "internal", "private"):
        _put(client, world.projects[visibility], world.headers("developer"))
    assert client.get(generic_url(world.projects["public"])).status_code == 200
    r = client.get(generic_url(world.projects["private"]))
    assert (r.status_code, r.json) == (404, {"message": "404 Project Not Found"})
    assert client.get(generic_url(world.projects["internal"])).status_code == 404
    assert client.get(generic_url(world.projects["internal"]), headers=world.headers("outsider")).status_code == 200


def test_anonymous_upload_is_401(client, world):
    assert _put(client, world.projects["public"], {}).status_code == 401
    assert _put(client, world.projects["private"], {}).status_code == 401


@pytest.mark.parametrize(
    ("user", "read", "publish", "delete"),
    [
        ("outsider", 404, 404, 404),
        ("guest", 200, 403, 403),
        ("reporter", 200, 403, 403),
        ("developer", 200, 201, 403),
        ("maintainer", 200, 201, 204),
        ("owner", 200, 201, 204),
        ("root", 200, 201, 204),
    ],
)
def test_roles_on_a_private_project(client, world, user, read, publish, delete):
    project = world.projects["private"]
    _put(client, project, world.headers("owner"))
    headers = world.headers(user)
    assert client.get(generic_url(project), headers=headers).status_code == read
    assert _put(client, project, headers, "new.bin").status_code == publish
    package_id = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("owner")).json[0]["id"]
    assert client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers=headers).status_code == delete


def test_outsider_cannot_publish_to_a_public_project(client, world):
    assert _put(client, world.projects["public"], world.headers("outsider")).status_code == 403


def test_read_api_scope_reads_but_cannot_write(client, world):
    project = world.projects["private"]
    _put(client, project, world.headers("developer"))
    read_only = world.headers("developer", read_only=True)
    assert client.get(generic_url(project), headers=read_only).status_code == 200
    assert _put(client, project, read_only, "other.bin").status_code == 403


def _token(app, username, **kwargs):
    with app.app_context():
        user = UserService(db.session).get(username)
        row, secret = TokenService(db.session).create(user, "t", ["api"], **kwargs)
        db.session.commit()
        return row.id, secret


def test_revoked_and_expired_tokens_are_refused(app, client, world):
    project = world.projects["private"]
    token_id, secret = _token(app, "developer")
    assert _put(client, project, {"PRIVATE-TOKEN": secret}).status_code == 201
    with app.app_context():
        TokenService(db.session).revoke(token_id, UserService(db.session).get("developer"))
        db.session.commit()
    assert _put(client, project, {"PRIVATE-TOKEN": secret}).status_code == 401

    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    _, expiring = _token(app, "developer", expires_at=tomorrow)
    assert _put(client, project, {"PRIVATE-TOKEN": expiring}).status_code == 201
    with app.app_context():
        later = TokenService(db.session, clock=lambda: datetime.datetime.combine(tomorrow, datetime.time(1)))
        assert later.find_active(expiring) is None


def test_tokens_are_stored_only_as_digests_and_stamp_last_use(app, client, world):
    project = world.projects["private"]
    token_id, secret = _token(app, "developer")
    _put(client, project, {"PRIVATE-TOKEN": secret})
    with app.app_context():
        from package_api.access.models import PersonalAccessToken

        row = db.session.get(PersonalAccessToken, token_id)
        assert secret not in (row.token_digest, row.name, row.scopes)
        assert row.last_used_at is not None


def test_current_user(client, world):
    r = client.get("/api/v4/user", headers=world.headers("developer"))
    assert r.status_code == 200
    assert r.json["username"] == "developer" and r.json["is_admin"] is False
    assert client.get("/api/v4/user").status_code == 401


def test_principal_kinds_keep_the_values_the_audit_trail_stores():
    assert {kind.value for kind in PrincipalKind} == {
        "anonymous",
        "personal_access_token",
        "project_access_token",
        "session",
        "deploy_token",
        "job_token",
        "ci_token",
        "cli",
    }
    assert ANONYMOUS.is_anonymous and ANONYMOUS.kind == "anonymous"
    job = Principal(kind="job_token", token_id=7)  # a kind given as its value is that kind
    assert job.kind is PrincipalKind.JOB_TOKEN and job.job_id == 7
    with pytest.raises(ValueError):
        Principal(kind="root")


def test_the_token_read_with_the_project_keeps_every_answer(app, client, world):
    """A project route reads the caller's personal access token and the project in one statement
    (``PersonalAccessTokenAuthenticator``): each way a token or a project can fail answers as before."""
    from package_api.access.models import PersonalAccessToken, Project, Role

    private = world.projects["private"]
    url = f"/api/v4/projects/{private}/packages"
    by_path = "/api/v4/projects/acme%2Fprivate/packages"
    assert client.get(url, headers=world.headers("developer")).status_code == 200
    assert client.get(by_path, headers=world.headers("developer")).status_code == 200
    for missing in ("/api/v4/projects/999999/packages", "/api/v4/projects/acme%2Fnothing/packages"):
        r = client.get(missing, headers=world.headers("developer"))
        assert (r.status_code, r.json) == (404, {"message": "404 Project Not Found"})
    assert client.get(url, headers=world.headers("outsider")).status_code == 404  # not a member: hidden
    assert client.get(url, headers={"PRIVATE-TOKEN": "mspat-wrong"}).status_code == 401
    r = client.put(generic_url(private, path="x"), data=b"x", headers=world.headers("guest"))
    assert r.status_code == 403  # a member whose role is too low
    assert client.get(url, headers=world.headers("guest")).status_code == 200

    # Expired (a token expires at the start of its day), and a stamp that commits (last use long ago).
    token_id, secret = _token(app, "developer")
    with app.app_context():
        row = db.session.get(PersonalAccessToken, token_id)
        row.last_used_at = datetime.datetime(2000, 1, 1)
        db.session.commit()
    r = client.get(by_path, headers={"PRIVATE-TOKEN": secret})
    assert r.status_code == 200 and r.json == client.get(url, headers=world.headers("developer")).json
    with app.app_context():
        row = db.session.get(PersonalAccessToken, token_id)
        assert row.last_used_at > datetime.datetime(2000, 1, 2)
        row.expires_at = datetime.date.today()
        db.session.commit()
    assert client.get(url, headers={"PRIVATE-TOKEN": secret}).status_code == 401

    # A rotated token used again: refused, and its successor revoked with it.
    token_id, secret = _token(app, "developer")
    with app.app_context():
        _, successor = TokenService(db.session).rotate(token_id, UserService(db.session).get("developer"))
        db.session.commit()
    assert client.get(url, headers={"PRIVATE-TOKEN": successor}).status_code == 200
    assert client.get(url, headers={"PRIVATE-TOKEN": secret}).status_code == 401
    assert client.get(url, headers={"PRIVATE-TOKEN": successor}).status_code == 401

    # A project access token (a bot) reaches its own project only, with its own role.
    with app.app_context():
        project = db.session.get(Project, private)
        _, bot = TokenService(db.session).create_for_project(project, "bot", ["api"], Role.REPORTER)
        db.session.commit()
    assert client.get(url, headers={"PRIVATE-TOKEN": bot}).status_code == 200
    assert client.put(generic_url(private, path="y"), data=b"y", headers={"PRIVATE-TOKEN": bot}).status_code == 403
    other = world.projects["internal"]
    assert client.get(f"/api/v4/projects/{other}/packages", headers={"PRIVATE-TOKEN": bot}).status_code == 404
