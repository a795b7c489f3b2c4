"""A project's settings pages (**Manage > Settings**, for Maintainers and Owners), at
``/<namespace>/<project>/-/settings``: General (description, visibility, features, duplicate
packages, deleting the project), Members, Access tokens, Deploy tokens, CI/CD (the CI token and
jobs), Packages and registries (protected packages), Webhooks (docs/webhooks.md) and Audit events.

Every view asks the policy first (``Action.ADMIN_PROJECT``; ``Action.OWN_PROJECT`` for
visibility, the Owner role and deleting the project); every change it makes is in the audit trail;
a form with a mistake is shown again with the message beside the field, and changes nothing.
"""
from __future__ import annotations

from flask import Flask

from package_api.access.models import Project
from package_api.access.policy import Action
from package_api.web.pages.context import can
from package_api.web.pages.navigation import NavEntry, add_project_nav
from package_api.web.pages.settings import (  # noqa: F401  (the views)
    audit_events,
    ci_cd,
    general,
    members,
    package_registry,
    tokens,
    webhooks,
)
from package_api.web.pages.settings.blueprint import bp

__all__ = ["bp", "register"]


def _for_maintainers(project: Project) -> bool:
    return can(project, Action.ADMIN_PROJECT)


def register(app: Flask) -> None:
    """The sidebar's **Manage > Settings**, shown to those who may use it."""
    add_project_nav(app, NavEntry("Settings", "project_settings.general", section="Manage", visible=_for_maintainers))
