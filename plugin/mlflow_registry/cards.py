"""What a version's page shows of its run: params, the latest value and the history of each metric,
metadata (tags), and the CI job that produced it. The run is the one MLflow reports for the
version (its own run, or the training run it was registered from). The job is a registered one
(``package_api.access.ci_jobs``): the newest that uploaded into the version's package, else the run's."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, literal_column, null, select, union_all
from sqlalchemy.orm import joinedload

from package_api.plugin_api import CiJob as Job
from package_api.plugin_api import DbSession, JobService, PackageBuildInfo, prepared
from plugin.mlflow_registry.models import Alias, Registration, VersionTag
from plugin.mlflow_registry.version_runs import VersionRuns
from plugin.registry.models import ModelVersion
from plugin.tracking.histories import histories
from plugin.tracking.models import Run
from plugin.tracking.runs import CI_JOB_TAG, MetricPoint, RunService

#: Tags MLflow sets itself (``mlflow.user``, ``mlflow.source.name``...): not the user's metadata.
SYSTEM_TAG_PREFIX = "mlflow."
#: GitLab's convention: ``mlflow.set_tag("gitlab.CI_JOB_ID", os.getenv("CI_JOB_ID"))`` links a run
#: to its CI job (``RunService`` links it to the registered job); other ``gitlab.CI_*`` tags are shown
#: as given.
CI_TAG_PREFIX = "gitlab.CI_"
#: What ``shown`` reads of the job, in one row built once: the newest job that uploaded into the package,
#: the job of the run the version's registration reports, and whether it has a registration.
_JOB_IDS = select(
    select(PackageBuildInfo.ci_job_id)
    .where(PackageBuildInfo.package_id == bindparam("package"))
    .order_by(PackageBuildInfo.id.desc())
    .limit(1)
    .scalar_subquery(),
    select(Run.ci_job_id)
    .join(Registration, Registration.run_id == Run.id)
    .where(Registration.version_id == bindparam("version"))
    .scalar_subquery(),
    exists().where(Registration.version_id == bindparam("version")),
)
#: The aliases of a version, by name (``aliases``).
_ALIASES_OF = prepared(select(Alias.alias).where(Alias.version_id == bindparam("version")).order_by(Alias.alias))
#: ``_JOB_IDS``' row first, then the aliases of the version by name, in one statement (``shown``): the
#: row's fourth column is ``None``, an alias row's first three are.
_SHOWN = prepared(
    union_all(
        _JOB_IDS.add_columns(null().label("alias")),
        select(null(), null(), null(), Alias.alias).where(Alias.version_id == bindparam("version")),
    ).order_by(literal_column("alias").nulls_first())
)


@dataclass(frozen=True)
class CiJob:
    """The CI job a run names in its ``gitlab.CI_*`` tags (``job_id`` and the rest as given)."""

    job_id: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionCard:
    run: Run | None = None
    params: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[tuple[str, float]] = field(default_factory=list)
    metadata: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)  # the version's own (registry) tags
    aliases: list[str] = field(default_factory=list)  # champion, ... (not the semantic version)
    ci_job: CiJob | None = None  # what the run's gitlab.CI_* tags say
    job: Job | None = None  # the registered CI job that produced the version: its provenance


class CardService:
    def __init__(self, session: DbSession) -> None:
        self.session = session
        self.runs = RunService(session)
        self.version_runs = VersionRuns(session)

    def run_of(self, version: ModelVersion) -> Run | None:
        """The run MLflow reports for ``version`` (made with the version if it is missing)."""
        return self.version_runs.ensure(version).run

    def aliases(self, version: ModelVersion) -> list[str]:
        """The aliases pointing at ``version``, by name."""
        return list(self.session.scalars(_ALIASES_OF, {"version": version.id}))

    def for_version(self, version: ModelVersion) -> VersionCard:
        """Params, latest metrics, metadata and CI job of the version's run, sorted by key."""
        tags = sorted(
            (t.key, t.value)
            for t in self.session.scalars(select(VersionTag).where(VersionTag.version_id == version.id))
        )
        aliases = self.aliases(version)
        run = self.run_of(version)
        job = self.job_of(version, run)
        if run is None:
            return VersionCard(tags=tags, aliases=aliases, job=job)
        view = self.runs.view(run)
        ci = {k.removeprefix("gitlab."): v for k, v in view.tags.items() if k.startswith(CI_TAG_PREFIX)}
        return VersionCard(
            run=run,
            params=sorted(view.params.items()),
            metrics=sorted((k, p.value) for k, p in view.metrics.items()),
            metadata=sorted((k, v) for k, v in view.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)),
            tags=tags,
            aliases=aliases,
            ci_job=CiJob(view.tags[CI_JOB_TAG], ci) if CI_JOB_TAG in view.tags else None,
            job=job,
        )

    def job_of(self, version: ModelVersion, run: Run | None = None) -> Job | None:
        """The registered CI job that produced ``version``: the newest that uploaded into its
        package, else the job of its run (``run``, or the one MLflow reports for it)."""
        builds = JobService(self.session).builds(version.package)
        if builds:
            return builds[0]
        run = run if run is not None else self.run_of(version)
        return None if run is None else run.ci_job

    def shown(self, version: ModelVersion) -> tuple[Job | None, list[str]]:
        """``job_of`` and ``aliases`` of ``version`` for a read: the same job and aliases, found by one
        statement (two when there is a job) and without writing. Only a version without a registration
        (older than tracking) goes through ``job_of``, which makes it one."""
        rows = self.session.execute(_SHOWN, {"package": version.package_id, "version": version.id}).all()
        build_job, run_job, registered, _ = rows[0]
        aliases = [alias for *_, alias in rows[1:]]
        if build_job is None and not registered:
            return self.job_of(version), aliases
        job_id = build_job if build_job is not None else run_job
        return None if job_id is None else self.session.get(Job, job_id, options=[joinedload(Job.user)]), aliases

    def metric_history(self, version: ModelVersion, key: str) -> list[MetricPoint]:
        """Every point of metric ``key`` of the version's run, by step then time (for a chart)."""
        return self.metric_histories(version).get(key, [])

    def metric_histories(self, version: ModelVersion) -> dict[str, list[MetricPoint]]:
        """Every metric's points, by key, each by step then time."""
        run = self.run_of(version)
        return {} if run is None else histories(self.session, [run])[run.id]
