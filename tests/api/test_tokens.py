"""Tokens through the API: personal access tokens, project access tokens (bot members) and deploy
tokens. Who may make them, what each can do (scopes, the one project a bot or a deploy token
belongs to), expiry, revocation, the audit trail, and that the database never holds a secret."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json

import pytest
from sqlalchemy import String, Text, select, update

from package_api.access.ci_jobs import JobService
from package_api.access.models import DeployToken, PersonalAccessToken, Project
from package_api.access.tokens import CiTokenService
from package_api.audit.models import AuditEvent
from package_api.db import db
from tests.support.world import generic_url as _generic_url

TODAY = datetime.date.today()
NEXT_YEAR = (TODAY + datetime.timedelta(days=365)).isoformat()


def generic_url(project: int, name: str = "pkg", path: str = "file.bin") -> str:
    """A plain generic package (not a SemVer version: those follow the model registry's rules)."""
    return _generic_url(project, name=name, version="nightly", path=path)


def basic(username: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


def put_file(client, project, headers, path="file.bin", name="pkg"):
    return client.put(generic_url(project, name=name, path=path), data=b"bytes", headers=headers)


def new_events(app, since: int) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def last_event_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0


def expire(app, model, token_id: int) -> None:
    """Put a token's expiry in the past, as time passing would."""
    with app.app_context():
        db.session.execute(update(model).where(model.id == token_id).values(expires_at=TODAY - datetime.timedelta(days=1)))
        db.session.commit()


# -- personal access tokens -----------------------------------------------------------------------


def test_create_a_personal_access_token_for_oneself(client, world):
    r = client.post(
        "/api/v4/user/personal_access_tokens",
        json={"name": "laptop", "scopes": ["read_api"], "expires_at": NEXT_YEAR},
        headers=world.headers("developer"),
    )

    assert r.status_code == 201
    body = r.json
    assert body["token"].startswith("mspat-")
    assert (body["name"], body["scopes"], body["expires_at"], body["revoked"], body["active"]) == (
        "laptop", ["read_api"], NEXT_YEAR, False, True
    )
    me = client.get("/api/v4/user", headers={"PRIVATE-TOKEN": body["token"]})
    assert me.status_code == 200 and me.json["id"] == body["user_id"]
    shown = client.get(f"/api/v4/personal_access_tokens/{body['id']}", headers=world.headers("developer"))
    assert "token" not in shown.json and shown.json["name"] == "laptop"


def test_scopes_arrive_as_gitlab_arrays_in_forms(client, world):
    r = client.post(
        "/api/v4/user/personal_access_tokens",
        data={"name": "both", "scopes[]": ["api", "read_api"]},
        headers=world.headers("developer"),
    )

    assert r.status_code == 201 and r.json["scopes"] == ["api", "read_api"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "scopes": ["sudo"]}, "scopes does not have a valid value"),
        ({"name": "x"}, "scopes is missing"),
        ({"scopes": ["api"]}, "name is missing"),
        ({"name": "x", "scopes": ["api"], "expires_at": TODAY.isoformat()}, "expires_at must be in the future"),
        ({"name": "x", "scopes": ["api"], "expires_at": "next week"}, "expires_at is invalid"),
    ],
)
def test_invalid_personal_tokens_are_refused(client, world, body, message):
    r = client.post("/api/v4/user/personal_access_tokens", json=body, headers=world.headers("developer"))

    assert (r.status_code, r.json) == (400, {"error": message})


def test_who_may_create_personal_tokens(client, world):
    url, body = "/api/v4/user/personal_access_tokens", {"name": "x", "scopes": ["api"]}

    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers=world.headers("developer", read_only=True)).status_code == 403
    # A read_api token cannot mint itself an api token.
    bot = client.post(
        f"/api/v4/projects/{world.projects['private']}/access_tokens",
        json={"name": "bot", "scopes": ["api"]},
        headers=world.headers("maintainer"),
    ).json
    assert client.post(url, json=body, headers={"PRIVATE-TOKEN": bot["token"]}).status_code == 403


def test_a_job_token_cannot_mint_personal_tokens(app, client, world):
    with app.app_context():
        project = db.session.get(Project, world.projects["private"])
        _, job_token = JobService(db.session).register(project, {"user": "developer", "job_id": "7"})
        db.session.commit()

    r = client.post("/api/v4/user/personal_access_tokens", json={"name": "x", "scopes": ["api"]}, headers={"JOB-TOKEN": job_token})
    listed = client.get("/api/v4/personal_access_tokens", headers={"JOB-TOKEN": job_token})

    assert r.status_code == 403 and listed.status_code == 403


def test_admins_create_tokens_for_users(app, client, world):
    with app.app_context():
        from package_api.access.users import UserService

        developer = UserService(db.session).get("developer").id
    url = f"/api/v4/users/{developer}/personal_access_tokens"
    body = {"name": "for-dev", "scopes": ["api"]}

    assert client.post(url, json=body, headers=world.headers("maintainer")).status_code == 403
    created = client.post(url, json=body, headers=world.headers("root"))
    missing = client.post("/api/v4/users/9999/personal_access_tokens", json=body, headers=world.headers("root"))

    assert created.status_code == 201 and created.json["user_id"] == developer
    assert missing.status_code == 404
    me = client.get("/api/v4/user", headers={"PRIVATE-TOKEN": created.json["token"]})
    assert me.json["username"] == "developer"


def test_listing_shows_ones_own_tokens_and_admins_choose_whose(app, client, world):
    mine = client.get("/api/v4/personal_access_tokens", headers=world.headers("developer"))
    with app.app_context():
        from package_api.access.users import UserService

        developer = UserService(db.session).get("developer").id

    assert mine.status_code == 200
    assert {t["name"] for t in mine.json} == {"test", "test-read"}
    assert {t["user_id"] for t in mine.json} == {developer}
    assert all("token" not in t for t in mine.json)
    assert client.get(f"/api/v4/personal_access_tokens?user_id={developer}", headers=world.headers("guest")).status_code == 403
    as_admin = client.get(f"/api/v4/personal_access_tokens?user_id={developer}", headers=world.headers("root"))
    assert [t["id"] for t in as_admin.json] == [t["id"] for t in mine.json]
    everyone = client.get("/api/v4/personal_access_tokens?per_page=100", headers=world.headers("root"))
    assert len(everyone.json) == int(everyone.headers["X-Total"]) == 2 * len(world.tokens)
    assert client.get("/api/v4/personal_access_tokens").status_code == 401


def test_others_tokens_are_not_found(client, world):
    mine = client.get("/api/v4/personal_access_tokens", headers=world.headers("developer")).json[0]

    assert client.get(f"/api/v4/personal_access_tokens/{mine['id']}", headers=world.headers("guest")).status_code == 404
    assert client.delete(f"/api/v4/personal_access_tokens/{mine['id']}", headers=world.headers("guest")).status_code == 404
    assert client.get(f"/api/v4/personal_access_tokens/{mine['id']}", headers=world.headers("root")).status_code == 200


def test_revoked_tokens_are_401(client, world):
    secret = world.tokens["developer"]
    own = client.get("/api/v4/personal_access_tokens/self", headers=world.headers("developer")).json
    project = world.projects["private"]
    assert put_file(client, project, {"PRIVATE-TOKEN": secret}).status_code == 201

    r = client.delete(f"/api/v4/personal_access_tokens/{own['id']}", headers=world.headers("developer"))

    assert r.status_code == 204
    assert put_file(client, project, {"PRIVATE-TOKEN": secret}).status_code == 401
    assert client.get("/api/v4/user", headers={"PRIVATE-TOKEN": secret}).status_code == 401
    shown = client.get(f"/api/v4/personal_access_tokens/{own['id']}", headers=world.headers("root")).json
    assert (shown["revoked"], shown["active"]) == (True, False)
    inactive = client.get("/api/v4/personal_access_tokens?state=inactive", headers=world.headers("root")).json
    assert [t["id"] for t in inactive] == [own["id"]]


def test_a_token_revokes_itself_whatever_its_scope(client, world):
    read_only = world.headers("developer", read_only=True)
    me = client.get("/api/v4/personal_access_tokens/self", headers=read_only)
    assert me.status_code == 200 and me.json["scopes"] == ["read_api"]

    assert client.delete("/api/v4/personal_access_tokens/self", headers=read_only).status_code == 204

    assert client.get("/api/v4/personal_access_tokens/self", headers=read_only).status_code == 401
    assert client.get("/api/v4/user", headers=world.headers("developer")).status_code == 200  # the other one still works


def test_a_read_api_token_cannot_revoke_others(client, world):
    other = client.get("/api/v4/personal_access_tokens/self", headers=world.headers("developer")).json

    r = client.delete(f"/api/v4/personal_access_tokens/{other['id']}", headers=world.headers("developer", read_only=True))

    assert r.status_code == 403
    assert client.get("/api/v4/user", headers=world.headers("developer")).status_code == 200


def test_expired_personal_tokens_are_401(app, client, world):
    token_id = client.get("/api/v4/personal_access_tokens/self", headers=world.headers("developer")).json["id"]

    expire(app, PersonalAccessToken, token_id)

    assert client.get("/api/v4/user", headers=world.headers("developer")).status_code == 401
    shown = client.get(f"/api/v4/personal_access_tokens/{token_id}", headers=world.headers("root")).json
    assert (shown["revoked"], shown["active"]) == (False, False)


def test_read_api_reads_but_cannot_write_anywhere(client, world):
    project = world.projects["private"]
    read_only = world.headers("maintainer", read_only=True)
    put_file(client, project, world.headers("maintainer"))

    assert client.get(generic_url(project), headers=read_only).status_code == 200
    assert put_file(client, project, read_only, "other.bin").status_code == 403
    assert client.put(f"/api/v4/projects/{project}", json={"description": "x"}, headers=read_only).status_code == 403
    assert client.post(f"/api/v4/projects/{project}/deploy_tokens", json={"name": "d", "scopes": ["read_package_registry"]}, headers=read_only).status_code == 403


# -- project access tokens ------------------------------------------------------------------------


def create_project_token(client, world, project, caller="maintainer", **body):
    payload = {"name": "bot", "scopes": ["api"], **body}
    return client.post(f"/api/v4/projects/{project}/access_tokens", json=payload, headers=world.headers(caller))


@pytest.mark.parametrize(("caller", "status"), [("outsider", 404), ("developer", 403), ("maintainer", 201), ("owner", 201), ("root", 201)])
def test_maintainers_create_project_access_tokens(client, world, caller, status):
    r = create_project_token(client, world, world.projects["private"], caller)

    assert r.status_code == status
    if status == 201:
        assert r.json["access_level"] == 40  # GitLab's default
        assert r.json["token"].startswith("mspat-")
        assert r.json["active"] is True


def test_project_tokens_are_never_owners(client, world):
    r = create_project_token(client, world, world.projects["private"], "owner", access_level=50)

    assert (r.status_code, r.json) == (400, {"error": "access_level does not have a valid value"})


def test_a_project_token_acts_with_its_role_in_its_project_only(client, world):
    private, public, other = world.projects["private"], world.projects["public"], world.projects["internal"]
    publisher = create_project_token(client, world, private, access_level=30).json["token"]
    reader = create_project_token(client, world, private, access_level=20, name="reader").json["token"]

    assert put_file(client, private, {"PRIVATE-TOKEN": publisher}).status_code == 201
    assert put_file(client, private, {"PRIVATE-TOKEN": reader}, "r.bin").status_code == 403
    assert client.get(generic_url(private), headers={"PRIVATE-TOKEN": reader}).status_code == 200
    # Elsewhere the bot is nobody: public projects it may read, not write; internal and private ones
    # do not exist for it.
    put_file(client, public, world.headers("developer"))
    assert client.get(generic_url(public), headers={"PRIVATE-TOKEN": publisher}).status_code == 200
    assert put_file(client, public, {"PRIVATE-TOKEN": publisher}, "b.bin").status_code == 403
    assert client.get(f"/api/v4/projects/{other}/members", headers={"PRIVATE-TOKEN": publisher}).status_code == 404
    assert put_file(client, other, {"PRIVATE-TOKEN": publisher}).status_code == 404
    listed = client.get("/api/v4/projects", headers={"PRIVATE-TOKEN": publisher}).json
    assert {p["id"] for p in listed} == {private, public}


def test_a_project_token_is_invisible_to_other_private_projects(app, client, world):
    from package_api.access.projects import ProjectService
    from package_api.access.users import UserService

    with app.app_context():
        other = ProjectService(db.session).create("acme/secret", UserService(db.session).get("owner")).id
        db.session.commit()
    bot = create_project_token(client, world, world.projects["private"], access_level=40).json["token"]

    assert client.get(f"/api/v4/projects/{other}", headers={"PRIVATE-TOKEN": bot}).status_code == 404
    assert put_file(client, other, {"PRIVATE-TOKEN": bot}).status_code == 404


def test_list_show_and_revoke_project_tokens(client, world):
    project = world.projects["private"]
    created = create_project_token(client, world, project, access_level=30).json
    url = f"/api/v4/projects/{project}/access_tokens"

    listed = client.get(url, headers=world.headers("maintainer"))
    shown = client.get(f"{url}/{created['id']}", headers=world.headers("maintainer"))
    assert [t["id"] for t in listed.json] == [created["id"]]
    assert shown.json["access_level"] == 30 and "token" not in shown.json
    assert client.get(url, headers=world.headers("developer")).status_code == 403
    assert client.get(f"/api/v4/projects/{world.projects['public']}/access_tokens/{created['id']}", headers=world.headers("owner")).status_code == 404

    assert client.delete(f"{url}/{created['id']}", headers=world.headers("developer")).status_code == 403
    assert client.delete(f"{url}/{created['id']}", headers=world.headers("maintainer")).status_code == 204

    assert put_file(client, project, {"PRIVATE-TOKEN": created["token"]}).status_code == 401
    members = client.get(f"/api/v4/projects/{project}/members", headers=world.headers("owner")).json
    assert created["user_id"] not in {m["id"] for m in members}
    after = client.get(f"{url}/{created['id']}", headers=world.headers("maintainer")).json
    assert (after["revoked"], after["active"], after["access_level"]) == (True, False, None)
    assert [t["id"] for t in client.get(f"{url}?state=active", headers=world.headers("maintainer")).json] == []


def test_expired_project_tokens_are_401(app, client, world):
    project = world.projects["private"]
    created = create_project_token(client, world, project, access_level=30).json

    expire(app, PersonalAccessToken, created["id"])

    assert put_file(client, project, {"PRIVATE-TOKEN": created["token"]}).status_code == 401


def test_a_read_api_project_token_cannot_write(client, world):
    project = world.projects["private"]
    created = create_project_token(client, world, project, access_level=40, scopes=["read_api"]).json

    assert client.get(f"/api/v4/projects/{project}/members", headers={"PRIVATE-TOKEN": created["token"]}).status_code == 200
    assert put_file(client, project, {"PRIVATE-TOKEN": created["token"]}).status_code == 403


# -- deploy tokens ---------------------------------------------------------------------------------


def create_deploy_token(client, world, project, scopes, caller="maintainer", **body):
    payload = {"name": "deployer", "scopes": scopes, **body}
    return client.post(f"/api/v4/projects/{project}/deploy_tokens", json=payload, headers=world.headers(caller))


@pytest.mark.parametrize(("caller", "status"), [("outsider", 404), ("developer", 403), ("maintainer", 201), ("owner", 201), ("root", 201)])
def test_maintainers_create_deploy_tokens(client, world, caller, status):
    r = create_deploy_token(client, world, world.projects["private"], ["read_package_registry"], caller, expires_at=NEXT_YEAR)

    assert r.status_code == status
    if status == 201:
        body = r.json
        assert body["token"].startswith("msdt-")
        assert body["username"] == f"modelshelf+deploy-token-{body['id']}"
        assert (body["scopes"], body["revoked"], body["expired"]) == (["read_package_registry"], False, False)
        assert body["expires_at"] == f"{NEXT_YEAR}T00:00:00.000Z"


def test_deploy_token_scopes_on_the_generic_api(client, world):
    project = world.projects["private"]
    put_file(client, project, world.headers("maintainer"))
    read = create_deploy_token(client, world, project, ["read_package_registry"], username="reader").json
    write = create_deploy_token(client, world, project, ["write_package_registry"], username="writer").json

    assert client.get(generic_url(project), headers={"DEPLOY-TOKEN": read["token"]}).status_code == 200
    assert client.get(generic_url(project), headers=basic("reader", read["token"])).status_code == 200
    assert put_file(client, project, {"DEPLOY-TOKEN": read["token"]}, "new.bin").status_code == 403

    assert put_file(client, project, basic("writer", write["token"]), "new.bin").status_code == 201
    assert client.get(generic_url(project), headers={"DEPLOY-TOKEN": write["token"]}).status_code == 403
    package_id = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("owner")).json[0]["id"]
    both = create_deploy_token(client, world, project, ["read_package_registry", "write_package_registry"]).json
    delete = client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers={"DEPLOY-TOKEN": both["token"]})
    assert delete.status_code == 403

    # Basic auth names the token's username; another name is a bad credential.
    assert client.get(generic_url(project), headers=basic("writer", read["token"])).status_code == 401
    assert client.get(generic_url(project), headers=basic("reader", read["token"] + "x")).status_code == 401


def test_a_deploy_token_reaches_its_project_only(client, world):
    token = create_deploy_token(client, world, world.projects["private"], ["read_package_registry", "write_package_registry"]).json["token"]
    other = world.projects["internal"]
    put_file(client, other, world.headers("maintainer"))

    assert client.get(generic_url(other), headers={"DEPLOY-TOKEN": token}).status_code == 404
    assert put_file(client, other, {"DEPLOY-TOKEN": token}).status_code == 404


def test_list_show_and_revoke_deploy_tokens(client, world):
    project = world.projects["private"]
    created = create_deploy_token(client, world, project, ["read_package_registry"]).json
    url = f"/api/v4/projects/{project}/deploy_tokens"
    put_file(client, project, world.headers("maintainer"))

    listed = client.get(url, headers=world.headers("maintainer")).json
    shown = client.get(f"{url}/{created['id']}", headers=world.headers("maintainer")).json
    assert [t["id"] for t in listed] == [created["id"]] and "token" not in listed[0]
    assert shown["name"] == "deployer" and "token" not in shown
    assert client.get(url, headers=world.headers("developer")).status_code == 403

    assert client.delete(f"{url}/{created['id']}", headers=world.headers("developer")).status_code == 403
    assert client.delete(f"{url}/{created['id']}", headers=world.headers("maintainer")).status_code == 204

    assert client.get(generic_url(project), headers={"DEPLOY-TOKEN": created["token"]}).status_code == 401
    assert client.get(f"{url}?active=true", headers=world.headers("maintainer")).json == []
    assert client.get(f"{url}/{created['id']}", headers=world.headers("maintainer")).json["revoked"] is True


def test_expired_deploy_tokens_are_401(app, client, world):
    project = world.projects["private"]
    created = create_deploy_token(client, world, project, ["read_package_registry"]).json
    put_file(client, project, world.headers("maintainer"))

    expire(app, DeployToken, created["id"])

    assert client.get(generic_url(project), headers={"DEPLOY-TOKEN": created["token"]}).status_code == 401
    shown = client.get(f"/api/v4/projects/{project}/deploy_tokens/{created['id']}", headers=world.headers("owner")).json
    assert (shown["revoked"], shown["expired"]) == (False, True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "d", "scopes": ["read_repository"]}, "scopes does not have a valid value"),
        ({"name": "d", "scopes": ["read_package_registry"], "username": "no spaces"}, "username is invalid"),
        ({"scopes": ["read_package_registry"]}, "name is missing"),
    ],
)
def test_invalid_deploy_tokens_are_refused(client, world, body, message):
    r = client.post(f"/api/v4/projects/{world.projects['private']}/deploy_tokens", json=body, headers=world.headers("owner"))

    assert (r.status_code, r.json) == (400, {"error": message})


# -- at rest and in the audit trail ----------------------------------------------------------------


def test_the_database_holds_digests_never_secrets(app, client, world):
    project = world.projects["private"]
    secrets = {
        "personal": client.post(
            "/api/v4/user/personal_access_tokens", json={"name": "p", "scopes": ["api"]}, headers=world.headers("developer")
        ).json["token"],
        "project": create_project_token(client, world, project).json["token"],
        "deploy": create_deploy_token(client, world, project, ["read_package_registry"]).json["token"],
        **{f"seeded-{name}": token for name, token in world.tokens.items()},
    }
    with app.app_context():
        row = db.session.get(Project, project)
        secrets["ci"] = CiTokenService(db.session).rotate(row)
        secrets["job"] = JobService(db.session).register(row, {"user": "developer", "job_id": "1"})[1]
        db.session.commit()
    for secret in secrets.values():  # use each once, so that last_used_at and the audit trail are written too
        client.get(f"/api/v4/projects/{project}", headers={"PRIVATE-TOKEN": secret} if secret.startswith(("mspat-", "msci-")) else {"DEPLOY-TOKEN": secret} if secret.startswith("msdt-") else {"JOB-TOKEN": secret})

    stored: list[str] = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
            if columns:
                for values in db.session.execute(select(*columns)).all():
                    stored.extend(str(v) for v in values if v is not None)
    everything = "\n".join(stored)

    for kind, secret in secrets.items():
        assert secret not in everything, f"the {kind} token is stored"
        assert secret.split("-", 1)[1] not in everything, f"the {kind} token's random part is stored"
        assert hashlib.sha256(secret.encode()).hexdigest() in stored, f"the {kind} token's digest is missing"


def test_token_changes_are_audited(app, client, world):
    project = world.projects["private"]
    since = last_event_id(app)
    personal = client.post(
        "/api/v4/user/personal_access_tokens", json={"name": "p", "scopes": ["api"]}, headers=world.headers("developer")
    ).json
    client.delete(f"/api/v4/personal_access_tokens/{personal['id']}", headers=world.headers("developer"))
    bot = create_project_token(client, world, project, access_level=20).json
    client.delete(f"/api/v4/projects/{project}/access_tokens/{bot['id']}", headers=world.headers("owner"))
    deploy = create_deploy_token(client, world, project, ["read_package_registry"]).json
    client.delete(f"/api/v4/projects/{project}/deploy_tokens/{deploy['id']}", headers=world.headers("maintainer"))
    client.delete(f"/api/v4/projects/{project}/deploy_tokens/{deploy['id']}", headers=world.headers("maintainer"))  # again: no change

    events = new_events(app, since)

    assert [(e.event_name, e.project_id, e.author_name, e.target_id) for e in events] == [
        ("personal_access_token_created", None, "developer", personal["id"]),
        ("personal_access_token_revoked", None, "developer", personal["id"]),
        ("project_access_token_created", project, "maintainer", bot["id"]),
        ("project_access_token_revoked", project, "owner", bot["id"]),
        ("deploy_token_created", project, "maintainer", deploy["id"]),
        ("deploy_token_revoked", project, "maintainer", deploy["id"]),
    ]
    assert json.loads(events[2].details)["access_level"] == 20
    assert json.loads(events[4].details)["scopes"] == ["read_package_registry"]
    assert all(e.token_type == "personal_access_token" for e in events)
    for secret in (personal["token"], bot["token"], deploy["token"]):
        assert all(secret not in e.details for e in events)
