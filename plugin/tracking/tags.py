"""Key/value tags: one row per (owner, key), on experiments, runs, logged models, models and
versions alike. ``owner`` is the tag table's column naming its owner (``RunTag.run_id``)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session


def find_tag(session: Session, owner: InstrumentedAttribute[int], owner_id: int, key: str) -> Any | None:
    table = owner.class_
    return session.scalar(select(table).where(owner == owner_id, table.key == key))


def put_tag(session: Session, owner: InstrumentedAttribute[int], owner_id: int, key: str, value: str) -> None:
    """Set tag ``key`` of the owner to ``value`` (added, or changed in place). Does not commit."""
    tag = find_tag(session, owner, owner_id, key)
    if tag is None:
        session.add(owner.class_(**{owner.key: owner_id, "key": key, "value": value}))
    else:
        tag.value = value


def remove_tag(session: Session, owner: InstrumentedAttribute[int], owner_id: int, key: str) -> bool:
    """Delete tag ``key`` of the owner; return whether there was one. Does not commit."""
    tag = find_tag(session, owner, owner_id, key)
    if tag is None:
        return False
    session.delete(tag)
    return True
