"""One transaction policy: a unit of work runs, commits once, and is redone whole after a lost race.

``committed(session, work)`` runs ``work``, commits, and returns what ``work`` returned. When
``work`` (a flush inside it) or the commit loses a race to a concurrent transaction (``lost_race``),
it rolls back and runs ``work`` again, which re-reads what the winner wrote; after ``attempts`` losses
the last error goes up. Any other error rolls back and goes up at once. So ``work`` reads what it
depends on inside itself (rows by id), never before it.

Units nest: ``committed`` called inside another unit's ``work`` runs its own ``work`` in the outer
unit's transaction, without committing or retrying on its own. The outermost unit commits it all,
once, and redoes it all after a lost race. That is how a service method that is a unit on its own
(``ExperimentService.default_for``) becomes one step of a bigger unit (a package's creation: see
``package_api.packages.pipeline``).

``with unit_of_work(session):`` is the same for a block that cannot simply be run again (a service
method that changes rows it was handed): it commits once, or rolls back and re-raises, and inside
another unit it joins that unit's transaction. Every service commits through one of the two, so
a service method called as a step of a bigger unit never commits half of it.

``after_commit(session, callback)`` runs ``callback`` once the outermost unit has committed: never for
an attempt that was rolled back, and once however often the unit was redone. Notifications (the
package signals) are sent from there.

What a lost race is, in this one place (``lost_race``):

- a unique violation: a concurrent writer inserted the row first (a package's name and version, a
  blob's SHA-256, a model's name, a version's sequence number, an experiment's iid, a job's
  provenance). The redo finds the winner's row and uses it.
- a foreign key violation: a concurrent writer deleted a row ours refers to (gc took the blob an
  upload by digest was about to share). The redo finds it gone and says so.
- PostgreSQL: a serialization failure (40001), or a deadlock's chosen victim (40P01).
- SQLite: the write lock held past the busy timeout, or a read snapshot too old to write from
  (SQLITE_BUSY..., SQLITE_LOCKED...: "database is locked").
- ``LostRace``, raised by ``work`` itself when it sees that what it chose from what it read was taken
  meanwhile (the next patch version of an MLflow registration without ``gitlab.version``).

A NOT NULL or CHECK violation, a value the database refuses (``DataError``), a domain error and every
other failure is a bug or bad input: it is raised at once, after the rollback.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import scoped_session

from package_api.db import DbSession

T = TypeVar("T")

#: How often a unit of work runs before its last lost race goes up. Each redo re-reads what the winner
#: wrote, and on PostgreSQL version numbering takes turns on the model row: in the concurrency tests
#: (12 racing first uploads of a new model, 16 into one new version, 8 of the same bytes) on
#: PostgreSQL every upload committed by its second attempt.
ATTEMPTS = 8
#: PostgreSQL's SQLSTATEs of a lost race: unique_violation, foreign_key_violation,
#: serialization_failure, deadlock_detected.
LOST_RACE_SQLSTATES = frozenset({"23505", "23503", "40001", "40P01"})
#: SQLite's (extended) result codes of a lost race, as ``sqlite3`` names them (Python 3.11+).
LOST_RACE_SQLITE_CODES = (
    "SQLITE_CONSTRAINT_UNIQUE",
    "SQLITE_CONSTRAINT_PRIMARYKEY",
    "SQLITE_CONSTRAINT_FOREIGNKEY",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
)
#: The same, in SQLite's messages (Python 3.10's ``sqlite3`` gives no code names).
LOST_RACE_SQLITE_MESSAGES = (
    "unique constraint failed",
    "foreign key constraint failed",
    "database is locked",
    "database table is locked",
)
#: ``session.info`` key of the unit in progress: the callbacks to run after its commit.
_UNIT = "modelshelf.unit_of_work"


class LostRace(Exception):
    """Raised by a unit of work that finds that what it chose was taken by a concurrent one: the unit
    is redone; when the attempts run out, ``error`` (a domain error) is raised instead."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def lost_race(exc: BaseException) -> bool:
    """Whether ``exc`` says the transaction lost a race and may simply be redone (see above)."""
    if isinstance(exc, LostRace):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)  # psycopg 3, psycopg2
    if sqlstate is not None:
        return sqlstate in LOST_RACE_SQLSTATES
    code = getattr(orig, "sqlite_errorname", None)
    if code is not None:
        return str(code).startswith(LOST_RACE_SQLITE_CODES)
    return type(orig).__module__.startswith("sqlite3") and str(orig).lower().startswith(LOST_RACE_SQLITE_MESSAGES)


def in_unit(session: DbSession) -> bool:
    """Whether a unit of work is in progress in ``session``."""
    return _UNIT in session.info


def committed(session: DbSession, work: Callable[[], T], *, attempts: int = ATTEMPTS, keep_loaded: bool = False) -> T:
    """Run ``work`` and commit; after a lost race roll back and run it again, at most ``attempts``
    times. Inside another unit, run ``work`` in that unit's transaction (it commits and retries).
    ``keep_loaded``: the commit leaves the rows the session holds loaded, for a caller that answers
    with what it has just written (no read-back after write); by default they are expired and read
    again when next used.

    Raises what ``work`` raises (after the rollback), the last lost race's error when the attempts run
    out (``LostRace.error`` for a ``LostRace``), and what the commit raises.
    """
    if in_unit(session):
        return work()
    for attempt in range(1, attempts + 1):
        callbacks: list[Callable[[], object]] = []
        session.info[_UNIT] = callbacks
        try:
            result = work()
            if keep_loaded:
                _commit_keeping_loaded(session)
            else:
                session.commit()
        except BaseException as exc:
            session.rollback()
            if attempt < attempts and lost_race(exc):
                continue
            if isinstance(exc, LostRace):
                raise exc.error from exc
            raise
        finally:
            session.info.pop(_UNIT, None)
        for callback in callbacks:
            callback()
        return result
    raise AssertionError("unreachable")


def _commit_keeping_loaded(session: DbSession) -> None:
    real = session() if isinstance(session, scoped_session) else session
    before, real.expire_on_commit = real.expire_on_commit, False
    try:
        real.commit()
    finally:
        real.expire_on_commit = before


def commit(session: DbSession) -> None:
    """Commit ``session``, unless a unit of work is in progress there: then its commit takes these
    changes with the rest (a service method that commits on its own, called as a step of a unit)."""
    if not in_unit(session):
        session.commit()


@contextlib.contextmanager
def unit_of_work(session: DbSession) -> Iterator[None]:
    """Commit what the block changes in ``session``, once (no redo: use ``committed`` for work that
    can lose a race); inside another unit, join its transaction. If the block (or the commit) raises,
    roll all of it back and re-raise, so that a failed change leaves nothing behind for a later
    commit."""
    if in_unit(session):
        yield
        return
    callbacks: list[Callable[[], object]] = []
    session.info[_UNIT] = callbacks
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_UNIT, None)
    for callback in callbacks:
        callback()


def after_commit(session: DbSession, callback: Callable[[], object]) -> None:
    """Run ``callback`` after the unit of work in progress in ``session`` commits (what it returns
    is dropped).

    Raises ``RuntimeError`` outside a unit of work (``committed``).
    """
    callbacks: list[Callable[[], object]] | None = session.info.get(_UNIT)
    if callbacks is None:
        raise RuntimeError("after_commit() outside a unit of work: call it inside committed()")
    callbacks.append(callback)
