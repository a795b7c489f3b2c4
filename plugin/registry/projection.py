"""The mapping layer: a generic package whose version is a semantic version is a version of the
model with the package's name. Package events keep the model and version rows in step."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from package_api.plugin_api import Package, PackageStatus
from plugin.registry import semver
from plugin.registry.models import Model, ModelVersion

T = TypeVar("T")
#: Attempts to win a race for a unique row (model name, version sequence) before giving up.
ATTEMPTS = 8


def is_model_version(package: Package) -> bool:
    return package.package_type == "generic" and semver.is_semver(package.version)


class Projection:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _retrying(self, work: Callable[[], T]) -> T:
        """Run ``work`` and commit; on a lost race roll back and run it again (it re-reads)."""
        for attempt in range(ATTEMPTS):
            try:
                result = work()
                self.session.commit()
                return result
            except (IntegrityError, OperationalError):
                self.session.rollback()
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def find_model(self, project_id: int, name: str) -> Model | None:
        return self.session.scalar(select(Model).where(Model.project_id == project_id, Model.name == name))

    def model_for(self, project_id: int, name: str, *, author_id: int | None) -> Model:
        """The model named ``name``, created (committed) if it does not exist yet."""

        def work() -> Model:
            model = self.find_model(project_id, name)
            if model is None:
                model = Model(project_id=project_id, name=name, author_id=author_id)
                self.session.add(model)
                self.session.flush()
            return model

        return self._retrying(work)

    def version_for(self, package: Package) -> ModelVersion | None:
        """The version row of ``package`` (created and committed if missing); ``None`` for a package
        that is not a model version."""
        if not is_model_version(package) or package.status == PackageStatus.PENDING_DESTRUCTION:
            return None
        package_id, project_id, name, creator_id = package.id, package.project_id, package.name, package.creator_id
        model_id = self.model_for(project_id, name, author_id=creator_id).id

        def work() -> ModelVersion:
            row = self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package_id))
            if row is None:
                # Numbering takes turns on the model's row (PostgreSQL holds the lock until commit), so
                # racing first uploads of many versions do not all take the same next number; the
                # retries stay for SQLite, which serializes writers at commit instead.
                self.session.scalar(select(Model.id).where(Model.id == model_id).with_for_update())
                sequence = (
                    self.session.scalar(select(func.max(ModelVersion.sequence)).where(ModelVersion.model_id == model_id))
                    or 0
                )
                row = ModelVersion(
                    model_id=model_id,
                    package_id=package_id,
                    version=self.session.get(Package, package_id).version,  # type: ignore[union-attr]
                    sequence=sequence + 1,
                    author_id=creator_id,
                )
                self.session.add(row)
                self.session.flush()
            return row

        return self._retrying(work)

    def forget(self, package: Package) -> None:
        """Drop the version row of a deleted package."""
        row = self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package.id))
        if row is not None:
            self.session.delete(row)
            self.session.commit()
