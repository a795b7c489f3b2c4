"""The HTML pages: sign-in, the project list, the package registry, project settings and user
settings (personal access tokens), server-rendered with Jinja.

Every asset is served from ``package_api/static`` (no CDN); templates live under
``package_api/web/templates/<blueprint>/`` and extend ``base.html``.

For plugins that add pages:

- Sidebar items, package-page links and links from Settings > Packages and registries:
  ``NavEntry``/``add_project_nav``, ``PackageLink``/``add_package_links`` and
  ``SettingsLink``/``add_registry_settings`` (``navigation.py`` documents the extension points).
- The caller of a page request: ``package_api.web.pages.context.principal()`` (the browser session,
  or ``ANONYMOUS``), and ``actor()``, who it makes changes as (services take it; they commit their
  own changes); ``authorized_project(namespace, path, action)`` and ``can(project, action)``
  ask the policy. In templates: ``current_user`` (a ``User`` or ``None``).
- CSRF: every non-GET request outside ``/api/`` must carry the session's token, checked before the
  view runs. Put ``{{ csrf_field() }}`` in forms; scripts send the ``X-CSRF-Token`` header (from
  ``<meta name="csrf-token">``, or call ``Modelshelf.fetch``). ``csrf_token()`` gives the token.
- Errors: domain errors raised by a page view become HTML error pages (``errors.py``); a mistake in
  a form is shown beside its field instead (``forms.attempt``, which also rolls the change back).
- ``base.html`` blocks: ``title``, ``head``, ``breadcrumbs``, ``content``, ``scripts``. Pass
  ``project`` to ``render_template`` to get the project sidebar. ``macros.html`` has
  ``pagination(page)``, ``confirm_button(action, label, message)``, ``field_error``/``invalid``
  (a ``forms.FormError`` beside its field) and ``new_secret`` (a token shown once, with a copy button).
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, has_request_context, request

from package_api.web.errors import is_api_request
from package_api.web.pages import (
    csrf,
    filters,
    navigation,
    packages,
    projects,
    sessions,
    settings,
    user_settings,
)
from package_api.web.pages.context import current_user
from package_api.web.pages.navigation import (
    NavEntry,
    PackageLink,
    SettingsLink,
    add_package_links,
    add_project_nav,
    add_registry_settings,
)

__all__ = [
    "NavEntry",
    "PackageLink",
    "SettingsLink",
    "add_package_links",
    "add_project_nav",
    "add_registry_settings",
    "register",
]

PRODUCT_NAME = "Modelshelf"
#: Our own pages load nothing from elsewhere and run no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
BLUEPRINTS = (sessions.bp, projects.bp, packages.bp, settings.bp, user_settings.bp)


def _security_headers(response: Response) -> Response:
    """No page may be framed (clickjacking a delete button). Ours also get a strict CSP; a plugin's
    pages get it when they set ``CONTENT_SECURITY_POLICY`` themselves (no inline script or style)."""
    if is_api_request() or response.mimetype != "text/html":
        return response
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.blueprint in {bp.name for bp in BLUEPRINTS} or request.url_rule is None:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def _template_context() -> dict[str, Any]:
    return {"current_user": current_user() if has_request_context() else None, "product_name": PRODUCT_NAME}


def register(app: Flask) -> None:
    csrf.register(app)
    filters.register(app)
    navigation.register(app)
    settings.register(app)  # Manage > Settings, after Deploy > Package registry
    app.context_processor(_template_context)
    app.after_request(_security_headers)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
