"""The API checks no passwords: HTTP Basic with a user's password is refused without hashing it, so
the sign-in form (throttled) is the one place a password is guessed. A session cookie copied before
sign-out is refused by the API as by the pages."""
from __future__ import annotations

import base64
import hashlib

import pytest

from tests.support.pages import page_csrf, set_password

PASSWORD = "correct horse battery"


@pytest.fixture
def scrypt_calls(monkeypatch):
    calls: list[int] = []
    real = hashlib.scrypt

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


def test_basic_auth_with_a_password_is_refused_without_hashing(app, client, world, scrypt_calls):
    set_password(app, "maintainer", PASSWORD)
    scrypt_calls.clear()
    basic = base64.b64encode(f"maintainer:{PASSWORD}".encode()).decode()
    r = client.get("/api/v4/user", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 401
    assert scrypt_calls == []


def test_a_session_cookie_copied_before_sign_out_is_refused_by_the_api(app, client, world):
    set_password(app, "maintainer", PASSWORD)
    token = page_csrf(client, "/users/sign_in")
    client.post("/users/sign_in", data={"username": "maintainer", "password": PASSWORD, "csrf_token": token})
    copy = app.test_client()
    copy.set_cookie("_modelshelf_session", client.get_cookie("_modelshelf_session").value)
    assert copy.get("/api/v4/user").json["username"] == "maintainer"
    client.post("/users/sign_out", data={"csrf_token": page_csrf(client, "/")})
    assert copy.get("/api/v4/user").status_code == 401
