"""User settings: your personal access tokens (GitLab's ``/-/user_settings/personal_access_tokens``):
list them, create one (its secret is shown once, in the answer to the form), revoke one."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from package_api.access.models import User
from package_api.access.tokens import SCOPES, parse_expiry
from package_api.errors import Unauthorized
from package_api.web.pages.context import current_user, token_services
from package_api.web.pages.forms import SHOWN_ONCE, FormError, attempt, tomorrow

bp = Blueprint("user_settings", __name__)

TOKENS = "/-/user_settings/personal_access_tokens"


def _user() -> User:
    """The signed-in user; raise ``Unauthorized`` (a sign-in redirect for a GET) otherwise."""
    user = current_user()
    if user is None:
        raise Unauthorized("sign in to manage your tokens")
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
