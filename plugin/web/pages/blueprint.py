"""The model registry pages' blueprint, at GitLab's URLs under ``/<namespace>/<project>/-/ml/``.

Templates live in ``plugin/web/templates/model_registry/``; scripts and styles in ``plugin/web/static/``,
served by this blueprint (no CDN). Like ``package_api``'s own pages, these run no inline script or
style, and say so with the same Content-Security-Policy.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, request

from package_api.plugin_api import CONTENT_SECURITY_POLICY

PREFIX = "/<namespace>/<project>/-/ml"

bp = Blueprint(
    "model_registry_pages",
    __name__,
    root_path=str(Path(__file__).resolve().parents[1]),
    template_folder="templates",
    static_folder="static",
    static_url_path="/-/model_registry/static",
)


@bp.after_request
def _content_security_policy(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def selected_tab(tabs: tuple[str, ...]) -> str:
    """The tab ``?tab=`` names, or the first (a tab is part of the URL, so each one can be linked)."""
    tab = request.args.get("tab", tabs[0])
    return tab if tab in tabs else tabs[0]
