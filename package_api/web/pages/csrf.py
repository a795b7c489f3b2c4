"""CSRF protection of the pages: every state-changing page request presents the session's token.

Forms carry it in a hidden field (``{{ csrf_field() }}``), scripts in the ``X-CSRF-Token`` header
(read from ``<meta name="csrf-token">``; ``Modelshelf.fetch`` in ``static/modelshelf.js`` adds it).
The guard runs before every view outside ``/api/``, a plugin's pages included; API requests are
judged with their credentials instead (``auth.api_credentials``), where only the header counts.
"""
from __future__ import annotations

from flask import Flask, request, session
from markupsafe import Markup, escape

from package_api.access.authentication import CSRF_FIELD, CSRF_HEADER, SAFE_METHODS, check_csrf, csrf_token
from package_api.web.errors import is_api_request


def token() -> str:
    """This session's CSRF token (issued now if the session has none)."""
    return csrf_token(session)


def field() -> Markup:
    """The hidden form field that carries the token."""
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token())}">')


def guard() -> None:
    """Raise ``InvalidCsrfToken`` for a state-changing page request without the session's token."""
    if request.method in SAFE_METHODS or is_api_request() or request.routing_exception is not None:
        return  # an unknown URL or method gets its 404 or 405, not a 403
    # The header first: reading ``request.form`` would parse (and consume) any other body.
    presented = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    check_csrf(session, request.method, presented)


def register(app: Flask) -> None:
    app.before_request(guard)
    app.jinja_env.globals.update(csrf_token=token, csrf_field=field)
