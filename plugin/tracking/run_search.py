"""Run searches in the database, with MLflow's semantics (its SQL store): the filter, the order and
the page are one SQL query over the runs, their params and tags and their latest metrics
(``ml_run_latest_metrics``, kept here as points are logged).

- A comparison on a tag, param or metric is true for runs that have the key and whose value passes
  (``!=`` too); ``IS NULL`` / ``IS NOT NULL`` ask whether a tag or param is there. A NaN metric
  passes ``!=`` and nothing else.
- ``datasets.name``, ``datasets.digest`` and ``datasets.context`` ask for a dataset input of the run
  (its dataset's name or digest, the context its use was tagged with) that passes.
- ``LIKE`` is case-sensitive, ``ILIKE`` is not, on SQLite and PostgreSQL alike; the pattern is a
  bound value whose ``%`` and ``_`` are the only wildcards (a backslash is literal, as in MLflow on
  SQLite).
- Ordering by a key the run lacks puts it after the runs that have one, in either direction (for
  a metric: values, then NaN, then missing); then ``start_time`` descending (unless ordered on),
  then ``run_id``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, and_, case, exists, false, func, literal, or_, select, true, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from package_api.plugin_api import DbSession, InvalidInput, Project
from plugin.tracking import filters
from plugin.tracking.datasets import CONTEXT_TAG
from plugin.tracking.models import (
    Dataset,
    Experiment,
    Run,
    RunDatasetInput,
    RunDatasetInputTag,
    RunLatestMetric,
    RunMetric,
    RunParam,
    RunTag,
)

SEARCH_GRAMMAR = filters.Grammar(
    attributes=frozenset(
        {"run_id", "run_name", "status", "user_id", "start_time", "end_time", "artifact_uri", "created"}
    ),
    numeric=frozenset({"start_time", "end_time", "created"}),
    listable=frozenset({"run_id"}),
    kinds=frozenset({filters.TAG, filters.METRIC, filters.PARAM, filters.DATASET}),
    synonyms={"run name": "run_name", "Run name": "run_name", "Run Name": "run_name", "Created": "created"},
    nullable=frozenset({filters.TAG, filters.PARAM}),
    null_refusal="IS NULL / IS NOT NULL is only supported for tags and params, not for '{kind}' '{key}'",
)
ORDER_KEYS = frozenset(
    {"run_id", "run_name", "status", "user_id", "start_time", "end_time", "artifact_uri", "created"}
)
ORDER_KINDS = frozenset({filters.TAG, filters.METRIC, filters.PARAM})
_ESCAPE = "\\"


def parse_order_by(order_by: Sequence[str]) -> list[filters.Ordering]:
    """The orderings of ``order_by``; raise ``InvalidInput`` (MLflow's words for a key given twice)."""
    filters.check_order_count(order_by)
    orderings = [filters.parse_order_by(o, ORDER_KEYS, ORDER_KINDS) for o in order_by]
    seen = [(o.kind, _attribute(o.key) if o.kind == filters.ATTRIBUTE else o.key) for o in orderings]
    if len(set(seen)) != len(seen):
        raise InvalidInput(f"`order_by` contains duplicate fields: {list(order_by)}")
    return orderings


def query(
    session: DbSession,
    project: Project,
    experiments: Sequence[Experiment],
    stages: Sequence[str],
    comparisons: Sequence[filters.Comparison],
    orderings: Sequence[filters.Ordering],
) -> Select[Run]:
    """The runs of ``experiments`` in ``stages`` that pass ``comparisons``, in order (no page yet)."""
    dialect = session.get_bind().dialect.name
    iids = {e.id: str(e.iid) for e in experiments}
    statement = select(Run).where(
        Run.project_id == project.id, Run.experiment_id.in_(list(iids)), Run.lifecycle_stage.in_(list(stages))
    )
    for comparison in comparisons:
        statement = statement.where(_condition(comparison, dialect, iids))
    order: list[Any] = []
    for ordering in orderings:
        joined, value, missing = _sort_value(ordering, iids)
        if joined is not None:  # the tag, param or metric, for the runs that have it
            statement = statement.outerjoin(joined, joined.run_id == Run.id)
        order += [missing, value.asc() if ordering.ascending else value.desc()]
    if not any(o.kind == filters.ATTRIBUTE and _attribute(o.key) == "start_time" for o in orderings):
        order.append(Run.start_time.desc())
    order.append(Run.uuid.asc())
    return statement.order_by(*order)


def _attribute(key: str) -> str:
    return "start_time" if key == "created" else key


def _column(key: str, iids: dict[int, str]) -> ColumnElement[Any]:
    key = _attribute(key)
    if key == "artifact_uri":
        iid = case(iids, value=Run.experiment_id, else_=literal(""))
        return literal("mlflow-artifacts:/") + iid + literal("/") + Run.uuid + literal("/artifacts")
    columns: dict[str, Any] = {
        "run_id": Run.uuid,
        "run_name": Run.name,
        "status": Run.status,
        "user_id": Run.user_name,
        "start_time": Run.start_time,
        "end_time": Run.end_time,
    }
    column: ColumnElement[Any] = columns[key]
    return column


def _condition(comparison: filters.Comparison, dialect: str, iids: dict[int, str]) -> ColumnElement[bool]:
    kind, key, operator, value = comparison.kind, comparison.key, comparison.operator, comparison.value
    if kind == filters.ATTRIBUTE:
        return compare(_column(key, iids), operator, value, dialect)
    if kind == filters.DATASET:  # a dataset input of the run whose dataset (or context) passes
        used = RunDatasetInput.run_id == Run.id
        columns: dict[str, Any] = {"name": Dataset.name, "digest": Dataset.digest, "context": RunDatasetInputTag.value}
        passes = compare(columns[key], operator, value, dialect)
        if key == "context":
            tag = and_(RunDatasetInputTag.input_id == RunDatasetInput.id, RunDatasetInputTag.key == CONTEXT_TAG)
            return exists().where(used, tag, passes)
        return exists().where(used, Dataset.id == RunDatasetInput.dataset_id, passes)
    table: Any = {filters.TAG: RunTag, filters.PARAM: RunParam, filters.METRIC: RunLatestMetric}[kind]
    owned = and_(table.run_id == Run.id, table.key == key)
    if operator in filters.NULL_OPERATORS:
        present = exists().where(owned)
        return ~present if operator == "IS NULL" else present
    passes = compare(table.value, operator, value, dialect)
    if kind == filters.METRIC:  # NaN is stored as 0: it passes != and nothing else
        passes = or_(passes, table.is_nan == true()) if operator == "!=" else and_(passes, table.is_nan == false())
    return exists().where(owned, passes)


def compare(column: ColumnElement[Any], operator: str, value: object, dialect: str) -> ColumnElement[bool]:
    """``column <operator> value`` with the semantics above (the registry's searches use it too)."""
    if operator == "IN":
        return column.in_(list(value))  # type: ignore[call-overload]  # a list operator's value is a tuple
    if operator == "NOT IN":
        return column.not_in(list(value))  # type: ignore[call-overload]
    if operator == "LIKE":
        if dialect == "sqlite":  # SQLite's LIKE ignores ASCII case; its GLOB does not
            return column.op("GLOB")(_glob(str(value)))
        return column.like(_escaped(str(value)), escape=_ESCAPE)
    if operator == "ILIKE":
        return func.lower(column).like(func.lower(_escaped(str(value))), escape=_ESCAPE)
    comparisons = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    return comparisons[operator](value)


def _escaped(pattern: str) -> str:
    """``pattern`` for ``LIKE ... ESCAPE '\\'``: the backslash itself is the one character to escape."""
    return pattern.replace(_ESCAPE, _ESCAPE * 2)


def _glob(pattern: str) -> str:
    """A LIKE pattern as a GLOB pattern: ``%`` -> ``*``, ``_`` -> ``?``, GLOB's own ``*``, ``?`` and
    ``[`` bracketed so that they are literal."""
    special = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}
    return "".join(special.get(c, c) for c in pattern)


def _sort_value(ordering: filters.Ordering, iids: dict[int, str]) -> tuple[Any, ColumnElement[Any], ColumnElement[int]]:
    """What ``ordering`` sorts on: the table to join (``None`` for an attribute), the value, and the
    key that sorts missing values (and NaN metrics) last."""
    if ordering.kind == filters.ATTRIBUTE:
        column = _column(ordering.key, iids)
        return None, column, case((column.is_(None), 1), else_=0)
    entity: Any = {filters.TAG: RunTag, filters.PARAM: RunParam, filters.METRIC: RunLatestMetric}[ordering.kind]
    table = aliased(entity, select(entity).where(entity.key == ordering.key).subquery())
    if ordering.kind == filters.METRIC:
        missing = case((table.is_nan == true(), 1), (table.value.is_(None), 2), else_=0)
    else:
        missing = case((table.value.is_(None), 1), else_=0)
    return table, table.value, missing


# -- the latest metrics ------------------------------------------------------------------------------


def keep_latest(session: DbSession, run_id: int, points: Iterable[object]) -> None:
    """Update the latest metrics of run ``run_id`` with the newly logged run metric ``points`` (other
    rows among them are skipped), in the caller's transaction: one upsert per key, the newest of the
    batch, which keeps a row that is newer than the point (so two batches logged at once leave the
    newest, in any order); the keys of a batch are one execution of it (``executemany``)."""
    newest: dict[str, RunMetric] = {}
    for point in points:
        if not isinstance(point, RunMetric) or point.run_id != run_id:
            continue
        if point.key not in newest or _rank(point) > _rank(newest[point.key]):
            newest[point.key] = point
    if not newest:
        return
    rows = [
        {"run_id": run_id, "key": p.key, "value": p.value, "is_nan": p.is_nan, "timestamp": p.timestamp, "step": p.step}
        for p in newest.values()
    ]
    session.execute(_keep_latest_statement(session.get_bind().dialect.name), rows)


#: ``keep_latest``'s upsert per dialect, built once: built on each call, its construction and
#: compilation were most of a ``log-metric``'s time in the server.
_KEEP_LATEST: dict[str, Insert] = {}


def _keep_latest_statement(dialect: str) -> Insert:
    """The upsert of one latest metric row (run it with a list of rows: one execution per row of a
    batch), which keeps a stored row that is newer than the new one."""
    statement = _KEEP_LATEST.get(dialect)
    if statement is None:
        table = cast(Table, RunLatestMetric.__table__)
        insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        new = insert.excluded
        statement = _KEEP_LATEST[dialect] = insert.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": new.value, "is_nan": new.is_nan, "timestamp": new.timestamp, "step": new.step},
            where=tuple_(new.step, new.timestamp, new.value) > tuple_(table.c.step, table.c.timestamp, table.c.value),
        )
    return statement


def _rank(point: RunMetric) -> tuple[int, int, float]:
    """MLflow's "latest": the highest step, then the latest timestamp, then the highest value as
    stored (NaN as 0); of equals, the first logged."""
    return (point.step, point.timestamp, point.value)
