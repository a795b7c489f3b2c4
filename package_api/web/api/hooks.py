"""Project webhooks in GitLab's project hooks shape (``/projects/:id/hooks``), over the durable
webhooks of ``package_api.webhooks``: Maintainers list, add, edit and delete hooks, read each one's
deliveries with every attempt (GitLab's ``/hooks/:hook_id/events``) and resend one
(``.../events/:id/resend``). ``events`` are our names (``GET /projects/:id/hooks/events`` lists
them); MLflow's client manages the same hooks through its own API."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from package_api.access.models import Project
from package_api.access.policy import Action
from package_api.services import webhook_service
from package_api.web.api import params
from package_api.web.api.context import actor, authorized_project, principal
from package_api.web.api.entities import timestamp
from package_api.webhooks import outbox
from package_api.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from package_api.webhooks.service import WebhookService

bp = Blueprint("hooks", __name__, url_prefix="/api/v4/projects/<project:project_ref>")


def _service() -> WebhookService:
    return webhook_service(actor=actor())


def _project(project_ref: str) -> Project:
    return authorized_project(project_ref, Action.ADMIN_PROJECT)


def hook_json(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id, "project_id": hook.project_id, "name": hook.name, "description": hook.description,
        "url": hook.url, "events": json.loads(hook.events or "[]"), "enabled": hook.enabled,
        "has_secret": hook.has_secret, "created_at": timestamp(hook.created_at),
        "updated_at": timestamp(hook.updated_at),
    }


def attempt_json(row: WebhookAttempt) -> dict[str, Any]:
    return {
        "id": row.id, "started_at": timestamp(row.started_at), "status": row.status, "latency_ms": row.latency_ms,
        "response": row.response, "error": row.error, "address": row.address,
    }


def delivery_json(row: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    return {
        "id": row.id, "delivery_id": row.uuid, "event": row.event.name, "state": row.state, "attempts_made": row.attempts,
        "next_attempt_at": timestamp(row.next_attempt_at) if row.state == "pending" else None,
        "last_status": row.last_status, "last_error": row.last_error, "created_at": timestamp(row.created_at),
        "payload": json.loads(row.event.payload or "{}"), "attempts": [attempt_json(a) for a in attempts],
    }


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    events = params.strings(values, "events") if "events" in values else None
    return {
        "name": params.text(values, "name"), "url": params.text(values, "url"), "events": events,
        "secret": params.text(values, "secret", keep_blank=True) if "secret" in values else None,
        "description": params.text(values, "description", keep_blank=True) if "description" in values else None,
        "enabled": params.flag(values, "enabled"),
    }


@bp.get("/hooks")
def list_hooks(project_ref: str) -> Response:
    return jsonify([hook_json(h) for h in _service().of_project(_project(project_ref))])


@bp.get("/hooks/events")
def hook_event_names(project_ref: str) -> Response:
    _project(project_ref)
    return jsonify(outbox.event_names(current_app))


@bp.post("/hooks")
def add_hook(project_ref: str) -> tuple[Response, int]:
    project = _project(project_ref)
    fields = _fields(params.request_params())
    hook = _service().create(
        project, name=fields["name"] or "", url=fields["url"] or "", events=fields["events"] or [],
        secret=fields["secret"] or "", description=fields["description"] or "",
        enabled=fields["enabled"] is not False, user=principal().user,
    )
    return jsonify(hook_json(hook)), 201


@bp.get("/hooks/<int:hook_id>")
def get_hook(project_ref: str, hook_id: int) -> Response:
    return jsonify(hook_json(_service().get(_project(project_ref), hook_id)))


@bp.put("/hooks/<int:hook_id>")
def edit_hook(project_ref: str, hook_id: int) -> Response:
    service = _service()
    hook = service.get(_project(project_ref), hook_id)
    return jsonify(hook_json(service.update(hook, **_fields(params.request_params()))))


@bp.delete("/hooks/<int:hook_id>")
def delete_hook(project_ref: str, hook_id: int) -> tuple[str, int]:
    service = _service()
    service.delete(service.get(_project(project_ref), hook_id))
    return "", 204


@bp.get("/hooks/<int:hook_id>/events")
def hook_deliveries(project_ref: str, hook_id: int) -> Response:
    service = _service()
    hook = service.get(_project(project_ref), hook_id)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    per_page = min(max(request.args.get("per_page", 20, type=int) or 20, 1), 100)
    rows = service.deliveries(hook, page=page, per_page=per_page)
    return jsonify([delivery_json(r, service.attempts(r)) for r in rows])


@bp.post("/hooks/<int:hook_id>/events/<int:delivery_id>/resend")
def resend(project_ref: str, hook_id: int, delivery_id: int) -> tuple[Response, int]:
    service = _service()
    hook = service.get(_project(project_ref), hook_id)
    row = service.redeliver(hook, service.delivery(hook, delivery_id))
    return jsonify(delivery_json(row, service.attempts(row))), 201
