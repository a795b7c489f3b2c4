"""Experiment tracking and the registry's MLflow-side data: experiments, runs with their params,
metrics and tags, logged models, tags and aliases of models and versions, stages, and where
artifacts live. No HTTP here: ``plugin.web.mlflow`` is the surface that speaks MLflow.

A model version is a package (``plugin.registry.version_service``); this package adds what MLflow knows about it.
Every model has a default experiment ``[model]<name>``, and every version has a run there (its own
run), created when the version's package is created, so params and metrics logged on a version's
``run_id`` belong to the version.
"""
from __future__ import annotations

from typing import Any

from flask import Flask

from package_api.plugin_api import Package, db, package_created
from plugin.mlflow_registry import models as _registry_tables  # noqa: F401  (the tables must be known before create_all)
from plugin.mlflow_registry.version_runs import VersionRuns
from plugin.tracking import models as _tracking_tables  # noqa: F401


def _on_package_created(app: Flask, package: Package, **_: Any) -> None:
    VersionRuns(db.session).ensure_for_package(package)


def register(app: Flask) -> None:
    """Give every new model version its own run (``package_created``)."""
    package_created.connect(_on_package_created, sender=app)
