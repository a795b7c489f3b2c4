"""Registered model and model version searches in the database, with MLflow's semantics (those of
``filters.Comparison.matches``, which these searches used to run in Python): the filter, the order
and the page are one SQL query, then only the page's rows are loaded (``RegistryService.views``,
``ModelVersionService.views``).

- A comparison on a tag is true for the entities that have the tag and whose value passes (``!=``
  too); the prompt rule of ``filters.without_prompts`` (a comparison an entity without the tag
  passes) becomes ``NOT EXISTS`` a tag that fails it.
- ``tags.k = 'v'`` on versions, on PostgreSQL: the version's tag object contains ``{k: v}``
  (``tag_index``: one GIN index intersects every such filter of the search). Otherwise it also asks
  for the value's indexed prefix (``indexed_value``), which the index on (key, value prefix, owner)
  holds.
- ``LIKE``, ``ILIKE``, ``IN`` and the rest are ``run_search.compare``'s: the same on SQLite and
  PostgreSQL.
- A version's ``run_id`` is the uuid of its registration's run (``''`` without one), ``source_path``
  its registration's source; a version older than tracking (no registration yet) has its own run's
  uuid and an empty source, as the registration ``VersionRuns.ensure`` makes for it would say.
- Names order by code point (``COLLATE "C"`` on PostgreSQL, SQLite's own order), as Python's sort
  did; then the tie-breakers: model name, then (versions) the number descending.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, not_, select
from sqlalchemy.orm import aliased, contains_eager
from sqlalchemy.sql.elements import ColumnElement

from package_api.plugin_api import DbSession, Project
from plugin.mlflow_registry import tag_index
from plugin.mlflow_registry.models import INDEXED_VALUE_LENGTH, ModelTag, Registration, VersionTag, indexed_value
from plugin.registry.models import Model, ModelVersion
from plugin.tracking import filters
from plugin.tracking.models import Run
from plugin.tracking.run_search import compare

_REGISTERED_RUN = aliased(Run)
_OWN_RUN = aliased(Run)


def page(session: DbSession, statement: Select[Any], start: int, size: int) -> tuple[list[Any], bool]:
    """The rows of ``statement`` from ``start`` (at most ``size``) and whether more follow."""
    rows = list(session.scalars(statement.offset(start).limit(size + 1)).unique())
    return rows[:size], len(rows) > size


def _dialect(session: DbSession) -> str:
    return session.get_bind().dialect.name


def _by_code_point(column: Any, dialect: str) -> Any:
    return column.collate("C") if dialect == "postgresql" else column


def _tag(
    table: Any, owner: Any, owner_id: Any, comparison: filters.Comparison, dialect: str, *, few: bool = False
) -> ColumnElement[bool]:
    """``owner_id`` (the model's or version's id) passes ``comparison`` on a tag: is among the owners
    (``owner``: the tag table's owner column) of a passing tag, which both databases find through
    the index on (key, value prefix, owner) and hold as a set (SQLite would run an ``EXISTS`` once
    per row of the whole registry). With ``few`` (other comparisons narrow the rows down to one
    model's), an ``EXISTS`` per row instead: SQLite would read every passing tag of the registry
    into the set. (PostgreSQL plans both forms alike.)"""
    passes = compare(table.value, comparison.operator, comparison.value, dialect)
    # What the index on (key, value prefix, owner) finds. Not when PostgreSQL probes a few owners:
    # the unique index on (owner, key) finds their tags next to each other, which it prefers to take
    # from the other index if asked for the prefix (a third slower for a model of 10,000 versions).
    # SQLite probes the prefix index without the table (values shorter than the prefix).
    if comparison.operator == "=" and not (few and dialect == "postgresql"):
        value = str(comparison.value)
        prefix = _prefix(table) == value[:INDEXED_VALUE_LENGTH]
        # A value shorter than the prefix equals the value's prefix alone; saying ``value = v`` as
        # well would have SQLite put ``v`` for ``value`` in the prefix (constant propagation) and
        # forget the index.
        passes = prefix if len(value) < INDEXED_VALUE_LENGTH else and_(prefix, passes)
    if comparison.absent_passes:  # absent, or present and passing: no tag that fails
        return not_(exists().where(owner == owner_id, table.key == comparison.key, not_(passes)))
    if few:  # a few owners to look at (one model's versions): probe each one's tags
        return exists().where(owner == owner_id, table.key == comparison.key, passes)
    return owner_id.in_(select(owner).where(table.key == comparison.key, passes))  # type: ignore[no-any-return]


def _prefix(table: Any) -> Any:
    """A tag's indexed value prefix: a version tag's computed column, a model tag's expression."""
    return table.value_prefix if table is VersionTag else indexed_value(table.value)


def _order(column: ColumnElement[Any], ascending: bool) -> ColumnElement[Any]:
    return column.asc() if ascending else column.desc()


# -- registered models -------------------------------------------------------------------------------


def models(
    session: DbSession, project: Project, comparisons: Sequence[filters.Comparison], orderings: Sequence[filters.Ordering]
) -> Select[Any]:
    """The models of ``project`` that pass ``comparisons``, in order (no page yet)."""
    dialect = _dialect(session)
    statement = select(Model).where(Model.project_id == project.id)
    for comparison in comparisons:
        if comparison.kind == filters.TAG:
            statement = statement.where(_tag(ModelTag, ModelTag.model_id, Model.id, comparison, dialect))
        else:  # the one attribute: name
            name: Any = Model.name
            statement = statement.where(compare(name, comparison.operator, comparison.value, dialect))
    order = [_order(_model_column(o.key, dialect), o.ascending) for o in orderings]
    return statement.order_by(*order, _by_code_point(Model.name, dialect).asc())


def _model_column(key: str, dialect: str) -> Any:
    if key == "name":
        return _by_code_point(Model.name, dialect)
    column: Any = Model.created_at if key in ("creation_timestamp", "timestamp") else Model.updated_at
    return column


# -- model versions ----------------------------------------------------------------------------------


def versions(
    session: DbSession, project: Project, comparisons: Sequence[filters.Comparison], orderings: Sequence[filters.Ordering]
) -> Select[Any]:
    """The versions of ``project``'s models that pass ``comparisons``, in order (no page yet), with
    their models loaded."""
    dialect = _dialect(session)
    statement = (
        select(ModelVersion)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(Model.project_id == project.id)
        .options(contains_eager(ModelVersion.model))
    )
    attributes = {c.key for c in comparisons if c.kind == filters.ATTRIBUTE}
    few = any(c.kind == filters.ATTRIBUTE and c.key == "name" and c.operator in ("=", "IN") for c in comparisons)
    if attributes & {"run_id", "source_path"}:
        statement = statement.outerjoin(Registration, Registration.version_id == ModelVersion.id)
    driver = None if few or dialect != "sqlite" else _narrowest_tag(session, comparisons)
    contained = [c for c in comparisons if _in_tag_index(c)] if dialect == "postgresql" else []
    if contained:  # all of them in one GIN index scan
        statement = statement.where(tag_index.contain(contained))
    for comparison in comparisons:
        if any(comparison is c for c in contained):
            continue
        if comparison.kind == filters.TAG:
            probe = few or (driver is not None and comparison is not driver)
            condition = _tag(VersionTag, VersionTag.version_id, ModelVersion.id, comparison, dialect, few=probe)
        else:
            condition = compare(_version_column(comparison.key), comparison.operator, comparison.value, dialect)
        statement = statement.where(condition)
    order = [_order(_version_column(o.key, dialect), o.ascending) for o in orderings]
    if not orderings:
        order.append(ModelVersion.updated_at.desc())
    return statement.order_by(*order, _by_code_point(Model.name, dialect).asc(), ModelVersion.sequence.desc())


def _in_tag_index(comparison: filters.Comparison) -> bool:
    """Whether ``comparison`` is a ``tags.k = 'v'`` the versions' tag objects answer (PostgreSQL)."""
    return comparison.kind == filters.TAG and comparison.operator == "=" and not comparison.absent_passes


#: How many tags ``_narrowest_tag`` counts at most for each ``tags.k = 'v'`` of a filter (ties at the
#: bound are broken by the order of the filter).
SAMPLE = 10_000


def _narrowest_tag(session: DbSession, comparisons: Sequence[filters.Comparison]) -> filters.Comparison | None:
    """On SQLite, of two or more ``tags.k = 'v'`` comparisons the one fewest versions pass (counted up
    to ``SAMPLE``, each an index range; the first of those that tie): the one whose versions the search
    reads as a set, the others then probed per version. SQLite keeps no statistics of values and would
    read every comparison's set (a quarter of a registry for ``tags.stage = 'prod'``); PostgreSQL's
    planner chooses itself. Each count stops at the fewest found before it: a comparison that passes
    as many versions cannot be the narrowest, and counting the rest of its range was most of the cost
    (a quarter of a three-tag search at 110,000 versions)."""
    equal = [c for c in comparisons if c.kind == filters.TAG and c.operator == "=" and not c.absent_passes]
    if len(equal) < 2:
        return None

    def passing(comparison: filters.Comparison, bound: int) -> int:
        value = str(comparison.value)
        found = select(VersionTag.version_id).where(
            VersionTag.key == comparison.key, VersionTag.value_prefix == value[:INDEXED_VALUE_LENGTH]
        )
        return int(session.scalar(select(func.count()).select_from(found.limit(bound).subquery())) or 0)

    narrowest, fewest = equal[0], passing(equal[0], SAMPLE)
    for comparison in equal[1:]:
        if fewest == 0:
            break
        count = passing(comparison, fewest)
        if count < fewest:
            narrowest, fewest = comparison, count
    return narrowest


def _version_column(key: str, dialect: str = "") -> Any:
    if key == "name":
        return _by_code_point(Model.name, dialect)
    if key == "run_id":
        registered = select(_REGISTERED_RUN.uuid).where(_REGISTERED_RUN.id == Registration.run_id).scalar_subquery()
        own = select(_OWN_RUN.uuid).where(_OWN_RUN.model_version_id == ModelVersion.id).limit(1).scalar_subquery()
        return case(
            (Registration.version_id.is_(None), func.coalesce(own, "")),
            else_=func.coalesce(registered, ""),
        )
    if key == "source_path":
        return func.coalesce(Registration.source, "")
    columns: dict[str, Any] = {
        "version_number": ModelVersion.sequence,
        "creation_timestamp": ModelVersion.created_at,
        "timestamp": ModelVersion.created_at,
        "last_updated_timestamp": ModelVersion.updated_at,
    }
    column: ColumnElement[Any] = columns[key]
    return column
