"""The few project and user endpoints clients need (python-gitlab reads them first)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..db import db
from ..errors import Forbidden, InvalidParameter, Unauthorized
from ..models import Visibility
from ..policy import Action
from ..projects import parse_visibility
from . import entities
from .context import authorized_project, base_url, policy, principal, project_services

bp = Blueprint("projects", __name__, url_prefix="/api/v4")


def _body() -> dict[str, Any]:
    return dict(request.get_json(silent=True) or request.form or {})


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
    caller = principal()
    if caller.user is None:
        raise Unauthorized("authentication required")
    return jsonify(entities.user(caller.user, base_url()))


@bp.get("/projects/<project:project_ref>")
def get_project(project_ref: str) -> Response:
    return jsonify(entities.project(authorized_project(project_ref, Action.READ_PROJECT), base_url()))


@bp.post("/projects")
def create_project() -> tuple[Response, int]:
    caller = principal()
    if caller.user is None:
        raise Unauthorized("authentication required")
    if not caller.can_write:
        raise Forbidden("insufficient_scope")
    params = _body()
    path = params.get("path") or params.get("name")
    if not path:
        raise InvalidParameter("path", "is missing")
    namespace = str(params.get("namespace") or caller.user.username)
    if namespace != caller.user.username and not caller.is_admin:
        raise Forbidden("only administrators create projects outside their own namespace")
    visibility = parse_visibility(str(params.get("visibility", Visibility.PRIVATE.value)))
    project = project_services().create(
        f"{namespace}/{path}", caller.user, visibility=visibility, description=str(params.get("description", ""))
    )
    db.session.commit()
    return jsonify(entities.project(project, base_url())), 201


@bp.put("/projects/<project:project_ref>")
def update_project(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    params = _body()
    if "visibility" in params:
        policy().authorize(principal(), project, Action.OWN_PROJECT)
        project.visibility = parse_visibility(str(params["visibility"]))
    regex = params.get("generic_duplicate_exception_regex")
    project_services().update_package_settings(
        project,
        duplicates_allowed=_bool(params, "generic_duplicates_allowed"),
        exception_regex=None if regex is None else str(regex),
    )
    db.session.commit()
    return jsonify(entities.project(project, base_url()))
