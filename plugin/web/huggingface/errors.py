"""Domain errors -> the Hugging Face Hub's answers, in one place for the ``/hf`` surface (its blueprint
registers these handlers).

``huggingface_hub`` (``utils/_http.py``, ``hf_raise_for_status``) keys on the ``X-Error-Code`` header:
``RepoNotFound``, ``RevisionNotFound`` and ``EntryNotFound`` become its ``RepositoryNotFoundError``,
``RevisionNotFoundError`` and ``(Remote)EntryNotFoundError``; every other error is an
``HfHubHTTPError`` whose text holds ``X-Error-Message`` and the JSON ``error``. ``GatedRepo`` is
never sent: nothing here is gated.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
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
from plugin.huggingface.errors import EntryNotFound, RepoNotFound, RevisionNotFound
from plugin.huggingface.lfs import TransferRefused

log = logging.getLogger(__name__)

REPO_NOT_FOUND = "RepoNotFound"
REVISION_NOT_FOUND = "RevisionNotFound"
ENTRY_NOT_FOUND = "EntryNotFound"
#: The client reads a 401 on an ``https`` endpoint as a missing repo unless ``X-Error-Message`` is
#: exactly this (``hf_raise_for_status``): a refused token must say so, not "repository not found".
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
TOKEN_NEEDED = "Authentication is required: send a token (HF_TOKEN, or token=)."
TOKEN_REFUSED = (
    "The token was refused: it is unknown, revoked or expired. Check HF_TOKEN "
    "(a personal, project, deploy or CI job token of this server)."
)
#: Lost bytes are not a passing fault: a 5xx would only make the client retry.
LOST_BYTES_STATUS = 404
STORAGE_DOWN_STATUS = 503


def _header_text(message: str) -> str:
    """``message`` as a header value holds it: one line of Latin-1."""
    return " ".join(message.split()).encode("latin-1", "replace").decode("latin-1")


def error(status: int, message: str, code: str | None = None, *, header_message: str | None = None) -> Response:
    """The Hub's error: ``status``, ``X-Error-Code`` (when the client has an exception for it),
    ``X-Error-Message`` and ``{"error": message}``."""
    response = jsonify({"error": message})
    response.status_code = status
    response.headers["X-Error-Message"] = _header_text(header_message or message)
    if code is not None:
        response.headers["X-Error-Code"] = code
    return response


def error_response(exc: ModelshelfError) -> Response:
    if isinstance(exc, RepoNotFound):
        return error(404, f"Repository {exc.repo_id} not found.", REPO_NOT_FOUND)
    if isinstance(exc, RevisionNotFound):
        accepted = f" A revision is {exc.accepted}." if exc.accepted else ""
        return error(404, f"Invalid rev id: {exc.revision}.{accepted}", REVISION_NOT_FOUND)
    if isinstance(exc, EntryNotFound):
        response = error(404, f"Entry not found: {exc.path}.", ENTRY_NOT_FOUND)
        if exc.commit_id is not None:
            # The client remembers the miss for this commit (its ``.no_exist`` cache).
            response.headers["X-Repo-Commit"] = exc.commit_id
        return response
    if isinstance(exc, NotFound):
        return error(404, f"{exc}.", REPO_NOT_FOUND if exc.what in ("Project", "Model") else None)
    if isinstance(exc, AlreadyExists):
        return error(409, f"{exc}.")
    if isinstance(exc, InvalidInput):
        return error(400, exc.reason)
    if isinstance(exc, TransferRefused):
        return error(401, str(exc))
    if isinstance(exc, CredentialsRefused):
        return error(401, TOKEN_REFUSED, header_message=INVALID_CREDENTIALS)
    if isinstance(exc, Unauthorized):
        return error(401, TOKEN_NEEDED)
    if isinstance(exc, Forbidden):
        return error(403, exc.reason or "Permission denied")
    if isinstance(exc, StorageUnavailable):
        log.warning("storage unavailable: %s", exc)
        return error(STORAGE_DOWN_STATUS, f"Storage is unavailable: {exc}")
    if isinstance(exc, DatabaseFull):
        log.error("database full: %s", exc)
        return error(STORAGE_DOWN_STATUS, f"The server's database is full, nothing was saved: {exc}")
    if isinstance(exc, BlobNotFound):
        log.error("stored bytes are missing: %s", exc)
        return error(LOST_BYTES_STATUS, "The stored bytes of this file are missing.")
    log.exception("unmapped domain error", exc_info=exc)
    return error(500, "Internal error")


def http_error_response(exc: HTTPException) -> Response:
    return error(exc.code or 500, exc.description or exc.name)


def data_error_response(exc: DataError) -> Response:
    """A value the database refused (``package_api.db.refused_value``): the client's to fix."""
    db.session.rollback()
    return error_response(refused_value(exc))


def operational_error_response(exc: OperationalError) -> Response:
    """A full database is a 503 the client retries; anything else stays a 500."""
    full = full_database(exc)
    if full is None:
        raise exc
    db.session.rollback()
    return error_response(full)


def register(bp: Blueprint) -> None:
    """Answer every error raised under ``bp`` in the Hub's shape."""
    bp.register_error_handler(ModelshelfError, error_response)
    bp.register_error_handler(DataError, data_error_response)
    bp.register_error_handler(OperationalError, operational_error_response)
    bp.register_error_handler(HTTPException, http_error_response)
