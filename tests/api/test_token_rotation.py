"""Token rotation as GitLab documents it (``POST /personal_access_tokens/:id/rotate``, ``.../self/rotate``,
``POST /projects/:id/access_tokens/:token_id/rotate`` and ``.../self/rotate``): the old token is
revoked, the answer is its successor with the secret (same name and scopes; a project bot keeps its
role), expiring when asked or in a week; a revoked token of a rotated family that is used again
revokes the family's live token (automatic reuse detection); every step is in the audit trail."""
from __future__ import annotations

import datetime
import json

import pytest
from sqlalchemy import select

from package_api.audit.models import AuditEvent
from package_api.db import db
from tests.support.world import generic_url

TODAY = datetime.date.today()
NEXT_MONTH = (TODAY + datetime.timedelta(days=30)).isoformat()


def in_a_week() -> str:
    """A week from today, read when a test asserts it (a module constant goes stale at midnight)."""
    return (datetime.date.today() + datetime.timedelta(days=7)).isoformat()


#: The fields of GitLab's ``PersonalAccessTokenWithToken`` this API answers (``description`` aside).
TOKEN_FIELDS = {"id", "name", "revoked", "created_at", "scopes", "user_id", "last_used_at", "active", "expires_at", "token"}


def me(client, token):
    return client.get("/api/v4/user", headers={"PRIVATE-TOKEN": token})


def publish(client, project, token, path="file.bin"):
    return client.put(generic_url(project, version="nightly", path=path), data=b"x", headers={"PRIVATE-TOKEN": token})


def events(app, *names):
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event_name.in_(names)).order_by(AuditEvent.id))
        return [(e.event_name, e.target_id, e.author_name, json.loads(e.details)) for e in rows]


def made(client, world, user="developer", **body):
    payload = {"name": "laptop", "scopes": ["api"], **body}
    return client.post("/api/v4/user/personal_access_tokens", json=payload, headers=world.headers(user)).json


# -- personal access tokens -----------------------------------------------------------------------


def test_rotating_a_token_revokes_it_and_answers_its_successor(app, client, world):
    old = made(client, world, scopes=["read_api", "api"], expires_at=NEXT_MONTH)

    r = client.post(f"/api/v4/personal_access_tokens/{old['id']}/rotate", headers=world.headers("developer"))

    assert r.status_code == 200
    new = r.json
    assert set(new) == TOKEN_FIELDS
    assert (new["name"], new["scopes"], new["user_id"], new["active"], new["revoked"]) == (
        "laptop", ["api", "read_api"], old["user_id"], True, False
    )
    assert new["id"] > old["id"] and new["token"] != old["token"] and new["token"].startswith("mspat-")
    assert new["expires_at"] == in_a_week()  # GitLab's week when the rotation names no date
    assert me(client, new["token"]).status_code == 200
    assert me(client, old["token"]).status_code == 401
    shown = client.get(f"/api/v4/personal_access_tokens/{old['id']}", headers=world.headers("developer")).json
    assert (shown["revoked"], shown["active"]) == (True, False)
    assert events(app, "personal_access_token_rotated") == [
        ("personal_access_token_rotated", new["id"], "developer",
         {"user": "developer", "rotated_from": old["id"], "expires_at": in_a_week()}),
    ]


@pytest.mark.parametrize(
    ("body", "status", "expires_at"),
    [({"expires_at": NEXT_MONTH}, 200, NEXT_MONTH), ({"expires_at": TODAY.isoformat()}, 400, None), ({"expires_at": "soon"}, 400, None)],
)
def test_a_rotation_may_name_the_expiry(client, world, body, status, expires_at):
    old = made(client, world)

    r = client.post(f"/api/v4/personal_access_tokens/{old['id']}/rotate", json=body, headers=world.headers("developer"))

    assert r.status_code == status
    if status == 200:
        assert r.json["expires_at"] == expires_at
    else:
        assert r.json["error"].startswith("expires_at")
        assert me(client, old["token"]).status_code == 200  # a refused rotation changes nothing


def test_a_token_rotates_itself_with_the_api_scope_only(client, world):
    token = made(client, world)["token"]
    read_only = made(client, world, scopes=["read_api"])["token"]

    r = client.post("/api/v4/personal_access_tokens/self/rotate", headers={"PRIVATE-TOKEN": token})
    refused = client.post("/api/v4/personal_access_tokens/self/rotate", headers={"PRIVATE-TOKEN": read_only})

    assert r.status_code == 200 and me(client, r.json["token"]).json["username"] == "developer"
    assert me(client, token).status_code == 401
    assert refused.status_code == 403 and me(client, read_only).status_code == 200


def test_who_may_rotate_whose_token(client, world):
    theirs = made(client, world, user="developer")

    assert client.post(f"/api/v4/personal_access_tokens/{theirs['id']}/rotate", headers=world.headers("maintainer")).status_code == 404
    assert client.post("/api/v4/personal_access_tokens/999999/rotate", headers=world.headers("root")).status_code == 404
    assert me(client, theirs["token"]).status_code == 200
    by_admin = client.post(f"/api/v4/personal_access_tokens/{theirs['id']}/rotate", headers=world.headers("root"))
    assert by_admin.status_code == 200 and by_admin.json["user_id"] == theirs["user_id"]


def test_using_a_rotated_token_again_revokes_its_family(app, client, world):
    """GitLab's automatic reuse detection: the old token was leaked, so its successor may be too."""
    first = made(client, world)
    second = client.post("/api/v4/personal_access_tokens/self/rotate", headers={"PRIVATE-TOKEN": first["token"]}).json
    third = client.post("/api/v4/personal_access_tokens/self/rotate", headers={"PRIVATE-TOKEN": second["token"]}).json
    assert me(client, third["token"]).status_code == 200

    assert me(client, first["token"]).status_code == 401  # someone uses the leaked first token

    assert me(client, third["token"]).status_code == 401
    assert me(client, world.tokens["developer"]).status_code == 200  # tokens of other families live on
    [(name, target, author, details)] = events(app, "personal_access_token_revoked")
    assert (name, target, author) == ("personal_access_token_revoked", third["id"], "")
    assert details == {"user": "developer", "reason": "a revoked token of its family was used", "used_token": first["id"]}


def test_rotating_a_revoked_token_is_refused_and_revokes_its_family(client, world):
    first = made(client, world)
    second = client.post(f"/api/v4/personal_access_tokens/{first['id']}/rotate", headers=world.headers("developer")).json

    r = client.post(f"/api/v4/personal_access_tokens/{first['id']}/rotate", headers=world.headers("developer"))

    assert (r.status_code, r.json) == (400, {"message": "400 Bad request - Token already revoked"})
    assert me(client, second["token"]).status_code == 401


# -- project access tokens ------------------------------------------------------------------------


def project_token(client, world, project, **body):
    payload = {"name": "publisher", "scopes": ["api"], "access_level": 30, **body}
    return client.post(f"/api/v4/projects/{project}/access_tokens", json=payload, headers=world.headers("maintainer")).json


def test_rotating_a_project_token_keeps_its_bot_and_role(app, client, world):
    project = world.projects["private"]
    old = project_token(client, world, project)
    url = f"/api/v4/projects/{project}/access_tokens/{old['id']}/rotate"

    assert client.post(url, headers=world.headers("developer")).status_code == 403
    r = client.post(url, json={"expires_at": NEXT_MONTH}, headers=world.headers("maintainer"))

    assert r.status_code == 200
    new = r.json
    assert set(new) == TOKEN_FIELDS | {"access_level"}
    assert (new["user_id"], new["access_level"], new["name"], new["expires_at"]) == (old["user_id"], 30, "publisher", NEXT_MONTH)
    assert publish(client, project, new["token"]).status_code == 201
    listed = client.get(f"/api/v4/projects/{project}/access_tokens", headers=world.headers("maintainer")).json
    assert [(t["id"], t["active"], t["access_level"]) for t in listed] == [(old["id"], False, 30), (new["id"], True, 30)]
    assert client.post(f"/api/v4/projects/{world.projects['public']}/access_tokens/{new['id']}/rotate",
                       headers=world.headers("owner")).status_code == 404
    [(_, target, author, details)] = events(app, "project_access_token_rotated")
    assert (target, author, details["rotated_from"]) == (new["id"], "maintainer", old["id"])
    # The old token, used again, was leaked: its bot's live token goes, and with it the membership.
    assert publish(client, project, old["token"], "other.bin").status_code == 401
    assert publish(client, project, new["token"], "other.bin").status_code == 401
    members = client.get(f"/api/v4/projects/{project}/members", headers=world.headers("owner")).json
    assert old["user_id"] not in {m["id"] for m in members}


def test_a_project_token_rotates_itself(client, world):
    project = world.projects["private"]
    bot = project_token(client, world, project)
    url = f"/api/v4/projects/{project}/access_tokens/self/rotate"

    r = client.post(url, headers={"PRIVATE-TOKEN": bot["token"]})
    human = client.post(url, headers=world.headers("maintainer"))
    elsewhere = client.post(f"/api/v4/projects/{world.projects['public']}/access_tokens/self/rotate",
                            headers={"PRIVATE-TOKEN": r.json["token"]})

    assert r.status_code == 200 and r.json["access_level"] == 30 and r.json["expires_at"] == in_a_week()
    assert publish(client, project, r.json["token"]).status_code == 201
    assert (human.status_code, human.json) == (404, {"message": "404 Token Not Found"})
    assert elsewhere.status_code == 404
