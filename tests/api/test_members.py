"""Project members through GitLab's members API: who may read and change them, the Owner rules,
the last Owner, bots of project access tokens, and the audit trail of every change."""
from __future__ import annotations

import json

import pytest

from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db


def members_url(project: int | str, user_id: int | None = None) -> str:
    base = f"/api/v4/projects/{project}/members"
    return base if user_id is None else f"{base}/{user_id}"


def user_id(app, username: str) -> int:
    with app.app_context():
        return UserService(db.session).get(username).id


def levels(client, world, project: int) -> dict[str, int]:
    r = client.get(members_url(project), headers=world.headers("owner"))
    assert r.status_code == 200
    return {m["username"]: m["access_level"] for m in r.json}


def audit_events(app, project: int) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.query(AuditEvent).filter_by(project_id=project).order_by(AuditEvent.id).all()
        db.session.expunge_all()
        return rows


@pytest.mark.parametrize(
    ("caller", "status"),
    [(None, 404), ("outsider", 404), ("guest", 200), ("developer", 200), ("owner", 200), ("root", 200)],
)
def test_anyone_who_sees_a_private_project_reads_its_members(client, world, caller, status):
    headers = world.headers(caller) if caller else {}
    project = world.projects["private"]

    listed = client.get(members_url(project), headers=headers)
    every = client.get(members_url(project) + "/all", headers=headers)

    assert listed.status_code == every.status_code == status
    if status == 200:
        assert listed.json == every.json
        assert {m["username"]: m["access_level"] for m in listed.json} == {
            "owner": 50, "guest": 10, "reporter": 20, "developer": 30, "maintainer": 40
        }


def test_members_of_a_public_project_are_public(client, world):
    r = client.get(members_url(world.projects["public"]))

    assert r.status_code == 200
    assert len(r.json) == 5
    assert r.headers["X-Total"] == "5"


def test_member_entity_is_gitlabs(app, client, world):
    developer = user_id(app, "developer")

    r = client.get(members_url(world.projects["private"], developer), headers=world.headers("guest"))
    via_all = client.get(members_url(world.projects["private"]) + f"/all/{developer}", headers=world.headers("guest"))

    assert r.status_code == 200 and via_all.json == r.json
    body = r.json
    assert body["id"] == developer
    assert (body["username"], body["name"], body["state"], body["access_level"]) == ("developer", "developer", "active", 30)
    assert body["expires_at"] is None
    assert body["web_url"].endswith("/developer")
    assert body["created_at"].endswith("Z")
    missing = client.get(members_url(world.projects["private"], user_id(app, "outsider")), headers=world.headers("owner"))
    assert (missing.status_code, missing.json) == (404, {"message": "404 Member Not Found"})


def test_members_are_paginated_and_searchable(client, world):
    project = world.projects["private"]
    first = client.get(members_url(project) + "?per_page=2&page=1", headers=world.headers("owner"))
    last = client.get(members_url(project) + "?per_page=2&page=3", headers=world.headers("owner"))
    found = client.get(members_url(project) + "?query=PORT", headers=world.headers("owner"))

    assert [m["username"] for m in first.json] == ["owner", "guest"]
    assert first.headers["X-Total"] == "5" and first.headers["X-Total-Pages"] == "3"
    assert [m["username"] for m in last.json] == ["maintainer"]
    assert [m["username"] for m in found.json] == ["reporter"]


def test_members_are_filtered_by_user_ids_and_bad_ids_are_refused(app, client, world):
    project = world.projects["private"]
    wanted = [user_id(app, "guest"), user_id(app, "reporter")]
    found = client.get(members_url(project) + f"?user_ids={wanted[0]},{wanted[1]}", headers=world.headers("owner"))
    assert sorted(m["username"] for m in found.json) == ["guest", "reporter"]
    # Schemathesis found that an id beyond SQLite's integers was a 500.
    for bad in ("x", "-1", str(2**64), "9" * 5000):
        refused = client.get(members_url(project) + f"?user_ids=1,{bad}", headers=world.headers("owner"))
        assert (refused.status_code, refused.json) == (400, {"error": "user_ids is invalid"}), bad


@pytest.mark.parametrize(
    ("caller", "status"),
    [("outsider", 404), ("guest", 403), ("reporter", 403), ("developer", 403), ("maintainer", 201), ("owner", 201), ("root", 201)],
)
def test_maintainers_add_members(client, world, caller, status):
    project = world.projects["private"]

    r = client.post(members_url(project), json={"username": "outsider", "access_level": 30}, headers=world.headers(caller))

    assert r.status_code == status
    if status == 201:
        assert (r.json["username"], r.json["access_level"]) == ("outsider", 30)
        assert levels(client, world, project)["outsider"] == 30
    else:
        assert "outsider" not in levels(client, world, project)


def test_add_by_user_id_as_a_form_and_refuse_duplicates(app, client, world):
    project = world.projects["private"]
    outsider = user_id(app, "outsider")

    added = client.post(members_url(project), data={"user_id": str(outsider), "access_level": "20"}, headers=world.headers("maintainer"))
    again = client.post(members_url(project), data={"user_id": str(outsider), "access_level": "30"}, headers=world.headers("maintainer"))

    assert added.status_code == 201 and added.json["id"] == outsider
    assert (again.status_code, again.json) == (409, {"message": "409 Conflict - Member already exists"})
    assert levels(client, world, project)["outsider"] == 20


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "outsider"}, 400),
        ({"username": "outsider", "access_level": 5}, 400),
        ({"username": "outsider", "access_level": 60}, 400),
        ({"username": "outsider", "access_level": "lots"}, 400),
        ({"access_level": 30}, 400),
        ({"username": "outsider", "user_id": 1, "access_level": 30}, 400),
        ({"username": "nobody", "access_level": 30}, 404),
        ({"user_id": 9999, "access_level": 30}, 404),
        ({"user_id": 2**64, "access_level": 30}, 400),  # beyond what the database holds: not a 500
    ],
)
def test_invalid_additions_are_refused(client, world, body, status):
    r = client.post(members_url(world.projects["private"]), json=body, headers=world.headers("owner"))

    assert r.status_code == status
    assert "outsider" not in levels(client, world, world.projects["private"])


def test_a_read_api_token_cannot_change_members(client, world):
    r = client.post(
        members_url(world.projects["private"]),
        json={"username": "outsider", "access_level": 10},
        headers=world.headers("owner", read_only=True),
    )

    assert (r.status_code, r.json) == (403, {"message": "403 Forbidden - insufficient_scope"})


def test_only_owners_grant_the_owner_role(client, world):
    project = world.projects["private"]
    by_maintainer = client.post(members_url(project), json={"username": "outsider", "access_level": 50}, headers=world.headers("maintainer"))
    by_owner = client.post(members_url(project), json={"username": "outsider", "access_level": 50}, headers=world.headers("owner"))

    assert by_maintainer.status_code == 403
    assert by_owner.status_code == 201
    assert levels(client, world, project)["outsider"] == 50


def test_maintainers_change_roles_below_owner_only(app, client, world):
    project = world.projects["private"]
    developer, owner = user_id(app, "developer"), user_id(app, "owner")
    headers = world.headers("maintainer")

    demoted = client.put(members_url(project, developer), json={"access_level": 20}, headers=headers)
    promoted_to_owner = client.put(members_url(project, developer), json={"access_level": 50}, headers=headers)
    owner_demoted = client.put(members_url(project, owner), json={"access_level": 40}, headers=headers)
    unknown = client.put(members_url(project, user_id(app, "outsider")), json={"access_level": 20}, headers=headers)

    assert (demoted.status_code, demoted.json["access_level"]) == (200, 20)
    assert promoted_to_owner.status_code == 403
    assert owner_demoted.status_code == 403
    assert unknown.status_code == 404
    assert levels(client, world, project) == {"owner": 50, "guest": 10, "reporter": 20, "developer": 20, "maintainer": 40}


def test_the_last_owner_cannot_leave_or_be_demoted(app, client, world):
    project = world.projects["private"]
    owner, maintainer = user_id(app, "owner"), user_id(app, "maintainer")
    headers = world.headers("owner")

    demoted = client.put(members_url(project, owner), json={"access_level": 40}, headers=headers)
    removed = client.delete(members_url(project, owner), headers=headers)
    by_admin = client.delete(members_url(project, owner), headers=world.headers("root"))

    for refused in (demoted, removed, by_admin):
        assert refused.status_code == 400
        assert refused.json == {
            "message": "400 Bad request - a project must keep at least one Owner: make another member Owner first"
        }
    assert levels(client, world, project)["owner"] == 50

    # With a second Owner, the first may step down.
    assert client.put(members_url(project, maintainer), json={"access_level": 50}, headers=headers).status_code == 200
    assert client.delete(members_url(project, owner), headers=headers).status_code == 204
    r = client.get(members_url(project), headers=world.headers("maintainer"))
    assert {m["username"]: m["access_level"] for m in r.json} == {
        "guest": 10, "reporter": 20, "developer": 30, "maintainer": 50
    }
    assert client.get(members_url(project), headers=world.headers("owner")).status_code == 404


@pytest.mark.parametrize(("caller", "status"), [("developer", 403), ("maintainer", 204), ("owner", 204), ("root", 204)])
def test_maintainers_remove_members(app, client, world, caller, status):
    project = world.projects["private"]

    r = client.delete(members_url(project, user_id(app, "guest")), headers=world.headers(caller))

    assert r.status_code == status
    assert ("guest" in levels(client, world, project)) is (status != 204)


def test_removing_an_owner_needs_an_owner(client, world, app):
    project = world.projects["private"]
    client.post(members_url(project), json={"username": "outsider", "access_level": 50}, headers=world.headers("owner"))
    outsider = user_id(app, "outsider")

    by_maintainer = client.delete(members_url(project, outsider), headers=world.headers("maintainer"))
    by_owner = client.delete(members_url(project, outsider), headers=world.headers("owner"))

    assert by_maintainer.status_code == 403
    assert by_owner.status_code == 204


def test_a_removed_member_loses_access(app, client, world):
    project = world.projects["private"]
    assert client.get(f"/api/v4/projects/{project}", headers=world.headers("developer")).status_code == 200

    client.delete(members_url(project, user_id(app, "developer")), headers=world.headers("maintainer"))

    assert client.get(f"/api/v4/projects/{project}", headers=world.headers("developer")).status_code == 404


def test_deploy_tokens_cannot_manage_members(client, world):
    project = world.projects["private"]
    created = client.post(
        f"/api/v4/projects/{project}/deploy_tokens",
        json={"name": "ci", "scopes": ["read_package_registry", "write_package_registry"]},
        headers=world.headers("maintainer"),
    ).json

    r = client.post(members_url(project), json={"username": "outsider", "access_level": 10}, headers={"DEPLOY-TOKEN": created["token"]})

    assert r.status_code == 403


def test_project_access_token_bots_are_members(client, world):
    project = world.projects["private"]
    created = client.post(
        f"/api/v4/projects/{project}/access_tokens",
        json={"name": "publisher", "scopes": ["api"], "access_level": 30},
        headers=world.headers("maintainer"),
    ).json

    listed = client.get(members_url(project), headers=world.headers("guest")).json
    [bot] = [m for m in listed if m["id"] == created["user_id"]]

    assert bot["access_level"] == 30 and bot["bot"] is True
    assert bot["username"].startswith(f"project_{project}_bot_")
    assert bot["name"] == "publisher"


def test_a_bot_cannot_join_another_project(client, world):
    created = client.post(
        f"/api/v4/projects/{world.projects['private']}/access_tokens",
        json={"name": "bot", "scopes": ["api"]},
        headers=world.headers("owner"),
    ).json

    r = client.post(
        members_url(world.projects["public"]), json={"user_id": created["user_id"], "access_level": 30}, headers=world.headers("owner")
    )

    assert r.status_code == 400


def test_every_change_is_in_the_audit_trail(app, client, world):
    project = world.projects["private"]
    outsider = user_id(app, "outsider")
    seeded = {e.id for e in audit_events(app, project)}  # the world's own, made without a request
    client.post(members_url(project), json={"username": "outsider", "access_level": 10}, headers=world.headers("maintainer"))
    client.put(members_url(project, outsider), json={"access_level": 30}, headers=world.headers("maintainer"))
    client.delete(members_url(project, outsider), headers=world.headers("owner"))
    client.put(members_url(project, user_id(app, "owner")), json={"access_level": 10}, headers=world.headers("owner"))  # refused

    events = [e for e in audit_events(app, project) if e.id not in seeded]

    assert [(e.event_name, e.author_name, e.token_type, e.target_id, e.target_details) for e in events] == [
        ("member_added", "maintainer", "personal_access_token", outsider, "outsider"),
        ("member_updated", "maintainer", "personal_access_token", outsider, "outsider"),
        ("member_removed", "owner", "personal_access_token", outsider, "outsider"),
    ]
    assert json.loads(events[0].details) == {"access_level": 10}
    assert json.loads(events[1].details) == {"access_level": {"from": 10, "to": 30}}
    assert all(e.ip_address == "127.0.0.1" for e in events)
