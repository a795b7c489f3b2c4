"""Experiments: create, find by id or name, search, tag, rename, delete and restore, each model's
default experiment ``[model]<name>``, and what their pages show: a page of summaries (run count,
last activity) and the keys logged in an experiment's runs."""
from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    AlreadyExists,
    DbSession,
    InvalidInput,
    Page,
    Project,
    User,
    choice,
    commit,
    committed,
    contains,
    descending,
    query_page,
    record_audit_event,
    row_id,
)
from plugin.registry.models import Model
from plugin.tracking import filters, search, validation
from plugin.tracking.errors import MissingResource
from plugin.tracking.models import Experiment, ExperimentTag, Run, RunLatestMetric, RunParam
from plugin.tracking.tags import put_tag
from plugin.tracking.times import from_milliseconds, milliseconds

#: MLflow's default experiment: id ``0``, made on first use.
DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
ACTIVE, DELETED = "active", "deleted"
VIEW_TYPES = {"ACTIVE_ONLY": (ACTIVE,), "DELETED_ONLY": (DELETED,), "ALL": (ACTIVE, DELETED)}
SEARCH_GRAMMAR = filters.Grammar(
    attributes=frozenset({"name", "experiment_id", "creation_time", "last_update_time"}),
    numeric=frozenset({"creation_time", "last_update_time"}),
    listable=frozenset({"experiment_id"}),
    nullable=frozenset({filters.TAG}),
    null_refusal="IS NULL / IS NOT NULL is only supported for tags, not for {kind} '{key}'",
)
ORDER_KEYS = frozenset({"name", "experiment_id", "creation_time", "last_update_time"})
MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT = 1000, 50000
#: The orders of the experiments' page: ``order_by`` -> column.
PAGE_ORDERS = {"created_at": Experiment.created_at, "updated_at": Experiment.updated_at, "name": Experiment.name}
#: ``logged_keys`` reads the keys of an experiment's latest ``KEY_RUNS`` runs, and keeps ``KEY_LIMIT``
#: of each kind: bounded work, however many runs the experiment has.
KEY_RUNS, KEY_LIMIT = 1000, 500
#: A model's default experiment, built once: every version registered asks it (``default_for``).
_MODEL_EXPERIMENT = select(Experiment).where(Experiment.model_id == bindparam("model"))


def next_iid(session: DbSession, project_id: int) -> int:
    """The next experiment id of the project (MLflow's ``experiment_id``): one more than the highest.
    Two experiments made at once may take the same; the unique constraint refuses one, and its unit
    of work (``committed``) is redone and takes the next."""
    highest = session.scalar(select(func.max(Experiment.iid)).where(Experiment.project_id == project_id))
    return int(highest or 0) + 1


def model_experiment_name(model_name: str) -> str:
    return f"{validation.MODEL_EXPERIMENT_PREFIX}{model_name}"


def lifecycle_stages(view_type: str | None) -> tuple[str, ...]:
    """The lifecycle stages a ``view_type`` (``ACTIVE_ONLY``...) shows; raise ``InvalidInput``."""
    stages = VIEW_TYPES.get(view_type or "ACTIVE_ONLY")
    if stages is None:
        raise InvalidInput(f"Invalid view_type '{view_type}'. Valid values are {sorted(VIEW_TYPES)}")
    return stages


@dataclass(frozen=True)
class ExperimentView:
    experiment: Experiment
    tags: dict[str, str]


@dataclass(frozen=True)
class ExperimentSummary:
    """An experiment as its pages show it: how many active runs it has, and when it or one of them
    last changed (a run's start or end)."""

    experiment: Experiment
    run_count: int
    last_activity: datetime.datetime


@dataclass(frozen=True)
class LoggedKeys:
    """The param and metric keys logged in an experiment's runs, by name."""

    params: list[str]
    metrics: list[str]


class ExperimentService:
    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor  # who makes the changes

    def create(
        self, project: Project, name: str | None, *, tags: dict[str, str] | None = None, creator: User | None
    ) -> Experiment:
        """Create an experiment; raise ``InvalidInput``/``ReservedName`` or ``AlreadyExists``."""
        name = validation.experiment_name(name)
        return self._create(project.id, name, tags or {}, creator.id if creator else None)

    def _create(
        self, project_id: int, name: str, tags: dict[str, str], creator_id: int | None, *, model_id: int | None = None
    ) -> Experiment:
        checked = {
            validation.key(k): validation.length("Experiment tag value", v, validation.MAX_EXPERIMENT_TAG_VALUE_LENGTH)
            for k, v in tags.items()
        }

        def work() -> Experiment:
            if self.find_by_name(project_id, name) is not None:
                raise AlreadyExists(f"Experiment(name={name})")
            experiment = Experiment(
                project_id=project_id,
                iid=next_iid(self.session, project_id),
                name=name,
                model_id=model_id,
                creator_id=creator_id,
            )
            self.session.add(experiment)
            self.session.flush()
            self.session.add_all(ExperimentTag(experiment_id=experiment.id, key=k, value=v) for k, v in checked.items())
            _audit(self.session, self.actor, "created", experiment)  # in the unit of work: a retry records it once
            return experiment

        return committed(self.session, work)

    def find_by_name(self, project_id: int, name: str) -> Experiment | None:
        return self.session.scalar(
            select(Experiment).where(Experiment.project_id == project_id, Experiment.name == name)
        )

    def get(self, project: Project, experiment_id: str | int | None) -> Experiment:
        """The experiment with MLflow id ``experiment_id`` (``0`` is made on first use); raise
        ``InvalidInput`` or ``MissingResource``."""
        text = str(experiment_id if experiment_id is not None else "")
        iid = row_id(text)
        if iid is None:
            raise InvalidInput(f"Invalid experiment ID: '{text}'")
        if iid == DEFAULT_EXPERIMENT_ID:
            return self._default(project.id)
        experiment = self.session.scalar(
            select(Experiment).where(Experiment.project_id == project.id, Experiment.iid == iid)
        )
        if experiment is None:
            raise MissingResource(f"No Experiment with id={iid} exists", "Experiment")
        return experiment

    def _default(self, project_id: int) -> Experiment:
        def work() -> Experiment:
            experiment = self.session.scalar(
                select(Experiment).where(Experiment.project_id == project_id, Experiment.iid == DEFAULT_EXPERIMENT_ID)
            )
            if experiment is None:
                experiment = Experiment(project_id=project_id, iid=DEFAULT_EXPERIMENT_ID, name=DEFAULT_EXPERIMENT_NAME)
                self.session.add(experiment)
                self.session.flush()
            return experiment

        return committed(self.session, work)

    def get_active(self, project: Project, experiment_id: str | int | None) -> Experiment:
        """``get``, refusing a deleted experiment (MLflow will not log into one)."""
        experiment = self.get(project, experiment_id)
        if experiment.lifecycle_stage != ACTIVE:
            raise InvalidInput(
                f"The experiment {experiment.iid} must be in the 'active' state. Current state is {experiment.lifecycle_stage}."
            )
        return experiment

    def get_by_name(self, project: Project, name: str) -> Experiment:
        """Raise ``MissingResource`` (which the client turns into ``None``)."""
        if name == DEFAULT_EXPERIMENT_NAME:
            default = self._default(project.id)
            if default.name == name:
                return default
        experiment = self.find_by_name(project.id, name)
        if experiment is None:
            raise MissingResource(f"Could not find experiment with name '{name}'", "Experiment")
        return experiment

    def default_for(self, model: Model) -> Experiment:
        """The model's default experiment ``[model]<name>``, made (and committed) when missing."""
        found = self.session.scalar(_MODEL_EXPERIMENT, {"model": model.id})
        if found is not None:
            return found
        name = model_experiment_name(model.name)
        project_id, model_id, author_id = model.project_id, model.id, model.author_id

        def work() -> Experiment:
            experiment = self.session.scalar(select(Experiment).where(Experiment.model_id == model_id))
            if experiment is None:
                experiment = self.find_by_name(project_id, name)
                if experiment is None:
                    iid = next_iid(self.session, project_id)
                    experiment = Experiment(project_id=project_id, iid=iid, name=name, creator_id=author_id)
                    self.session.add(experiment)
                experiment.model_id = model_id
                experiment.lifecycle_stage = ACTIVE
                self.session.flush()
            return experiment

        return committed(self.session, work)

    def rename_for_model(self, model: Model, new_model_name: str) -> None:
        """Follow a model's rename: its default experiment becomes ``[model]<new name>``."""
        experiment = self.session.scalar(select(Experiment).where(Experiment.model_id == model.id))
        if experiment is not None:
            experiment.name = model_experiment_name(new_model_name)

    def views(self, experiments: list[Experiment]) -> list[ExperimentView]:
        ids = [e.id for e in experiments]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        if ids:
            for tag in self.session.scalars(select(ExperimentTag).where(ExperimentTag.experiment_id.in_(ids))):
                tags[tag.experiment_id][tag.key] = tag.value
        return [ExperimentView(e, tags[e.id]) for e in experiments]

    def view(self, experiment: Experiment) -> ExperimentView:
        return self.views([experiment])[0]

    def search(
        self,
        project: Project,
        *,
        view_type: str | None = None,
        filter_: str | None = None,
        order_by: list[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> search.Results[ExperimentView]:
        """Experiments matching ``filter_``; raise ``InvalidInput`` for a bad filter or token."""
        stages = lifecycle_stages(view_type)
        comparisons = filters.parse(filter_, SEARCH_GRAMMAR)
        filters.check_order_count(order_by or [])
        orderings = [filters.parse_order_by(o, ORDER_KEYS) for o in order_by or []]
        size = search.max_results(max_results, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT)
        start = search.offset(page_token)
        rows = list(
            self.session.scalars(
                select(Experiment).where(Experiment.project_id == project.id, Experiment.lifecycle_stage.in_(stages))
            )
        )
        views = [v for v in self.views(rows) if all(c.matches(_field(v, c.kind, c.key)) for c in comparisons)]
        keys: list[tuple[Callable[..., Any], bool]] = [
            ((lambda v, o=o: _field(v, o.kind, o.key)), o.ascending) for o in orderings
        ]
        if not orderings:
            keys = [(lambda v: v.experiment.created_at, False)]
        keys.append((lambda v: v.experiment.iid, True))
        return search.paginate(search.sort(views, keys), start, size)

    # -- pages -----------------------------------------------------------------------------------------

    def page(
        self,
        project: Project,
        *,
        search: str | None = None,
        order_by: str = "created_at",
        sort: str = "desc",
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        """A page of ``project``'s active experiments whose name contains ``search``, as
        ``ExperimentSummary`` items; raise ``InvalidParameter`` for an unknown order or direction."""
        column = PAGE_ORDERS[choice("order_by", order_by, PAGE_ORDERS)]
        desc = descending(sort)
        query = select(Experiment).where(Experiment.project_id == project.id, Experiment.lifecycle_stage == ACTIVE)
        if search:
            query = query.where(contains(Experiment.name, search))
        order = [column.desc(), Experiment.id.desc()] if desc else [column.asc(), Experiment.id.asc()]
        found = query_page(self.session, query, order, page, per_page)
        return Page(self.summaries(found.items), found.total, found.page, found.per_page)

    def get_shown(self, project: Project, iid: int) -> Experiment:
        """The active experiment ``iid`` of ``project``, as its page shows it (unlike ``get``, the
        default experiment is not made here); raise ``MissingResource``."""
        experiment = self.session.scalar(
            select(Experiment).where(
                Experiment.project_id == project.id, Experiment.iid == iid, Experiment.lifecycle_stage == ACTIVE
            )
        )
        if experiment is None:
            raise MissingResource(f"No Experiment with id={iid} exists", "Experiment")
        return experiment

    def summaries(self, experiments: list[Experiment]) -> list[ExperimentSummary]:
        """``experiments`` with their active runs counted, in one query."""
        ids = [e.id for e in experiments]
        stats: dict[int, tuple[int, int | None, int | None]] = {}
        if ids:
            rows = self.session.execute(
                select(Run.experiment_id, func.count(Run.id), func.max(Run.start_time), func.max(Run.end_time))
                .where(Run.experiment_id.in_(ids), Run.lifecycle_stage == ACTIVE)
                .group_by(Run.experiment_id)
            )
            stats = {experiment_id: (count, started, ended) for experiment_id, count, started, ended in rows}
        summaries = []
        for experiment in experiments:
            count, started, ended = stats.get(experiment.id, (0, None, None))
            times = [experiment.updated_at, *(from_milliseconds(t) for t in (started, ended) if t is not None)]
            summaries.append(ExperimentSummary(experiment, count, max(times)))
        return summaries

    def logged_keys(self, experiment: Experiment) -> LoggedKeys:
        """The param and metric keys logged in the experiment's latest ``KEY_RUNS`` active runs (at
        most ``KEY_LIMIT`` of each, by name): the columns its runs table offers."""
        latest = (
            select(Run.id)
            .where(Run.experiment_id == experiment.id, Run.lifecycle_stage == ACTIVE)
            .order_by(Run.id.desc())
            .limit(KEY_RUNS)
            .subquery()
        )

        def keys(column: Any, run_id: Any) -> list[str]:
            query = select(column).where(run_id.in_(select(latest.c.id))).distinct().order_by(column).limit(KEY_LIMIT)
            return list(self.session.scalars(query))

        return LoggedKeys(keys(RunParam.key, RunParam.run_id), keys(RunLatestMetric.key, RunLatestMetric.run_id))

    # -- tags, names, lifecycle ----------------------------------------------------------------------

    def set_tag(self, experiment: Experiment, key: str, value: str) -> None:
        key = validation.key(key)
        value = validation.length("Experiment tag value", value, validation.MAX_EXPERIMENT_TAG_VALUE_LENGTH)
        experiment_id = experiment.id

        def work() -> None:
            put_tag(self.session, ExperimentTag.experiment_id, experiment_id, key, value)

        committed(self.session, work)

    def rename(self, experiment: Experiment, new_name: str | None) -> None:
        """Raise ``InvalidInput`` for a model's experiment or a bad name, ``AlreadyExists``."""
        self._refuse_model_experiment(experiment, "renamed")
        name = validation.experiment_name(new_name)
        if self.find_by_name(experiment.project_id, name) not in (None, experiment):
            raise AlreadyExists(f"Experiment(name={name})")
        before, experiment.name = experiment.name, name
        if before != name:
            _audit(self.session, self.actor, "updated", experiment, change="name", **{"from": before, "to": name})
        commit(self.session)

    def delete(self, experiment: Experiment) -> None:
        """Mark the experiment deleted; raise ``InvalidInput`` for a model's or the default one."""
        self._refuse_model_experiment(experiment, "deleted")
        if experiment.iid == DEFAULT_EXPERIMENT_ID:
            raise InvalidInput("Cannot delete the default experiment '0'. This is an internally reserved experiment.")
        if experiment.lifecycle_stage != DELETED:
            experiment.lifecycle_stage = DELETED
            _audit(self.session, self.actor, "deleted", experiment)
        commit(self.session)

    def restore(self, experiment: Experiment) -> None:
        if experiment.lifecycle_stage != ACTIVE:
            experiment.lifecycle_stage = ACTIVE
            _audit(self.session, self.actor, "restored", experiment)
        commit(self.session)

    @staticmethod
    def _refuse_model_experiment(experiment: Experiment, verb: str) -> None:
        if experiment.model_id is not None:
            raise InvalidInput(
                f"Experiment '{experiment.name}' is the default experiment of a model and cannot be {verb}."
            )


def _audit(session: DbSession, actor: Actor, what: str, experiment: Experiment, **details: Any) -> None:
    """Record ``experiment_<what>`` in ``session`` (tracking data beyond creation, deletion and
    names, such as tags, is not audited)."""
    record_audit_event(
        session,
        f"experiment_{what}",
        project=experiment.project_id,
        target_type="Experiment",
        target_id=experiment.id,
        target_details=experiment.name,
        details={"name": experiment.name, "experiment_id": str(experiment.iid), **details},
        actor=actor,
    )


def _field(view: ExperimentView, kind: str, key: str) -> str | float | None:
    experiment = view.experiment
    if kind == filters.TAG:
        return view.tags.get(key)
    if key == "name":
        return experiment.name
    if key == "experiment_id":
        return str(experiment.iid)
    if key == "creation_time":
        return _ms(experiment.created_at)
    return _ms(experiment.updated_at)


def _ms(value: datetime.datetime) -> float:
    return float(milliseconds(value) or 0)
