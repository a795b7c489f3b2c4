"""The outbox: webhook events written in the transaction of the change they tell of.

Every change records its audit event in its own transaction (``package_api.audit.record``); the
audit trail hands each one to ``enqueue``, which looks up which webhook events that audit name
stands for (``register_event``: one line per audit name) and, for each one an enabled hook of the
project wants, adds a ``WebhookEvent`` row and one ``WebhookDelivery`` per hook to the same session.
Nothing is written when no hook wants the event. The payload is built just before the commit
(``_finish``), so that it describes the change as committed: a version created through MLflow gets
its source, run and tags in the same transaction, after its audit event was recorded. A change that
rolls back takes its events with it; a transaction redone after a lost race records them again, once.
"""
from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from package_api.access.models import Project
from package_api.audit import details_of
from package_api.audit.models import AuditEvent
from package_api.db import DbSession, utcnow
from package_api.webhooks.models import Webhook, WebhookDelivery, WebhookEvent

#: ``build(session, audit_event, details)``: the event's ``data`` (MLflow's payload for its events).
Builder = Callable[[DbSession, AuditEvent, dict[str, Any]], dict[str, Any]]
EVENTS = "modelshelf.webhook_events"
PENDING = "modelshelf.webhook_outbox"
HOOKS = "modelshelf.webhook_hooks"


@dataclass(frozen=True)
class Mapping_:
    event: str  # ``<entity>.<action>``
    build: Builder


def audit_data(session: DbSession, audit_event: AuditEvent, details: dict[str, Any]) -> dict[str, Any]:
    """Our own events' ``data``: the audit event's details, its project and author."""
    return {**details, "project_id": audit_event.project_id, "author": audit_event.author_name}


def register_event(app: Flask, audit_name: str, webhook_event: str, build: Builder = audit_data) -> None:
    """Send ``webhook_event`` (``package.created``) with ``build``'s data whenever ``audit_name``
    (``package_created``) is recorded in a project that has a hook for it."""
    app.extensions.setdefault(EVENTS, {}).setdefault(audit_name, []).append(Mapping_(webhook_event, build))


def event_names(app: Flask) -> list[str]:
    """Every webhook event a hook can ask for, sorted."""
    mappings: Mapping[str, list[Mapping_]] = app.extensions.get(EVENTS, {})
    return sorted({m.event for ms in mappings.values() for m in ms})


def enqueue(session: DbSession, audit_event: AuditEvent) -> None:
    """Add the webhook events ``audit_event`` stands for to ``session`` (see the module docstring);
    the mapping is the current app's (none outside an app context: nothing is sent)."""
    if not has_app_context():
        return
    app = current_app
    mappings: list[Mapping_] = app.extensions.get(EVENTS, {}).get(audit_event.event_name, [])
    if not mappings or audit_event.project_id is None:
        return
    hooks = _enabled_hooks(session, audit_event.project_id)
    if not hooks:
        return
    now = audit_event.created_at or utcnow()
    for mapping in mappings:
        wanting = [h for h in hooks if mapping.event in wanted_events(h)]
        if not wanting:
            continue
        row = WebhookEvent(project_id=audit_event.project_id, name=mapping.event, payload="{}", created_at=now)
        session.add(row)
        for hook in wanting:
            session.add(
                WebhookDelivery(
                    uuid=str(uuid.uuid4()), webhook_id=hook.id, event=row, next_attempt_at=now,
                    window_started_at=now, created_at=now, updated_at=now,
                )
            )
        session.info.setdefault(PENDING, []).append((row, mapping.build, audit_event))


def _enabled_hooks(session: DbSession, project_id: int) -> list[Webhook]:
    """The project's enabled hooks, read once per transaction, and only when the project counts some
    (``Project.enabled_webhooks``)."""
    known: dict[int, list[Webhook]] = session.info.setdefault(HOOKS, {})
    if project_id not in known:
        with session.no_autoflush:
            # The project is in the session already when a request changes it: no statement then.
            project = session.get(Project, project_id)
            if project is None or not project.enabled_webhooks:
                known[project_id] = []
            else:
                query = select(Webhook).where(Webhook.project_id == project_id, Webhook.enabled.is_(True))
                known[project_id] = list(session.scalars(query))
    return known[project_id]


def wanted_events(hook: Webhook) -> list[str]:
    try:
        names = json.loads(hook.events or "[]")
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


def envelope(name: str, created_at: datetime.datetime, data: Mapping[str, Any]) -> str:
    """The body of every delivery of an event: MLflow's (``entity``, ``action``, ``timestamp``, ``data``)."""
    entity, _, action = name.partition(".")
    stamp = created_at.replace(tzinfo=datetime.timezone.utc).isoformat()
    return json.dumps({"entity": entity, "action": action, "timestamp": stamp, "data": dict(data)})


def _finish(session: Session) -> None:
    """Before a commit: build the payloads of the events this transaction added."""
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    for row, build, audit_event in pending:
        row.payload = envelope(row.name, row.created_at, build(session, audit_event, details_of(audit_event)))


def _forget(session: Session, *_: Any) -> None:
    session.info.pop(PENDING, None)
    session.info.pop(HOOKS, None)


def _committed(session: Session) -> None:
    session.info.pop(HOOKS, None)


event.listen(Session, "before_commit", _finish)
event.listen(Session, "after_commit", _committed)
event.listen(Session, "after_rollback", _forget)
event.listen(Session, "after_soft_rollback", _forget)
