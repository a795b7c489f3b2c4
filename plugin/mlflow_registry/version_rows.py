"""Model versions as the MLflow read calls answer them (``model-versions/get`` and ``search``,
``get-latest-versions``, a registered model's latest versions), read as plain rows: one joined query
for the versions' own columns with their model's name, author, registration, run and logged model,
one for their tags and aliases. No ORM objects, no identity map, and the statements are
built once (their compiled form is cached by SQLAlchemy), so a read costs the database's time and a
few tuples per version (issue 15: the reads' time was SQLAlchemy building statements and objects).

``VersionView.row`` makes the same row from what the write calls hold, so one function writes the
answer's JSON whichever way its version was read."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    CompoundSelect,
    Dialect,
    Select,
    String,
    TypeDecorator,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, Join
from sqlalchemy.sql.visitors import InternalTraversal

from package_api.plugin_api import DbSession, User, prepared
from plugin.mlflow_registry.models import STAGES, Alias, ModelTag, Registration, VersionTag
from plugin.mlflow_registry.version_runs import VersionRuns
from plugin.registry.models import Model, ModelVersion
from plugin.tracking.models import LoggedModel, Run
from plugin.tracking.times import milliseconds


class VersionRow(NamedTuple):
    """What MLflow's ``ModelVersion`` says of a version (times in milliseconds, ``""`` for absent text)."""

    id: int
    model_id: int  # the registry model's row id
    name: str
    sequence: int
    semver: str  # ``ModelVersion.version``: listed first among the aliases on the wire
    created_at: int | None
    updated_at: int | None
    user: str
    description: str
    stage: str
    source: str
    run_link: str
    run_uuid: str
    logged_model: str | None  # the logged model's uuid
    tags: list[tuple[str, str]]
    aliases: list[str]


_VERSIONS, _MODELS, _USERS = ModelVersion.__table__, Model.__table__, User.__table__
_REGISTRATIONS, _RUNS, _LOGGED = Registration.__table__, Run.__table__, LoggedModel.__table__
_TAGS, _ALIASES, _MODEL_TAGS = VersionTag.__table__, Alias.__table__, ModelTag.__table__

_COLUMN_LIST = (
    _VERSIONS.c.id,
    _VERSIONS.c.model_id,
    _MODELS.c.name,
    _VERSIONS.c.sequence,
    _VERSIONS.c.version,
    _VERSIONS.c.created_at,
    _VERSIONS.c.updated_at,
    _USERS.c.username,
    _VERSIONS.c.description,
    _REGISTRATIONS.c.version_id,  # NULL: no registration yet (a version older than tracking)
    _REGISTRATIONS.c.stage,
    _REGISTRATIONS.c.source,
    _REGISTRATIONS.c.run_link,
    _RUNS.c.uuid,
    _LOGGED.c.uuid,
)


def _joined(versions: FromClause) -> Join:
    """``versions`` (the versions' table, or a join that ends with it) joined to what a row reads."""
    return (
        versions.join(_MODELS, _MODELS.c.id == _VERSIONS.c.model_id)
        .outerjoin(_USERS, _USERS.c.id == _VERSIONS.c.author_id)
        .outerjoin(_REGISTRATIONS, _REGISTRATIONS.c.version_id == _VERSIONS.c.id)
        .outerjoin(_RUNS, _RUNS.c.id == _REGISTRATIONS.c.run_id)
        .outerjoin(_LOGGED, _LOGGED.c.id == _REGISTRATIONS.c.logged_model_id)
    )


class _IdList(TypeDecorator[Sequence[int]]):
    """A list of ids bound as one parameter: an array on PostgreSQL, JSON text elsewhere (SQLite)."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(ARRAY(BigInteger) if dialect.name == "postgresql" else String())

    def process_bind_param(self, value: Sequence[int] | None, dialect: Dialect) -> Any:
        ids = [int(i) for i in value or ()]
        return ids if dialect.name == "postgresql" else json.dumps(ids)


class _Among(ColumnElement[bool]):
    """``column`` is one of the ids of the parameter ``name`` (a list, bound as one value): ``=
    ANY(array)`` on PostgreSQL, ``IN (SELECT value FROM json_each(?))`` elsewhere: one statement text
    whatever the number of ids. An expanding ``IN`` is rendered anew for each length, a parameter per
    id: a search of 300 versions spent about 8% of its time in the server on its three such lists
    (issue 15; docs/performance.md)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a predicate of its own: no ``= 1`` after it in a WHERE
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("ids", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.ids = bindparam(name, type_=_IdList())


@compiles(_Among)
def _among_json(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each({compiler.process(element.ids, **kw)}))"


@compiles(_Among, "postgresql")
def _among_array(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.ids, **kw)})"  # bound as BIGINT[]


_COLUMNS = select(*_COLUMN_LIST).select_from(_joined(_VERSIONS))
# Lookups by key, planned once on PostgreSQL (``prepared``): a page's versions by id, a version by
# number.
_BY_IDS = prepared(_COLUMNS.where(_Among(_VERSIONS.c.id, "ids")))
_NAMED = prepared(_COLUMNS.where(
    _MODELS.c.project_id == bindparam("project"),
    _MODELS.c.name == bindparam("name"),
    _VERSIONS.c.sequence == bindparam("sequence"),
))
def _version_labels(among: Callable[[Any], ColumnElement[bool]]) -> tuple[Select[Any], Select[Any]]:
    """The tags and the aliases of the versions whose id column ``among`` holds to be one of them."""
    return (
        select(
            _TAGS.c.version_id,
            literal_column("0").label("kind"),
            _TAGS.c.id.label("n"),
            _TAGS.c.key,
            _TAGS.c.value,
            literal_column("0").label("number"),
        ).where(among(_TAGS.c.version_id)),
        select(
            _ALIASES.c.version_id, literal_column("1"), literal_column("0"), _ALIASES.c.alias, literal_column("''"), literal_column("0")
        ).where(among(_ALIASES.c.version_id)),
    )


def _model_labels(among: Callable[[Any], ColumnElement[bool]]) -> tuple[Select[Any], Select[Any]]:
    """The tags of the models whose id column ``among`` holds to be one of them, in the order they were
    set, and their aliases by name with the number of the version each names."""
    return (
        select(
            _MODEL_TAGS.c.model_id, literal_column("2"), _MODEL_TAGS.c.id, _MODEL_TAGS.c.key, _MODEL_TAGS.c.value, literal_column("0")
        ).where(among(_MODEL_TAGS.c.model_id)),
        select(_ALIASES.c.model_id, literal_column("3"), literal_column("0"), _ALIASES.c.alias, literal_column("''"), _VERSIONS.c.sequence)
        .join(_VERSIONS, _VERSIONS.c.id == _ALIASES.c.version_id)
        .where(among(_ALIASES.c.model_id)),
    )


def _among(name: str) -> Callable[[Any], ColumnElement[bool]]:
    """A column is one of the ids of the list parameter ``name`` (``_Among``)."""
    return lambda column: _Among(column, name)


def _equal(name: str) -> Callable[[Any], ColumnElement[bool]]:
    """A column is the id of the parameter ``name``."""
    return lambda column: column == bindparam(name)


_LABEL_ORDER: tuple[ColumnElement[Any], ...] = (literal_column("kind"), literal_column("n"), literal_column("key"))
# Their tags and aliases in one statement: the tags in the order they were set (their ids: the order
# SQLite read them in before, by the owner index), then the aliases by name. Each row: the owner's id,
# the kind (0 a version's tag, 1 its alias, 2 a model's tag, 3 its alias), the order, key, value, and
# the number of the version a model's alias names (0 otherwise).
_TAGS_AND_ALIASES = prepared(union_all(*_version_labels(_among("ids"))).order_by(*_LABEL_ORDER))
# The same with the labels of the models ``:models`` (a registered model read: ``latest_labelled``), in
# the same statement.
_ALL_LABELS = prepared(union_all(*_version_labels(_among("ids")), *_model_labels(_among("models"))).order_by(*_LABEL_ORDER))
# Both for one version (of one model): ``= :id``, not ``= ANY(:ids)``. PostgreSQL plans a prepared
# statement five times, then keeps a generic plan if it costs no more than those; a generic plan for
# ``= ANY`` of an array it cannot see costs more than one for a single id, so it planned the labels of
# every get again (0.2-0.4 ms of each).
_TAGS_AND_ALIASES_OF_ONE = prepared(union_all(*_version_labels(_equal("id"))).order_by(*_LABEL_ORDER))
_ALL_LABELS_OF_ONE = prepared(union_all(*_version_labels(_equal("id")), *_model_labels(_equal("model"))).order_by(*_LABEL_ORDER))


class ModelRow(NamedTuple):
    """What MLflow's ``RegisteredModel`` says of a model besides its labels and latest versions."""

    id: int
    name: str
    description: str
    created_at: int | None
    updated_at: int | None
    user: str  # the author's username, ``""`` for none


class ModelLabels(NamedTuple):
    """A registered model's tags (in the order they were set) and aliases, each with the number of
    the version it names."""

    tags: dict[str, str]
    aliases: list[tuple[str, int]]

def _highest_by_stage_statement(among: Callable[[Any], ColumnElement[bool]]) -> CompoundSelect[Any]:
    """The statement that reads a few rows per model whatever its number of versions: the versions in
    a stage other than ``None`` (few: the partial index on registrations holds only them) grouped,
    and each model's highest version outside them (the ``None`` stage, which a version older than
    tracking, without a registration, is in too). Built once (it runs for every registered model
    read), for the models whose id column ``among`` holds to be one of them (the ids ``:models``, or
    the id of one model found by name)."""
    none: ColumnElement[str] = literal_column(f"'{STAGES[0]}'")  # a literal, which the partial index's WHERE matches
    staged = (
        select(ModelVersion.model_id, Registration.stage, func.max(ModelVersion.sequence))
        .join(Registration, Registration.version_id == ModelVersion.id)
        .where(among(ModelVersion.model_id), Registration.stage != none)
        .group_by(ModelVersion.model_id, Registration.stage)
    )
    outside = ~exists().where(Registration.version_id == ModelVersion.id, Registration.stage != none)
    highest = (
        select(ModelVersion.sequence)
        .where(ModelVersion.model_id == Model.id, outside)
        .order_by(ModelVersion.sequence.desc())
        .limit(1)
        .correlate(Model)
        .scalar_subquery()
    )
    unstaged = select(Model.id, none, highest).where(among(Model.id))
    return union_all(staged, unstaged)


# The ids as one parameter (``_Among``): one statement, planned once on PostgreSQL, for a page of
# models as for one. With an ``IN`` of a parameter per id, PostgreSQL planned the registered models
# search's page of 100 on every run (3 ms of its ~40).
HIGHEST_BY_STAGE = _highest_by_stage_statement(_among("models"))


def _latest_statement(highest_by_stage: CompoundSelect[Any]) -> Select[Any]:
    """The latest versions of the models ``highest_by_stage`` reads (the highest-numbered version in
    each stage that has one), chosen and read in one statement: ``highest_by_stage`` (a few rows per
    model) computed once, then each of its rows joined to its version by the (model, number) key.

    On PostgreSQL it is a ``MATERIALIZED`` CTE, whatever the planner's estimates: with statistics
    taken before the versions were committed (an autovacuum ANALYZE during a bulk import), the
    planner thought the tables empty and ran the aggregate of every version again for each version
    (the rows' ids were ``IN`` a subquery of it): minutes for 2,000 versions, where it takes
    milliseconds (tests/mlflow/test_registry_search_sql.py seeds exactly so)."""
    highest = highest_by_stage.cte("highest").prefix_with("MATERIALIZED", dialect="postgresql")
    on = and_(_VERSIONS.c.model_id == highest.c[0], _VERSIONS.c.sequence == highest.c[2])
    return select(*_COLUMN_LIST).select_from(_joined(highest.join(_VERSIONS, on)))


LATEST = prepared(_latest_statement(HIGHEST_BY_STAGE))  # of models by id: a page's, a model's
# Those of the model ``:name`` of the project ``:project``, found in the same statement.
_LATEST_NAMED = prepared(_latest_statement(
    _highest_by_stage_statement(
        lambda column: column.in_(
            select(Model.id).where(Model.project_id == bindparam("project"), Model.name == bindparam("name"))
        )
    )
))
# The same, each row with its model's own columns after the version's (``ModelRow``).
_AUTHORS = _USERS.alias("authors")
_LATEST_NAMED_WITH_MODEL = _LATEST_NAMED.add_columns(
    _MODELS.c.description, _MODELS.c.created_at, _MODELS.c.updated_at, _AUTHORS.c.username
).outerjoin(_AUTHORS, _AUTHORS.c.id == _MODELS.c.author_id)

#: Ids per statement (a list is one parameter, ``_Among``): a statement reads a bounded number of rows.
CHUNK = 500


class VersionRows:
    def __init__(self, session: DbSession) -> None:
        self.session = session

    def by_ids(self, ids: Sequence[int]) -> list[VersionRow]:
        """The versions ``ids``, in that order (an id with no version is left out)."""
        found: dict[int, VersionRow] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            found.update((row.id, row) for row in self._read(_BY_IDS, {"ids": chunk}))
        return [found[i] for i in ids if i in found]

    def named(self, project_id: int, name: str, sequence: int) -> VersionRow | None:
        """Version ``sequence`` of the model ``name`` in the project, or ``None``."""
        rows = self._read(_NAMED, {"project": project_id, "name": name, "sequence": sequence})
        return rows[0] if rows else None

    def latest(self, model_ids: Sequence[int]) -> list[VersionRow]:
        """The highest-numbered version in each stage of each of ``model_ids`` that has versions
        there (the ``None`` stage holding the versions without a registration too), in no order."""
        found: list[VersionRow] = []
        for start in range(0, len(model_ids), CHUNK):
            found += self._read(LATEST, {"models": list(model_ids[start : start + CHUNK])})
        return found

    def latest_named(self, project_id: int, name: str) -> list[VersionRow]:
        """``latest`` of the model ``name`` in the project, found in the same statement (``[]``: no
        such model, or a model without versions)."""
        return self._read(_LATEST_NAMED, {"project": project_id, "name": name})

    def latest_of_named(self, project_id: int, name: str) -> tuple[ModelRow, list[VersionRow], ModelLabels] | None:
        """The model ``name`` of the project, its latest versions (``latest``) and its labels, in two
        statements; ``None`` when the first finds no version (no such model, or none of its versions)."""
        rows: list[Any] = []
        labels: dict[int, ModelLabels] = {}
        params = {"project": project_id, "name": name}
        found = self._read(_LATEST_NAMED_WITH_MODEL, params, labels, rows)
        if not found:
            return None
        (description, created, updated, author) = rows[0][15:]
        model = ModelRow(found[0].model_id, found[0].name, description or "", milliseconds(created), milliseconds(updated), author or "")
        return model, found, labels[model.id]

    def latest_labelled(self, model_ids: Sequence[int]) -> tuple[list[VersionRow], dict[int, ModelLabels]]:
        """``latest``, and the labels of each of ``model_ids``, read with the versions' own."""
        labels = {i: ModelLabels({}, []) for i in model_ids}
        found: list[VersionRow] = []
        for start in range(0, len(model_ids), CHUNK):
            chunk = list(model_ids[start : start + CHUNK])
            found += self._read(LATEST, {"models": chunk}, labels)
        return found, labels

    def _read(
        self,
        statement: Any,
        params: dict[str, Any],
        model_labels: dict[int, ModelLabels] | None = None,
        raw: list[Any] | None = None,
    ) -> list[VersionRow]:
        """The versions ``statement`` reads, with their tags and aliases; with ``model_labels``, the
        labels of their models (``params["models"]``, else the versions') in the same statement, into
        it. ``raw``: where to put the rows as read (for the columns a statement has after a version's)."""
        connection = self.session.connection()
        rows = connection.execute(statement, params).all()
        unregistered = [row[0] for row in rows if row[9] is None]
        if unregistered:  # rare: give them their registration (a write), then read them again
            runs = VersionRuns(self.session)
            for version_id in unregistered:
                version = self.session.get(ModelVersion, version_id)
                if version is not None:
                    runs.ensure(version)
            connection = self.session.connection()
            rows = connection.execute(statement, params).all()
        models = [] if model_labels is None else params.get("models", sorted({row[1] for row in rows}))
        if not rows and not models:
            return []
        if raw is not None:
            raw += rows
        ids = [row[0] for row in rows]
        tags: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
        aliases: dict[int, list[str]] = {i: [] for i in ids}
        one = len(ids) == 1
        if model_labels is None:
            if one:
                labels = connection.execute(_TAGS_AND_ALIASES_OF_ONE, {"id": ids[0]})
            else:
                labels = connection.execute(_TAGS_AND_ALIASES, {"ids": ids})
        else:
            model_labels.update((i, ModelLabels({}, [])) for i in models if i not in model_labels)
            if one and len(models) == 1:
                labels = connection.execute(_ALL_LABELS_OF_ONE, {"id": ids[0], "model": models[0]})
            else:
                labels = connection.execute(_ALL_LABELS, {"ids": ids, "models": models})
        for owner, kind, _, key, value, number in labels:
            if kind == 0:
                tags[owner].append((key, value))
            elif kind == 1:
                aliases[owner].append(key)
            elif kind == 2 and model_labels is not None:
                model_labels[owner].tags[key] = value
            elif model_labels is not None:
                model_labels[owner].aliases.append((key, number))
        return [_row(row, tags[row[0]], aliases[row[0]]) for row in rows]


def _row(row: Any, tags: list[tuple[str, str]], aliases: list[str]) -> VersionRow:
    (id_, model_id, name, sequence, semver, created, updated, user, description, _, stage, source, link, run, logged) = row[:15]
    return VersionRow(
        id_,
        model_id,
        name,
        sequence,
        semver,
        milliseconds(created),
        milliseconds(updated),
        user or "",
        description or "",
        stage,
        source,
        link or "",
        run or "",
        logged,
        tags,
        aliases,
    )

