"""Signing in and out of the web UI (GitLab's ``/users/sign_in`` and ``/users/sign_out``).

Failed sign-ins are throttled per account name and per client address
(``access.sign_in_throttle``): a locked one is answered 429 with ``Retry-After`` before any password
is hashed. Signing out bumps the user's session generation, which ends every session of the user,
copies of this one's cookie included.
"""
from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from package_api import services
from package_api.access.authentication import end_session, start_session
from package_api.web.pages.context import actor, current_user, user_services

bp = Blueprint("sessions", __name__)

#: GitLab's words; they do not say whether the user exists.
BAD_CREDENTIALS = "Invalid username or password."
#: C0 controls, space and DEL, which a URL never holds as such.
_CONTROLS = re.compile(r"[\x00-\x20\x7f]")


def local_target(target: str | None) -> str | None:
    """``target`` if the browser would take it for a path on this site, else ``None``.

    Judged after the browser's own normalisation (the WHATWG URL parser drops tabs and newlines and
    reads ``\\`` as ``/``), so ``/\\t/evil.com`` and ``/\\evil.com`` are the other site they lead to;
    a target holding any control character or space is refused outright rather than sent on.
    """
    if not target or _CONTROLS.search(target):
        return None
    seen = target.replace("\\", "/")
    if not seen.startswith("/") or seen.startswith("//"):
        return None
    parts = urlsplit(seen)
    if parts.scheme or parts.netloc:
        return None
    return target


def _local(target: str | None) -> str:
    """``target`` if it is a path on this site, else the projects list: sign-in must not redirect elsewhere."""
    return local_target(target) or url_for("project_pages.index")


def _wait_words(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if seconds > 60 else f"{seconds} seconds"


def _refused(redirect_to: str, username: str, seconds: int) -> ResponseReturnValue:
    error = f"Too many failed sign-in attempts. Try again in {_wait_words(seconds)}."
    page = render_template("sessions/new.html", redirect_to=redirect_to, username=username, error=error)
    return page, 429, {"Retry-After": str(seconds)}


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
    throttle = services.sign_in_throttle(actor=actor(), forwarded_for=request.headers.get("X-Forwarded-For"))
    wait = throttle.retry_after(username)
    if wait is not None:  # refused before the password is hashed: a locked account costs nothing
        return _refused(redirect_to, username, wait)
    user = services.user_service().authenticate(username, request.form.get("password", ""))
    if user is None:
        locked = throttle.failed(username)
        if locked is not None:
            return _refused(redirect_to, username, locked)
        page = render_template("sessions/new.html", redirect_to=redirect_to, username=username, error=BAD_CREDENTIALS)
        return page, 401
    throttle.succeeded(username)
    start_session(session, user)
    return redirect(redirect_to)


@bp.post("/users/sign_out")
def destroy() -> ResponseReturnValue:
    user = current_user()
    if user is not None:  # every copy of this session's cookie ends with it
        user_services().end_sessions(user, everywhere=False)
    end_session(session)
    flash("Signed out.", "info")
    return redirect(url_for("project_pages.index"))
