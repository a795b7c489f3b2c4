"""The project settings blueprint, under ``/<namespace>/<project>/-/settings``: one page per tab."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, url_for

from package_api.access.models import Project, Role
from package_api.access.policy import Action
from package_api.web.pages.context import can

bp = Blueprint("project_settings", __name__)

PREFIX = "/<namespace>/<project>/-/settings"
#: (endpoint, label) of the tabs, in order.
TABS = (
    ("general", "General"),
    ("members", "Members"),
    ("access_tokens", "Access tokens"),
    ("deploy_tokens", "Deploy tokens"),
    ("ci_cd", "CI/CD"),
    ("packages_and_registries", "Packages and registries"),
    ("webhooks", "Webhooks"),
    ("audit_events", "Audit events"),
)


def tab_url(project: Project, endpoint: str, **args: Any) -> str:
    return url_for(f"project_settings.{endpoint}", namespace=project.namespace, project=project.path, **args)


def page(template: str, project: Project, **context: Any) -> str:
    """A settings page: ``template`` (named after its tab) with the project, the tabs and whether
    the caller is an Owner."""
    tab = template.removesuffix(".html")
    return render_template(
        f"project_settings/{template}",
        project=project,
        tabs=[(endpoint, label, tab_url(project, endpoint)) for endpoint, label in TABS],
        tab=tab,
        tab_label=dict(TABS)[tab],
        can_own=can(project, Action.OWN_PROJECT),
        role_names={int(role): role.name.capitalize() for role in Role},
        **context,
    )
