"""Settings > Members: who holds which role; add a user, change a role, remove a member.

Maintainers manage members up to Maintainer; anything about the Owner role (granting it, changing
or removing an Owner) takes an Owner (``Action.OWN_PROJECT``). The last Owner stays (``MemberService``).
"""
from __future__ import annotations

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue

from package_api import services
from package_api.access.models import Project, Role
from package_api.access.policy import Action
from package_api.access.projects import parse_role
from package_api.web.api.pagination import page_args
from package_api.web.pages.context import authorized_project, policy, principal
from package_api.web.pages.context import member_services as _members
from package_api.web.pages.forms import FormError, attempt
from package_api.web.pages.settings.blueprint import PREFIX, bp, page, tab_url

MEMBERS = f"{PREFIX}/members"


def _authorize_roles(project: Project, *roles: int) -> None:
    """Raise unless the caller may give or take away each of ``roles``: Owner takes an Owner."""
    policy().authorize_roles(principal(), project, *roles)


def _page(project: Project, *, error: FormError | None = None, username: str = "", role: Role = Role.DEVELOPER) -> str:
    number, per_page = page_args(request.args)
    return page(
        "members.html",
        project,
        members=_members().list(project, page=number, per_page=per_page),
        roles=tuple(Role),
        owner=Role.OWNER,
        error=error,
        username=username,
        role=role,
    )


def _done(project: Project, message: str) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(tab_url(project, "members"))


@bp.get(MEMBERS)
def members(namespace: str, project: str) -> ResponseReturnValue:
    return _page(authorized_project(namespace, project, Action.ADMIN_PROJECT))


@bp.post(MEMBERS)
def add_member(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    username = request.form.get("username", "").strip()
    role = parse_role(request.form.get("access_level", ""))  # a select: anything else is forged, a 400 page
    _authorize_roles(found, role)
    user = services.user_service().find(username) if username else None
    if user is None:
        error = FormError(f"There is no user named {username}." if username else "Enter a username.", "username", 404)
        return _page(found, error=error, username=username, role=role), error.status
    result = attempt(
        lambda: _members().add(found, user, role), duplicate=FormError(f"{username} is a member already.", "username", 409)
    )
    if isinstance(result, FormError):
        return _page(found, error=result, username=username, role=role), result.status
    return _done(found, f"{user.username} added as {role.name.capitalize()}.")


@bp.post(f"{MEMBERS}/<int:user_id>")
def update_member(namespace: str, project: str, user_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    before = _members().get(found, user_id).access_level
    role = parse_role(request.form.get("access_level", ""))
    _authorize_roles(found, before, role)
    result = attempt(lambda: _members().update(found, user_id, role))
    if isinstance(result, FormError):
        return _page(found, error=FormError(result.message, f"member-{user_id}")), result.status
    return _done(found, f"{result.user.username} is now {role.name.capitalize()}.")


@bp.post(f"{MEMBERS}/<int:user_id>/remove")
def remove_member(namespace: str, project: str, user_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    _authorize_roles(found, _members().get(found, user_id).access_level)
    result = attempt(lambda: _members().remove(found, user_id))
    if isinstance(result, FormError):
        return _page(found, error=FormError(result.message, f"member-{user_id}")), result.status
    return _done(found, f"{result.user.username} removed from {found.full_path}.")
