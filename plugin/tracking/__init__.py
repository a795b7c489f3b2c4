"""Experiment tracking and the registry's MLflow-side data: experiments, runs with their params,
metrics and tags, logged models, tags and aliases of models and versions, stages, and where
artifacts live. No HTTP here: ``plugin.web.mlflow`` is the surface that speaks MLflow.

A model version is a package (``plugin.registry.version_service``); this package adds what MLflow knows about it.
Every model has a default experiment ``[model]<name>``, and every version has a run there (its own
run), created in the transaction that creates the version's package (the package pipeline's
``version_run`` step, right after the projection's ``model_version``), so params and metrics logged
on a version's ``run_id`` belong to the version.
"""
from __future__ import annotations

from flask import Flask

from package_api.plugin_api import PackageChange, policy_rules, register_package_step
from plugin.mlflow_registry import models as _registry_tables  # noqa: F401  (the tables must be known before create_all)
from plugin.mlflow_registry.version_runs import VersionRuns
from plugin.registry.projection import MODEL_VERSION_STEP
from plugin.tracking import models as _tracking_tables  # noqa: F401
from plugin.tracking.artifacts import artifact_package_rule

#: The package pipeline's step that gives a new version its own run; it needs the version row.
VERSION_RUN_STEP = "version_run"


def _version_run(change: PackageChange) -> None:
    VersionRuns(change.session).ensure_for_package(change.package)


def register(app: Flask) -> None:
    """Give every new model version its own run, in its package's transaction, and have the model
    registry's rules judge the packages of MLflow's artifacts.

    Raises ``ValueError`` unless the projection's ``model_version`` step is registered already."""
    register_package_step(app, "created", VERSION_RUN_STEP, _version_run, after=MODEL_VERSION_STEP)
    policy_rules(app).register_package_rule(artifact_package_rule)
