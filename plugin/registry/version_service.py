"""Model versions: each one is the package ``<model name>/<semver>``."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    AlreadyExists,
    DbSession,
    NotFound,
    Package,
    PackageFile,
    PackageService,
    Page,
    Project,
    User,
    choice,
    commit,
    committed,
    contains,
    descending,
    prepared,
    query_page,
    row_id,
)
from plugin.registry import semver
from plugin.registry.auditing import change, version_event
from plugin.registry.model_service import description
from plugin.registry.models import LATEST_FIRST, Model, ModelVersion, in_precedence_order
from plugin.registry.projection import made_version

ORDERS = ("version", "created_at")
#: A version by its project, its model's name and its version string, with its model, package and
#: author in the same row (``get_named``): built once, the REST version GET asks it on every request.
_NAMED = prepared(
    select(ModelVersion)
    .join(ModelVersion.model)
    .where(
        Model.project_id == bindparam("project"),
        Model.name == bindparam("model"),
        ModelVersion.version == bindparam("version"),
    )
    .options(contains_eager(ModelVersion.model), joinedload(ModelVersion.package), joinedload(ModelVersion.author))
)
#: The version reference that means the model's latest version in download URLs.
LATEST = "latest"


def latest_of(session: DbSession, model: Model) -> ModelVersion | None:
    """The model's latest version (``semver.latest``: the highest release, else the highest prerelease)."""
    return session.scalar(select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(*LATEST_FIRST).limit(1))


@dataclass(frozen=True)
class Folder:
    """The files of one folder of a version (``path`` is ``""`` for the top level)."""

    path: str
    files: Sequence[PackageFile]


@dataclass(frozen=True)
class VersionDetails:
    """A version and its files (its run's params and metrics are in ``plugin.mlflow_registry.cards``)."""

    version: ModelVersion
    files: Sequence[PackageFile]
    #: For each file name held more than once, the id of the copy a download by name serves.
    served_by_name: Mapping[str, int] = field(default_factory=dict)

    @property
    def folders(self) -> list[Folder]:
        """The files grouped by folder: top-level files first, then folders by path."""
        grouped: dict[str, list[PackageFile]] = {}
        for package_file in self.files:
            grouped.setdefault(package_file.file_name.rpartition("/")[0], []).append(package_file)
        return [Folder(path, sorted(grouped[path], key=lambda f: f.file_name)) for path in sorted(grouped)]


class VersionService:
    def __init__(self, session: DbSession, packages: PackageService, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.packages = packages
        self.actor = actor  # who makes the changes

    def create(
        self,
        project: Project,
        model: Model,
        version: str,
        *,
        description_: str = "",
        author: User | None,
        job_id: int | None = None,
        unseen: bool = False,
    ) -> ModelVersion:
        """Create version ``version`` (its package, with no files yet; ``job_id``: the CI job making
        it), in the caller's unit of work or in one of its own: the package pipeline projects it into
        the version row, which gets the description in the same transaction. ``unseen``: the caller
        chose a ``version`` the model does not have (the patch after its latest release), so it is not
        looked for first (one committed meanwhile has its package, whose creation finds it taken).

        Raises ``InvalidParameter`` for a version that is not semantic, ``AlreadyExists`` for a taken one.
        """
        version = semver.validate(version)
        text = description(description_)

        def work() -> ModelVersion:
            # Also how a lost race ends: the redo finds the winner's version.
            if not unseen and self.find(model, version) is not None:
                raise AlreadyExists("Model version")
            try:
                package = self.packages.create_package(project, model.name, version, creator=author, job_id=job_id)
            except AlreadyExists:
                raise AlreadyExists("Model version") from None
            row = self.for_package(package)
            assert row is not None  # the pipeline's model_version step projected the semver package
            if text != row.description:  # else nothing to write: the row stays out of the next flush
                row.description = text
            return row

        return committed(self.session, work)

    def find(self, model: Model, version: str) -> ModelVersion | None:
        return self.session.scalar(
            select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == version)
        )

    def get(self, model: Model, ref: str | int) -> ModelVersion:
        """Find a version of ``model`` by id or by version string; raise ``NotFound``."""
        ref = str(ref)
        version_id = row_id(ref)
        row = self.session.get(ModelVersion, version_id) if version_id is not None else self.find(model, ref)
        if row is None or row.model_id != model.id:
            raise NotFound("Model version")
        return row

    def find_named(self, project: Project, model_ref: str, version_ref: str) -> ModelVersion | None:
        """Version ``version_ref`` of model ``model_ref`` of ``project`` when both are names (not ids),
        with its model, package and author: one query. ``None`` otherwise; the caller then looks up
        the model and ``get`` the version, whose two lookups say which of them is missing."""
        if row_id(model_ref) is not None or row_id(version_ref) is not None:
            return None
        return self.session.scalar(_NAMED, {"project": project.id, "model": model_ref, "version": version_ref})

    def resolve(self, model: Model, ref: str) -> ModelVersion:
        """Like ``get``, and ``latest`` names the latest version (for downloads); raise ``NotFound``."""
        if ref == LATEST:
            row = latest_of(self.session, model)
            if row is None:
                raise NotFound("Model version")
            return row
        return self.get(model, ref)

    def for_package(self, package: Package) -> ModelVersion | None:
        """The version ``package`` is, or ``None`` (it is not a model version)."""
        made = made_version(package)
        if made is not None:
            return made
        return self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package.id))

    def get_in_project(self, project: Project, version_id: int) -> ModelVersion:
        """A version by its id alone (GitLab's ``ml_models/:model_version_id`` URLs)."""
        row = self.session.get(ModelVersion, version_id)
        if row is None or row.model.project_id != project.id:
            raise NotFound("Model version")
        return row

    def list(
        self,
        model: Model,
        *,
        search: str | None = None,
        order_by: str = "version",
        sort: str = "desc",
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        choice("order_by", order_by, ORDERS)
        reverse = descending(sort)
        query = select(ModelVersion).where(ModelVersion.model_id == model.id)
        if search:
            query = query.where(contains(ModelVersion.version, search))
        if order_by == "version":
            order = in_precedence_order(descending=reverse)
        else:
            order = (ModelVersion.created_at.desc(), ModelVersion.id.desc()) if reverse else (
                ModelVersion.created_at.asc(), ModelVersion.id.asc())
        # The page's packages in one statement (a version shows whether it is sealed). Read apart and
        # left to the identity map, they were gone by the time the rows were shown (the session keeps
        # no object nothing refers to): each version read its package again, one statement a row.
        return query_page(self.session, query.options(selectinload(ModelVersion.package)), order, page, per_page)

    def update(self, row: ModelVersion, *, description_: str | None) -> ModelVersion:
        if description_ is not None:
            text = description(description_)
            if text != row.description:
                before, row.description = row.description, text
                version_event(self.session, "updated", row, actor=self.actor, **change("description", before, text))
        commit(self.session)
        return row

    def delete(self, row: ModelVersion) -> None:
        """Delete the version and its package (the package pipeline's ``model_version`` step drops
        the row; its audit records ``model_version_deleted``)."""
        self.packages.delete(row.package)

    def seal(self, row: ModelVersion) -> bool:
        """Seal the version (``PackageService.seal``: its files never change again, only an Owner
        deletes it; the audit records ``model_version_sealed``); return whether it was sealed now."""
        return self.packages.seal(row.package)

    def files(self, row: ModelVersion) -> Sequence[PackageFile]:
        """The version's live files, by path."""
        return sorted(self.packages.live_files(row.package), key=lambda f: f.file_name)

    def details(self, row: ModelVersion) -> VersionDetails:
        return VersionDetails(row, self.files(row), self.packages.served_by_name(row.package))

    def delete_files(self, row: ModelVersion, file_ids: Sequence[int]) -> int:
        """Delete the given files of the version; raise ``NotFound`` (deleting none) if one is not its."""
        doomed = [self.packages.get_file(row.package, file_id) for file_id in file_ids]
        for package_file in doomed:
            self.packages.delete_file(package_file)
        return len(doomed)
