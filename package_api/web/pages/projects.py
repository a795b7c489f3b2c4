"""The project list (``/``), a new project (GitLab's ``/projects/new``) and a project's home
(``/<namespace>/<project>``).

A new project is made as ``POST /api/v4/projects`` makes it: by any signed-in user in their own
namespace (administrators in any), through ``ProjectService.create``, which validates the path and
records ``project_created``."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue

from package_api.access.models import User, Visibility
from package_api.access.policy import Action
from package_api.access.projects import parse_visibility
from package_api.errors import InvalidParameter, Unauthorized
from package_api.web.pages.context import authorized_project, policy, principal, project_services
from package_api.web.pages.forms import FormError, attempt
from package_api.web.pages.navigation import project_home
from package_api.web.pages.settings.general import VISIBILITIES

bp = Blueprint("project_pages", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("project_pages/index.html", projects=policy().visible_projects(principal()))


def _creator() -> User:
    """The signed-in user; raise ``Unauthorized`` (a sign-in redirect for a GET) otherwise."""
    user = principal().user
    if user is None:
        raise Unauthorized("sign in to create a project")
    return user


def _form(user: User, **context: Any) -> str:
    values = {"namespace": user.username, "path": "", "visibility": Visibility.PRIVATE.value, "description": ""}
    return render_template(
        "project_pages/new.html",
        values={**values, **context.pop("values", {})},
        visibilities=VISIBILITIES,
        any_namespace=principal().is_admin,
        **context,
    )


@bp.get("/projects/new")
def new() -> ResponseReturnValue:
    return _form(_creator())


@bp.post("/projects")
def create() -> ResponseReturnValue:
    user = _creator()
    values = {name: request.form.get(name, "").strip() for name in ("path", "visibility")}
    values["description"] = request.form.get("description", "")
    values["namespace"] = request.form.get("namespace", "").strip() or user.username
    policy().authorize_namespace(principal(), values["namespace"])  # a 403 page, as the API's 403

    def create_project() -> Any:
        if not values["path"]:
            raise InvalidParameter("path", "is missing")
        visibility = parse_visibility(values["visibility"] or Visibility.PRIVATE.value)
        full_path = f"{values['namespace']}/{values['path']}"
        return project_services().create(full_path, user, visibility=visibility, description=values["description"])

    result = attempt(create_project, duplicate=FormError("A project with this path already exists", "path", 409))
    if isinstance(result, FormError):
        return _form(user, values=values, error=result), result.status
    flash(f"Project {result.full_path} created.", "success")
    return redirect(project_home(result))


@bp.get("/<namespace>/<project>")
def show(namespace: str, project: str) -> ResponseReturnValue:
    return redirect(project_home(authorized_project(namespace, project, Action.READ_PROJECT)))
