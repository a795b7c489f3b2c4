"""Project audit events, as GitLab's API (``ee/lib/api/audit_events.rb``, project part): who changed
what, how they authenticated, from where; for the project's Maintainers (``Action.ADMIN_PROJECT``)."""
from __future__ import annotations

import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from package_api import audit
from package_api.access.models import Project
from package_api.access.policy import Action
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.errors import InvalidParameter
from package_api.identity import PrincipalKind
from package_api.web.api import pagination
from package_api.web.api.context import authorized_project, base_url
from package_api.web.api.entities import timestamp

bp = Blueprint("audit_events", __name__, url_prefix="/api/v4")

#: ``details.author_class`` by how the author authenticated (GitLab names the class of the author).
AUTHOR_CLASSES = {
    PrincipalKind.DEPLOY_TOKEN.value: "DeployToken",
    PrincipalKind.CI_TOKEN.value: "CiToken",
    PrincipalKind.CLI.value: "System",
    PrincipalKind.ANONYMOUS.value: "UnauthenticatedAuthor",
}


def iso8601(name: str, value: str | None) -> datetime.datetime | None:
    """``value`` (``2024-05-01``, ``2024-05-01T12:00:00Z``, any offset) as naive UTC, as stored;
    raise ``InvalidParameter`` for anything else."""
    if value is None or value == "":
        return None
    text = value.strip()
    # A "+01:00" offset sent unescaped in a query string arrives as " 01:00".
    for candidate in (text, text[:-6] + "+" + text[-5:] if text[-6:-5] == " " else text):
        try:
            parsed = datetime.datetime.fromisoformat(candidate)
            break
        except ValueError:
            continue
    else:
        raise InvalidParameter(name)
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
            raise InvalidParameter(name) from None
    return parsed


def entity(event: AuditEvent, project: Project) -> dict[str, Any]:
    """GitLab's ``AuditEvent`` entity; what we know beyond it (the token type, the details of the
    change) is in ``details`` beside GitLab's keys."""
    recorded = audit.details_of(event)
    details: dict[str, Any] = {
        "custom_message": event.event_name.replace("_", " ").capitalize(),
        **recorded,
        "author_name": event.author_name,
        "author_class": AUTHOR_CLASSES.get(event.token_type, "User"),
        "token_type": event.token_type,
        "target_id": event.target_id,
        "target_type": event.target_type,
        "target_details": event.target_details,
        "ip_address": event.ip_address,
        "entity_path": project.full_path,
    }
    return {
        "id": event.id,
        "author_id": event.author_id,  # null for a deploy token, the CI token or the command line
        "entity_id": event.project_id,
        "entity_type": "Project",
        "event_name": event.event_name,
        "details": details,
        "created_at": timestamp(event.created_at),
    }


@bp.get("/projects/<project:project_ref>/audit_events")
def list_audit_events(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    number, per_page = pagination.page_args(request.args)
    page = audit.page_for(
        db.session,
        project,
        created_after=iso8601("created_after", request.args.get("created_after")),
        created_before=iso8601("created_before", request.args.get("created_before")),
        page=number,
        per_page=per_page,
    )
    return pagination.paginated([entity(e, project) for e in page.items], page, base_url())


@bp.get("/projects/<project:project_ref>/audit_events/<int:event_id>")
def get_audit_event(project_ref: str, event_id: int) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    return jsonify(entity(audit.get(db.session, project, event_id), project))
