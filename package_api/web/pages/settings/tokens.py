"""Settings > Access tokens and Deploy tokens: create one (its secret is shown once, in the answer
to the form), list them, revoke one."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue

from package_api.access.models import Project, Role
from package_api.access.policy import Action
from package_api.access.projects import parse_role
from package_api.access.tokens import DEPLOY_SCOPES, SCOPES, parse_expiry
from package_api.web.pages.context import authorized_project, deploy_token_services, token_services
from package_api.web.pages.forms import SHOWN_ONCE, FormError, attempt, tomorrow
from package_api.web.pages.settings.blueprint import PREFIX, bp, page, tab_url

ACCESS_TOKENS = f"{PREFIX}/access_tokens"
DEPLOY_TOKENS = f"{PREFIX}/deploy_tokens"
#: The roles a project access token's bot may hold (GitLab refuses Owner bots).
TOKEN_ROLES = (Role.GUEST, Role.REPORTER, Role.DEVELOPER, Role.MAINTAINER)


def _form() -> dict[str, Any]:
    """The fields of a token form as submitted (to show them again after a mistake)."""
    return {
        "name": request.form.get("name", "").strip(),
        "scopes": request.form.getlist("scopes"),
        "expires_at": request.form.get("expires_at", "").strip(),
        "access_level": request.form.get("access_level", ""),
        "username": request.form.get("username", "").strip(),
    }


# -- project access tokens -----------------------------------------------------------------------


def _access_tokens(project: Project, **context: Any) -> str:
    tokens = token_services()
    return page(
        "access_tokens.html",
        project,
        tokens=[(row, tokens.bot_level(row)) for row in tokens.list_for_project(project)],
        roles=TOKEN_ROLES,
        scopes=SCOPES,
        tomorrow=tomorrow(),
        form=context.pop("form", {"scopes": [], "access_level": str(int(Role.GUEST))}),
        **context,
    )


@bp.get(ACCESS_TOKENS)
def access_tokens(namespace: str, project: str) -> ResponseReturnValue:
    return _access_tokens(authorized_project(namespace, project, Action.ADMIN_PROJECT))


@bp.post(ACCESS_TOKENS)
def create_access_token(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    form = _form()
    role = parse_role(form["access_level"])  # a select: anything else is forged, a 400 page
    result = attempt(
        lambda: token_services().create_for_project(
            found, form["name"], form["scopes"], role, parse_expiry(form["expires_at"])
        )
    )
    if isinstance(result, FormError):
        return _access_tokens(found, form=form, error=result), result.status
    row, secret = result
    return _access_tokens(found, new_token=secret, new_row=row), 201, SHOWN_ONCE


@bp.post(f"{ACCESS_TOKENS}/<int:token_id>/revoke")
def revoke_access_token(namespace: str, project: str, token_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    row = token_services().revoke_for_project(found, token_id)
    flash(f"Project access token {row.name} revoked.", "success")
    return redirect(tab_url(found, "access_tokens"))


# -- deploy tokens ---------------------------------------------------------------------------------


def _deploy_tokens(project: Project, **context: Any) -> str:
    return page(
        "deploy_tokens.html",
        project,
        tokens=deploy_token_services().list_for(project),
        scopes=DEPLOY_SCOPES,
        tomorrow=tomorrow(),
        form=context.pop("form", {"scopes": []}),
        **context,
    )


@bp.get(DEPLOY_TOKENS)
def deploy_tokens(namespace: str, project: str) -> ResponseReturnValue:
    return _deploy_tokens(authorized_project(namespace, project, Action.ADMIN_PROJECT))


@bp.post(DEPLOY_TOKENS)
def create_deploy_token(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    form = _form()
    result = attempt(
        lambda: deploy_token_services().create(
            found,
            form["name"],
            form["scopes"],
            username=form["username"] or None,
            expires_at=parse_expiry(form["expires_at"]),
        )
    )
    if isinstance(result, FormError):
        return _deploy_tokens(found, form=form, error=result), result.status
    row, secret = result
    return _deploy_tokens(found, new_token=secret, new_row=row), 201, SHOWN_ONCE


@bp.post(f"{DEPLOY_TOKENS}/<int:token_id>/revoke")
def revoke_deploy_token(namespace: str, project: str, token_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    row = deploy_token_services().revoke(found, token_id)
    flash(f"Deploy token {row.name} revoked.", "success")
    return redirect(tab_url(found, "deploy_tokens"))
