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
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import bindparam, select

from package_api.plugin_api import (
    READ_PACKAGE_REGISTRY,
    WRITE_PACKAGE_REGISTRY,
    Action,
    PolicyFacts,
    Project,
    Role,
    prepared,
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


#: Past this many package names asked one by one (a list that did not ``expect`` its page), the
#: rule reads all of the project's model names instead of one statement more per name.
NAMES_ONE_BY_ONE = 8


@dataclass
class _ModelNames:
    """What a policy has read of a project's model names: each name asked, or all of them."""

    known: dict[str, bool] = field(default_factory=dict)
    every: frozenset[str] | None = None


def is_model_name(facts: PolicyFacts, project: Project, name: str) -> bool:
    """Whether ``project`` has a model named ``name``: read with the names of the page being judged
    (``PolicyFacts.expect``), each name once per policy. A project's other models are not read, so
    judging one package costs the same with ten models or ten thousand."""
    names = facts.remember(("model names", project.id), _ModelNames)
    if names.every is not None:
        return name in names.every
    if name not in names.known:
        if len(names.known) >= NAMES_ONE_BY_ONE:  # a list judged name by name: every name, once
            names.every = frozenset(facts.session.scalars(_ALL_NAMES, {"project": project.id}))
            return name in names.every
        wanted = sorted({name, *facts.expected(project.id)}.difference(names.known))
        found = set(facts.session.scalars(_NAMES_IN, {"project": project.id, "names": wanted}))
        names.known.update((asked, asked in found) for asked in wanted)
    return names.known[name]


_ALL_NAMES = select(Model.name).where(Model.project_id == bindparam("project"))
_NAMES_IN = prepared(select(Model.name).where(
    Model.project_id == bindparam("project"), Model.name.in_(bindparam("names", expanding=True))
))


def model_version_rule(facts: PolicyFacts, project: Project, action: object, name: str, version: str) -> object | None:
    """A SemVer package of a model ``project`` has follows the model registry's rule for ``action``,
    and so does publishing anything under a model's name."""
    as_model = AS_MODEL_ACTION.get(action)
    if as_model is None or not is_model_name(facts, project, name):
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
