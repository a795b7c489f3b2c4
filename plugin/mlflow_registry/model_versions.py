"""Model versions as MLflow sees them: numbered by ``sequence``, named by their semantic version
(listed among their aliases), registered from a source whose files become theirs without copying
bytes, tagged, staged, searched."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager, joinedload

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    AlreadyExists,
    DbSession,
    InvalidInput,
    LostRace,
    PackageService,
    Project,
    User,
    commit,
    committed,
    utcnow,
)
from plugin.mlflow_registry import registry_search, sealing
from plugin.mlflow_registry.models import STAGES, Alias, Registration, VersionTag
from plugin.mlflow_registry.sources import Resolved, SourceResolver, VersionRef
from plugin.mlflow_registry.tag_index import add_new_version_tags, put_version_tag, remove_version_tag
from plugin.mlflow_registry.version_rows import HIGHEST_BY_STAGE, ModelLabels, ModelRow, VersionRow, VersionRows
from plugin.mlflow_registry.version_runs import VersionRuns
from plugin.registry import semver
from plugin.registry.auditing import change, version_event
from plugin.registry.models import LATEST_FIRST, Model, ModelVersion
from plugin.registry.version_service import VersionService
from plugin.tracking import filters, search, validation
from plugin.tracking.artifacts import ArtifactService, run_root
from plugin.tracking.errors import MissingResource
from plugin.tracking.logged_models import LoggedModelService
from plugin.tracking.models import LoggedModel, Run
from plugin.tracking.runs import RunService
from plugin.tracking.times import milliseconds

#: The tag that chooses a new version's semantic version (GitLab's); without it the latest
#: version's patch is incremented.
VERSION_TAG = "gitlab.version"
NUMERIC = frozenset({"version_number", "creation_timestamp", "last_updated_timestamp"})
SEARCH_GRAMMAR = filters.Grammar(
    attributes=frozenset({"name", "version_number", "run_id", "source_path"}),
    numeric=NUMERIC,
    listable=frozenset({"name", "run_id"}),
)
ORDER_KEYS = frozenset({"name", "version_number", "creation_timestamp", "last_updated_timestamp", "timestamp"})
#: MLflow's order of the stages: a model's latest versions are listed in it.
STAGE_ORDER = {stage: i for i, stage in enumerate(STAGES)}
MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT = 10000, 200_000
#: A model's latest version (``semver.latest``: the highest release, else the highest prerelease), whose
#: patch the next registration without ``gitlab.version`` increments: one row however many versions
#: the model has (an index on the model, release and precedence), built once.
_LATEST_VERSION = (
    select(ModelVersion.version).where(ModelVersion.model_id == bindparam("model")).order_by(*LATEST_FIRST).limit(1)
)


@dataclass(frozen=True)
class VersionView:
    """A version with what MLflow reports beside it."""

    version: ModelVersion
    registration: Registration
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)  # real aliases; the semver is added on the wire

    @property
    def run(self) -> Run | None:
        return self.registration.run

    @property
    def logged_model(self) -> LoggedModel | None:
        return self.registration.logged_model

    def row(self) -> VersionRow:
        """The version as the read calls hold it (``VersionRows``), for the one JSON writer."""
        row, registration = self.version, self.registration
        return VersionRow(
            row.id,
            row.model_id,
            row.model.name,
            row.sequence,
            row.version,
            milliseconds(row.created_at),
            milliseconds(row.updated_at),
            row.author.username if row.author else "",
            row.description or "",
            registration.stage,
            registration.source,
            registration.run_link or "",
            self.run.uuid if self.run else "",
            self.logged_model.uuid if self.logged_model else None,
            list(self.tags.items()),
            list(self.aliases),
        )


class ModelVersionService:
    def __init__(self, session: DbSession, packages: PackageService, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.packages = packages
        self.actor = actor  # who makes the changes
        self.versions = VersionService(session, packages, actor=actor)
        self.version_runs = VersionRuns(session)
        self.rows = VersionRows(session)  # what the read calls answer
        self.runs = RunService(session, actor=actor)
        self.logged_models = LoggedModelService(session, actor=actor)
        self.artifacts = ArtifactService(session, packages)

    # -- lookup ------------------------------------------------------------------------------------

    def get(self, model: Model, number: str | int | None) -> ModelVersion:
        """Version ``number`` (MLflow's integer version) of ``model``; raise ``InvalidInput`` or
        ``MissingResource``."""
        sequence = validation.version_number(number)
        row = self.session.scalar(
            select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.sequence == sequence)
        )
        if row is None:
            raise MissingResource(f"Model Version (name={model.name}, version={number}) not found", "Model version")
        return row

    def named(self, project: Project, name: str, number: str | int | None) -> ModelVersion | None:
        """Version ``number`` of the model ``name`` with its model, in one query; ``None`` when either is
        missing or ``number`` is no version number (``get`` then says which, as it always has)."""
        try:
            sequence = validation.version_number(number)
        except InvalidInput:
            return None
        return self.session.scalar(
            select(ModelVersion)
            .join(ModelVersion.model)
            .where(Model.project_id == project.id, Model.name == name, ModelVersion.sequence == sequence)
            .options(contains_eager(ModelVersion.model))
        )

    def named_row(self, project: Project, name: str, number: str | int | None) -> VersionRow | None:
        """``named`` as the read calls answer it (``VersionRows``); ``None`` as ``named``."""
        try:
            sequence = validation.version_number(number)
        except InvalidInput:
            return None
        return self.rows.named(project.id, name, sequence)

    def by_alias(self, model: Model, alias: str | None) -> ModelVersion:
        """The version ``alias`` points at, or whose semantic version ``alias`` is; raise
        ``MissingResource``."""
        row = self.session.scalar(
            select(ModelVersion)
            .join(Alias, Alias.version_id == ModelVersion.id)
            .where(Alias.model_id == model.id, Alias.alias == (alias or ""))
        )
        if row is None and alias:
            row = self.versions.find(model, alias)
        if row is None:
            raise MissingResource(f"Registered model alias {alias} not found.", "Alias")
        return row

    def all_of(self, model: Model) -> list[ModelVersion]:
        return list(
            self.session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.id))
        )

    def views(self, rows: Sequence[ModelVersion]) -> list[VersionView]:
        """``rows`` with registrations (made if missing), tags and aliases, loaded in bulk."""
        ids = [r.id for r in rows]
        registrations: dict[int, Registration] = {}
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        aliases: dict[int, list[str]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found = self.session.scalars(
                select(Registration)
                .where(Registration.version_id.in_(chunk))
                .options(joinedload(Registration.run), joinedload(Registration.logged_model))
            )
            registrations.update({r.version_id: r for r in found})
            # Tags and aliases as plain rows: a search's page has hundreds of them (no objects to build).
            tagged = select(VersionTag.version_id, VersionTag.key, VersionTag.value).order_by(VersionTag.id)  # as set
            for version_id, key, value in self.session.execute(tagged.where(VersionTag.version_id.in_(chunk))):
                tags[version_id][key] = value
            pointed = select(Alias.version_id, Alias.alias).where(Alias.version_id.in_(chunk)).order_by(Alias.alias)
            for version_id, alias in self.session.execute(pointed):
                aliases[version_id].append(alias)
        for row in rows:
            if row.id not in registrations:
                registrations[row.id] = self.version_runs.ensure(row)  # a version older than tracking
        return [VersionView(r, registrations[r.id], tags[r.id], aliases[r.id]) for r in rows]

    def view(self, row: ModelVersion) -> VersionView:
        return self.views([row])[0]

    # -- create ------------------------------------------------------------------------------------

    def reference(self, project: Project, model: Model, row: ModelVersion) -> VersionRef:
        """What a ``models:/<name>/<N>`` source brings: the version's files, run and logged model."""
        view = self.view(row)
        location = self.artifacts.of_run(self.version_runs.own_run(row))
        return VersionRef(
            f"models:/{model.name}/{row.sequence}", self.artifacts.blobs(project, location), view.run, view.logged_model
        )

    def create(
        self,
        project: Project,
        model: Model,
        *,
        source: str,
        run_id: str | None = None,
        model_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
        run_link: str = "",
        version_ref: VersionRef | None = None,
        author: User | None,
        job_id: int | None = None,
        version: str | None = None,
    ) -> VersionView:
        """Register a version of ``model`` from ``source`` (see ``sources``), its files attached
        without copying bytes, in one transaction (``job_id``: the CI job registering it). The
        semantic version is ``version`` if given (the pages' Promote), else the ``gitlab.version``
        tag, else the next patch. Raise ``InvalidParameter("version")`` for a ``version`` that is not
        semantic, ``InvalidInput`` (bad source, tag or version) or ``AlreadyExists`` (the version is
        taken)."""
        if version is not None:
            version = semver.validate(version.strip())
        checked = {validation.key(k): validation.registry_tag_value(v) for k, v in (tags or {}).items()}
        resolver = SourceResolver(project, self.artifacts, self.runs, self.logged_models)
        resolved = resolver.resolve(source, run_id=run_id, model_id=model_id, version_ref=version_ref)

        def work() -> ModelVersion:
            wanted = version if version is not None else checked.get(VERSION_TAG)
            row = self._new_version(project, model, wanted, description, author, job_id)
            self._register(row, resolved, checked, run_link)
            if resolved.files:
                # Part of creating the version, which ``versions.create`` recorded (model_version_created),
                # and its package, made above.
                self.packages.attach(row.package, resolved.files, audited=False, new=True)
            if resolved.logged_model is not None:
                self.logged_models.note_version(resolved.logged_model, model.name, row.sequence)
            return row

        row = committed(self.session, work, keep_loaded=True)
        # Just made: its tags are those given, and no alias points at it yet.
        return VersionView(row, self.version_runs.ensure(row), dict(checked), [])

    def _new_version(
        self,
        project: Project,
        model: Model,
        wanted: str | None,
        description: str,
        author: User | None,
        job_id: int | None,
    ) -> ModelVersion:
        if wanted is not None:
            if not semver.is_semver(wanted):
                raise InvalidInput(
                    f"Invalid value '{wanted}' for tag '{VERSION_TAG}': it must be a semantic version, for example 1.4.0."
                )
            try:
                return self.versions.create(
                    project, model, wanted, description_=description, author=author, job_id=job_id
                )
            except AlreadyExists:
                raise AlreadyExists(f"Model Version (name={model.name}, version {wanted})") from None

        def work() -> ModelVersion:
            following = next_version(self.session.scalars(_LATEST_VERSION, {"model": model.id}).all())
            try:
                return self.versions.create(
                    project, model, following, description_=description, author=author, job_id=job_id, unseen=True
                )
            except AlreadyExists as taken:  # a concurrent registration took the next patch version
                raise LostRace(taken) from None

        return committed(self.session, work)

    def _register(self, row: ModelVersion, resolved: Resolved, tags: dict[str, str], run_link: str) -> None:
        registration = self.version_runs.ensure(row)
        registration.source = resolved.source
        registration.run_link = run_link or ""
        if resolved.run is not None:
            registration.run = resolved.run  # the view reads the run without a query
            registration.run_id = resolved.run.id
        if resolved.logged_model is not None:
            registration.logged_model_id = resolved.logged_model.id
        self.version_runs.write(registration)
        add_new_version_tags(self.session, row, tags)

    # -- change ------------------------------------------------------------------------------------

    def update(self, row: ModelVersion, *, description: str | None) -> ModelVersion:
        return self.versions.update(row, description_=description)

    def delete(self, row: ModelVersion) -> None:
        """Delete the version and its package (aliases and tags go with it)."""
        self.versions.delete(row)

    def set_tag(self, row: ModelVersion, key: str | None, value: str | None) -> None:
        """Set a tag; ``modelshelf.sealed`` = ``true`` seals the version (``plugin.mlflow_registry.sealing``)."""
        key, value = validation.key(key), validation.registry_tag_value(value or "")
        if key == sealing.SEAL_TAG:
            if sealing.wants_seal(value):
                self.versions.seal(row)  # its "sealed" step writes the tag
                return
            sealing.refuse_unsealing(row)
        put_version_tag(self.session, row, key, value)
        row.updated_at = utcnow()
        version_event(self.session, "tag_set", row, actor=self.actor, key=key, value=value)
        commit(self.session)

    def delete_tag(self, row: ModelVersion, key: str | None) -> None:
        if key == sealing.SEAL_TAG:
            sealing.refuse_unsealing(row)
        if remove_version_tag(self.session, row, key or ""):
            row.updated_at = utcnow()
            version_event(self.session, "tag_deleted", row, actor=self.actor, key=key)
            commit(self.session)

    def transition(
        self, model: Model, row: ModelVersion, stage: str | None, *, archive_existing: bool = False
    ) -> ModelVersion:
        """Move ``row`` to ``stage``; with ``archive_existing`` archive the others in that stage.
        Raise ``InvalidInput`` for an unknown stage or archiving from an inactive one."""
        target = validation.stage(stage)
        if archive_existing and target not in ("Staging", "Production"):
            raise InvalidInput(
                f"Model version transition cannot archive existing model versions because '{target}' is not an Active"
                " stage. Valid stages are Staging and Production"
            )
        now = utcnow()
        archived = []
        if archive_existing:
            for other in self.views([v for v in self.all_of(model) if v.id != row.id]):
                if other.registration.stage == target:
                    other.registration.stage = "Archived"
                    other.version.updated_at = now
                    archived.append(other.version.version)
        registration = self.version_runs.ensure(row)
        before, registration.stage = registration.stage, target
        row.updated_at = now
        version_event(
            self.session, "stage_updated", row, actor=self.actor, **change("stage", before, target), archived=archived
        )
        commit(self.session)
        return row

    # -- read --------------------------------------------------------------------------------------

    def latest(self, model: Model, stages: Sequence[str] = ()) -> list[VersionView]:
        """The highest-numbered version in each of ``stages`` (every stage when empty), in
        MLflow's stage order; raise ``InvalidInput`` for an unknown stage."""
        numbers = self._latest_numbers(model, stages)
        if not numbers:
            return []
        found = {
            row.sequence: row
            for row in self.session.scalars(
                select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.sequence.in_(numbers))
            )
        }
        return self.views([found[n] for n in numbers if n in found])

    def latest_rows(self, model: Model, stages: Sequence[str] = ()) -> list[VersionRow]:
        """``latest`` as the read calls answer it (``VersionRows``): chosen and read in one statement."""
        wanted = [validation.stage(s) for s in stages] or list(STAGES)
        found = {row.stage: row for row in self.rows.latest([model.id])}
        return [found[s] for s in STAGES if s in wanted and s in found]

    def _latest_numbers(self, model: Model, stages: Sequence[str]) -> list[int]:
        """The numbers ``latest`` answers, in MLflow's stage order: the database chooses (the highest
        number in each stage, a row a stage), then the chosen few are loaded in one query: two
        statements however many versions the model has."""
        wanted = [validation.stage(s) for s in stages] or list(STAGES)
        best = {stage: number for _, stage, number in self._highest_by_stage([model.id])}
        return [best[s] for s in STAGES if s in wanted and s in best]

    def latest_named_rows(self, project: Project, name: str, stages: Sequence[str] = ()) -> list[VersionRow] | None:
        """``latest_rows`` of the model ``name``, found in the same statement; ``None`` when that finds
        nothing or a stage is unknown (``latest_rows`` of the model ``find``s then says which)."""
        try:
            wanted = [validation.stage(s) for s in stages] or list(STAGES)
        except InvalidInput:
            return None
        found = {row.stage: row for row in self.rows.latest_named(project.id, name)}
        return [found[s] for s in STAGES if s in wanted and s in found] if found else None

    def latest_of_named(self, project: Project, name: str) -> tuple[ModelRow, list[VersionRow], ModelLabels] | None:
        """The model ``name`` as a plain row, its ``latest_rows`` and its labels, in two statements;
        ``None`` when the model is missing or has no versions."""
        found = self.rows.latest_of_named(project.id, name)
        if found is None:
            return None
        model, rows, labels = found
        return model, sorted(rows, key=lambda r: STAGE_ORDER[r.stage]), labels

    def latest_labelled(self, models: Sequence[Model]) -> tuple[dict[int, list[VersionRow]], dict[int, ModelLabels]]:
        """``latest_rows`` of each of ``models`` (by id; the registered models searches' page), and the
        models' tags and aliases: two statements, whatever the number of models and versions."""
        found: dict[int, list[VersionRow]] = {m.id: [] for m in models}
        if not models:
            return found, {}
        rows, labels = self.rows.latest_labelled(list(found))
        for row in sorted(rows, key=lambda r: STAGE_ORDER[r.stage]):
            found[row.model_id].append(row)
        return found, labels

    def _highest_by_stage(self, model_ids: list[int]) -> list[tuple[int, str, int]]:
        """(model id, stage, highest version number in that stage) of each of ``model_ids``' stages
        that has versions, in one statement (``HIGHEST_BY_STAGE``)."""
        rows = self.session.execute(HIGHEST_BY_STAGE, {"models": model_ids}).all()
        return [(model_id, stage, number) for model_id, stage, number in rows if number is not None]

    def download_uri(self, row: ModelVersion) -> str:
        """Where the version's own files are, as an artifact URI the client lists and downloads."""
        return f"mlflow-artifacts:/{run_root(self.version_runs.own_run(row))}"

    def search(
        self,
        project: Project,
        *,
        filter_: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> search.Results[VersionRow]:
        """Versions of ``project``'s models matching ``filter_``; raise ``InvalidInput``."""
        comparisons = filters.without_prompts(filters.parse(filter_, SEARCH_GRAMMAR))
        filters.check_order_count(order_by)
        orderings = [filters.parse_order_by(o, ORDER_KEYS) for o in order_by]
        size = search.max_results(max_results, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT)
        start = search.offset(page_token)
        statement = registry_search.versions(self.session, project, comparisons, orderings)
        # The page's ids, then its versions as plain rows (no ORM objects for hundreds of versions).
        ids, more = registry_search.page(self.session, statement.with_only_columns(ModelVersion.id), start, size)
        return search.Results(self.rows.by_ids(ids), search.page_token(start + size) if more else None)



_PLAIN_RELEASE = re.compile(r"\A(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\Z")


def next_version(versions: Sequence[str]) -> str:
    """``semver.next_patch``, without parsing each of a thousand ``1.0.N`` with the semver library:
    when every version is a plain release, integer triples order them the same way."""
    triples = [_PLAIN_RELEASE.match(v) for v in versions]
    if not all(triples):
        return semver.next_patch(versions)
    top = max(((int(m[1]), int(m[2]), int(m[3])) for m in triples if m), default=None)
    return "1.0.0" if top is None else f"{top[0]}.{top[1]}.{top[2] + 1}"


def version_field(view: VersionView, kind: str, key: str) -> str | float | None:
    """The value ``kind.key`` of a version for filters and ordering."""
    row = view.version
    if kind == filters.TAG:
        return view.tags.get(key)
    if key == "name":
        return row.model.name
    if key == "version_number":
        return float(row.sequence)
    if key == "run_id":
        return view.run.uuid if view.run else ""
    if key == "source_path":
        return view.registration.source
    if key in ("creation_timestamp", "timestamp"):
        return float(milliseconds(row.created_at) or 0)
    return float(milliseconds(row.updated_at) or 0)
