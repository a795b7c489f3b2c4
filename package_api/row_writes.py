"""A row written as the unit of work would write it, without the unit of work.

A flush of one new object walks SQLAlchemy's whole unit of work (the session's new and dirty
objects, their mappers sorted by dependency, the attribute history of each) to send one ``INSERT``:
about a millisecond of Python on these machines. A registration makes several rows in a chain, each
needing the id of the one before (the package, its version, the version's own run), so each was its
own flush. ``insert_row`` sends the same ``INSERT`` through Core (a statement built once per table)
and puts the object in the session as the persistent row it now is, loaded as a flush leaves it;
``update_row`` sets columns of a persistent object in its row the same way.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, Update, bindparam, insert, inspect, update
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm.attributes import set_committed_value

from package_api.db import DbSession

T = TypeVar("T")

#: The ``INSERT`` of each table ``insert_row`` wrote into, built once (its compiled form is cached).
_INSERTS: dict[Table, Insert] = {}
#: The ``INSERT ... RETURNING`` of each table ``insert_rows`` wrote into, and the attribute of each column returned.
_RETURNING: dict[Table, tuple[Insert, list[str]]] = {}
#: The ``UPDATE`` of each table and set of columns ``update_row`` wrote, built once.
_UPDATES: dict[tuple[Table, tuple[str, ...]], Update] = {}


def insert_row(session: DbSession, obj: T) -> T:
    """Insert ``obj`` (a new mapped object, not in a session, whose foreign keys are set as columns,
    not through relationships) and add it to ``session`` as persistent, with its id (the one given,
    else the database's). Each column not set takes its column default, as a flush gives it (a
    scalar, or a function of no argument: a default that reads the statement's other values must be
    set by the caller), else ``NULL``; the object then holds every column's value (nothing read back
    later). Returns ``obj``.

    Raises ``ValueError`` for a column not set whose default is not such a value (a default that reads
    the row, a sequence, a server default), before writing; then what the ``INSERT`` raises
    (``IntegrityError``...), the session's pending changes unflushed.
    """
    state = inspect(obj)
    mapper = state.mapper
    table = mapper.local_table
    assert isinstance(table, Table) and not state.has_identity
    values: dict[str, Any] = {}
    loaded = state.dict
    generated = None  # the key of the id the database gives, unless the caller gave it
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.primary_key and loaded.get(prop.key) is None:
            generated = prop.key
            continue
        if prop.key in loaded:
            value = loaded[prop.key]
        else:
            default = column.default
            if default is None:
                if column.server_default is not None:  # a flush would leave it out and read it back
                    raise ValueError(f"{table.name}.{column.name}: set it (only the database has its default)")
                value = None
            elif default.is_scalar:
                value = default.arg
            elif default.is_callable:
                value = default.arg(None)  # SQLAlchemy's wrapper of a function of no argument
            else:
                raise ValueError(f"{table.name}.{column.name}: set it (its default is not a value)")
            loaded[prop.key] = value  # as a flush leaves it: the value written, unchanged
        values[column.key] = value
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table)
    # The session's connection, not ``session.execute``: no autoflush (the pending rows wait for theirs).
    result = session.connection(bind_arguments={"mapper": mapper}).execute(statement, values)
    if generated is not None:
        loaded[generated] = result.inserted_primary_key[0]  # type: ignore[index]
    _persistent(session, [obj])
    return obj


def update_row(session: DbSession, obj: object, **values: Any) -> None:
    """Set ``values`` (attribute names of columns) on ``obj``, a persistent object with a one-column id:
    written now by one ``UPDATE`` of those columns by its id and set on it as committed, when ``obj``
    has no other change pending; else set as changes, for the next flush to write with the others."""
    state = inspect(obj)
    if state.modified or not state.has_identity:
        for key, value in values.items():
            setattr(obj, key, value)
        return
    mapper = state.mapper
    table = mapper.local_table
    assert isinstance(table, Table)
    columns = tuple(mapper.get_property(key).columns[0].key for key in values)
    statement = _UPDATES.get((table, columns))
    if statement is None:
        (id_column,) = table.primary_key.columns
        assigned: dict[str, Any] = {column: bindparam(f"new_{column}") for column in columns}
        statement = _UPDATES[(table, columns)] = update(table).where(id_column == bindparam("row_id")).values(assigned)
    (row_id,) = state.key[1]
    parameters = {"row_id": row_id, **{f"new_{c}": v for c, v in zip(columns, values.values(), strict=True)}}
    session.connection(bind_arguments={"mapper": mapper}).execute(statement, parameters)
    for key, value in values.items():
        set_committed_value(obj, key, value)


def insert_rows(session: DbSession, cls: type[T], rows: Sequence[Mapping[str, Any]]) -> list[T]:
    """Insert ``rows`` (column values by column name; the columns not given take their defaults) into
    ``cls``'s table in one ``INSERT ... RETURNING`` every column (batched by SQLAlchemy's
    insertmanyvalues), and return them as persistent ``cls`` objects of ``session``, every column
    loaded: what ``insert(cls).returning(cls)`` gives, without the ORM's bulk machinery."""
    mapper = inspect(cls)
    table = mapper.local_table
    assert isinstance(table, Table)
    built = _RETURNING.get(table)
    if built is None:
        attribute = {prop.columns[0].key: prop.key for prop in mapper.column_attrs}
        built = _RETURNING[table] = (insert(table).returning(*table.columns), [attribute[c.key] for c in table.columns])
    statement, keys = built
    made = []
    for row in session.connection(bind_arguments={"mapper": mapper}).execute(statement, list(rows)):
        obj = mapper.class_manager.new_instance()
        inspect(obj).dict.update(zip(keys, row, strict=True))
        made.append(obj)
    _persistent(session, made)
    return made


def _persistent(session: DbSession, objects: Sequence[object]) -> None:
    """Make ``objects``, just inserted, persistent in ``session`` as a flush does at its end (SQLAlchemy's
    own steps: pending, then persistent): their identity from their ids, every value committed, and
    each known to the transaction as new, so that a rollback takes it out of the session again (an
    id rolled back can be handed out again by SQLite, to the same transaction's redo). No cascade:
    an object an inserted one refers to through a relationship is in the session already."""
    real = session() if isinstance(session, scoped_session) else session
    states = [inspect(obj) for obj in objects]
    for state in states:
        real._save_impl(state)
    real._register_persistent(set(states))
