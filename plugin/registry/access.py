"""The model registry's actions and feature, registered with package_api's policy (the one place
that decides).

The seed document: "users must have at least the Reporter role to modify or delete models and
model versions"; anyone who can see the project (and the model registry feature) can view them.
A generic package whose version is a semantic version is a model version, so the same rules judge
it on every surface (generic upload and download, the packages API, the package pages).
"""
from __future__ import annotations

import enum

from flask import Flask

from package_api.plugin_api import READ_PACKAGE_REGISTRY, WRITE_PACKAGE_REGISTRY, Action, Role
from package_api.plugin_api import policy_rules as rules
from plugin.registry.semver import is_semver

MODEL_REGISTRY = "model_registry"


class ModelAction(enum.Enum):
    READ_MODEL = "read_model_registry"
    WRITE_MODEL = "write_model_registry"


#: What a package action becomes when the package is a model version.
AS_MODEL_ACTION = {
    Action.READ_PACKAGE: ModelAction.READ_MODEL,
    Action.PUBLISH_PACKAGE: ModelAction.WRITE_MODEL,
    Action.DELETE_PACKAGE: ModelAction.WRITE_MODEL,
}


def model_version_rule(action: object, name: str, version: str) -> object | None:
    """A SemVer package follows the model registry's rule for ``action``."""
    if action in AS_MODEL_ACTION and is_semver(version):
        return AS_MODEL_ACTION[action]
    return None


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
    registry.register_package_rule(model_version_rule)
