"""The project list (``/``) and a project's home (``/<namespace>/<project>``)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template
from flask.typing import ResponseReturnValue

from package_api.access.policy import Action
from package_api.web.pages.context import authorized_project, policy, principal
from package_api.web.pages.navigation import project_home

bp = Blueprint("project_pages", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("project_pages/index.html", projects=policy().visible_projects(principal()))


@bp.get("/<namespace>/<project>")
def show(namespace: str, project: str) -> ResponseReturnValue:
    return redirect(project_home(authorized_project(namespace, project, Action.READ_PROJECT)))
