"""Users through GitLab's users API: admins create them, anyone looks them up."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db


def test_admins_create_users(app, client, world):
    r = client.post(
        "/api/v4/users",
        json={"username": "carol", "name": "Carol Smith", "password": "correct horse", "admin": False},
        headers=world.headers("root"),
    )

    assert r.status_code == 201
    assert (r.json["username"], r.json["name"], r.json["is_admin"], r.json["bot"]) == ("carol", "Carol Smith", False, False)
    with app.app_context():
        users = UserService(db.session)
        assert users.authenticate("carol", "correct horse").id == r.json["id"]
        assert users.authenticate("carol", "wrong password") is None
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.event_name == "user_created", AuditEvent.target_details == "carol"))
        assert (event.project_id, event.author_name, event.target_id, event.target_details) == (None, "root", r.json["id"], "carol")
        assert "correct horse" not in event.details and json.loads(event.details) == {"admin": False}


def test_admins_create_admins_without_passwords(app, client, world):
    r = client.post("/api/v4/users", data={"username": "ops", "admin": "true"}, headers=world.headers("root"))

    assert r.status_code == 201 and r.json["is_admin"] is True
    with app.app_context():
        assert UserService(db.session).get("ops").password_hash is None


@pytest.mark.parametrize(("caller", "status"), [(None, 401), ("owner", 403), ("maintainer", 403)])
def test_only_admins_create_users(app, client, world, caller, status):
    r = client.post("/api/v4/users", json={"username": "mallory"}, headers=world.headers(caller) if caller else {})

    assert r.status_code == status
    with app.app_context():
        assert UserService(db.session).find("mallory") is None


def test_an_admins_read_api_token_cannot_create_users(client, world):
    r = client.post("/api/v4/users", json={"username": "mallory"}, headers=world.headers("root", read_only=True))

    assert (r.status_code, r.json) == (403, {"message": "403 Forbidden - insufficient_scope"})


@pytest.mark.parametrize(
    ("body", "status", "answer"),
    [
        ({"username": "developer"}, 409, {"message": "409 Conflict - Username already exists"}),
        ({"username": "bad name"}, 400, {"error": "username is invalid"}),
        ({"name": "No Username"}, 400, {"error": "username is missing"}),
        ({"username": "short", "password": "1234"}, 400, {"error": "password is too short (minimum is 8 characters)"}),
    ],
)
def test_invalid_users_are_refused(client, world, body, status, answer):
    r = client.post("/api/v4/users", json=body, headers=world.headers("root"))

    assert (r.status_code, r.json) == (status, answer)


def test_look_up_a_user_by_username(client, world):
    found = client.get("/api/v4/users?username=developer")
    nobody = client.get("/api/v4/users?username=nobody")

    assert found.status_code == 200
    assert [(u["username"], u["state"]) for u in found.json] == [("developer", "active")]
    assert "is_admin" not in found.json[0]  # only admins see that
    assert nobody.json == []


def test_list_and_search_users(client, world):
    everyone = client.get("/api/v4/users?per_page=3", headers=world.headers("developer"))
    searched = client.get("/api/v4/users?search=OPER", headers=world.headers("developer"))

    assert everyone.headers["X-Total"] == "7" and len(everyone.json) == 3
    assert [u["username"] for u in searched.json] == ["developer"]


def test_project_bots_can_be_left_out(client, world):
    bot = client.post(
        f"/api/v4/projects/{world.projects['private']}/access_tokens",
        json={"name": "bot", "scopes": ["api"]},
        headers=world.headers("owner"),
    ).json

    with_bots = client.get("/api/v4/users?per_page=100", headers=world.headers("root")).json
    without = client.get("/api/v4/users?per_page=100&without_project_bots=true", headers=world.headers("root")).json

    assert bot["user_id"] in {u["id"] for u in with_bots if u["bot"]}
    assert bot["user_id"] not in {u["id"] for u in without}


def test_get_a_user(app, client, world):
    with app.app_context():
        root_id = UserService(db.session).get("root").id

    public = client.get(f"/api/v4/users/{root_id}")
    as_admin = client.get(f"/api/v4/users/{root_id}", headers=world.headers("root"))

    assert public.status_code == 200 and public.json["username"] == "root" and "is_admin" not in public.json
    assert as_admin.json["is_admin"] is True
    assert client.get("/api/v4/users/9999").json == {"message": "404 User Not Found"}
