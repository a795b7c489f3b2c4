"""Domain errors -> MLflow's ``{"error_code", "message"}`` answers, in one place for the MLflow
surface (its blueprint registers these handlers, which Flask prefers to the app's GitLab ones).

The client keys on ``error_code``; the status decides only retries: it retries 408, 429 and every
5xx for minutes, so a client's mistake must never be a 5xx.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from package_api.plugin_api import (
    AlreadyExists,
    BlobNotFound,
    CredentialsRefused,
    DatabaseFull,
    Forbidden,
    InvalidInput,
    ModelshelfError,
    NotFound,
    StorageUnavailable,
    Unauthorized,
    db,
    full_database,
    refused_value,
)
from plugin.tracking.errors import Unsupported
from plugin.web.mlflow.responses import json_response

log = logging.getLogger(__name__)

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
UNAUTHENTICATED = "UNAUTHENTICATED"
PERMISSION_DENIED = "PERMISSION_DENIED"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
INTERNAL_ERROR = "INTERNAL_ERROR"
BAD_REQUEST = "BAD_REQUEST"

#: MLflow answers ``RESOURCE_ALREADY_EXISTS`` with 400, not 409 (``mlflow/exceptions.py``);
#: ``register_model`` tolerates exactly that code when the model exists.
ALREADY_EXISTS_STATUS = 400
#: The client falls back to one streamed PUT only when a multipart call fails with a message
#: starting with these words (``mlflow_artifacts_repo.py``).
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
#: A file whose stored bytes are gone is lost data, not a passing fault: a 5xx would only make the
#: client retry for minutes. It is logged as an error and answered as missing.
LOST_BYTES_STATUS, LOST_BYTES_CODE = 404, RESOURCE_DOES_NOT_EXIST
#: Storage that does not answer may answer soon: the client's retries are right for it.
STORAGE_DOWN_STATUS = 503

#: What the client shows (``RestException``: ``UNAUTHENTICATED: <message>``) for a request without a
#: token where one is needed, and for one whose token nobody accepts: each says what to do.
TOKEN_NEEDED = "Authentication is required: send a token (MLFLOW_TRACKING_TOKEN)."
TOKEN_REFUSED = (
    "The token was refused: it is unknown, revoked or expired. Check MLFLOW_TRACKING_TOKEN "
    "(a personal, project or CI job token of this server)."
)

#: Codes for HTTP errors raised outside our services (an unknown route, a wrong method...).
HTTP_CODES = {
    400: BAD_REQUEST,
    401: UNAUTHENTICATED,
    403: PERMISSION_DENIED,
    404: ENDPOINT_NOT_FOUND,
    413: INVALID_PARAMETER_VALUE,
}


def error(code: str, message: str, status: int) -> Response:
    return json_response({"error_code": code, "message": message}, status)


def error_response(exc: ModelshelfError) -> Response:
    """MLflow's answer for a domain error."""
    if isinstance(exc, NotFound):
        return error(RESOURCE_DOES_NOT_EXIST, str(exc), 404)
    if isinstance(exc, AlreadyExists):
        return error(RESOURCE_ALREADY_EXISTS, f"{exc}.", ALREADY_EXISTS_STATUS)
    if isinstance(exc, InvalidInput):
        return error(INVALID_PARAMETER_VALUE, str(exc), 400)
    if isinstance(exc, CredentialsRefused):
        return error(UNAUTHENTICATED, TOKEN_REFUSED, 401)
    if isinstance(exc, Unauthorized):
        return error(UNAUTHENTICATED, TOKEN_NEEDED, 401)
    if isinstance(exc, Forbidden):
        return error(PERMISSION_DENIED, exc.reason or "Permission denied", 403)
    if isinstance(exc, Unsupported):
        return error(NOT_IMPLEMENTED, exc.reason, 501)
    if isinstance(exc, StorageUnavailable):
        log.warning("storage unavailable: %s", exc)
        return error(TEMPORARILY_UNAVAILABLE, f"Storage is unavailable: {exc}", STORAGE_DOWN_STATUS)
    if isinstance(exc, DatabaseFull):
        log.error("database full: %s", exc)
        return error(TEMPORARILY_UNAVAILABLE, f"The server's database is full, nothing was saved: {exc}", STORAGE_DOWN_STATUS)
    if isinstance(exc, BlobNotFound):
        log.error("stored bytes are missing: %s", exc)
        return error(LOST_BYTES_CODE, "The stored bytes of this artifact are missing.", LOST_BYTES_STATUS)
    log.exception("unmapped domain error", exc_info=exc)
    return error(INTERNAL_ERROR, "Internal error", 500)


def http_error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status, INTERNAL_ERROR if status >= 500 else BAD_REQUEST)
    return error(code, exc.description or exc.name, status)


def data_error_response(exc: DataError) -> Response:
    """A value the database refused (``package_api.db.refused_value``): the client's to fix."""
    db.session.rollback()
    return error_response(refused_value(exc))


def operational_error_response(exc: OperationalError) -> Response:
    """A database out of space (``package_api.db.full_database``) is a 503 the client retries;
    anything else stays a 500."""
    full = full_database(exc)
    if full is None:
        raise exc
    db.session.rollback()
    return error_response(full)


def register(bp: Blueprint) -> None:
    """Answer every error raised under ``bp`` (and its nested blueprints) in MLflow's shape."""
    bp.register_error_handler(ModelshelfError, error_response)
    bp.register_error_handler(DataError, data_error_response)
    bp.register_error_handler(OperationalError, operational_error_response)
    bp.register_error_handler(HTTPException, http_error_response)
