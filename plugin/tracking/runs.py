"""Runs: create, find, update, delete and restore, and what is logged on them: params (set once),
metrics (every point kept: the history), tags, and the logged models they output."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import joinedload

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    CiJob,
    DbSession,
    InvalidInput,
    JobService,
    Project,
    User,
    commit,
    committed,
    insert_row,
    record_audit_event,
)
from plugin.tracking import filters, names, run_search, search, validation
from plugin.tracking.datasets import DatasetService, RunInputs
from plugin.tracking.errors import MissingResource
from plugin.tracking.experiments import ACTIVE, DELETED, lifecycle_stages
from plugin.tracking.models import (
    Experiment,
    LoggedModel,
    LoggedModelMetric,
    Run,
    RunLatestMetric,
    RunMetric,
    RunOutput,
    RunParam,
    RunTag,
)
from plugin.tracking.run_search import SEARCH_GRAMMAR
from plugin.tracking.tags import find_tag, put_tag, remove_tag

RUN_NAME_TAG = "mlflow.runName"
#: The run tag MLflow 2 keeps the models logged in a run in (a JSON list), and what it needs of each.
LOGGED_MODELS_TAG = "mlflow.log-model.history"
MODEL_JSON_FIELDS = frozenset({"artifact_path", "flavors", "utc_time_created", "run_id"})
#: GitLab's tag that links a run to the CI job that ran it: ``mlflow.set_tag("gitlab.CI_JOB_ID",
#: os.environ["CI_JOB_ID"])``. Here the value is the job id a CI system registered the job with.
CI_JOB_TAG = "gitlab.CI_JOB_ID"
MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT = 1000, 50000
HISTORY_DEFAULT, HISTORY_LIMIT = 25000, 25000
CHUNK = 500  # ids per IN (...) query
#: A project's run by its uuid, built once: every call that logs to a run asks it.
_RUN = select(Run).where(Run.uuid == bindparam("uuid"), Run.project_id == bindparam("project"))
_RUN_WITH_EXPERIMENT = _RUN.options(joinedload(Run.experiment, innerjoin=True))
_ADD_TAGS = insert(cast(Table, RunTag.__table__))


class LoggedMetric(NamedTuple):
    """A metric point as the client logs it; with a ``model_id`` it is logged on that logged model
    too, about the dataset ``dataset_name``/``dataset_digest`` if given."""

    key: str | None
    value: object
    timestamp: int | None
    step: int | None
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    timestamp: int
    step: int

    @classmethod
    def of(cls, row: RunMetric) -> MetricPoint:
        return cls(row.key, float("nan") if row.is_nan else row.value, row.timestamp, row.step)


@dataclass(frozen=True)
class RunView:
    """A run with what is logged on it: params, tags, the latest point of each metric, outputs."""

    run: Run
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricPoint] = field(default_factory=dict)
    outputs: list[tuple[str, int]] = field(default_factory=list)
    #: Its dataset and model inputs (and the logged models it produced, as rows).
    inputs: RunInputs = field(default_factory=RunInputs)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


class RunService:
    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor  # who makes the changes

    # -- runs --------------------------------------------------------------------------------------

    def create(
        self,
        experiment: Experiment,
        *,
        creator: User | None,
        user_name: str = "",
        run_name: str | None = None,
        start_time: int,
        tags: dict[str, str] | None = None,
        ci_job_id: int | None = None,
    ) -> Run:
        """Start a run in ``experiment`` (committed), run by the CI job ``ci_job_id`` or the one its
        ``gitlab.CI_JOB_ID`` tag names; raise ``InvalidInput`` for a bad tag or an unknown job."""
        checked = {validation.key(k): validation.tag_value(v) for k, v in (tags or {}).items()}
        job = self._tagged_job(experiment.project_id, checked)
        ci_job_id = job.id if job is not None else ci_job_id

        def work() -> Run:
            run = self.build(
                experiment,
                creator=creator,
                user_name=user_name,
                run_name=run_name,
                start_time=start_time,
                tags=checked,
                ci_job_id=ci_job_id,
            )
            _audit(self.session, self.actor, "created", run)  # in the unit of work: a retry records it once
            return run

        return committed(self.session, work)

    def build(
        self,
        experiment: Experiment,
        *,
        creator: User | None,
        user_name: str = "",
        run_name: str | None = None,
        start_time: int,
        tags: dict[str, str] | None = None,
        model_version_id: int | None = None,
        ci_job_id: int | None = None,
        status: str | None = None,
        end_time: int | None = None,
    ) -> Run:
        """Add a run (flushed, not committed: the caller's unit of work commits it); ``status`` and
        ``end_time`` for a run that is finished from the start (a version's own run)."""
        tags = tags or {}
        run = Run(
            project_id=experiment.project_id,
            experiment_id=experiment.id,
            uuid=uuid.uuid4().hex,
            name=validation.length("Run name", run_name or tags.get(RUN_NAME_TAG) or "", 250),
            user_name=creator.username if creator else user_name,
            creator_id=creator.id if creator else None,
            start_time=start_time,
            model_version_id=model_version_id,
            ci_job_id=ci_job_id,
        )
        if status is not None:
            run.status, run.end_time = status, end_time
        run.name = run.name or names.run_name()
        insert_row(self.session, run)  # its INSERT alone, not a flush of the session
        # Written as they are (Core, one statement): nothing reads them back as objects.
        written = [{"run_id": run.id, "key": k, "value": v} for k, v in {**tags, RUN_NAME_TAG: run.name}.items()]
        self.session.connection().execute(_ADD_TAGS, written)  # the run is written: no autoflush needed
        return run

    def get(self, project: Project, run_id: str | None, *, with_experiment: bool = False) -> Run:
        """The run ``run_id`` (32 hex digits) of ``project`` (``with_experiment``: its experiment read in
        the same statement, for a caller that addresses its artifacts); raise ``MissingResource``."""
        statement = _RUN_WITH_EXPERIMENT if with_experiment else _RUN
        run = self.session.scalar(statement, {"uuid": run_id or "", "project": project.id})
        if run is None:
            raise MissingResource(f"Run with id={run_id} not found", "Run")
        return run

    def get_active(self, project: Project, run_id: str | None) -> Run:
        """``get``, refusing a deleted run: MLflow logs only into active runs."""
        run = self.get(project, run_id)
        if run.lifecycle_stage != ACTIVE:
            raise InvalidInput(
                f"The run {run.uuid} must be in the 'active' state. Current state is {run.lifecycle_stage}."
            )
        return run

    def update(
        self, run: Run, *, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> Run:
        if status:
            run.status = validation.run_status(status)
        if end_time is not None:
            run.end_time = end_time
        if run_name:
            run.name = validation.length("Run name", run_name, 250)
            put_tag(self.session, RunTag.run_id, run.id, RUN_NAME_TAG, run_name)
        commit(self.session)
        return run

    def delete(self, run: Run) -> None:
        """Mark ``run`` deleted; raise ``InvalidInput`` for a model version's own run."""
        if run.model_version_id is not None:
            raise InvalidInput(f"Run {run.uuid} is the run of a model version and cannot be deleted.")
        if run.lifecycle_stage != DELETED:
            run.lifecycle_stage = DELETED
            _audit(self.session, self.actor, "deleted", run)
        commit(self.session)

    def restore(self, run: Run) -> None:
        if run.lifecycle_stage != ACTIVE:
            run.lifecycle_stage = ACTIVE
            _audit(self.session, self.actor, "restored", run)
        commit(self.session)

    # -- logging -----------------------------------------------------------------------------------

    def log_param(self, run: Run, key: str | None, value: str | None) -> None:
        self.log_batch(run, params=[(key, value)])

    def log_metric(
        self,
        run: Run,
        key: str | None,
        value: object,
        timestamp: int | None,
        step: int | None,
        *,
        model_id: str | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
    ) -> None:
        self.log_batch(
            run, metrics=[LoggedMetric(key, value, timestamp, step, model_id, dataset_name, dataset_digest)]
        )

    def set_tag(self, run: Run, key: str | None, value: str | None) -> None:
        self.log_batch(run, tags=[(key, value)])

    def delete_tag(self, run: Run, key: str | None) -> None:
        """Raise ``MissingResource`` when the run has no such tag."""
        if not remove_tag(self.session, RunTag.run_id, run.id, key or ""):
            raise MissingResource(f"No tag with name: {key} in run with id {run.uuid}", "Tag")
        commit(self.session)

    def log_batch(
        self,
        run: Run,
        *,
        metrics: Sequence[LoggedMetric | tuple[str | None, object, int | None, int | None]] = (),
        params: Sequence[tuple[str | None, str | None]] = (),
        tags: Sequence[tuple[str | None, str | None]] = (),
    ) -> None:
        """Log everything or nothing. A metric with a ``model_id`` is logged on that logged model
        too (with the dataset it is about), as MLflow does. Raise ``InvalidInput`` for a bad key or
        value, a batch over MLflow's limits, or a param logged again with another value, and
        ``MissingResource`` for a logged model the run's project does not have."""
        if len(params) > validation.MAX_PARAMS_TAGS_PER_BATCH or len(tags) > validation.MAX_PARAMS_TAGS_PER_BATCH:
            raise InvalidInput(
                f"A batch logging request can contain at most {validation.MAX_PARAMS_TAGS_PER_BATCH} params and tags each"
            )
        if len(metrics) > validation.MAX_METRICS_PER_BATCH:
            raise InvalidInput(
                f"A batch logging request can contain at most {validation.MAX_METRICS_PER_BATCH} metrics"
            )
        checked_params = self._checked_params(run, params)
        checked_tags = {validation.key(k): validation.tag_value(v or "") for k, v in tags}
        job = self._tagged_job(run.project_id, checked_tags)
        points: list[RunMetric] = []
        model_points: list[LoggedModelMetric] = []  # the points logged on logged models too
        models: dict[str, LoggedModel] = {}
        for metric in (LoggedMetric(*m) for m in metrics):
            key = validation.key(metric.key)
            number = validation.metric_value(metric.value, key)
            if metric.timestamp is None:
                raise InvalidInput("Missing value for required parameter 'timestamp'.")
            nan = validation.is_nan(number)
            stored, timestamp, step = 0.0 if nan else number, int(metric.timestamp), int(metric.step or 0)
            points.append(
                RunMetric(run_id=run.id, key=key, value=stored, is_nan=nan, timestamp=timestamp, step=step)
            )
            if metric.model_id:
                model = models.get(metric.model_id) or self._logged_model(run, metric.model_id)
                models[metric.model_id] = model
                model_points.append(
                    LoggedModelMetric(
                        logged_model_id=model.id,
                        run_id=run.id,
                        key=key,
                        value=stored,
                        is_nan=nan,
                        timestamp=timestamp,
                        step=step,
                        dataset_name=validation.length("Dataset name", metric.dataset_name or "", 500) or None,
                        dataset_digest=validation.length("Dataset digest", metric.dataset_digest or "", 36) or None,
                    )
                )
        self.session.add_all(RunParam(run_id=run.id, key=k, value=v) for k, v in checked_params.items())
        self.session.add_all(points)
        self.session.add_all(model_points)
        run_search.keep_latest(self.session, run.id, points)
        for key, value in checked_tags.items():
            put_tag(self.session, RunTag.run_id, run.id, key, value)
            if key == RUN_NAME_TAG:
                run.name = value
        if job is not None:
            run.ci_job_id = job.id
        commit(self.session)

    def _logged_model(self, run: Run, model_id: str) -> LoggedModel:
        """The logged model ``model_id`` of the run's project; raise ``MissingResource``."""
        model = self.session.scalar(
            select(LoggedModel).where(LoggedModel.uuid == model_id, LoggedModel.project_id == run.project_id)
        )
        if model is None:
            raise MissingResource(f"Logged model with ID '{model_id}' not found.", "Logged model")
        return model

    def _tagged_job(self, project_id: int, tags: dict[str, str]) -> CiJob | None:
        """The job a ``gitlab.CI_JOB_ID`` tag names, registered in the same project; ``None`` without
        the tag. Raise ``InvalidInput`` when no such job was registered (GitLab's "must refer to an
        existing build")."""
        if CI_JOB_TAG not in tags:
            return None
        value = tags[CI_JOB_TAG].strip()
        project = self.session.get(Project, project_id)
        job = JobService(self.session).find_external(project, value) if project is not None and value else None
        if job is None:
            raise InvalidInput(
                f"{CI_JOB_TAG} must refer to a CI job registered in this project (POST /api/v4/projects/"
                f"{project_id}/jobs): none has job id {value!r}"
            )
        return job

    def _checked_params(self, run: Run, params: Sequence[tuple[str | None, str | None]]) -> dict[str, str]:
        """The params that are new (a value logged again is fine, a changed one is not)."""
        keys = [validation.key(k) for k, _ in params]
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        if duplicated:
            raise InvalidInput(
                f"Duplicate parameter keys have been submitted: {duplicated}. Please ensure the request contains only one param value per param key."
            )
        if not keys:
            return {}
        existing = {
            p.key: p.value
            for p in self.session.scalars(select(RunParam).where(RunParam.run_id == run.id, RunParam.key.in_(keys)))
        }
        new: dict[str, str] = {}
        for key, (_, raw) in zip(keys, params, strict=True):
            value = validation.param_value("" if raw is None else str(raw))
            if key in existing and existing[key] != value:
                raise InvalidInput(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with value='{existing[key]}'"
                    f" for run ID='{run.uuid}'. Attempted logging new value '{value}'."
                )
            if key not in existing:
                new[key] = value
        return new

    def record_logged_model(self, run: Run, model_json: str) -> None:
        """Add a model logged in ``run`` (MLflow 2's ``runs/log-model``: the model's ``MLmodel`` as
        JSON) to the run's ``mlflow.log-model.history`` tag, keeping what MLflow keeps of it. Raise
        ``InvalidInput`` for text that is not such a model, or a history past a tag's length."""
        try:
            model = json.loads(model_json)
        except ValueError:
            model = None
        if not isinstance(model, dict):
            raise InvalidInput(f"Malformed model info. \n {model_json} \n is not a valid JSON.")
        missing = sorted(MODEL_JSON_FIELDS - set(model))
        if missing:
            raise InvalidInput(f"Model json is missing mandatory fields: {missing}")
        flavors = model["flavors"] if isinstance(model["flavors"], dict) else {}
        entry = {k: model[k] for k in ("run_id", "utc_time_created", "artifact_path", "model_uuid") if k in model}
        entry["flavors"] = {
            name: {k: v for k, v in config.items() if k != "config"} if isinstance(config, dict) else config
            for name, config in flavors.items()
        }
        known = find_tag(self.session, RunTag.run_id, run.id, LOGGED_MODELS_TAG)
        try:
            history = json.loads(known.value) if known is not None else []
        except ValueError:
            history = []
        history = [*(history if isinstance(history, list) else []), entry]
        self.set_tag(run, LOGGED_MODELS_TAG, json.dumps(history))

    def log_outputs(self, run: Run, outputs: Sequence[tuple[LoggedModel, int]]) -> None:
        """Record logged models as outputs of ``run`` (again is fine: the step is updated)."""
        for model, step in outputs:
            row = self.session.scalar(
                select(RunOutput).where(RunOutput.run_id == run.id, RunOutput.logged_model_id == model.id)
            )
            if row is None:
                self.session.add(RunOutput(run_id=run.id, logged_model_id=model.id, step=step))
            else:
                row.step = step
        commit(self.session)

    # -- reading -----------------------------------------------------------------------------------

    def views(self, runs: Sequence[Run]) -> list[RunView]:
        """``runs`` with their params, tags, latest metrics, inputs and outputs, loaded in bulk."""
        ids = [r.id for r in runs]
        params: dict[int, dict[str, str]] = {i: {} for i in ids}
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[int, dict[str, MetricPoint]] = {i: {} for i in ids}
        inputs = DatasetService(self.session).inputs_of(ids)
        for chunk in _chunks(ids):
            for p in self.session.scalars(select(RunParam).where(RunParam.run_id.in_(chunk))):
                params[p.run_id][p.key] = p.value
            for t in self.session.scalars(select(RunTag).where(RunTag.run_id.in_(chunk))):
                tags[t.run_id][t.key] = t.value
            for m in self.session.scalars(select(RunLatestMetric).where(RunLatestMetric.run_id.in_(chunk))):
                metrics[m.run_id][m.key] = MetricPoint(m.key, float("nan") if m.is_nan else m.value, m.timestamp, m.step)
        return [
            RunView(
                r,
                params[r.id],
                tags[r.id],
                metrics[r.id],
                [(m.uuid, step) for m, step in inputs[r.id].model_outputs],
                inputs[r.id],
            )
            for r in runs
        ]

    def view(self, run: Run) -> RunView:
        return self.views([run])[0]

    def load_people(self, runs: Sequence[Run]) -> None:
        """Load the creators and CI jobs of ``runs`` in one query each, so that ``run.creator`` and
        ``run.ci_job`` of a runs table find them in the session instead of asking one by one."""
        users = {r.creator_id for r in runs if r.creator_id is not None}
        jobs = {r.ci_job_id for r in runs if r.ci_job_id is not None}
        if users:
            self.session.scalars(select(User).where(User.id.in_(users))).all()
        if jobs:
            self.session.scalars(select(CiJob).where(CiJob.id.in_(jobs))).all()

    def metric_history(
        self, run: Run, key: str | None, *, max_results: int | None = None, page_token: str | None = None
    ) -> search.Results[MetricPoint]:
        """Every point of metric ``key``, by step then timestamp; raise ``InvalidInput``."""
        if not key:
            raise InvalidInput("Missing value for required parameter 'metric_key'.")
        size = search.max_results(max_results, HISTORY_DEFAULT, HISTORY_LIMIT)
        start = search.offset(page_token)
        rows = self.session.scalars(
            select(RunMetric)
            .where(RunMetric.run_id == run.id, RunMetric.key == key)
            .order_by(RunMetric.step, RunMetric.timestamp, RunMetric.id)
            .offset(start)
            .limit(size + 1)
        ).all()
        points = [MetricPoint.of(r) for r in rows[:size]]
        return search.Results(points, search.page_token(start + size) if len(rows) > size else None)

    def search(
        self,
        project: Project,
        experiments: Sequence[Experiment],
        *,
        filter_: str | None = None,
        view_type: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> search.Results[RunView]:
        """Runs of ``experiments`` matching ``filter_`` (MLflow's filter language), ordered by
        ``order_by`` (attributes, ``metrics.*``, ``params.*``, ``tags.*``), one page of them: filtered,
        sorted and paged in the database (``run_search``). Raise ``InvalidInput``."""
        stages = lifecycle_stages(view_type)
        comparisons = filters.parse(filter_, SEARCH_GRAMMAR)
        orderings = run_search.parse_order_by(order_by)
        size = search.max_results(max_results, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT)
        start = search.offset(page_token)
        if not experiments:
            return search.Results([], None)
        statement = run_search.query(self.session, project, experiments, stages, comparisons, orderings)
        runs = list(self.session.scalars(statement.offset(start).limit(size + 1)))
        following = search.page_token(start + size) if len(runs) > size else None
        return search.Results(self.views(runs[:size]), following)


def _audit(session: DbSession, actor: Actor, what: str, run: Run) -> None:
    """Record ``run_<what>`` in ``session``. Only a run's creation, deletion and restoration are
    audited: what is logged on it (metrics, params, tags) is tracking data, not a change to audit."""
    record_audit_event(
        session,
        f"run_{what}",
        project=run.project_id,
        target_type="Run",
        target_id=run.id,
        target_details=run.name or run.uuid,
        details={"run_id": run.uuid, "run_name": run.name, "experiment_id": str(run.experiment.iid)},
        actor=actor,
    )
