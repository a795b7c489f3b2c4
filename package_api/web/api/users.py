"""Users (``lib/api/users.rb``): admins create and change them (name, admin flag, password); signed-in
callers may look them up, and anonymous ones only where ``USERS_PUBLIC`` says the instance is public
(GitLab asks for authentication when the Public visibility level is restricted). The bot behind a
project access token is listed and found only by callers who can see its project: its name is the
token's and its username names the project (GitLab's fix of gitlab-org/gitlab#340803).

Account endpoints (users, personal access tokens) answer only credentials that speak for a person:
a personal access token, a project access token (its bot) or the browser session. Tokens confined
to one project (deploy, CI job and project CI tokens) are refused even when, like a job token, they
act for a user: a job must not mint its user lasting credentials.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from package_api import services
from package_api.access.models import Project, User
from package_api.errors import Forbidden, NotFound, Unauthorized
from package_api.identity import Principal, PrincipalKind
from package_api.web.api import access_entities, pagination, params
from package_api.web.api.context import base_url, principal, user_services

bp = Blueprint("users", __name__, url_prefix="/api/v4")

#: Principal kinds that speak for an account.
ACCOUNT_KINDS = frozenset({PrincipalKind.PERSONAL_ACCESS_TOKEN, PrincipalKind.PROJECT_ACCESS_TOKEN, PrincipalKind.SESSION})


def account_caller(*, write: bool) -> Principal:
    """The caller, if it speaks for an account (with the ``api`` scope when ``write``); raise
    ``Unauthorized`` for anonymous callers and ``Forbidden`` for other tokens."""
    caller = principal()
    if caller.user is None:
        raise Unauthorized("authentication required")
    if caller.kind not in ACCOUNT_KINDS:
        raise Forbidden("this kind of token cannot manage accounts")
    if write and not caller.can_write:
        raise Forbidden("insufficient_scope")
    return caller


def admin_caller(*, write: bool) -> Principal:
    """The caller, if it is an administrator's account; raise ``Forbidden`` otherwise."""
    caller = account_caller(write=write)
    if not caller.is_admin:
        raise Forbidden()
    return caller


@bp.post("/users")
def create_user() -> tuple[Response, int]:
    admin_caller(write=True)
    values = params.request_params()
    user = user_services().create(
        params.text(values, "username", required=True),
        params.text(values, "password"),
        admin=bool(params.flag(values, "admin")),
        name=params.text(values, "name") or "",
    )
    return jsonify(access_entities.user_public(user, base_url(), admin_view=True)), 201


def lookup_caller() -> Principal:
    """The caller, if it may look users up: anyone signed in, and anonymous callers when the
    instance is public (``USERS_PUBLIC``); raise ``Unauthorized`` otherwise."""
    caller = principal()
    if caller.is_anonymous and not current_app.config["MODELSHELF"]["USERS_PUBLIC"]:
        raise Unauthorized("authentication required")
    return caller


@bp.get("/users")
def list_users() -> Response:
    caller = lookup_caller()
    values = params.request_params()
    number, per_page = pagination.page_args(request.args)
    page = services.user_service().page(
        username=params.text(values, "username"),
        search=params.text(values, "search"),
        without_bots=bool(params.flag(values, "without_project_bots")),
        bots_of=None if caller.is_admin else services.policy().visible_query(caller).with_only_columns(Project.id),
        page=number,
        per_page=per_page,
    )
    admin_view = caller.is_admin
    items = [access_entities.user_public(user, base_url(), admin_view=admin_view) for user in page.items]
    return pagination.paginated(items, page, base_url())


@bp.get("/users/<int:user_id>")
def get_user(user_id: int) -> Response:
    caller = lookup_caller()
    user = services.user_service().find_by_id(user_id)
    if user is None or not _may_see(caller, user):
        raise NotFound("User")
    return jsonify(access_entities.user_public(user, base_url(), admin_view=caller.is_admin))


def _may_see(caller: Principal, user: User) -> bool:
    """Whether ``caller`` may know of ``user``: anyone's account, but a project bot only where the
    caller can see its project."""
    if user.bot_project_id is None or caller.is_admin:
        return True
    try:
        project = services.project_service().get(user.bot_project_id)
    except NotFound:
        return False
    return services.policy().can_see(caller, project)


@bp.put("/users/<int:user_id>")
def update_user(user_id: int) -> Response:
    """GitLab's "Modify a user" for administrators: ``name``, ``admin`` and ``password`` (the model
    has no e-mail; a username is a project namespace here, so it does not change). What is not
    given stays as it is; each change is audited as ``user_updated``."""
    admin_caller(write=True)
    users = user_services()
    user = users.find_by_id(user_id)
    if user is None:
        raise NotFound("User")
    values = params.request_params()
    users.update(
        user,
        name=params.text(values, "name"),
        admin=params.flag(values, "admin"),
        password=params.text(values, "password", keep_blank=True),
    )
    return jsonify(access_entities.user_public(user, base_url(), admin_view=True))
