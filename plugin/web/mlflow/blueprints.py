"""The MLflow surface's blueprints, nested under the tracking URI
``/api/v4/projects/<id or path>/ml/mlflow``: the REST API and the artifact proxy. Route modules
attach their views; ``plugin.web.mlflow`` nests and registers them."""
from __future__ import annotations

from flask import Blueprint

#: The tracking URI; ``/api/3.0/mlflow/server-info`` hangs here directly.
ROOT = Blueprint("mlflow_api", __name__, url_prefix="/api/v4/projects/<project:project_ref>/ml/mlflow")
#: ``/api/2.0/mlflow/...``: experiments, runs, registry, logged models.
API = Blueprint("rest", __name__, url_prefix="/api/2.0/mlflow")
#: ``/api/2.0/mlflow-artifacts/...``: the artifact proxy.
ARTIFACTS = Blueprint("artifacts", __name__, url_prefix="/api/2.0/mlflow-artifacts")
