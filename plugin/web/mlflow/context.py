"""Per-request wiring of the MLflow surface: the project a tracking URI names, checked against
the model registry's actions, and the tracking services."""
from __future__ import annotations

from package_api.plugin_api import Project, User, authorized_project, db, package_services, principal
from plugin.mlflow_registry.model_versions import ModelVersionService
from plugin.mlflow_registry.registered_models import RegistryService
from plugin.registry.access import ModelAction
from plugin.tracking.artifacts import ArtifactService
from plugin.tracking.experiments import ExperimentService
from plugin.tracking.logged_models import LoggedModelService
from plugin.tracking.runs import RunService


def readable(project_ref: str) -> Project:
    """The project, if the caller may read its model registry; raise ``NotFound``/``Unauthorized``."""
    return authorized_project(project_ref, ModelAction.READ_MODEL)


def writable(project_ref: str) -> Project:
    """The project, if the caller may change its model registry; raise otherwise."""
    return authorized_project(project_ref, ModelAction.WRITE_MODEL)


def user() -> User | None:
    return principal().user


def job_id() -> int | None:
    """The registered CI job whose token made this request (its runs and uploads are its work)."""
    return principal().job_id


def experiments() -> ExperimentService:
    return ExperimentService(db.session)


def runs() -> RunService:
    return RunService(db.session)


def logged_models() -> LoggedModelService:
    return LoggedModelService(db.session)


def registry() -> RegistryService:
    return RegistryService(db.session, package_services())


def model_versions() -> ModelVersionService:
    return ModelVersionService(db.session, package_services())


def artifacts() -> ArtifactService:
    return ArtifactService(db.session, package_services())
