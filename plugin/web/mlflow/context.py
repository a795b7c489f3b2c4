"""Per-request wiring of the MLflow surface: the project a tracking URI names, checked against
the model registry's actions, the caller, and the services (from ``plugin.services``) under the
short names its handlers use."""
from __future__ import annotations

from package_api.plugin_api import Project, User, authorized_project, principal
from plugin.registry.access import ModelAction
from plugin.services import artifact_services as artifacts
from plugin.services import dataset_services as datasets
from plugin.services import experiment_services as experiments
from plugin.services import logged_model_services as logged_models
from plugin.services import model_version_services as model_versions
from plugin.services import registry_services as registry
from plugin.services import run_services as runs

__all__ = [
    "artifacts",
    "datasets",
    "deletable",
    "experiments",
    "job_id",
    "logged_models",
    "model_versions",
    "readable",
    "registry",
    "runs",
    "sealable",
    "user",
    "writable",
]


def readable(project_ref: str) -> Project:
    """The project, if the caller may read its model registry; raise ``NotFound``/``Unauthorized``."""
    return authorized_project(project_ref, ModelAction.READ_MODEL)


def writable(project_ref: str) -> Project:
    """The project, if the caller may change its model registry; raise otherwise."""
    return authorized_project(project_ref, ModelAction.WRITE_MODEL)


def deletable(project_ref: str) -> Project:
    """The project, if the caller may delete registered models, versions and artifacts there (tokens
    that only push may not); raise otherwise."""
    return authorized_project(project_ref, ModelAction.DELETE_MODEL)


def sealable(project_ref: str) -> Project:
    """The project, if the caller may seal its model versions (Maintainers); raise otherwise."""
    return authorized_project(project_ref, ModelAction.SEAL_VERSION)


def user() -> User | None:
    return principal().user


def job_id() -> int | None:
    """The registered CI job whose token made this request (its runs and uploads are its work)."""
    return principal().job_id
