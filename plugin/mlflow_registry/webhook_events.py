"""Which webhook events the model registry's audit events are (``register_webhook_event``: one line
per audit name), and MLflow's payloads for its own events, built from the rows as the change's
transaction commits them (``package_api.webhooks.outbox``).

MLflow's events: ``registered_model.created``, ``model_version.created``, ``model_version_tag.set``
and ``.deleted``, ``model_version_alias.created`` and ``.deleted``, with the ``data`` its server sends
(``version`` is MLflow's version number). A model version is a package, so its package events are
sent too (``package.created``...), with our own data (the audit event's details)."""
from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from package_api.plugin_api import AuditEvent, DbSession, register_webhook_event
from plugin.mlflow_registry.models import ModelTag, Registration, VersionTag
from plugin.registry.models import Model, ModelVersion


def _tags(session: DbSession, table: type[ModelTag] | type[VersionTag], owner: Any, owner_id: int) -> dict[str, str]:
    rows = session.execute(select(table.key, table.value).where(owner == owner_id))
    return {str(key): str(value) for key, value in rows}


def _version(session: DbSession, event: AuditEvent) -> ModelVersion | None:
    """The version a ``model_version_*`` event names (by its package)."""
    return session.scalar(select(ModelVersion).where(ModelVersion.package_id == event.target_id))


def _number(session: DbSession, event: AuditEvent, details: dict[str, Any]) -> str:
    row = _version(session, event)
    return str(row.sequence) if row is not None else str(details.get("version", ""))


def registered_model_created(session: DbSession, event: AuditEvent, details: dict[str, Any]) -> dict[str, Any]:
    model = session.get(Model, event.target_id) if event.target_id is not None else None
    tags = _tags(session, ModelTag, ModelTag.model_id, model.id) if model is not None else {}
    description = model.description if model is not None else details.get("description")
    return {"name": details.get("name"), "tags": tags, "description": description or None}


def model_version_created(session: DbSession, event: AuditEvent, details: dict[str, Any]) -> dict[str, Any]:
    row = _version(session, event)
    if row is None:
        return {"name": details.get("name"), "version": str(details.get("version")), "source": "", "run_id": None,
                "tags": {}, "description": None}
    registration = session.get(Registration, row.id)
    run = registration.run if registration is not None else None
    return {
        "name": row.model.name,
        "version": str(row.sequence),
        "source": registration.source if registration is not None else "",
        "run_id": run.uuid if run is not None else None,
        "tags": _tags(session, VersionTag, VersionTag.version_id, row.id),
        "description": row.description or None,
    }


def tag_set(session: DbSession, event: AuditEvent, details: dict[str, Any]) -> dict[str, Any]:
    return {"name": details.get("name"), "version": _number(session, event, details), "key": details.get("key"),
            "value": details.get("value")}


def tag_deleted(session: DbSession, event: AuditEvent, details: dict[str, Any]) -> dict[str, Any]:
    return {"name": details.get("name"), "version": _number(session, event, details), "key": details.get("key")}


def alias_created(session: DbSession, event: AuditEvent, details: dict[str, Any]) -> dict[str, Any]:
    return {"name": details.get("name"), "alias": details.get("alias"), "version": str(details.get("version_number"))}


def alias_deleted(session: DbSession, event: AuditEvent, details: dict[str, Any]) -> dict[str, Any]:
    return {"name": details.get("name"), "alias": details.get("alias")}


def register(app: Flask) -> None:
    register_webhook_event(app, "model_created", "registered_model.created", registered_model_created)
    register_webhook_event(app, "model_version_created", "model_version.created", model_version_created)
    register_webhook_event(app, "model_version_tag_set", "model_version_tag.set", tag_set)
    register_webhook_event(app, "model_version_tag_deleted", "model_version_tag.deleted", tag_deleted)
    register_webhook_event(app, "model_alias_set", "model_version_alias.created", alias_created)
    register_webhook_event(app, "model_alias_deleted", "model_version_alias.deleted", alias_deleted)
    # A version is a package: its package events, under the model registry's audit names.
    register_webhook_event(app, "model_version_created", "package.created")
    register_webhook_event(app, "model_version_deleted", "package.deleted")
    register_webhook_event(app, "model_version_file_added", "package_file.created")
    register_webhook_event(app, "model_version_file_deleted", "package_file.deleted")
    register_webhook_event(app, "model_version_sealed", "package.sealed")
    # Governed promotion (plugin.promotion): a move that waits for approvals, and its outcome.
    register_webhook_event(app, "model_alias_promotion_requested", "promotion.requested")
    register_webhook_event(app, "model_alias_promotion_approved", "promotion.approved")
    register_webhook_event(app, "model_alias_promotion_rejected", "promotion.rejected")
