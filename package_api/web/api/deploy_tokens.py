"""Project deploy tokens (``lib/api/deploy_tokens.rb``): a username and a secret with the scopes
``read_package_registry`` and ``write_package_registry``, for machines that only move packages.
Maintainers manage them; deleting one revokes it (the row stays, for the audit trail)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from package_api.access.models import DeployToken
from package_api.access.policy import Action
from package_api.access.tokens import is_live, parse_expiry
from package_api.db import utcnow
from package_api.paging import slice_page
from package_api.web.api import access_entities, pagination, params
from package_api.web.api.context import authorized_project, base_url
from package_api.web.api.context import deploy_token_services as _tokens

bp = Blueprint("deploy_tokens", __name__, url_prefix="/api/v4")


def _entity(row: DeployToken, token: str | None = None) -> dict[str, object]:
    return access_entities.deploy_token(row, active=is_live(row, utcnow()), token=token)


@bp.get("/projects/<project:project_ref>/deploy_tokens")
def list_deploy_tokens(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    rows = _tokens().list_for(project, active=params.flag(params.request_params(), "active"))
    number, per_page = pagination.page_args(request.args)
    page = slice_page(rows, number, per_page)
    return pagination.paginated([_entity(row) for row in page.items], page, base_url())


@bp.get("/projects/<project:project_ref>/deploy_tokens/<int:token_id>")
def get_deploy_token(project_ref: str, token_id: int) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    return jsonify(_entity(_tokens().get(project, token_id)))


@bp.post("/projects/<project:project_ref>/deploy_tokens")
def create_deploy_token(project_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    values = params.request_params()
    row, secret = _tokens().create(
        project,
        params.text(values, "name", required=True),
        params.strings(values, "scopes", required=True),
        username=params.text(values, "username"),
        expires_at=parse_expiry(values.get("expires_at")),
    )
    return jsonify(_entity(row, secret)), 201


@bp.delete("/projects/<project:project_ref>/deploy_tokens/<int:token_id>")
def revoke_deploy_token(project_ref: str, token_id: int) -> tuple[str, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    _tokens().revoke(project, token_id)
    return "", 204
