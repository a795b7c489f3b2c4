"""Key/value tags: one row per (owner, key), on experiments, runs, logged models, models and
versions alike. ``owner`` is the tag table's column naming its owner (``RunTag.run_id``)."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from package_api.plugin_api import DbSession


def _table(owner: InstrumentedAttribute[int]) -> type[Any]:
    """The tag table ``owner`` is a column of. SQLAlchemy types ``class_`` as a class or an alias;
    a column taken from a table class (``RunTag.run_id``) belongs to the class."""
    return cast("type[Any]", owner.class_)


def find_tag(session: DbSession, owner: InstrumentedAttribute[int], owner_id: int, key: str) -> Any | None:
    table = _table(owner)
    return session.scalar(select(table).where(owner == owner_id, table.key == key))


def put_tag(session: DbSession, owner: InstrumentedAttribute[int], owner_id: int, key: str, value: str) -> None:
    """Set tag ``key`` of the owner to ``value`` (added, or changed in place). Does not commit."""
    tag = find_tag(session, owner, owner_id, key)
    if tag is None:
        session.add(_table(owner)(**{owner.key: owner_id, "key": key, "value": value}))
    else:
        tag.value = value


def remove_tag(session: DbSession, owner: InstrumentedAttribute[int], owner_id: int, key: str) -> bool:
    """Delete tag ``key`` of the owner; return whether there was one. Does not commit."""
    tag = find_tag(session, owner, owner_id, key)
    if tag is None:
        return False
    session.delete(tag)
    return True
