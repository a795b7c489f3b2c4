"""Domain errors -> GitLab's JSON error bodies, for every ``/api/`` path (one place).

``package_api.web.errors`` routes the errors of ``/api/`` requests here. A blueprint that answers in
another format (MLflow's) registers its own handlers, which Flask prefers.
"""
from __future__ import annotations

import logging

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

from package_api.errors import (
    AlreadyExists,
    DatabaseFull,
    Forbidden,
    InvalidInput,
    InvalidParameter,
    ModelshelfError,
    NotFound,
    Unauthorized,
    Unprocessable,
)
from package_api.storage import BlobNotFound, StorageUnavailable

log = logging.getLogger(__name__)


def _json(status: int, **body: object) -> tuple[Response, int]:
    return jsonify(body), status


def error_response(exc: ModelshelfError) -> tuple[Response, int]:
    """The GitLab response for a domain error (``lib/api/helpers.rb``)."""
    if isinstance(exc, NotFound):
        return _json(404, message=f"404 {exc.what} Not Found")
    if isinstance(exc, InvalidParameter):
        return _json(400, error=str(exc))  # Grape's parameter-validation shape
    if isinstance(exc, Unprocessable):
        return _json(422, message={"error": exc.reason})  # render_api_error!({ error: ... }, 422)
    if isinstance(exc, InvalidInput):
        return _json(400, message=f"400 Bad request - {exc.reason}")
    if isinstance(exc, AlreadyExists):
        return _json(409, message=f"409 Conflict - {exc.what} already exists")
    if isinstance(exc, Unauthorized):
        return _json(401, message="401 Unauthorized")
    if isinstance(exc, Forbidden):
        return _json(403, message=f"403 Forbidden - {exc.reason}" if exc.reason else "403 Forbidden")
    if isinstance(exc, StorageUnavailable):
        log.warning("storage unavailable: %s", exc)
        return _json(503, message=f"503 Service Unavailable - storage: {exc}")
    if isinstance(exc, DatabaseFull):
        log.error("database full: %s", exc)
        return _json(503, message=f"503 Service Unavailable - database: {exc}")
    if isinstance(exc, BlobNotFound):
        # A file row without its bytes is lost data, not a client mistake: say so.
        log.error("stored bytes are missing: %s", exc)
        return _json(500, message="500 Internal Server Error - the stored file is missing")
    log.exception("unmapped domain error", exc_info=exc)
    return _json(500, message="500 Internal Server Error")


def http_error_response(exc: HTTPException) -> tuple[Response, int]:
    """GitLab's answer for an HTTP error raised outside our handlers (unknown route, bad method)."""
    if exc.code == 404:
        return _json(404, error="404 Not Found")  # GitLab's answer for an unknown route
    if exc.code == 405:
        return _json(405, error="405 Not Allowed")
    return _json(exc.code or 500, message=f"{exc.code} {exc.name} - {exc.description}")
