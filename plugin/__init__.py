"""The model registry plugin: models made on purpose, whose versions are the SemVer packages of their
name.

Registered through the ``package_api.plugins`` entry point; ``package_api`` never imports it.
It takes part in package changes through the package pipeline (``package_api.packages.pipeline``
lists it in order): its check refuses a version that is not semantic under a model's name before
anything is stored (``register_package_check``); a created model version package gets its version
row (``model_version``, here), its commit id (``hf_commit``, ``plugin.huggingface``, which also
follows each file added or deleted) and then its own run (``version_run``, ``plugin.tracking``), in
the package's transaction; a deleted one loses its version row.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy.orm import object_session

from package_api.plugin_api import (
    DbSession,
    Package,
    PackageChange,
    Project,
    add_openapi_piece,
    db,
    register_cleanup_keep,
    register_migrations,
    register_package_check,
    register_package_noun,
    register_package_step,
    register_version_resolver,
)
from plugin import tracking
from plugin.huggingface import register as register_huggingface
from plugin.mlflow_registry import webhook_events
from plugin.mlflow_registry.sealing import SEALED_STEP, tag_sealed_version
from plugin.promotion.aliases import record_version_deleted
from plugin.promotion.cleanup import aliased_versions
from plugin.registry import access
from plugin.registry import models as _tables  # noqa: F401  (the tables must be known before create_all)
from plugin.registry.projection import MODEL_VERSION_STEP, Projection
from plugin.registry.version_service import LATEST, latest_of
from plugin.web import huggingface as huggingface_api
from plugin.web import mlflow, pages
from plugin.web.api import bp as api_bp

#: This plugin's piece of the ``/api/v4`` OpenAPI document (its routes; merged into the served one).
OPENAPI = Path(__file__).parent / "web" / "openapi.yaml"
ALIAS_HISTORY_STEP = "alias_history"
OPENAPI_PROMOTION = Path(__file__).parent / "web" / "openapi_promotion.yaml"


def _audit_noun(package: Package) -> str | None:
    """A package that is a model version is audited as one: ``model_version_created``..."""
    session = object_session(package) or db.session
    return "model_version" if Projection(session).is_version(package) else None


def _check_version(session: DbSession, project_id: int, name: str, version: str) -> None:
    Projection(session).check(project_id, name, version)


def _project_version(change: PackageChange) -> None:
    Projection(change.session).version_for(change.package, new=True)


def _record_alias_deletions(change: PackageChange) -> None:
    record_version_deleted(change.session, change.actor, change.package.id)


def _forget_version(change: PackageChange) -> None:
    Projection(change.session).forget(change.package)


def _resolve_latest(project: Project, name: str, version: str) -> Package | None:
    """``latest`` in a package download URL: the package of model ``name``'s latest version."""
    if version != LATEST:
        return None
    model = Projection(db.session).find_model(project.id, name)
    row = latest_of(db.session, model) if model is not None else None
    return row.package if row is not None else None


def register(app: Flask) -> None:
    """Add the model registry to ``app``."""
    access.register(app)
    register_migrations(app, Path(__file__).parent / "migrations")
    app.register_blueprint(api_bp)
    pages.register(app)
    register_package_check(app, _check_version)
    register_package_step(app, "created", MODEL_VERSION_STEP, _project_version)
    # The aliases of a deleted version go with it: their history says so first.
    register_package_step(app, "deleted", ALIAS_HISTORY_STEP, _record_alias_deletions)
    register_package_step(app, "deleted", MODEL_VERSION_STEP, _forget_version)
    register_package_step(app, "sealed", SEALED_STEP, tag_sealed_version)
    register_cleanup_keep(app, aliased_versions)
    register_version_resolver(app, _resolve_latest)
    register_package_noun(app, _audit_noun)
    tracking.register(app)
    webhook_events.register(app)
    mlflow.register(app)
    register_huggingface(app)
    huggingface_api.register(app)
    add_openapi_piece(app, OPENAPI)
    add_openapi_piece(app, OPENAPI_PROMOTION)
