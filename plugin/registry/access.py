"""The model registry's actions and feature, registered with package_api's policy (the one place
that decides).

The seed document: "users must have at least the Reporter role to modify or delete models and
model versions"; anyone who can see the project (and the model registry feature) can view them.
Deleting is an action of its own: tokens that only push (deploy tokens, CI job tokens) publish
versions but delete nothing.

A generic package is a version of model M when the project has model M (made on purpose) and the
version is a semantic version: the model registry's rules judge it on every surface (generic upload
and download, the packages API, the package pages), and every other package follows the package
registry's. Publishing under a model's name is the model's business whatever the version (the
pipeline's check then refuses a version that is not semantic, with a reason).
"""
from __future__ import annotations

import enum

from flask import Flask
from sqlalchemy import select

from package_api.plugin_api import (
    READ_PACKAGE_REGISTRY,
    WRITE_PACKAGE_REGISTRY,
    Action,
    PolicyFacts,
    Project,
    Role,
)
from package_api.plugin_api import policy_rules as rules
from plugin.registry.models import Model
from plugin.registry.semver import is_semver

MODEL_REGISTRY = "model_registry"


class ModelAction(enum.Enum):
    READ_MODEL = "read_model_registry"
    WRITE_MODEL = "write_model_registry"
    #: Delete models, versions and their files (not something a push-only token does).
    DELETE_MODEL = "delete_model_registry"
    #: Seal a version (``PackageService.seal``): Maintainers and Owners, never a token that only pushes.
    SEAL_VERSION = "seal_model_version"


#: What a package action becomes when the package is a model version.
AS_MODEL_ACTION: dict[object, ModelAction] = {
    Action.READ_PACKAGE: ModelAction.READ_MODEL,
    Action.PUBLISH_PACKAGE: ModelAction.WRITE_MODEL,
    Action.DELETE_PACKAGE: ModelAction.DELETE_MODEL,
}


def model_names(facts: PolicyFacts, project: Project) -> frozenset[str]:
    """The names of ``project``'s models: one query per policy, however many packages it judges."""

    def read() -> frozenset[str]:
        return frozenset(facts.session.scalars(select(Model.name).where(Model.project_id == project.id)))

    return facts.remember(("model names", project.id), read)


def model_version_rule(facts: PolicyFacts, project: Project, action: object, name: str, version: str) -> object | None:
    """A SemVer package of a model ``project`` has follows the model registry's rule for ``action``,
    and so does publishing anything under a model's name."""
    as_model = AS_MODEL_ACTION.get(action)
    if as_model is None or name not in model_names(facts, project):
        return None
    return as_model if is_semver(version) or action == Action.PUBLISH_PACKAGE else None


def register(app: Flask) -> None:
    registry = rules(app)
    registry.register_feature(MODEL_REGISTRY)
    registry.register_action(
        ModelAction.READ_MODEL,
        Role.GUEST,
        read=True,
        feature=MODEL_REGISTRY,
        deploy_scope=READ_PACKAGE_REGISTRY,
        job_token=True,
    )
    registry.register_action(
        ModelAction.WRITE_MODEL,
        Role.REPORTER,
        feature=MODEL_REGISTRY,
        deploy_scope=WRITE_PACKAGE_REGISTRY,
        job_token=True,
    )
    registry.register_action(ModelAction.DELETE_MODEL, Role.REPORTER, feature=MODEL_REGISTRY)
    registry.register_action(ModelAction.SEAL_VERSION, Role.MAINTAINER, feature=MODEL_REGISTRY)
    registry.register_package_rule(model_version_rule)
