"""The model registry's actions, registered with package_api's policy (the one place that decides).

The seed document: "users must have at least the Reporter role to modify or delete models and
model versions"; anyone who can see the project can view them.
"""
from __future__ import annotations

import enum

from package_api.models import Role
from package_api.policy import register_action


class ModelAction(enum.Enum):
    READ_MODEL = "read_model_registry"
    WRITE_MODEL = "write_model_registry"


def register() -> None:
    register_action(ModelAction.READ_MODEL, Role.GUEST, read=True)
    register_action(ModelAction.WRITE_MODEL, Role.REPORTER)
