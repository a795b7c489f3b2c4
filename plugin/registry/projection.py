"""The mapping layer: a generic package whose version is a semantic version is a version of the
model with the package's name. The package pipeline's ``model_version`` steps keep the model and
version rows in step with the packages, in each package change's transaction."""
from __future__ import annotations

from sqlalchemy import select, update

from package_api.plugin_api import DbSession, Package, PackageStatus, committed
from plugin.registry import semver
from plugin.registry.models import Model, ModelVersion

#: The name of the package pipeline's step that projects a created package into a version (and of
#: the one that forgets a deleted package's version).
MODEL_VERSION_STEP = "model_version"


def is_model_version(package: Package) -> bool:
    return package.package_type == "generic" and semver.is_semver(package.version)


class Projection:
    """The model and version rows of packages. Each method is a unit of work (``committed``): on its
    own it commits, and as a step of a package change it is part of that change's transaction."""

    def __init__(self, session: DbSession) -> None:
        self.session = session

    def find_model(self, project_id: int, name: str) -> Model | None:
        return self.session.scalar(select(Model).where(Model.project_id == project_id, Model.name == name))

    def model_for(self, project_id: int, name: str, *, author_id: int | None) -> Model:
        """The model named ``name``, created if it does not exist yet."""

        def work() -> Model:
            model = self.find_model(project_id, name)
            if model is None:
                model = Model(project_id=project_id, name=name, author_id=author_id)
                self.session.add(model)
                self.session.flush()
            return model

        return committed(self.session, work)

    def version_for(self, package: Package) -> ModelVersion | None:
        """The version row of ``package`` (created, with its model if missing); ``None`` for a package
        that is not a model version."""
        if not is_model_version(package) or package.status == PackageStatus.PENDING_DESTRUCTION:
            return None
        package_id, project_id, name, version = package.id, package.project_id, package.name, package.version
        creator_id = package.creator_id

        def work() -> ModelVersion:
            model_id = self.model_for(project_id, name, author_id=creator_id).id
            row = self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package_id))
            if row is None:
                # The model's counter gives the number, so a deleted version's number never comes
                # back (MLflow never reuses one). Numbering takes turns on the model's row: the
                # update locks it until commit on PostgreSQL, and takes SQLite's write lock.
                sequence = self.session.execute(
                    update(Model)
                    .where(Model.id == model_id)
                    .values(last_sequence=Model.last_sequence + 1)
                    .returning(Model.last_sequence)
                ).scalar_one()
                row = ModelVersion(
                    model_id=model_id,
                    package_id=package_id,
                    version=version,
                    sequence=sequence,
                    author_id=creator_id,
                )
                self.session.add(row)
                self.session.flush()
            return row

        return committed(self.session, work)

    def forget(self, package: Package) -> None:
        """Drop the version row of a deleted package."""
        package_id = package.id

        def work() -> None:
            row = self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package_id))
            if row is not None:
                self.session.delete(row)

        committed(self.session, work)
