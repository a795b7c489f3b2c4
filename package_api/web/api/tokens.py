"""Personal access tokens (``lib/api/personal_access_tokens.rb``, ``users.rb``) and project access
tokens (``resource_access_tokens.rb``).

A token's secret is in the answer that creates it and nowhere else. Revoking a project access token
also ends its bot's membership, so the bot can do nothing in the project even with another token.
Rotating a token (``POST .../rotate``, python-gitlab's ``rotate()``) revokes it and answers its
successor with the secret, as GitLab does (200); a project bot keeps its membership.
"""
from __future__ import annotations

import datetime

from flask import Blueprint, Response, jsonify, request

from package_api import services
from package_api.access.models import PersonalAccessToken, Role, User
from package_api.access.policy import Action
from package_api.access.projects import parse_role
from package_api.access.tokens import is_live, parse_expiry
from package_api.db import utcnow
from package_api.errors import Forbidden, NotFound
from package_api.paging import choice, slice_page
from package_api.web.api import access_entities, pagination, params
from package_api.web.api.context import authorized_project, base_url, policy, principal
from package_api.web.api.context import token_services as _tokens
from package_api.web.api.users import account_caller, admin_caller

bp = Blueprint("tokens", __name__, url_prefix="/api/v4")

#: GitLab's default role for a project access token's bot.
DEFAULT_PROJECT_TOKEN_ROLE = Role.MAINTAINER


def _entity(row: PersonalAccessToken, token: str | None = None) -> dict[str, object]:
    return access_entities.personal_access_token(row, active=is_live(row, utcnow()), token=token)


# -- personal access tokens -------------------------------------------------------------------


def _create_personal(user: User) -> tuple[Response, int]:
    values = params.request_params()
    row, secret = _tokens().create(
        user,
        params.text(values, "name", required=True),
        params.strings(values, "scopes", required=True),
        parse_expiry(values.get("expires_at")),
    )
    return jsonify(_entity(row, secret)), 201


@bp.post("/user/personal_access_tokens")
def create_own_token() -> tuple[Response, int]:
    caller = account_caller(write=True)
    assert caller.user is not None
    if caller.user.is_bot:
        raise Forbidden("project bots cannot create personal access tokens")
    return _create_personal(caller.user)


@bp.post("/users/<int:user_id>/personal_access_tokens")
def create_user_token(user_id: int) -> tuple[Response, int]:
    admin_caller(write=True)
    user = services.user_service().find_by_id(user_id)
    if user is None:
        raise NotFound("User")
    return _create_personal(user)


@bp.get("/personal_access_tokens")
def list_personal_tokens() -> Response:
    caller = account_caller(write=False)
    assert caller.user is not None
    values = params.request_params()
    owner: User | None = caller.user
    user_id = params.integer(values, "user_id")
    if caller.is_admin:
        owner = None if user_id is None else services.user_service().find_by_id(user_id)
        if user_id is not None and owner is None:
            raise NotFound("User")
    elif user_id is not None and user_id != caller.user.id:
        raise Forbidden("only administrators list other users' tokens")
    number, per_page = pagination.page_args(request.args)
    page = _tokens().page(
        owner,
        state=params.text(values, "state"),
        revoked=params.flag(values, "revoked"),
        search=params.text(values, "search"),
        page=number,
        per_page=per_page,
    )
    return pagination.paginated([_entity(row) for row in page.items], page, base_url())


@bp.get("/personal_access_tokens/self")
def get_self_token() -> Response:
    return jsonify(_entity(_tokens().find_own(account_caller(write=False))))


@bp.get("/personal_access_tokens/<int:token_id>")
def get_personal_token(token_id: int) -> Response:
    caller = account_caller(write=False)
    assert caller.user is not None
    return jsonify(_entity(_tokens().get(token_id, caller.user)))


def _rotation_expiry() -> datetime.date | None:
    """The ``expires_at`` a rotation asks for (a week from today when none: ``TokenService._rotate``)."""
    return parse_expiry(params.request_params().get("expires_at"))


@bp.post("/personal_access_tokens/self/rotate")
def rotate_self_token() -> tuple[Response, int]:
    # GitLab: the api (or self_rotate) scope; a read_api token cannot rotate itself.
    row, secret = _tokens().rotate_self(account_caller(write=True), _rotation_expiry())
    return jsonify(_entity(row, secret)), 200


@bp.post("/personal_access_tokens/<int:token_id>/rotate")
def rotate_personal_token(token_id: int) -> tuple[Response, int]:
    caller = account_caller(write=True)
    assert caller.user is not None
    row, secret = _tokens().rotate(token_id, caller.user, _rotation_expiry())
    return jsonify(_entity(row, secret)), 200


@bp.delete("/personal_access_tokens/self")
def revoke_self_token() -> tuple[str, int]:
    # Any scope may give itself up: it only takes power away.
    _tokens().revoke_self(account_caller(write=False))
    return "", 204


@bp.delete("/personal_access_tokens/<int:token_id>")
def revoke_personal_token(token_id: int) -> tuple[str, int]:
    caller = account_caller(write=True)
    assert caller.user is not None
    _tokens().revoke(token_id, caller.user)
    return "", 204


# -- project access tokens --------------------------------------------------------------------


def _project_entity(row: PersonalAccessToken, token: str | None = None) -> dict[str, object]:
    return access_entities.project_access_token(
        row, access_level=_tokens().bot_level(row), active=is_live(row, utcnow()), token=token
    )


@bp.get("/projects/<project:project_ref>/access_tokens")
def list_project_tokens(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    state = params.text(params.request_params(), "state")
    rows = _tokens().list_for_project(project)
    if state is not None:
        wanted = choice("state", state, ("active", "inactive")) == "active"
        now = utcnow()
        rows = [row for row in rows if is_live(row, now) == wanted]
    number, per_page = pagination.page_args(request.args)
    page = slice_page(rows, number, per_page)
    return pagination.paginated([_project_entity(row) for row in page.items], page, base_url())


@bp.get("/projects/<project:project_ref>/access_tokens/<int:token_id>")
def get_project_token(project_ref: str, token_id: int) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    return jsonify(_project_entity(_tokens().get_for_project(project, token_id)))


@bp.post("/projects/<project:project_ref>/access_tokens")
def create_project_token(project_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    values = params.request_params()
    level = params.text(values, "access_level")
    role = parse_role(level) if level is not None else DEFAULT_PROJECT_TOKEN_ROLE
    policy().authorize_token_role(principal(), project, role)
    row, secret = _tokens().create_for_project(
        project,
        params.text(values, "name", required=True),
        params.strings(values, "scopes", required=True),
        role,
        parse_expiry(values.get("expires_at")),
    )
    return jsonify(_project_entity(row, secret)), 201


@bp.post("/projects/<project:project_ref>/access_tokens/<int:token_id>/rotate")
def rotate_project_token(project_ref: str, token_id: int) -> tuple[Response, int]:
    # The bot keeps its role, which is never above a Maintainer's (creation saw to it).
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    row, secret = _tokens().rotate_for_project(project, token_id, _rotation_expiry())
    return jsonify(_project_entity(row, secret)), 200


@bp.post("/projects/<project:project_ref>/access_tokens/self/rotate")
def rotate_self_project_token(project_ref: str) -> tuple[Response, int]:
    caller = account_caller(write=True)  # the api scope, as GitLab's self-rotation
    project = authorized_project(project_ref, Action.READ_PROJECT)
    row, secret = _tokens().rotate_self_for_project(project, caller, _rotation_expiry())
    return jsonify(_project_entity(row, secret)), 200


@bp.delete("/projects/<project:project_ref>/access_tokens/<int:token_id>")
def revoke_project_token(project_ref: str, token_id: int) -> tuple[str, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    _tokens().revoke_for_project(project, token_id)
    return "", 204
