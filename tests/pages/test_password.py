"""User settings > Password: the signed-in user changes their own password, knowing the current one."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db
from tests.support.pages import set_password, signed_in

PAGE = "/-/user_settings/password/edit"
FORM = "/-/user_settings/password"
OLD, NEW = "the old password", "a brand new password"
#: Events of the page (the fixture's password, set by the command line, is one too).
BY_SESSION = AuditEvent.token_type == "session"


@pytest.fixture
def guest(app, world):
    set_password(app, "guest", OLD)
    return "guest"


def _change(client, csrf, current, password, confirmation=None):
    form = {
        "current_password": current,
        "password": password,
        "password_confirmation": password if confirmation is None else confirmation,
        "csrf_token": csrf,
    }
    return client.post(FORM, data=form)


def test_the_password_page_asks_for_the_current_password_and_the_new_one_twice(app, client, guest):
    signed_in(app, client, guest)

    page = client.get(PAGE)

    assert page.status_code == 200
    for field in ('name="current_password"', 'name="password"', 'name="password_confirmation"', 'name="csrf_token"'):
        assert field in page.text
    assert 'data-testid="user-settings-tab-edit_password"' in page.text
    assert 'href="/-/user_settings/password/edit"' in client.get("/-/user_settings/personal_access_tokens").text


def test_a_user_changes_their_password_and_stays_signed_in(app, client, guest):
    csrf = signed_in(app, client, guest)
    elsewhere = app.test_client()
    signed_in(app, elsewhere, guest)

    r = _change(client, csrf, OLD, NEW)

    assert r.status_code == 302 and r.headers["Location"] == PAGE
    after = client.get(PAGE)
    assert "Password changed." in after.text and "@guest" in after.text
    assert 'data-testid="current-user"' not in elsewhere.get("/").text  # the other browser is signed out
    with app.app_context():
        users = UserService(db.session)
        assert users.authenticate("guest", NEW) is not None and users.authenticate("guest", OLD) is None
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == "user_updated", BY_SESSION)).all()
        assert (event.author_name, event.target_details, event.token_type) == ("guest", "guest", "session")
        assert json.loads(event.details) == {"password": "changed"} and NEW not in event.details


@pytest.mark.parametrize(
    ("current", "password", "confirmation", "field", "message"),
    [
        ("not my password", NEW, NEW, "current_password", "Current password is incorrect"),
        (OLD, "short", "short", "password", "Password is too short (minimum is 8 characters)"),
        (OLD, NEW, "a brand new passwort", "password_confirmation", "Password confirmation doesn't match the new password"),
    ],
)
def test_a_mistake_is_shown_beside_its_field_and_changes_nothing(app, client, guest, current, password, confirmation, field, message):
    csrf = signed_in(app, client, guest)

    r = _change(client, csrf, current, password, confirmation)

    assert r.status_code == 400
    assert f'id="{field}-error"' in r.text and message.replace("'", "&#39;") in r.text
    with app.app_context():
        assert UserService(db.session).authenticate("guest", OLD) is not None
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.event_name == "user_updated", BY_SESSION)) is None
    assert "@guest" in client.get("/").text  # still signed in


def test_the_form_needs_the_csrf_token(app, client, guest):
    signed_in(app, client, guest)

    r = _change(client, "forged", OLD, NEW)

    assert r.status_code == 403
    with app.app_context():
        assert UserService(db.session).authenticate("guest", OLD) is not None


def test_signed_out_visitors_are_sent_to_sign_in(client):
    r = client.get(PAGE)

    assert r.status_code == 302 and r.headers["Location"].startswith("/users/sign_in")
