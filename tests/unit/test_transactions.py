"""The one transaction policy (``package_api.transactions``): a unit of work commits once, is redone
after a lost race and only then, nests into the unit around it, and runs its notifications after its
commit only."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from package_api.db import db
from package_api.errors import AlreadyExists
from package_api.packages.models import Blob
from package_api.transactions import LostRace, after_commit, committed, in_unit, lost_race


@pytest.fixture
def commits(session: Session) -> Iterator[list[int]]:
    """One entry per commit of the session."""
    seen: list[int] = []

    def count(_: Session) -> None:
        seen.append(1)

    event.listen(Session, "after_commit", count)
    yield seen
    event.remove(Session, "after_commit", count)


def blobs(session: Session, sha256: str) -> int:
    return int(session.scalar(select(func.count()).select_from(Blob).where(Blob.sha256 == sha256)) or 0)


def test_a_unit_commits_once_then_runs_its_notifications(session: Session, commits: list[int]) -> None:
    told: list[str] = []

    def work() -> str:
        assert in_unit(session)
        session.add(Blob(sha256="a" * 64, size=1, storage_key="k/a"))
        after_commit(session, lambda: told.append(f"after {len(commits)} commit"))
        return "done"

    assert committed(session, work) == "done"
    assert (len(commits), told, in_unit(session)) == (1, ["after 1 commit"], False)
    assert blobs(session, "a" * 64) == 1


def test_a_unit_that_loses_a_race_for_a_unique_row_is_redone_and_finds_the_winners(session: Session) -> None:
    sha256, attempts, told = "b" * 64, [], []

    def insert_first(flushing: Session, *_: Any) -> None:
        if any(isinstance(o, Blob) for o in flushing.new) and len(attempts) == 1:
            with db.engine.connect() as other:  # a concurrent writer, on its own connection
                other.execute(insert(Blob).values(sha256=sha256, size=1, storage_key="k/winner"))
                other.commit()

    def work() -> str:
        attempts.append(1)
        after_commit(session, lambda: told.append("sent"))
        found = session.scalar(select(Blob).where(Blob.sha256 == sha256))
        if found is None:
            found = Blob(sha256=sha256, size=1, storage_key="k/mine")
            session.add(found)
            session.flush()
        return found.storage_key

    event.listen(Session, "before_flush", insert_first)
    try:
        assert committed(session, work) == "k/winner"
    finally:
        event.remove(Session, "before_flush", insert_first)
    assert (len(attempts), told, blobs(session, sha256)) == (2, ["sent"], 1)  # the lost attempt tells nothing


def test_a_bug_is_not_a_lost_race(session: Session) -> None:
    attempts = []

    def work() -> None:
        attempts.append(1)
        session.add(Blob(sha256="c" * 64, size=None, storage_key="k/c"))  # NOT NULL
        session.flush()

    with pytest.raises(IntegrityError):
        committed(session, work)
    assert len(attempts) == 1 and not in_unit(session)
    assert blobs(session, "c" * 64) == 0


def test_a_lost_race_the_work_sees_itself_is_redone_and_gives_its_error_when_attempts_run_out(session: Session) -> None:
    attempts = []

    def work() -> None:
        attempts.append(1)
        raise LostRace(AlreadyExists("Model version"))

    with pytest.raises(AlreadyExists):
        committed(session, work, attempts=3)
    assert len(attempts) == 3


def test_units_nest_into_one_transaction(session: Session, commits: list[int]) -> None:
    told: list[str] = []

    def inner() -> None:
        session.add(Blob(sha256="d" * 64, size=1, storage_key="k/d"))
        after_commit(session, lambda: told.append("inner"))

    def outer() -> None:
        committed(session, inner)
        assert commits == []  # the inner unit joined this one: nothing committed yet
        after_commit(session, lambda: told.append("outer"))

    committed(session, outer)
    assert (len(commits), told) == (1, ["inner", "outer"])

    def failing() -> None:
        committed(session, lambda: session.add(Blob(sha256="e" * 64, size=1, storage_key="k/e")))
        after_commit(session, lambda: told.append("never"))
        raise AlreadyExists("Thing")

    with pytest.raises(AlreadyExists):
        committed(session, failing)
    assert blobs(session, "e" * 64) == 0 and told == ["inner", "outer"]


def test_notifications_need_a_unit(session: Session) -> None:
    with pytest.raises(RuntimeError):
        after_commit(session, lambda: None)


class _PostgresError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("orig", "lost"),
    [
        (_PostgresError("23505"), True),  # unique_violation
        (_PostgresError("23503"), True),  # foreign_key_violation
        (_PostgresError("40001"), True),  # serialization_failure
        (_PostgresError("40P01"), True),  # deadlock_detected
        (_PostgresError("23502"), False),  # not_null_violation
        (_PostgresError("57014"), False),  # query_canceled
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.IntegrityError("UNIQUE constraint failed: blobs.sha256"), True),
        (sqlite3.IntegrityError("NOT NULL constraint failed: blobs.size"), False),
        (sqlite3.OperationalError("no such table: blobs"), False),
    ],
)
def test_what_a_lost_race_is(orig: Exception, lost: bool) -> None:
    wrapper = IntegrityError if isinstance(orig, sqlite3.IntegrityError) else OperationalError
    assert lost_race(wrapper("statement", {}, orig)) is lost
    assert lost_race(LostRace(AlreadyExists("x"))) and not lost_race(AlreadyExists("x"))
