"""User settings: your personal access tokens (GitLab's ``/-/user_settings/personal_access_tokens``):
list them, create one (its secret is shown once, in the answer to the form), revoke one; and your
password (GitLab's ``/-/user_settings/password``): the current one, then the new one twice; and
"sign out everywhere", which ends every browser session of yours, this one included."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from package_api import services
from package_api.access.authentication import end_session, start_session
from package_api.access.models import User
from package_api.access.tokens import SCOPES, parse_expiry
from package_api.access.users import MIN_PASSWORD_LENGTH
from package_api.errors import Unauthorized
from package_api.web.pages.context import actor, current_user, token_services, user_services
from package_api.web.pages.forms import SHOWN_ONCE, FormError, attempt, tomorrow

bp = Blueprint("user_settings", __name__)

TOKENS = "/-/user_settings/personal_access_tokens"
PASSWORD = "/-/user_settings/password"
SIGN_OUT_EVERYWHERE = "/-/user_settings/sign_out_everywhere"


def _user() -> User:
    """The signed-in user; raise ``Unauthorized`` (a sign-in redirect for a GET) otherwise."""
    user = current_user()
    if user is None:
        raise Unauthorized("sign in to change your settings")
    return user


def _page(user: User, **context: Any) -> str:
    return render_template(
        "user_settings/personal_access_tokens.html",
        tokens=token_services().list_for(user),
        scopes=SCOPES,
        tomorrow=tomorrow(),
        form=context.pop("form", {"scopes": []}),
        **context,
    )


@bp.get(TOKENS)
def personal_access_tokens() -> ResponseReturnValue:
    return _page(_user())


@bp.post(TOKENS)
def create_personal_access_token() -> ResponseReturnValue:
    user = _user()
    form: dict[str, Any] = {
        "name": request.form.get("name", "").strip(),
        "scopes": request.form.getlist("scopes"),
        "expires_at": request.form.get("expires_at", "").strip(),
    }
    result = attempt(
        lambda: token_services().create(user, form["name"], form["scopes"], parse_expiry(form["expires_at"]))
    )
    if isinstance(result, FormError):
        return _page(user, form=form, error=result), result.status
    row, secret = result
    return _page(user, new_token=secret, new_row=row), 201, SHOWN_ONCE


@bp.post(f"{TOKENS}/<int:token_id>/revoke")
def revoke_personal_access_token(token_id: int) -> ResponseReturnValue:
    row = token_services().revoke_own(token_id, _user())  # admins revoke others' tokens through the API
    flash(f"Personal access token {row.name} revoked.", "success")
    return redirect(url_for(".personal_access_tokens"))


def _password_page(**context: Any) -> str:
    return render_template("user_settings/password.html", min_length=MIN_PASSWORD_LENGTH, **context)


@bp.get(f"{PASSWORD}/edit")
def edit_password() -> ResponseReturnValue:
    _user()
    return _password_page()


@bp.post(PASSWORD)
def update_password() -> ResponseReturnValue:
    user = _user()
    form = request.form
    # The current password is a password check like sign-in's: its failures count against the account.
    throttle = services.sign_in_throttle(actor=actor(), forwarded_for=request.headers.get("X-Forwarded-For"))
    wait = throttle.retry_after(user.username)
    if wait is not None:
        error = FormError("Too many failed attempts. Try again later.", status=429)
        return _password_page(error=error), 429, {"Retry-After": str(wait)}
    result = attempt(
        lambda: user_services().change_own_password(
            user, form.get("current_password", ""), form.get("password", ""), form.get("password_confirmation", "")
        )
    )
    if isinstance(result, FormError):
        if result.field == "current_password":
            throttle.failed(user.username)
        return _password_page(error=result), result.status
    # The new password ends every session signed in with the old one, this one too: it carries on.
    start_session(session, user)
    flash("Password changed. Other browsers signed in as you were signed out.", "success")
    return redirect(url_for(".edit_password"))


@bp.post(SIGN_OUT_EVERYWHERE)
def sign_out_everywhere() -> ResponseReturnValue:
    user_services().end_sessions(_user())  # audited as user_sessions_ended
    end_session(session)
    flash("Signed out everywhere: every browser signed in as you, this one too, was signed out.", "info")
    return redirect(url_for("project_pages.index"))  # as signing out does
