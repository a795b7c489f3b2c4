"""The MLflow-compatible API: a data scientist sets ``MLFLOW_TRACKING_URI`` to
``<base>/api/v4/projects/<id>/ml/mlflow`` and ``MLFLOW_TRACKING_TOKEN``, and the stock client
(3.x) tracks runs, registers models and moves artifacts. Thin handlers over ``plugin.tracking``;
errors in MLflow's shape (``errors.py``)."""
from __future__ import annotations

from flask import Flask, Response

from plugin.web.mlflow import artifacts, errors, logged_models, registry, runs, webhooks  # noqa: F401  (they attach their routes)
from plugin.web.mlflow.blueprints import API, ARTIFACTS, ROOT

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@ROOT.route("/<path:unknown>", methods=ALL_METHODS)
def unknown_endpoint(project_ref: str, unknown: str) -> Response:
    """MLflow's JSON answer for a route it does not have (the client falls back on this code)."""
    return errors.error(errors.ENDPOINT_NOT_FOUND, f"No API endpoint {unknown!r} here.", 404)


ROOT.register_blueprint(API)
ROOT.register_blueprint(ARTIFACTS)
errors.register(ROOT)


def register(app: Flask) -> None:
    """Serve the MLflow API under every project's tracking URI."""
    app.register_blueprint(ROOT)
