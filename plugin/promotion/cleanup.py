"""What the model registry keeps from every cleanup policy (``register_cleanup_keep``): each version an
alias points to. An alias is a promise that its name resolves (``models:/fraud@champion``); a policy
never breaks it. To let a policy remove such a version, move or delete the alias first. For a batch
about to be removed the versions are locked on PostgreSQL, so an alias set concurrently either is seen
or waits for the batch (and then finds its version gone)."""
from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from package_api.plugin_api import DbSession
from plugin.mlflow_registry.models import Alias
from plugin.registry.models import Model, ModelVersion


def aliased_versions(session: DbSession, project_id: int, package_ids: Collection[int] | None) -> dict[int, str]:
    """The packages of ``project_id`` (among ``package_ids``) that an alias points to: ``alias <name>``."""
    query = (
        select(ModelVersion.package_id, Alias.alias)
        .join(Alias, Alias.version_id == ModelVersion.id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(Model.project_id == project_id)
        .order_by(Alias.alias)
    )
    if package_ids is not None:
        query = query.where(ModelVersion.package_id.in_(list(package_ids)))
        if session.get_bind().dialect.name == "postgresql":
            # A batch about to be removed: lock its versions first (a statement of its own), so that an
            # alias committed before is seen below and none is added (its foreign key waits) until the
            # batch commits.
            versions = select(ModelVersion.id).where(ModelVersion.package_id.in_(list(package_ids)))
            session.execute(versions.order_by(ModelVersion.id).with_for_update())
    found: dict[int, str] = {}
    for package_id, alias in session.execute(query):
        found.setdefault(package_id, f"alias {alias}")
    return found
