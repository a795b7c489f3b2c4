"""The audit trail: every change, who made it, how they authenticated, when, and from where.

``record`` adds an ``AuditEvent`` to the session of the change itself, so the event commits (or
rolls back) with it. The actor is the request's principal (API or page), or the ``actor`` passed
in (the ``modelshelf`` command passes none: its events say ``cli``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .auth import Principal
from .models import AuditEvent, Project


def current_actor() -> Principal | None:
    """The principal of the request being served, if it has been resolved."""
    if not has_request_context():
        return None
    return g.get("principal") or g.get("page_principal")


def record(
    session: Session,
    event_name: str,
    *,
    project: Project | int | None,
    target_type: str,
    target_id: int | None = None,
    target_details: str = "",
    details: Mapping[str, Any] | None = None,
    actor: Principal | None = None,
) -> AuditEvent:
    """Add one event (``model_created``, ``member_updated``...) to ``session``."""
    who = actor or current_actor()
    project_id = project.id if isinstance(project, Project) else project
    event = AuditEvent(
        project_id=project_id,
        author_id=who.user.id if who is not None and who.user is not None else None,
        author_name=who.display_name if who is not None else "",
        token_type=who.kind if who is not None else "cli",
        event_name=event_name,
        target_type=target_type,
        target_id=target_id,
        target_details=target_details[:1000],
        ip_address=(request.remote_addr or "") if has_request_context() else "",
        details=json.dumps(dict(details or {}), default=str)[:4000],
    )
    session.add(event)
    return event


def events_for(session: Session, project: Project, *, limit: int, offset: int = 0) -> list[AuditEvent]:
    """``project``'s events, newest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.project_id == project.id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
