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
#: The tracking URI, where MLflow's printed links land (``mlflow_links.py``).
TRACKING_URI = "/api/v4/projects/<project:project_ref>/ml/mlflow/"
#: The pages of **Model experiments** (experiments, runs, the forwarder of MLflow's links); the
#: blueprint's other pages are the **Model registry**'s.
EXPERIMENT_PAGES = (f"{PREFIX}/experiments", f"{PREFIX}/runs", TRACKING_URI)

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


def on_experiment_pages() -> bool:
    """Whether this request is for one of the experiments' pages (its sidebar entry is highlighted)."""
    rule = request.url_rule
    return request.blueprint == bp.name and rule is not None and rule.rule.startswith(EXPERIMENT_PAGES)


def on_model_pages() -> bool:
    """Whether this request is for one of the model registry's pages."""
    return request.blueprint == bp.name and not on_experiment_pages()
