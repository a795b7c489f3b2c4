"""Experiment tracking and the registry's MLflow-side data: experiments, runs with their params,
metrics and tags, logged models, tags and aliases of models and versions, stages, and where
artifacts live. No HTTP here: ``plugin.mlflow`` is the surface that speaks MLflow.

A model version is a package (``plugin.versions``); this package adds what MLflow knows about it.
Every model has a default experiment ``[model]<name>``, and every version has a run there (its own
run), created when the version's package is created, so params and metrics logged on a version's
``run_id`` belong to the version.
"""
from __future__ import annotations

from typing import Any

from flask import Flask

from package_api import signals
from package_api.db import db
from package_api.models import Package

from . import records, registry_records  # noqa: F401  (the tables must be known before create_all)
from .version_runs import VersionRuns


def _on_package_created(app: Flask, package: Package, **_: Any) -> None:
    VersionRuns(db.session).ensure_for_package(package)


def register(app: Flask) -> None:
    """Give every new model version its own run (``package_created``)."""
    signals.package_created.connect(_on_package_created, sender=app)
