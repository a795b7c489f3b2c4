"""MLflow 3's logged models (``m-<hex>``): create, find, finalize, tag, search. ``log_model`` makes
one, uploads its files into the model's package, and registers a version from ``models:/m-<hex>``."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import select

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    DbSession,
    InvalidInput,
    Project,
    User,
    commit,
    committed,
    record_audit_event,
)
from plugin.tracking import filters, search, validation
from plugin.tracking.errors import MissingResource
from plugin.tracking.experiments import ACTIVE, DELETED
from plugin.tracking.models import Experiment, LoggedModel, LoggedModelMetric, LoggedModelParam, LoggedModelTag, Run
from plugin.tracking.tags import put_tag, remove_tag
from plugin.tracking.times import milliseconds

STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
#: ``ml_logged_models.model_type`` holds this many characters.
MAX_MODEL_TYPE_LENGTH = 255
#: The tag MLflow keeps on a logged model: the registered versions made from it (a JSON list).
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
NUMERIC = frozenset({"creation_timestamp", "creation_time", "last_updated_timestamp", "last_updated_time"})
SEARCH_GRAMMAR = filters.Grammar(
    attributes=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}) | NUMERIC,
    numeric=NUMERIC,
    listable=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
    kinds=frozenset({filters.TAG, filters.PARAM, filters.METRIC}),
)
MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT = 100, 50000


@dataclass(frozen=True)
class ModelMetric:
    """A metric point logged on a logged model, by the run ``run_id``, about a dataset or none."""

    key: str
    value: float
    timestamp: int
    step: int
    run_id: str
    model_id: str
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def about(self, datasets: Sequence[tuple[str, str | None]]) -> bool:
        """Whether it is about one of ``datasets`` (name, and digest or ``None``: any digest); with
        no datasets, every point is."""
        return not datasets or any(
            self.dataset_name == name and (digest is None or self.dataset_digest == digest) for name, digest in datasets
        )


class Ordering(NamedTuple):
    """One ``order_by`` of a logged-model search: a field (``metrics.<key>`` too), its direction, and
    for a metric the dataset whose points count (name, and digest or ``None``)."""

    field: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True)
class LoggedModelView:
    model: LoggedModel
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    #: Every point logged on it, in the order logged.
    metrics: list[ModelMetric] = field(default_factory=list)

    def latest(self, key: str, datasets: Sequence[tuple[str, str | None]] = ()) -> ModelMetric | None:
        """Its latest point of ``key`` (by timestamp, then step: MLflow's order for sorting)."""
        points = [m for m in self.metrics if m.key == key and m.about(datasets)]
        return max(points, key=lambda m: (m.timestamp, m.step), default=None)


def _status(value: str | None) -> str:
    if value not in STATUSES:
        raise InvalidInput(f"Invalid logged model status '{value}'. Valid values are {list(STATUSES)}")
    return value


class LoggedModelService:
    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor  # who makes the changes

    def create(
        self,
        experiment: Experiment,
        *,
        name: str | None,
        source_run: Run | None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
        creator: User | None,
    ) -> LoggedModel:
        """Create a pending logged model; raise ``InvalidInput`` for a bad tag or param."""
        checked_tags = {validation.key(k): validation.tag_value(v) for k, v in (tags or {}).items()}
        checked_params = {validation.key(k): validation.param_value(v) for k, v in (params or {}).items()}
        checked_type = validation.length("Logged model type", model_type or "", MAX_MODEL_TYPE_LENGTH)
        token = uuid.uuid4().hex

        def work() -> LoggedModel:
            model = LoggedModel(
                project_id=experiment.project_id,
                experiment_id=experiment.id,
                uuid=f"m-{token}",
                name=validation.length("Logged model name", name or f"model-{token[:8]}", 500),
                source_run_id=source_run.id if source_run else None,
                model_type=checked_type,
                creator_id=creator.id if creator else None,
            )
            self.session.add(model)
            self.session.flush()
            self.session.add_all(
                LoggedModelTag(logged_model_id=model.id, key=k, value=v) for k, v in checked_tags.items()
            )
            self.session.add_all(
                LoggedModelParam(logged_model_id=model.id, key=k, value=v) for k, v in checked_params.items()
            )
            _audit(self.session, self.actor, "created", model)  # in the unit of work: a retry records it once
            return model

        return committed(self.session, work)

    def get(self, project: Project, model_id: str | None, *, allow_deleted: bool = False) -> LoggedModel:
        """Raise ``MissingResource``."""
        model = self.session.scalar(
            select(LoggedModel).where(LoggedModel.uuid == (model_id or ""), LoggedModel.project_id == project.id)
        )
        if model is None or (model.lifecycle_stage != ACTIVE and not allow_deleted):
            raise MissingResource(f"Logged model with ID '{model_id}' not found.", "Logged model")
        return model

    def finalize(self, model: LoggedModel, status: str | None) -> LoggedModel:
        model.status = _status(status)
        commit(self.session)
        return model

    def set_tags(self, model: LoggedModel, tags: dict[str, str]) -> None:
        checked = {validation.key(k): validation.tag_value(v) for k, v in tags.items()}
        for key, value in checked.items():
            put_tag(self.session, LoggedModelTag.logged_model_id, model.id, key, value)
        commit(self.session)

    def delete_tag(self, model: LoggedModel, key: str) -> None:
        """Raise ``MissingResource`` when the model has no such tag."""
        if not remove_tag(self.session, LoggedModelTag.logged_model_id, model.id, key):
            raise MissingResource(f"No tag with key '{key}' found for model with ID '{model.uuid}'.", "Tag")
        commit(self.session)

    def log_params(self, model: LoggedModel, params: dict[str, str]) -> None:
        for key, value in params.items():
            key, value = validation.key(key), validation.param_value(value)
            row = self.session.scalar(
                select(LoggedModelParam).where(
                    LoggedModelParam.logged_model_id == model.id, LoggedModelParam.key == key
                )
            )
            if row is None:
                self.session.add(LoggedModelParam(logged_model_id=model.id, key=key, value=value))
            else:
                row.value = value
        commit(self.session)

    def delete(self, model: LoggedModel) -> None:
        if model.lifecycle_stage != DELETED:
            model.lifecycle_stage = DELETED
            _audit(self.session, self.actor, "deleted", model)
        commit(self.session)

    def note_version(self, model: LoggedModel, name: str, version: int) -> None:
        """Add a registered version to the model's ``mlflow.modelVersions`` tag (as MLflow's
        server does; the client adds its own entry after), in the unit of work in progress or in one
        of its own."""
        entry = {"name": name, "version": version}

        def work() -> None:
            tags = self.view(model).tags
            try:
                noted = json.loads(tags.get(MODEL_VERSIONS_TAG, "[]"))
            except ValueError:
                noted = []
            if not isinstance(noted, list):
                noted = []
            if entry not in noted:
                noted.append(entry)
            put_tag(self.session, LoggedModelTag.logged_model_id, model.id, MODEL_VERSIONS_TAG, json.dumps(noted))

        committed(self.session, work)

    def views(self, models: Sequence[LoggedModel]) -> list[LoggedModelView]:
        ids = [m.id for m in models]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        params: dict[int, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[int, list[ModelMetric]] = {i: [] for i in ids}
        model_uuids = {m.id: m.uuid for m in models}
        if ids:
            for tag in self.session.scalars(select(LoggedModelTag).where(LoggedModelTag.logged_model_id.in_(ids))):
                tags[tag.logged_model_id][tag.key] = tag.value
            for param in self.session.scalars(
                select(LoggedModelParam).where(LoggedModelParam.logged_model_id.in_(ids))
            ):
                params[param.logged_model_id][param.key] = param.value
            rows = self.session.execute(
                select(LoggedModelMetric, Run.uuid)
                .join(Run, Run.id == LoggedModelMetric.run_id)
                .where(LoggedModelMetric.logged_model_id.in_(ids))
                .order_by(LoggedModelMetric.id)
            )
            for point, run_uuid in rows:
                metrics[point.logged_model_id].append(
                    ModelMetric(
                        point.key,
                        float("nan") if point.is_nan else point.value,
                        point.timestamp,
                        point.step,
                        run_uuid,
                        model_uuids[point.logged_model_id],
                        point.dataset_name,
                        point.dataset_digest,
                    )
                )
        return [LoggedModelView(m, tags[m.id], params[m.id], metrics[m.id]) for m in models]

    def view(self, model: LoggedModel) -> LoggedModelView:
        return self.views([model])[0]

    def search(
        self,
        project: Project,
        experiments: Sequence[Experiment],
        *,
        filter_: str | None = None,
        datasets: Sequence[tuple[str, str | None]] = (),
        order_by: Sequence[Ordering | tuple[str, bool]] = (),
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> search.Results[LoggedModelView]:
        """Active logged models of ``experiments`` matching ``filter_``; ``order_by`` holds
        ``Ordering``s (or ``(field name, ascending)`` pairs). As in MLflow, a metric comparison holds when any point
        of the metric logged on the model passes it, among the points about ``datasets`` (name,
        and digest or ``None``) when given; with ``datasets`` and no metric comparison, only models
        with a metric about one of them match. Ordering by a metric takes its latest point (about the
        ordering's dataset, when it names one). Raise
        ``InvalidInput``."""
        comparisons = filters.parse(filter_, SEARCH_GRAMMAR)
        kinds = frozenset({filters.TAG, filters.PARAM, filters.METRIC})
        filters.check_order_count(order_by)
        wanted = [Ordering(*o) for o in order_by]
        orderings = [
            (
                filters.parse_order_by(f"{o.field} {'ASC' if o.ascending else 'DESC'}", SEARCH_GRAMMAR.attributes, kinds),
                [(o.dataset_name, o.dataset_digest)] if o.dataset_name else [],
            )
            for o in wanted
        ]
        size = search.max_results(max_results, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT)
        start = search.offset(page_token)
        models = list(
            self.session.scalars(
                select(LoggedModel).where(
                    LoggedModel.project_id == project.id,
                    LoggedModel.experiment_id.in_([e.id for e in experiments]),
                    LoggedModel.lifecycle_stage == ACTIVE,
                )
            )
        )
        on_metrics = any(c.kind == filters.METRIC for c in comparisons)
        views = [
            v
            for v in self.views(models)
            if all(_passes(v, c, datasets) for c in comparisons)
            and (on_metrics or not datasets or any(m.about(datasets) for m in v.metrics))
        ]
        keys: list[tuple[Callable[..., Any], bool]] = [
            ((lambda v, o=o, d=d: _field(v, o.kind, o.key, d)), o.ascending) for o, d in orderings
        ]
        keys.append((lambda v: v.model.id, False))
        return search.paginate(search.sort(views, keys), start, size)


def _audit(session: DbSession, actor: Actor, what: str, model: LoggedModel) -> None:
    """Record ``logged_model_<what>`` in ``session`` (its creation and deletion, as for runs)."""
    record_audit_event(
        session,
        f"logged_model_{what}",
        project=model.project_id,
        target_type="LoggedModel",
        target_id=model.id,
        target_details=model.name,
        details={"model_id": model.uuid, "name": model.name},
        actor=actor,
    )


def _passes(view: LoggedModelView, comparison: filters.Comparison, datasets: Sequence[tuple[str, str | None]]) -> bool:
    if comparison.kind != filters.METRIC:
        return comparison.matches(_field(view, comparison.kind, comparison.key))
    return any(
        comparison.matches(m.value) for m in view.metrics if m.key == comparison.key and m.about(datasets)
    )


def _field(
    view: LoggedModelView, kind: str, key: str, datasets: Sequence[tuple[str, str | None]] = ()
) -> str | float | None:
    model = view.model
    if kind == filters.TAG:
        return view.tags.get(key)
    if kind == filters.PARAM:
        return view.params.get(key)
    if kind == filters.METRIC:
        latest = view.latest(key, datasets)
        return None if latest is None else latest.value
    if key in ("creation_timestamp", "creation_time"):
        return float(milliseconds(model.created_at) or 0)
    if key in ("last_updated_timestamp", "last_updated_time"):
        return float(milliseconds(model.updated_at) or 0)
    if key == "model_id":
        return model.uuid
    if key == "source_run_id":
        return model.source_run.uuid if model.source_run else None
    return str(getattr(model, key))
