"""Users through GitLab's users API: admins create them, signed-in callers look them up (anonymous
ones too on a public instance, ``USERS_PUBLIC``), and a project's bots are known only to those who
can see the project."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db
from tests.support.pages import page_csrf, signed_in


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
    found = client.get("/api/v4/users?username=developer", headers=world.headers("outsider"))
    nobody = client.get("/api/v4/users?username=nobody", headers=world.headers("outsider"))

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

    public = client.get(f"/api/v4/users/{root_id}", headers=world.headers("outsider"))
    as_admin = client.get(f"/api/v4/users/{root_id}", headers=world.headers("root"))

    assert public.status_code == 200 and public.json["username"] == "root" and "is_admin" not in public.json
    assert as_admin.json["is_admin"] is True
    assert client.get("/api/v4/users/9999", headers=world.headers("outsider")).json == {"message": "404 User Not Found"}


# -- changing a user (PUT /users/:id, GitLab's "Modify a user") ---------------------------------------


def _user_id(app, username):
    with app.app_context():
        return UserService(db.session).get(username).id


def _events(app, username):
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event_name == "user_updated", AuditEvent.target_details == username)
        ).all()
        return [(row.author_name, json.loads(row.details)) for row in rows]


def test_admins_change_a_users_name_admin_flag_and_password(app, client, world):
    outsider = _user_id(app, "outsider")

    r = client.put(
        f"/api/v4/users/{outsider}",
        json={"name": "Olive Outsider", "admin": True, "password": "a long new password"},
        headers=world.headers("root"),
    )

    assert r.status_code == 200
    assert (r.json["id"], r.json["name"], r.json["is_admin"]) == (outsider, "Olive Outsider", True)
    with app.app_context():
        assert UserService(db.session).authenticate("outsider", "a long new password").id == outsider
    [(author, details)] = _events(app, "outsider")
    assert author == "root"
    assert details == {
        "name": {"from": "outsider", "to": "Olive Outsider"},
        "admin": {"from": False, "to": True},
        "password": "changed",  # never the password itself
    }


def test_a_form_changes_only_what_it_names_and_the_same_values_change_nothing(app, client, world):
    reporter = _user_id(app, "reporter")

    renamed = client.put(f"/api/v4/users/{reporter}", data={"name": "Rita"}, headers=world.headers("root"))
    again = client.put(f"/api/v4/users/{reporter}", data={"name": "Rita", "admin": "false"}, headers=world.headers("root"))

    assert renamed.status_code == again.status_code == 200
    assert (again.json["name"], again.json["is_admin"]) == ("Rita", False)
    assert [details for _, details in _events(app, "reporter")] == [{"name": {"from": "reporter", "to": "Rita"}}]


def test_the_new_password_signs_in_and_ends_the_users_sessions(app, client, world):
    guest = _user_id(app, "guest")
    browser = app.test_client()
    signed_in(app, browser, "guest")
    assert browser.get("/api/v4/user").status_code == 200

    r = client.put(f"/api/v4/users/{guest}", json={"password": "guest's new password"}, headers=world.headers("root"))

    assert r.status_code == 200
    assert browser.get("/api/v4/user").status_code == 401  # the old session is over
    token = page_csrf(browser, "/users/sign_in")
    form = {"username": "guest", "password": "guest's new password", "csrf_token": token}
    assert browser.post("/users/sign_in", data=form).status_code == 302
    assert browser.get("/api/v4/user").json["username"] == "guest"


@pytest.mark.parametrize(("caller", "status"), [(None, 401), ("owner", 403), ("maintainer", 403)])
def test_only_admins_change_users(app, client, world, caller, status):
    target = _user_id(app, "developer")

    r = client.put(f"/api/v4/users/{target}", json={"admin": True}, headers=world.headers(caller) if caller else {})

    assert r.status_code == status
    assert _events(app, "developer") == []


def test_an_admins_read_api_token_cannot_change_users(app, client, world):
    target = _user_id(app, "developer")

    r = client.put(f"/api/v4/users/{target}", json={"name": "X"}, headers=world.headers("root", read_only=True))

    assert (r.status_code, r.json) == (403, {"message": "403 Forbidden - insufficient_scope"})


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({"password": "short"}, {"error": "password is too short (minimum is 8 characters)"}),
        ({"password": ""}, {"error": "password is too short (minimum is 8 characters)"}),
        ({"name": "   "}, {"error": "name is invalid"}),
        ({"admin": "perhaps"}, {"error": "admin is invalid"}),
        # Nothing of a refused request is kept: the valid name did not change either.
        ({"name": "Kept?", "password": "short"}, {"error": "password is too short (minimum is 8 characters)"}),
    ],
)
def test_invalid_changes_are_refused_whole(app, client, world, body, answer):
    target = _user_id(app, "developer")

    r = client.put(f"/api/v4/users/{target}", json=body, headers=world.headers("root"))

    assert (r.status_code, r.json) == (400, answer)
    assert client.get(f"/api/v4/users/{target}", headers=world.headers("developer")).json["name"] == "developer"
    assert _events(app, "developer") == []


def test_a_project_bot_gets_no_password_and_no_admin_flag(client, world):
    bot = client.post(
        f"/api/v4/projects/{world.projects['private']}/access_tokens",
        json={"name": "bot", "scopes": ["api"]},
        headers=world.headers("owner"),
    ).json["user_id"]

    password = client.put(f"/api/v4/users/{bot}", json={"password": "a bot password"}, headers=world.headers("root"))
    admin = client.put(f"/api/v4/users/{bot}", json={"admin": True}, headers=world.headers("root"))
    name = client.put(f"/api/v4/users/{bot}", json={"name": "Publisher bot"}, headers=world.headers("root"))

    assert (password.status_code, password.json) == (400, {"error": "password cannot be set for a project bot"})
    assert (admin.status_code, admin.json) == (400, {"error": "admin cannot be set for a project bot"})
    assert name.status_code == 200


def test_changing_an_unknown_user_is_a_404(client, world):
    r = client.put("/api/v4/users/9999", json={"name": "Nobody"}, headers=world.headers("root"))

    assert (r.status_code, r.json) == (404, {"message": "404 User Not Found"})


# -- who may look users up ---------------------------------------------------------------------------


def _bot(client, world, visibility, name):
    return client.post(f"/api/v4/projects/{world.projects[visibility]}/access_tokens",
                       json={"name": name, "scopes": ["api"]}, headers=world.headers("owner")).json["user_id"]


def test_anonymous_callers_cannot_list_or_look_up_users_by_default(app, client, world):
    developer = _user_id(app, "developer")
    assert client.get("/api/v4/users").status_code == 401
    assert client.get("/api/v4/users?username=developer").status_code == 401
    assert client.get(f"/api/v4/users/{developer}").json == {"message": "401 Unauthorized"}
    assert client.get("/api/v4/users/9999").status_code == 401  # the same whether the user exists


def test_bots_of_projects_the_caller_cannot_see_are_unknown_to_it(app, client, world):
    secret = _bot(client, world, "private", "deploy-to-prod-eu")
    shown = _bot(client, world, "public", "public-publisher")
    private_id = world.projects["private"]

    def listed(who, query="per_page=100"):
        answer = client.get(f"/api/v4/users?{query}", headers=world.headers(who))
        assert answer.status_code == 200
        return answer

    for outsider_query in ("per_page=100", "search=bot", "search=deploy-to-prod", f"search=project_{private_id}_bot"):
        answer = listed("outsider", outsider_query)
        assert secret not in {u["id"] for u in answer.json}
        assert "deploy-to-prod-eu" not in answer.get_data(as_text=True)
        assert f"project_{private_id}_bot" not in answer.get_data(as_text=True)
    assert listed("outsider", "per_page=100").headers["X-Total"] == str(len(listed("outsider").json))
    assert shown in {u["id"] for u in listed("outsider").json}  # a public project's bot is public
    assert client.get(f"/api/v4/users/{secret}", headers=world.headers("outsider")).json == {"message": "404 User Not Found"}
    assert client.get(f"/api/v4/users/{shown}", headers=world.headers("outsider")).json["bot"] is True

    # members of the project and administrators see its bot
    for who in ("guest", "root"):
        assert secret in {u["id"] for u in listed(who).json}
        found = client.get(f"/api/v4/users/{secret}", headers=world.headers(who)).json
        assert (found["name"], found["bot"]) == ("deploy-to-prod-eu", True)


class TestAPublicInstance:
    @pytest.fixture
    def settings(self, settings):
        return {**settings, "USERS_PUBLIC": True}

    def test_anonymous_callers_look_users_up_but_not_private_projects_bots(self, app, client, world):
        secret = _bot(client, world, "private", "deploy-to-prod-eu")
        developer = _user_id(app, "developer")
        everyone = client.get("/api/v4/users?per_page=100")
        assert everyone.status_code == 200
        assert "developer" in {u["username"] for u in everyone.json}
        assert secret not in {u["id"] for u in everyone.json}
        assert "deploy-to-prod-eu" not in everyone.get_data(as_text=True)
        assert client.get(f"/api/v4/users/{developer}").json["username"] == "developer"
        assert client.get(f"/api/v4/users/{secret}").status_code == 404
