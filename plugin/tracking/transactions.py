"""Commit a unit of work, and redo it when a concurrent writer won a race for a unique row."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

T = TypeVar("T")
#: Attempts to win a race for a unique row (an iid, a name) before the error goes up.
ATTEMPTS = 8


def committed(session: Session, work: Callable[[], T]) -> T:
    """Run ``work`` and commit; on a lost race roll back and run it again (it re-reads).

    Raises the last ``IntegrityError``/``OperationalError`` after ``ATTEMPTS`` losses.
    """
    for attempt in range(ATTEMPTS):
        try:
            result = work()
            session.commit()
            return result
        except (IntegrityError, OperationalError):
            session.rollback()
            if attempt == ATTEMPTS - 1:
                raise
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")


def next_iid(session: Session, column: object, project_column: object, project_id: int) -> int:
    """The next per-project internal id: one more than the highest (a race is caught by the
    unique constraint, and ``committed`` redoes the work)."""
    highest = session.scalar(select(func.max(column)).where(project_column == project_id))  # type: ignore[arg-type]
    return int(highest or 0) + 1
