"""The model registry's entries in the audit trail (``package_api.audit``): models by their row,
versions by their package (a version *is* a package, so ``model_version_created`` from a generic
upload and ``model_version_updated`` from the UI name the same target)."""
from __future__ import annotations

from typing import Any

from package_api.plugin_api import COMMAND_LINE, Actor, DbSession, record_audit_event
from plugin.registry.models import Model, ModelVersion

#: The noun of version events; ``package_api`` gets it from ``plugin._audit_noun`` for package events.
VERSION = "model_version"


def model_event(session: DbSession, what: str, model: Model, /, *, actor: Actor = COMMAND_LINE, **details: Any) -> None:
    """Record ``model_<what>`` about ``model`` (flushed, so that it has an id) by ``actor`` in
    ``session`` (without one, the session's: see ``record_audit_event``)."""
    if model.id is None:
        session.flush()
    record_audit_event(
        session,
        f"model_{what}",
        project=model.project_id,
        target_type="Model",
        target_id=model.id,
        target_details=model.name,
        details={"name": model.name, **details},
        actor=actor,
    )


def version_event(
    session: DbSession, what: str, row: ModelVersion, /, *, actor: Actor = COMMAND_LINE, **details: Any
) -> None:
    """Record ``model_version_<what>`` about version ``row`` by ``actor`` in ``session`` (without
    one, the session's: see ``record_audit_event``)."""
    model = row.model
    record_audit_event(
        session,
        f"{VERSION}_{what}",
        project=model.project_id,
        target_type="Package",
        target_id=row.package_id,
        target_details=f"{model.name}/{row.version}",
        details={"name": model.name, "version": row.version, "package_id": row.package_id, **details},
        actor=actor,
    )


def change(field: str, before: Any, after: Any) -> dict[str, Any]:
    """GitLab's way of saying what changed: ``change``, ``from``, ``to``."""
    return {"change": field, "from": before, "to": after}
