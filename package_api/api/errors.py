"""Domain errors -> GitLab's JSON error bodies, for every ``/api/`` path (one place).

Blueprints of other surfaces (pages, MLflow) register their own handlers, which Flask prefers.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    InvalidParameter,
    ModelshelfError,
    NotFound,
    Unauthorized,
)
from ..storage import BlobNotFound, StorageUnavailable

log = logging.getLogger(__name__)


def _json(status: int, **body: object) -> tuple[Response, int]:
    return jsonify(body), status


def error_response(exc: ModelshelfError) -> tuple[Response, int]:
    """The GitLab response for a domain error (``lib/api/helpers.rb``)."""
    if isinstance(exc, NotFound):
        return _json(404, message=f"404 {exc.what} Not Found")
    if isinstance(exc, InvalidParameter):
        return _json(400, error=str(exc))  # Grape's parameter-validation shape
    if isinstance(exc, InvalidInput):
        return _json(400, message=f"400 Bad request - {exc.reason}")
    if isinstance(exc, AlreadyExists):
        return _json(409, message=f"409 Conflict - {exc.what} already exists")
    if isinstance(exc, Unauthorized):
        response, status = _json(401, message="401 Unauthorized")
        return response, status
    if isinstance(exc, Forbidden):
        return _json(403, message=f"403 Forbidden - {exc.reason}" if exc.reason else "403 Forbidden")
    if isinstance(exc, StorageUnavailable):
        log.warning("storage unavailable: %s", exc)
        return _json(503, message=f"503 Service Unavailable - storage: {exc}")
    if isinstance(exc, BlobNotFound):
        # A file row without its bytes is lost data, not a client mistake: say so.
        log.error("stored bytes are missing: %s", exc)
        return _json(500, message="500 Internal Server Error - the stored file is missing")
    log.exception("unmapped domain error", exc_info=exc)
    return _json(500, message="500 Internal Server Error")


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register(app: Flask) -> None:
    @app.errorhandler(ModelshelfError)
    def _domain(exc: ModelshelfError):  # type: ignore[no-untyped-def]
        if not _wants_json():
            raise exc
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        if not _wants_json():
            return exc
        if exc.code == 404:
            return _json(404, error="404 Not Found")  # GitLab's answer for an unknown route
        if exc.code == 405:
            return _json(405, error="405 Not Allowed")
        return _json(exc.code or 500, message=f"{exc.code} {exc.name} - {exc.description}")
