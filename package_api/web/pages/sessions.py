"""Signing in and out of the web UI (GitLab's ``/users/sign_in`` and ``/users/sign_out``)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from package_api import services
from package_api.access.authentication import end_session, start_session
from package_api.web.pages.context import current_user

bp = Blueprint("sessions", __name__)

#: GitLab's words; they do not say whether the user exists.
BAD_CREDENTIALS = "Invalid username or password."


def _local(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/``: sign-in must not redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("project_pages.index")
    return target


@bp.get("/users/sign_in")
def new() -> ResponseReturnValue:
    redirect_to = _local(request.args.get("redirect_to"))
    if current_user() is not None:
        return redirect(redirect_to)
    return render_template("sessions/new.html", redirect_to=redirect_to, username="")


@bp.post("/users/sign_in")
def create() -> ResponseReturnValue:
    username = request.form.get("username", "").strip()
    redirect_to = _local(request.form.get("redirect_to"))
    user = services.user_service().authenticate(username, request.form.get("password", ""))
    if user is None:
        page = render_template("sessions/new.html", redirect_to=redirect_to, username=username, error=BAD_CREDENTIALS)
        return page, 401
    start_session(session, user)
    return redirect(redirect_to)


@bp.post("/users/sign_out")
def destroy() -> ResponseReturnValue:
    end_session(session)
    flash("Signed out.", "info")
    return redirect(url_for("project_pages.index"))
