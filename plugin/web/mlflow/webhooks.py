"""MLflow's webhook API (``/api/2.0/mlflow/webhooks``: create, list, get, update, delete, test), as
``MlflowClient().create_webhook(...)`` calls it, over the core's durable webhooks
(``package_api.webhooks``): a project's Maintainers manage its hooks. Events are MLflow's
``{"entity": "MODEL_VERSION", "action": "CREATED"}``; a hook may also hold our own events (Settings >
Webhooks, the ``/hooks`` API), which MLflow's client cannot read and so does not see here."""
from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from flask import Response

from package_api.plugin_api import (
    Action,
    InvalidInput,
    Project,
    Webhook,
    authorized_project,
    request_actor,
    webhook_services,
)
from plugin.web.mlflow import context
from plugin.web.mlflow.blueprints import API
from plugin.web.mlflow.params import Params
from plugin.web.mlflow.responses import empty, json_response

#: MLflow's events, as its client names them, and an example of each one's ``data`` (for Test).
MLFLOW_EVENTS: dict[str, dict[str, Any]] = {
    "registered_model.created": {"name": "example_model", "tags": {"example_key": "example_value"},
                                 "description": "An example registered model"},
    "model_version.created": {"name": "example_model", "version": "1", "source": "models:/123",
                              "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"},
                              "description": "An example model version"},
    "model_version_tag.set": {"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"},
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {"name": "example_model", "alias": "example_alias", "version": "1"},
    "model_version_alias.deleted": {"name": "example_model", "alias": "example_alias"},
}
MAX_RESULTS = 100


def _manageable(project_ref: str) -> Project:
    """The project, if the caller may manage its hooks (Maintainer)."""
    return authorized_project(project_ref, Action.ADMIN_PROJECT)


def _event_name(item: Any) -> str:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"Invalid webhook event {item!r}: expected an object with 'entity' and 'action'.")
    entity, action = str(item.get("entity", "")).lower(), str(item.get("action", "")).lower()
    name = f"{entity}.{action}"
    if name not in MLFLOW_EVENTS:
        raise InvalidInput(f"Invalid webhook event {entity}.{action}: one of {', '.join(MLFLOW_EVENTS)} is expected.")
    return name


def _events(params: Params) -> list[str] | None:
    raw = params.body.get("events")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidInput("Invalid value for parameter 'events': a list is expected.")
    return [_event_name(item) for item in raw]


def _status(params: Params) -> bool | None:
    status = params.string("status")
    if status is None or status == "":
        return None
    if status.upper() not in ("ACTIVE", "DISABLED"):
        raise InvalidInput(f"Invalid webhook status {status!r}: ACTIVE or DISABLED.")
    return status.upper() == "ACTIVE"


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def webhook_json(hook: Webhook) -> dict[str, Any]:
    names = [n for n in json.loads(hook.events or "[]") if n in MLFLOW_EVENTS]
    body: dict[str, Any] = {
        "webhook_id": str(hook.id),
        "name": hook.name,
        "url": hook.url,
        "events": [{"entity": n.split(".")[0].upper(), "action": n.split(".")[1].upper()} for n in names],
        "status": "ACTIVE" if hook.enabled else "DISABLED",
        "creation_timestamp": _ms(hook.created_at.replace(tzinfo=datetime.timezone.utc)),
        "last_updated_timestamp": _ms(hook.updated_at.replace(tzinfo=datetime.timezone.utc)),
    }
    if hook.description:
        body["description"] = hook.description
    return body


@API.post("/webhooks")
def create_webhook(project_ref: str) -> Response:
    project = _manageable(project_ref)
    params = Params.from_request()
    events = _events(params)
    if not events:
        raise InvalidInput("Missing value for required parameter 'events'.")
    hook = webhook_services(actor=request_actor()).create(
        project, name=params.required("name"), url=params.required("url"), events=events,
        secret=params.string("secret") or "", description=params.string("description") or "",
        enabled=_status(params) is not False, user=context.user(),
    )
    return json_response({"webhook": webhook_json(hook)})


@API.get("/webhooks")
def list_webhooks(project_ref: str) -> Response:
    project = _manageable(project_ref)
    params = Params.from_request()
    limit = min(max(params.integer("max_results") or MAX_RESULTS, 1), MAX_RESULTS)
    start = int(params.string("page_token") or 0) if (params.string("page_token") or "0").isdigit() else 0
    hooks = [h for h in webhook_services(actor=request_actor()).of_project(project)]
    page = hooks[start : start + limit]
    body: dict[str, Any] = {"webhooks": [webhook_json(h) for h in page]}
    if start + limit < len(hooks):
        body["next_page_token"] = str(start + limit)
    return json_response(body)


@API.get("/webhooks/<webhook_id>")
def get_webhook(project_ref: str, webhook_id: str) -> Response:
    project = _manageable(project_ref)
    return json_response({"webhook": webhook_json(webhook_services(actor=request_actor()).get(project, webhook_id))})


@API.patch("/webhooks/<webhook_id>")
def update_webhook(project_ref: str, webhook_id: str) -> Response:
    project = _manageable(project_ref)
    params = Params.from_request()
    service = webhook_services(actor=request_actor())
    hook = service.get(project, webhook_id)
    events = _events(params)
    if events:  # our own events the hook holds stay: MLflow's client does not know them
        events = events + [n for n in json.loads(hook.events or "[]") if n not in MLFLOW_EVENTS]
    hook = service.update(
        hook, name=params.string("name") or None, url=params.string("url") or None, events=events or None,
        secret=params.string("secret"), description=params.string("description"), enabled=_status(params),
    )
    return json_response({"webhook": webhook_json(hook)})


@API.delete("/webhooks/<webhook_id>")
def delete_webhook(project_ref: str, webhook_id: str) -> Response:
    project = _manageable(project_ref)
    service = webhook_services(actor=request_actor())
    service.delete(service.get(project, webhook_id))
    return empty()


@API.post("/webhooks/<webhook_id>/test")
def test_webhook(project_ref: str, webhook_id: str) -> Response:
    project = _manageable(project_ref)
    params = Params.from_request()
    service = webhook_services(actor=request_actor())
    hook = service.get(project, webhook_id)
    raw = params.body.get("event")
    if raw:
        event = _event_name(raw)
    else:
        mine = [n for n in json.loads(hook.events or "[]") if n in MLFLOW_EVENTS]
        event = mine[0] if mine else "registered_model.created"
    outcome = service.test(hook, event, MLFLOW_EVENTS[event])
    result: dict[str, Any] = {"success": outcome.ok}
    if outcome.status is not None:
        result["response_status"] = outcome.status
        result["response_body"] = outcome.response
    if outcome.error:
        result["error_message"] = f"Failed to test webhook: {outcome.error}"
    return json_response({"result": result})

