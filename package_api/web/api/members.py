"""Project members (``lib/api/members.rb``): list, show, add, change the role of, remove.

Anyone who can see a project may read its members, as in GitLab. Changes need Maintainer
(``Action.ADMIN_PROJECT``); anything about the Owner role (granting it, changing or removing an
Owner) needs Owner (``Action.OWN_PROJECT``). Projects have no groups, so ``/members/all`` (members
including inherited ones) lists the same members as ``/members``.
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from package_api import services
from package_api.access.members import Member
from package_api.access.models import Project, User
from package_api.access.policy import Action
from package_api.access.projects import parse_role
from package_api.errors import InvalidParameter, NotFound
from package_api.web.api import access_entities, pagination, params
from package_api.web.api.context import authorized_project, base_url, policy, principal
from package_api.web.api.context import member_services as _members

bp = Blueprint("members", __name__, url_prefix="/api/v4")


def _entity(member: Member) -> dict[str, object]:
    return access_entities.member(member, base_url())


def _authorize_roles(project: Project, *levels: int) -> None:
    """Raise unless the caller may grant, change or take away each of ``levels`` (Owner takes an Owner)."""
    policy().authorize_roles(principal(), project, *levels)


def _user(values: dict[str, object]) -> User:
    """The user ``user_id`` or ``username`` names (exactly one of them, as GitLab's ``exactly_one_of``)."""
    user_id, username = params.integer(values, "user_id"), params.text(values, "username")
    if (user_id is None) == (username is None):
        raise InvalidParameter("user_id, username", "are missing, exactly one parameter must be provided")
    users = services.user_service()
    user = users.find_by_id(user_id) if user_id is not None else users.find(str(username))
    if user is None:
        raise NotFound("User")
    return user


@bp.get("/projects/<project:project_ref>/members")
@bp.get("/projects/<project:project_ref>/members/all")
def list_members(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.READ_PROJECT)
    number, per_page = pagination.page_args(request.args)
    values = params.request_params()
    page = _members().list(
        project,
        query=params.text(values, "query"),
        user_ids=params.ids(values, "user_ids"),
        page=number,
        per_page=per_page,
    )
    return pagination.paginated([_entity(m) for m in page.items], page, base_url())


@bp.get("/projects/<project:project_ref>/members/<int:user_id>")
@bp.get("/projects/<project:project_ref>/members/all/<int:user_id>")
def get_member(project_ref: str, user_id: int) -> Response:
    project = authorized_project(project_ref, Action.READ_PROJECT)
    return jsonify(_entity(_members().get(project, user_id)))


@bp.post("/projects/<project:project_ref>/members")
def add_member(project_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    values = params.request_params()
    role = parse_role(params.text(values, "access_level", required=True))
    user = _user(values)
    _authorize_roles(project, role)
    return jsonify(_entity(_members().add(project, user, role))), 201


@bp.put("/projects/<project:project_ref>/members/<int:user_id>")
def update_member(project_ref: str, user_id: int) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    role = parse_role(params.text(params.request_params(), "access_level", required=True))
    members = _members()
    _authorize_roles(project, members.get(project, user_id).access_level, role)
    return jsonify(_entity(members.update(project, user_id, role)))


@bp.delete("/projects/<project:project_ref>/members/<int:user_id>")
def remove_member(project_ref: str, user_id: int) -> tuple[str, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    members = _members()
    _authorize_roles(project, members.get(project, user_id).access_level)
    members.remove(project, user_id)
    return "", 204
