"""The few project and user endpoints clients need (python-gitlab reads them first)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from package_api.access.models import Project, Role, Visibility
from package_api.access.policy import Action
from package_api.access.project_settings import feature_param
from package_api.access.projects import parse_role, parse_visibility
from package_api.errors import InvalidParameter
from package_api.web.api import entities, pagination
from package_api.web.api import params as request_values
from package_api.web.api.context import (
    authorized_project,
    base_url,
    policy,
    principal,
    project_services,
    settings_services,
)
from package_api.web.api.users import account_caller

bp = Blueprint("projects", __name__, url_prefix="/api/v4")


def _bool(params: dict[str, Any], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1"):
        return True
    if str(value).lower() in ("false", "0"):
        return False
    raise InvalidParameter(name)


@bp.get("/user")
def current_user() -> Response:
    caller = account_caller(write=False)
    assert caller.user is not None
    return jsonify(entities.user(caller.user, base_url()))


def _entity(project: Project) -> dict[str, Any]:
    return entities.project(project, base_url(), policy().feature_levels(project))


@bp.get("/projects")
def list_projects() -> Response:
    """The projects the caller can see (GitLab's ``GET /projects``); ``membership``, ``owned`` and
    ``min_access_level`` narrow them to the caller's own."""
    caller = principal()
    values = request_values.request_params()
    level = request_values.text(values, "min_access_level")
    min_level = parse_role(level) if level is not None else None
    if request_values.flag(values, "owned"):
        min_level = Role.OWNER
    elif request_values.flag(values, "membership") and min_level is None:
        min_level = Role.GUEST
    visibility = request_values.text(values, "visibility")
    number, per_page = pagination.page_args(request.args)
    page = project_services().page(
        policy().visible_query(caller),
        # A token bound to one project (a job's, a deploy token) lists no memberships of its user.
        user=caller.user if caller.project_id is None else None,
        search=request_values.text(values, "search"),
        visibility=parse_visibility(visibility) if visibility is not None else None,
        min_access_level=min_level,
        order_by=request_values.text(values, "order_by") or "created_at",
        sort=request_values.text(values, "sort") or "desc",
        page=number,
        per_page=per_page,
    )
    return pagination.paginated([_entity(project) for project in page.items], page, base_url())


@bp.get("/projects/<project:project_ref>")
def get_project(project_ref: str) -> Response:
    return jsonify(_entity(authorized_project(project_ref, Action.READ_PROJECT)))


@bp.post("/projects")
def create_project() -> tuple[Response, int]:
    caller = account_caller(write=True)  # not a job's token: it is confined to its project
    assert caller.user is not None
    params = request_values.request_body()
    path = params.get("path") or params.get("name")
    if not path:
        raise InvalidParameter("path", "is missing")
    namespace = str(params.get("namespace") or caller.user.username)
    policy().authorize_namespace(caller, namespace)
    visibility = parse_visibility(str(params.get("visibility", Visibility.PRIVATE.value)))
    project = project_services().create(
        f"{namespace}/{path}", caller.user, visibility=visibility, description=str(params.get("description", ""))
    )
    return jsonify(_entity(project)), 201


def _text(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    return None if value is None else str(value)


@bp.put("/projects/<project:project_ref>")
def update_project(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    params = request_values.request_body()
    visibility = _text(params, "visibility")
    policy().authorize_visibility(principal(), project, visibility)
    settings_services().update(  # it records each change in the audit trail
        project,
        visibility=visibility,
        features={
            feature: str(params[feature_param(feature)])
            for feature in policy().rules.features
            if params.get(feature_param(feature)) is not None
        },
        description=_text(params, "description"),
        duplicates_allowed=_bool(params, "generic_duplicates_allowed"),
        exception_regex=_text(params, "generic_duplicate_exception_regex"),
    )
    return jsonify(_entity(project))


@bp.delete("/projects/<project:project_ref>")
def delete_project(project_ref: str) -> tuple[Response, int]:
    """Delete the project and everything in it (Owner). GitLab deletes in the background and answers
    202; here it is gone on return, and ``modelshelf gc`` reclaims the bytes of its files."""
    project = authorized_project(project_ref, Action.OWN_PROJECT)
    project_services().delete(project)  # it records "project_deleted"
    return jsonify(message="202 Accepted"), 202
