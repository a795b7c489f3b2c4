"""Experiments: create, find by id or name, search, tag, rename, delete and restore, and each
model's default experiment ``[model]<name>``."""
from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    AlreadyExists,
    DbSession,
    InvalidInput,
    Project,
    User,
    commit,
    committed,
    record_audit_event,
    row_id,
)
from plugin.registry.models import Model
from plugin.tracking import filters, search, validation
from plugin.tracking.errors import MissingResource
from plugin.tracking.models import Experiment, ExperimentTag
from plugin.tracking.tags import put_tag
from plugin.tracking.times import milliseconds

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
        found = self.session.scalar(select(Experiment).where(Experiment.model_id == model.id))
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
