"""The audit trail: every change, who made it, how they authenticated, when, and from where.

``record`` adds an ``AuditEvent`` to the session of the change itself, so the event commits (or
rolls back) with it: a change that fails leaves no event, and a transaction that is retried after
a lost race records its event again in the retry, once. Listeners (``on_record``) see each event
as it is recorded, in the same transaction: the webhooks' outbox is one. Who made the change is the ``actor``
passed in (``package_api.identity.Actor``: a principal and the client's address), which services
receive in their constructor: the request contexts build it from the request's caller, the
``modelshelf`` command passes ``COMMAND_LINE`` (its events say ``cli``). Reads record nothing, and
neither does ``modelshelf gc``: reclaiming the bytes of what a user deleted is housekeeping; the
deletion was the change, and it was recorded then.

Event names are GitLab's style of snake case, ``<target>_<what happened>``: ``package_created``,
``package_file_added``, ``model_updated``, ``member_added``... ``package_api`` knows no models, so a
plugin that knows what a package is calls it so (``register_package_noun``): a package that is a
model version is audited as ``model_version_created``, ``model_version_file_deleted``... on every
surface (generic upload, packages API, model registry, MLflow).
"""
from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from sqlalchemy import select

from package_api.access.models import Project
from package_api.audit.models import AuditEvent
from package_api.db import DbSession
from package_api.errors import NotFound
from package_api.identity import Actor
from package_api.packages.models import Package
from package_api.paging import Page, query_page
from package_api.row_writes import insert_row

#: ``noun(package)``: what ``package`` is called in event names (``"model_version"``), or ``None``.
PackageNoun = Callable[[Package], "str | None"]
Listener = Callable[[DbSession, AuditEvent], None]
_LISTENERS: list[Listener] = []
NOUNS = "modelshelf.audit_package_nouns"
PACKAGE = "package"
#: Longest string kept in ``details`` (descriptions can be 10 000 characters; the column holds 4 000).
MAX_DETAIL_TEXT = 500
MAX_DETAILS = 4000


def record(
    session: DbSession,
    event_name: str,
    *,
    project: Project | int | None,
    target_type: str,
    target_id: int | None = None,
    target_details: str = "",
    details: Mapping[str, Any] | None = None,
    actor: Actor,
) -> AuditEvent:
    """Add one event (``model_created``, ``member_updated``...) by ``actor`` to ``session``, for the
    caller to commit with the change."""
    project_id = project.id if isinstance(project, Project) else project
    event = AuditEvent(
        project_id=project_id,
        author_id=actor.author_id,
        author_name=actor.author_name,
        token_type=actor.token_type,
        event_name=event_name,
        target_type=target_type,
        target_id=target_id,
        target_details=target_details[:1000],
        ip_address=actor.ip_address,
        details=_dump(details or {}),
    )
    insert_row(session, event)  # its INSERT now, alone: no flush of the change's other rows
    for listener in list(_LISTENERS):
        listener(session, event)
    return event


def on_record(listener: Listener) -> None:
    """Call ``listener(session, event)`` for every event recorded, in the change's transaction (the
    webhooks' outbox writes its rows so). Registering the same listener again changes nothing."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def _clip(value: Any) -> Any:
    """``value`` with long strings shortened, so that the JSON stays whole within the column."""
    if isinstance(value, str):
        return value if len(value) <= MAX_DETAIL_TEXT else value[: MAX_DETAIL_TEXT - 1] + "…"
    if isinstance(value, Mapping):
        return {str(k): _clip(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clip(v) for v in list(value)[:50]]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _clip(str(value))


def _dump(details: Mapping[str, Any]) -> str:
    text = json.dumps(_clip(details))
    if len(text) <= MAX_DETAILS:
        return text
    # Still too long (many long values): keep what fits, whole, and say so.
    kept: dict[str, Any] = {"truncated": True}
    for key, value in _clip(details).items():
        candidate = json.dumps({**kept, key: value})
        if len(candidate) <= MAX_DETAILS:
            kept[key] = value
    return json.dumps(kept)


def details_of(event: AuditEvent) -> dict[str, Any]:
    """The event's ``details`` as a dict."""
    try:
        loaded = json.loads(event.details or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


# -- what packages are called ------------------------------------------------------------------


def register_package_noun(app: Flask, noun: PackageNoun) -> None:
    """Let ``noun`` name the packages it knows in event names (asked in registration order)."""
    app.extensions.setdefault(NOUNS, []).append(noun)


def package_noun(app: Flask | None, package: Package) -> str:
    """``package``'s noun in event names: what a registered ``PackageNoun`` says, else ``package``."""
    for noun in app.extensions.get(NOUNS, ()) if app is not None else ():
        found = noun(package)
        if found is not None:
            return str(found)
    return PACKAGE


# -- reading ---------------------------------------------------------------------------------------


def page_for(
    session: DbSession,
    project: Project,
    *,
    created_after: datetime.datetime | None = None,
    created_before: datetime.datetime | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """A page of ``project``'s events created in ``[created_after, created_before]`` (naive UTC,
    either bound optional), newest first."""
    query = select(AuditEvent).where(AuditEvent.project_id == project.id)
    if created_after is not None:
        query = query.where(AuditEvent.created_at >= created_after)
    if created_before is not None:
        query = query.where(AuditEvent.created_at <= created_before)
    return query_page(session, query, (AuditEvent.created_at.desc(), AuditEvent.id.desc()), page, per_page)


def get(session: DbSession, project: Project, event_id: int) -> AuditEvent:
    """``project``'s event ``event_id``; raise ``NotFound("Audit event")``."""
    event = session.get(AuditEvent, event_id)
    if event is None or event.project_id != project.id:
        raise NotFound("Audit event")
    return event
