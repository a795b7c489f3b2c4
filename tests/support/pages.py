"""Helpers for the page tests: signing a test client in, reading CSRF tokens off pages."""
from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from package_api.access.authentication import SESSION_CSRF_TOKEN, start_session
from package_api.access.users import UserService
from package_api.db import db

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_from(html: str) -> str:
    """The CSRF token a page carries in its ``<meta name="csrf-token">``."""
    match = CSRF_META.search(html)
    assert match, "the page has no csrf-token meta tag"
    return match.group(1)


def page_csrf(client: FlaskClient, path: str = "/") -> str:
    """Load ``path`` and return the CSRF token it was rendered with."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return csrf_from(response.text)


def signed_in(app: Flask, client: FlaskClient, username: str) -> str:
    """Put ``username``'s session into ``client``'s cookie (as a sign-in would, without hashing a
    password); return the session's CSRF token."""
    with app.app_context(), client.session_transaction() as session:
        start_session(session, UserService(db.session).get(username))
        return str(session[SESSION_CSRF_TOKEN])


def set_password(app: Flask, username: str, password: str) -> None:
    with app.app_context():
        users = UserService(db.session)
        users.set_password(users.get(username), password)
        db.session.commit()
