"""Sign-in hardening: failed sign-ins are throttled (429 with Retry-After), unknown and known names
cost one password hash each, sessions end everywhere on sign-out, and ``redirect_to`` never leads
off the site."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from package_api.audit.models import AuditEvent
from package_api.db import db
from tests.support.pages import page_csrf, set_password, signed_in

PASSWORD = "correct horse battery"
SESSION_COOKIE = "_modelshelf_session"


@pytest.fixture
def settings(settings):
    return {**settings, "SIGN_IN_MAX_FAILURES": 3, "SIGN_IN_ADDRESS_MAX_FAILURES": 6, "SIGN_IN_LOCK_SECONDS": 120}


@pytest.fixture
def alice(app, world):
    set_password(app, "maintainer", PASSWORD)
    return "maintainer"


def _sign_in(client, username, password, redirect_to=None, address="10.1.1.1", forwarded_for=None):
    token = page_csrf(client, "/users/sign_in")
    form = {"username": username, "password": password, "csrf_token": token}
    if redirect_to is not None:
        form["redirect_to"] = redirect_to
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/users/sign_in", data=form, headers=headers, environ_base={"REMOTE_ADDR": address})


@pytest.fixture
def scrypt_calls(monkeypatch):
    """How many scrypt hashes were computed (werkzeug hashes passwords with ``hashlib.scrypt``)."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


# -- throttling ---------------------------------------------------------------------------------


def test_failed_sign_ins_lock_the_account_with_429_and_retry_after(app, client, alice):
    for _ in range(2):
        assert _sign_in(client, alice, "wrong password").status_code == 401
    locked = _sign_in(client, alice, "wrong password")
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 120
    assert "Too many failed sign-in attempts. Try again in 2 minutes." in locked.text
    # Locked: even the right password, from anywhere, is refused until the lock ends.
    again = _sign_in(app.test_client(), alice, PASSWORD, address="10.9.9.9")
    assert again.status_code == 429 and "Retry-After" in again.headers
    assert 'data-testid="current-user"' not in client.get("/").text
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == "sign_in_locked")).all()
        assert (event.target_type, event.target_details, event.ip_address, event.token_type) == (
            "User", "maintainer", "10.1.1.1", "anonymous"
        )


def test_a_locked_account_costs_no_password_hash(app, client, alice, scrypt_calls):
    for _ in range(3):
        _sign_in(client, alice, "wrong password")
    scrypt_calls.clear()
    assert _sign_in(client, alice, "wrong password").status_code == 429
    assert scrypt_calls == []


def test_a_successful_sign_in_clears_the_accounts_failures(app, alice):
    for _ in range(2):
        assert _sign_in(app.test_client(), alice, "wrong password").status_code == 401
    assert _sign_in(app.test_client(), alice, PASSWORD).status_code == 302
    for _ in range(2):  # two more do not lock: the count started again
        assert _sign_in(app.test_client(), alice, "wrong password", address="10.1.1.2").status_code == 401
    assert _sign_in(app.test_client(), alice, PASSWORD, address="10.1.1.3").status_code == 302


def test_an_address_guessing_many_names_is_locked(app, client, alice):
    for n in range(5):
        assert _sign_in(client, f"guess{n}", "wrong password").status_code == 401
    assert _sign_in(client, "guess5", "wrong password").status_code == 429
    assert _sign_in(client, alice, PASSWORD).status_code == 429  # that address, any name
    assert _sign_in(app.test_client(), alice, PASSWORD, address="10.2.2.2").status_code == 302  # others sign in


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(app, client, alice):
    app.config["MODELSHELF"]["TRUSTED_PROXY_CIDRS"] = "127.0.0.0/8"
    for n in range(6):
        _sign_in(client, f"guess{n}", "wrong password", address="127.0.0.1", forwarded_for="203.0.113.5")
    assert _sign_in(client, alice, PASSWORD, address="127.0.0.1", forwarded_for="203.0.113.5").status_code == 429
    # Another client through the same proxy is not locked out with it.
    other = _sign_in(app.test_client(), alice, PASSWORD, address="127.0.0.1", forwarded_for="198.51.100.9")
    assert other.status_code == 302
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == "sign_in_locked")).all()
        assert (event.target_type, event.target_details) == ("Address", "203.0.113.5")


@pytest.mark.parametrize("username", ["maintainer", "nobody", "guest"])  # with a password, unknown, without one
def test_unknown_and_known_names_cost_one_hash_each(app, alice, scrypt_calls, username):
    app.test_client().get("/")  # nothing hashed on the way in
    # The dummy hash (for unknown names and users without a password) is made once per process, on
    # its first use: make it here, whatever ran before in this process (on CI's workers "guest" once
    # ran first and counted it).
    _sign_in(app.test_client(), "nobody-warming-up", "warm-up")
    _sign_in(app.test_client(), "maintainer", "warm-up")
    scrypt_calls.clear()
    r = _sign_in(app.test_client(), username, "wrong password", address="10.4.4.4")
    assert r.status_code == 401 and "Invalid username or password." in r.text
    assert len(scrypt_calls) == 1


def test_a_wrong_current_password_counts_against_the_account(app, client, alice):
    csrf = signed_in(app, client, alice)
    form = {"current_password": "not it", "password": "a new password", "password_confirmation": "a new password"}
    for _ in range(3):
        r = client.post("/-/user_settings/password", data={**form, "csrf_token": csrf})
        assert r.status_code == 400
    r = client.post("/-/user_settings/password", data={**form, "current_password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 429 and "Retry-After" in r.headers and "Too many failed attempts" in r.text


# -- session generations ------------------------------------------------------------------------


def _copy_of(app, client):
    """A second browser holding a copy of ``client``'s session cookie."""
    copy = app.test_client()
    copy.set_cookie(SESSION_COOKIE, client.get_cookie(SESSION_COOKIE).value)
    return copy


def test_a_copied_cookie_stops_working_at_sign_out(app, client, alice):
    assert _sign_in(client, alice, PASSWORD).status_code == 302
    copy = _copy_of(app, client)
    assert "@maintainer" in copy.get("/").text and copy.get("/api/v4/user").status_code == 200
    client.post("/users/sign_out", data={"csrf_token": page_csrf(client, "/")})
    assert 'data-testid="current-user"' not in copy.get("/").text
    assert copy.get("/api/v4/user").status_code == 401
    assert copy.get("/acme/private/-/packages").status_code == 404
    assert _sign_in(client, alice, PASSWORD).status_code == 302  # signing in again works


def test_a_password_change_keeps_this_session_and_ends_the_others(app, client, alice):
    csrf = signed_in(app, client, alice)
    copy = _copy_of(app, client)
    other = app.test_client()
    signed_in(app, other, alice)
    form = {"current_password": PASSWORD, "password": "a brand new one", "password_confirmation": "a brand new one"}
    assert client.post("/-/user_settings/password", data={**form, "csrf_token": csrf}).status_code == 302
    assert "@maintainer" in client.get("/").text
    for ended in (copy, other):
        assert 'data-testid="current-user"' not in ended.get("/").text
        assert ended.get("/api/v4/user").status_code == 401


def test_sign_out_everywhere_ends_every_session(app, client, alice):
    csrf = signed_in(app, client, alice)
    copy = _copy_of(app, client)
    other = app.test_client()
    signed_in(app, other, alice)
    page = client.get("/-/user_settings/password/edit")
    assert 'data-testid="sign-out-everywhere"' in page.text
    r = client.post("/-/user_settings/sign_out_everywhere", data={"csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert "Signed out everywhere" in client.get("/").text
    for ended in (client, copy, other):
        assert 'data-testid="current-user"' not in ended.get("/").text
        assert ended.get("/api/v4/user").status_code == 401
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == "user_sessions_ended")).all()
        assert (event.author_name, event.target_details, event.token_type) == ("maintainer", "maintainer", "session")


def test_sign_out_everywhere_needs_the_csrf_token(app, client, alice):
    signed_in(app, client, alice)
    assert client.post("/-/user_settings/sign_out_everywhere").status_code == 403
    assert "@maintainer" in client.get("/").text


# -- redirect_to --------------------------------------------------------------------------------

HOSTILE = [
    "//evil.com",
    "//evil.com/path",
    "/\\evil.com",
    "\\\\evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "/\r\n/evil.com",
    "\t//evil.com",
    " //evil.com",
    "https://evil.com",
    "http:evil.com",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\r\nSet-Cookie: pwned=1",
    "evil.com",
    "",
]
LEGIT = [
    "/acme/private/-/packages",
    "/acme/private/-/packages?page=2&sort=name",
    "/acme/private/-/packages#files",
    "/acme/private/-/packages?q=a%2Fb#frag",
    "/api/v4/projects/1/ml/mlflow",
    "/api/v4/projects/1/ml/mlflow#/experiments/3/runs/0a1b2c",  # mlflow_links.js keeps MLflow's fragment
    "/-/user_settings/password/edit",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_redirect_targets_fall_back_to_the_projects_list(app, alice, target):
    r = _sign_in(app.test_client(), alice, PASSWORD, redirect_to=target)
    assert r.status_code == 302 and r.headers["Location"] == "/", target


@pytest.mark.parametrize(
    "query", ["/%09/evil.com", "/%5cevil.com", "%5c%5cevil.com", "/%0d%0aSet-Cookie:%20pwned=1", "//evil.com"]
)
def test_hostile_redirect_targets_in_the_sign_in_url(app, client, alice, query):
    page = client.get(f"/users/sign_in?redirect_to={query}")
    assert page.status_code == 200 and 'name="redirect_to" value="/"' in page.text
    signed_in(app, client, alice)
    r = client.get(f"/users/sign_in?redirect_to={query}")  # signed in: the page redirects at once
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert "Set-Cookie: pwned" not in str(r.headers)


def test_a_nul_in_the_redirect_target_is_a_400_that_signs_nobody_in(app, client, alice):
    """A NUL in any parameter is refused before the page reads it (package_api/web/body_limits.py)."""
    r = _sign_in(client, alice, PASSWORD, redirect_to="/\x00/evil.com")
    assert r.status_code == 400 and "Location" not in r.headers and "NUL" in r.text
    assert "@" + alice not in client.get("/").text
    r = client.get("/users/sign_in?redirect_to=/%00x")
    assert r.status_code == 400 and "Location" not in r.headers


@pytest.mark.parametrize("target", LEGIT)
def test_paths_on_this_site_are_kept(app, alice, target):
    r = _sign_in(app.test_client(), alice, PASSWORD, redirect_to=target)
    assert r.status_code == 302 and r.headers["Location"] == target
