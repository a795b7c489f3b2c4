"""The mapping layer: a generic package is a version of model M when the project has model M (made on
purpose: ``ModelService.create``) and the package's version is a semantic version. Every other package
is a plain package. The package pipeline's ``model_version`` steps keep the version rows in step with
the packages, in each package change's transaction; its check (``Projection.check``, a package check
of the pipeline) refuses a version that is not semantic under a model's name, before anything is
stored."""
from __future__ import annotations

import re
from typing import cast

from sqlalchemy import Table, bindparam, inspect, select, update
from sqlalchemy.orm.attributes import set_committed_value

from package_api.plugin_api import (
    LIVE_PACKAGE,
    DbSession,
    InvalidInput,
    Package,
    PackageStatus,
    committed,
    insert_row,
    prepared,
    utcnow,
)
from plugin.registry import semver
from plugin.registry.models import Model, ModelVersion

#: The name of the package pipeline's step that projects a created package into a version (and of
#: the one that forgets a deleted package's version).
MODEL_VERSION_STEP = "model_version"
#: The names of the packages that hold MLflow's run and logged-model artifacts
#: (``plugin.tracking.artifacts``): never a model's name.
ARTIFACT_PACKAGE_NAME = re.compile(r"ml_experiment_[0-9]+\Z")
#: The package that holds the Hugging Face API's uploads until their commit
#: (``plugin.huggingface.staging``): never a model's name.
HF_STAGING_PACKAGE_NAME = "ml_hf_uploads"


def may_be_version(package: Package) -> bool:
    """Whether ``package`` has the shape of a model version (generic, SemVer): it is one if its
    project has a model of its name."""
    return package.package_type == "generic" and semver.is_semver(package.version)


def not_semantic(name: str) -> InvalidInput:
    """The error for a version that is not semantic under model ``name``'s name."""
    return InvalidInput(f"{name} is a model: versions must be semantic versions, e.g. 1.4.0")


#: ``InstanceState.info`` key of a package made in this session (``Projection.version_for``): its version row, which the steps of
#: the same unit of work find there (``made_version``) instead of reading back what was just written.
#: (The package holds the row: the session's identity map alone keeps no unchanged object alive.)
VERSION_MADE = "modelshelf.version_made"
#: A model by project and name (``find_model``), built once: most model registry requests ask it.
_MODEL_NAMED = prepared(select(Model).where(Model.project_id == bindparam("project"), Model.name == bindparam("name")))
_MODELS = cast(Table, Model.__table__)
#: The model's version counter moved on, built once (every version made asks it). Core: the ORM's own
#: synchronisation of the model object (evaluating the ``SET`` in Python) is ``version_for``'s two lines.
_NEXT_SEQUENCE = prepared(
    update(_MODELS)
    .where(_MODELS.c.id == bindparam("model"))
    .values(last_sequence=_MODELS.c.last_sequence + 1, updated_at=bindparam("now"))
    .returning(_MODELS.c.last_sequence)
)


def made_version(package: Package) -> ModelVersion | None:
    """The version row this session made for ``package``, or ``None``."""
    row = inspect(package).info.get(VERSION_MADE)
    return row if isinstance(row, ModelVersion) else None


class Projection:
    """The version rows of packages. Each method that writes is a unit of work (``committed``): on its
    own it commits, and as a step of a package change it is part of that change's transaction."""

    def __init__(self, session: DbSession) -> None:
        self.session = session

    def find_model(self, project_id: int, name: str) -> Model | None:
        """Model ``name`` of the project: from the session when this request has it loaded already (a
        version's creation asks three times), else from the database."""
        identity_map = self.session.identity_map
        for key in list(identity_map.keys()):  # the keys name the class: no other object is looked at
            obj = identity_map.get(key) if key[0] is Model else None
            if obj is not None:
                loaded = inspect(obj).dict  # what is loaded: never a query (an expired row has nothing)
                if loaded.get("project_id") == project_id and loaded.get("name") == name:
                    if obj not in self.session.deleted:
                        return cast(Model, obj)
        return self.session.scalar(_MODEL_NAMED, {"project": project_id, "name": name})

    def is_version(self, package: Package) -> bool:
        """Whether ``package`` is a model version: SemVer, and its project has a model of its name."""
        return may_be_version(package) and self.find_model(package.project_id, package.name) is not None

    def check(self, project_id: int, name: str, version: str) -> None:
        """Refuse (``InvalidInput``) a version that is not semantic under the name of a model."""
        if not semver.is_semver(version) and self.find_model(project_id, name) is not None:
            raise not_semantic(name)

    def live_packages(self, project_id: int, name: str) -> list[Package]:
        """The live generic packages named ``name``, oldest first."""
        return list(
            self.session.scalars(
                select(Package)
                .where(
                    Package.project_id == project_id,
                    Package.package_type == "generic",
                    Package.name == name,
                    LIVE_PACKAGE,
                )
                .order_by(Package.id)
            )
        )

    def version_for(self, package: Package, *, new: bool = False) -> ModelVersion | None:
        """The version row of ``package`` (made if missing); ``None`` for a package that is not a model
        version (no model of its name, not SemVer, or deleted). ``new``: the package was made in this
        unit of work (the pipeline's ``created`` step), so it has no version row to look for."""
        if not may_be_version(package) or package.status == PackageStatus.PENDING_DESTRUCTION:
            return None
        model = self.find_model(package.project_id, package.name)
        if model is None:
            return None
        package_id, model_id, version, creator_id = package.id, model.id, package.version, package.creator_id

        def work() -> ModelVersion:
            row = None if new else self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package_id))
            if row is None:
                # The model's counter gives the number, so a deleted version's number never comes
                # back (MLflow never reuses one). Numbering takes turns on the model's row: the
                # update locks it until commit on PostgreSQL, and takes SQLite's write lock.
                now = utcnow()
                sequence = self.session.execute(_NEXT_SEQUENCE, {"model": model_id, "now": now}).scalar_one()
                if model in self.session:  # as the ORM's own UPDATE would leave it
                    set_committed_value(model, "last_sequence", sequence)
                    set_committed_value(model, "updated_at", now)
                row = ModelVersion(
                    model_id=model_id,
                    package_id=package_id,
                    version=version,
                    sequence=sequence,
                    precedence=semver.precedence(version),  # the column defaults' values, which read the row
                    release=semver.is_release(version),
                    author_id=creator_id,
                )
                insert_row(self.session, row)  # its INSERT alone, not a flush of the session
                # The row holds its model, as the ORM's own load would: the session keeps an object only
                # while something refers to it, and the next step asks the version for its model.
                set_committed_value(row, "model", model)
                inspect(package).info[VERSION_MADE] = row
            return row

        return committed(self.session, work)

    def adopt(self, model: Model) -> list[ModelVersion]:
        """Make the live SemVer packages of ``model``'s name its versions (a model made over packages
        uploaded before it), numbered in the order they were made."""
        packages = [p for p in self.live_packages(model.project_id, model.name) if may_be_version(p)]
        rows = [self.version_for(package) for package in packages]
        return [row for row in rows if row is not None]

    def forget(self, package: Package) -> None:
        """Drop the version row of a deleted package."""
        package_id = package.id

        def work() -> None:
            row = self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package_id))
            if row is not None:
                self.session.delete(row)

        committed(self.session, work)
