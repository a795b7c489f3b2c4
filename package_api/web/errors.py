"""Which surface answers an error: GitLab's JSON under ``/api/`` (and the prefixes plugins serve an
API under: ``register_api_prefix``), an HTML page everywhere else.

Each surface maps domain errors to responses in one place (``api/errors.py``, ``pages/errors.py``);
this routes an error to the right one at app level, so that every blueprint, a plugin's included,
answers in its surface's format without registering anything. A blueprint that answers otherwise
(the MLflow API) registers its own handlers, which Flask prefers to these.

A value the database refuses (``sqlalchemy.exc.DataError``: a NUL character in text on PostgreSQL,
text or a number past its column) came from the client: it is answered as ``InvalidInput``. A write
the database refused for lack of space (``sqlalchemy.exc.OperationalError``, ``db.full_database``) is
answered as ``DatabaseFull``, a 503; any other operational error stays a 500.
"""
from __future__ import annotations

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from package_api.db import db, full_database, refused_value
from package_api.errors import ModelshelfError
from package_api.web.api import errors as api_errors
from package_api.web.pages import errors as page_errors

API_PREFIX = "/api/"
#: ``app.extensions`` key of the further path prefixes served as APIs (``register_api_prefix``).
API_PREFIXES = "modelshelf.api_prefixes"


def register_api_prefix(app: Flask, prefix: str) -> None:
    """Serve the paths under ``prefix`` (``"/hf/"``) as an API, as those under ``/api/`` are: the
    caller is the request's token (or session, with the CSRF header for changes), not the pages'
    session; no page CSRF guard; errors as API errors where the blueprint has no handler of its own."""
    prefixes: list[str] = app.extensions.setdefault(API_PREFIXES, [])
    if prefix not in prefixes:
        prefixes.append(prefix)


def is_api_request() -> bool:
    path = request.path
    return path.startswith(API_PREFIX) or any(path.startswith(p) for p in current_app.extensions.get(API_PREFIXES, ()))


def register(app: Flask) -> None:
    @app.errorhandler(ModelshelfError)
    def _domain(exc: ModelshelfError) -> ResponseReturnValue:
        return api_errors.error_response(exc) if is_api_request() else page_errors.error_page(exc)

    @app.errorhandler(DataError)
    def _refused(exc: DataError) -> ResponseReturnValue:
        db.session.rollback()
        return _domain(refused_value(exc))

    @app.errorhandler(OperationalError)
    def _database(exc: OperationalError) -> ResponseReturnValue:
        full = full_database(exc)
        if full is None:
            raise exc  # a 500, logged as any unexpected error
        db.session.rollback()
        return _domain(full)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        return api_errors.http_error_response(exc) if is_api_request() else page_errors.http_error_page(exc)
