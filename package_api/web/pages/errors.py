"""Domain errors -> HTML error pages, for every page outside ``/api/`` (one place; routed here by
``package_api.web.errors``).

``NotFound`` is a 404 page that does not say whether the thing exists (private projects look
absent to outsiders); ``Unauthorized`` sends a browser to the sign-in page and back; ``Forbidden``
says its reason when it has one ("The model registry is disabled in this project."), as the API does.
"""
from __future__ import annotations

import logging

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from package_api.errors import (
    AlreadyExists,
    DatabaseFull,
    Forbidden,
    InvalidCsrfToken,
    InvalidInput,
    ModelshelfError,
    NotFound,
    Unauthorized,
)
from package_api.storage import BlobNotFound, StorageUnavailable

log = logging.getLogger(__name__)

TEMPLATE = "errors/error.html"
NOT_FOUND_MESSAGE = "Make sure the address is correct and the page has not moved, or sign in if it is private."


def _page(status: int, title: str, message: str) -> ResponseReturnValue:
    return render_template(TEMPLATE, status=status, title=title, message=message), status


def _sentence(reason: str) -> str:
    """A refusal's reason as the page says it: "The model registry is disabled in this project." """
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


def error_page(exc: ModelshelfError) -> ResponseReturnValue:
    """The page for a domain error raised by a page view."""
    if isinstance(exc, NotFound):
        return _page(404, "Page not found", NOT_FOUND_MESSAGE)
    if isinstance(exc, Unauthorized):
        if request.method in ("GET", "HEAD"):
            return redirect(url_for("sessions.new", redirect_to=request.full_path.rstrip("?")))
        return _page(401, "Sign in required", "Sign in to do this.")
    if isinstance(exc, InvalidCsrfToken):
        return _page(403, "Request refused", "The form has expired. Reload the page and try again.")
    if isinstance(exc, Forbidden):
        return _page(403, "Access denied", _sentence(exc.reason) if exc.reason else "You are not allowed to do this.")
    if isinstance(exc, InvalidInput):
        return _page(400, "Bad request", exc.reason)
    if isinstance(exc, AlreadyExists):
        return _page(409, "Already exists", f"{exc.what} already exists.")
    if isinstance(exc, StorageUnavailable):
        log.warning("storage unavailable: %s", exc)
        return _page(503, "Storage unavailable", "The file store does not answer. Try again shortly.")
    if isinstance(exc, DatabaseFull):
        log.error("database full: %s", exc)
        return _page(503, "Database full", "The database is out of disk space, so nothing was saved. Try again later.")
    if isinstance(exc, BlobNotFound):
        log.error("stored bytes are missing: %s", exc)
        return _page(500, "File missing", "The stored file is missing.")
    log.exception("unmapped domain error", exc_info=exc)
    return _page(500, "Something went wrong", "The server could not answer this request.")


def http_error_page(exc: HTTPException) -> ResponseReturnValue:
    """The page for an HTTP error (unknown route, wrong method) outside ``/api/``."""
    if exc.response is not None or exc.code is None or exc.code < 400:
        return exc
    if exc.code == 404:
        return _page(404, "Page not found", NOT_FOUND_MESSAGE)
    return _page(exc.code, exc.name, exc.description or "")
