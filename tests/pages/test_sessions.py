"""Signing in and out of the web UI, the session cookie, and CSRF on the pages and on the API."""
from __future__ import annotations

import pytest

from package_api import create_app
from package_api.access.models import User
from package_api.access.users import UserService
from package_api.db import db
from tests.support.databases import database_settings
from tests.support.pages import csrf_from, page_csrf, set_password, signed_in
from tests.support.world import generic_url

PASSWORD = "correct horse battery"
SESSION_COOKIE = "_modelshelf_session"


@pytest.fixture
def alice(app, world):
    """The maintainer of the seeded projects, with a password."""
    set_password(app, "maintainer", PASSWORD)
    return "maintainer"


def _sign_in(client, username, password, redirect_to=None):
    token = page_csrf(client, "/users/sign_in")
    form = {"username": username, "password": password, "csrf_token": token}
    if redirect_to is not None:
        form["redirect_to"] = redirect_to
    return client.post("/users/sign_in", data=form)


def test_sign_in_page_has_a_form_with_a_csrf_token(client):
    r = client.get("/users/sign_in")
    assert r.status_code == 200 and r.mimetype == "text/html"
    token = csrf_from(r.text)
    assert f'name="csrf_token" value="{token}"' in r.text
    assert 'name="username"' in r.text and 'type="password"' in r.text
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("_modelshelf_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sign_in_with_the_right_password(client, alice):
    r = _sign_in(client, alice, PASSWORD, redirect_to="/acme/private/-/packages")
    assert r.status_code == 302 and r.headers["Location"] == "/acme/private/-/packages"
    page = client.get("/acme/private/-/packages")
    assert page.status_code == 200
    assert 'data-testid="current-user"' in page.text and "@maintainer" in page.text
    assert "Sign out" in page.text


def test_sign_in_renews_the_csrf_token(client, alice):
    before = page_csrf(client, "/users/sign_in")
    client.post("/users/sign_in", data={"username": alice, "password": PASSWORD, "csrf_token": before})
    assert page_csrf(client, "/") != before


@pytest.mark.parametrize("username, password", [("maintainer", "wrong password"), ("nobody", PASSWORD)])
def test_sign_in_with_a_wrong_password_or_user(client, alice, username, password):
    r = _sign_in(client, username, password)
    assert r.status_code == 401
    assert "Invalid username or password." in r.text
    assert f'value="{username}"' in r.text  # the name is kept, the password is not
    assert 'data-testid="current-user"' not in client.get("/").text
    assert client.get("/acme/private/-/packages").status_code == 404


def test_sign_in_does_not_redirect_off_site(app, alice):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = _sign_in(app.test_client(), alice, PASSWORD, redirect_to=target)
        assert r.status_code == 302 and r.headers["Location"] == "/", target


def test_sign_in_form_needs_the_csrf_token(client, alice):
    client.get("/users/sign_in")
    r = client.post("/users/sign_in", data={"username": alice, "password": PASSWORD})
    assert r.status_code == 403 and "Reload the page" in r.text
    assert 'data-testid="current-user"' not in client.get("/").text


def test_signed_in_users_skip_the_sign_in_page(app, client, world):
    signed_in(app, client, "guest")
    r = client.get("/users/sign_in?redirect_to=/acme/private")
    assert r.status_code == 302 and r.headers["Location"] == "/acme/private"


def test_sign_out(client, alice):
    _sign_in(client, alice, PASSWORD)
    token = page_csrf(client, "/")
    r = client.post("/users/sign_out", data={"csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200 and "Signed out." in r.text
    assert 'data-testid="current-user"' not in r.text and "Sign in" in r.text
    assert client.get("/acme/private/-/packages").status_code == 404


def test_sign_out_without_the_token_is_refused(app, client, world):
    signed_in(app, client, "guest")
    assert client.post("/users/sign_out").status_code == 403
    assert client.post("/users/sign_out", data={"csrf_token": "forged"}).status_code == 403
    assert "@guest" in client.get("/").text


def test_a_deleted_users_session_is_anonymous(app, client, world):
    signed_in(app, client, "outsider")
    with app.app_context():
        db.session.delete(db.session.query(User).filter_by(username="outsider").one())
        db.session.commit()
    r = client.get("/")
    assert r.status_code == 200 and 'data-testid="current-user"' not in r.text
    assert client.get("/api/v4/user").status_code == 401


# -- the session on the API -------------------------------------------------------------------


def test_the_api_accepts_the_session_for_reads(app, client, world):
    signed_in(app, client, "guest")
    me = client.get("/api/v4/user")
    assert me.status_code == 200 and me.json["username"] == "guest"
    assert client.get(f"/api/v4/projects/{world.projects['private']}/packages").status_code == 200


def test_an_api_put_with_the_session_needs_the_csrf_header(app, client, world):
    token = signed_in(app, client, "developer")
    url = generic_url(world.projects["private"])
    refused = client.put(url, data=b"bytes")
    assert refused.status_code == 403 and refused.json == {"message": "403 Forbidden - invalid CSRF token"}
    # A form field is not enough on the API: only a script of ours can set the header.
    assert client.put(url, data={"csrf_token": token}).status_code == 403
    assert client.put(url, data=b"bytes", headers={"X-CSRF-Token": "forged"}).status_code == 403
    listed = client.get(f"/api/v4/projects/{world.projects['private']}/packages")
    assert listed.json == []

    accepted = client.put(url, data=b"bytes", headers={"X-CSRF-Token": token})
    assert accepted.status_code == 201
    assert [p["name"] for p in client.get(f"/api/v4/projects/{world.projects['private']}/packages").json] == ["pkg"]


def test_a_session_has_full_scope_but_only_its_users_roles(app, client, world):
    token = signed_in(app, client, "developer")
    project = world.projects["private"]
    assert client.put(generic_url(project), data=b"x", headers={"X-CSRF-Token": token}).status_code == 201
    package_id = client.get(f"/api/v4/projects/{project}/packages").json[0]["id"]
    # Deleting needs a Maintainer: the session does not lift the role.
    r = client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers={"X-CSRF-Token": token})
    assert r.status_code == 403 and r.json["message"] == "403 Forbidden"


def test_a_token_wins_over_the_session_and_needs_no_csrf_header(app, client, world):
    signed_in(app, client, "guest")
    me = client.get("/api/v4/user", headers=world.headers("developer"))
    assert me.json["username"] == "developer"
    r = client.put(generic_url(world.projects["private"]), data=b"x", headers=world.headers("developer"))
    assert r.status_code == 201


def test_an_anonymous_session_is_anonymous_on_the_api(client, world):
    page_csrf(client, "/users/sign_in")  # a cookie with a CSRF token and no user
    assert client.get("/api/v4/user").status_code == 401
    assert client.put(generic_url(world.projects["public"]), data=b"x").status_code == 401


def test_a_session_outlives_a_restart_without_a_configured_key(tmp_path):
    """Without ``SECRET_KEY`` the key is kept in the data directory, so every worker and every
    restart accepts the cookies the others signed."""
    data_dir = tmp_path / "data"
    settings = {"DATA_DIR": str(data_dir), "STORAGE": "memory", "PLUGINS": "none", **database_settings(data_dir, reuse=True)}
    apps = [create_app(settings), create_app(settings)]
    try:
        with apps[0].app_context():
            UserService(db.session).create("alice")
            db.session.commit()
        first = apps[0].test_client()
        signed_in(apps[0], first, "alice")
        second = apps[1].test_client()
        second.set_cookie(SESSION_COOKIE, first.get_cookie(SESSION_COOKIE).value)
        assert second.get("/api/v4/user").json["username"] == "alice"
        assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    finally:
        for app in apps:
            with app.app_context():
                db.engine.dispose()


def test_a_new_password_ends_older_sessions(app, client, world):
    signed_in(app, client, "guest")
    assert "@guest" in client.get("/").text
    set_password(app, "guest", "a brand new password")
    assert 'data-testid="current-user"' not in client.get("/").text
    assert client.get("/api/v4/user").status_code == 401
