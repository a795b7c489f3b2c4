"""``package_api.row_writes``: a row written by one Core statement, its object left in the session as
a flush leaves it (persistent, clean, every column loaded), and taken out again by a rollback, so
that the redo of a lost race starts from nothing."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import Integer, String, func, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from package_api.packages.models import Blob
from package_api.row_writes import insert_row, insert_rows, update_row
from tests.support.statements import Statements, counting


@pytest.fixture
def statements(app: Flask) -> Iterator[Statements]:
    with counting(app) as seen:
        yield seen


def _kinds(seen: Statements) -> list[str]:
    return [sql.split()[0].upper() for sql in seen.sql]


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Blob)) or 0)


def test_a_row_written_is_a_clean_persistent_object_with_its_defaults(session: Session, statements: Statements) -> None:
    blob = insert_row(session, Blob(sha256="a" * 64, size=1, storage_key="k/a"))
    state = inspect(blob)
    assert state.persistent and not state.modified and blob in session
    assert blob.id is not None and blob.created_at is not None  # the column default, as a flush gives it
    assert _kinds(statements) == ["INSERT"]
    assert session.get(Blob, blob.id) is blob and _kinds(statements) == ["INSERT"]  # the identity map: no query
    session.flush()
    assert _kinds(statements) == ["INSERT"]  # nothing left for a flush to write
    session.commit()
    assert _count(session) == 1


def test_a_rollback_takes_the_object_out_and_the_redo_writes_it_again(session: Session) -> None:
    first = insert_row(session, Blob(sha256="b" * 64, size=2, storage_key="k/b"))
    session.rollback()
    assert first not in session and _count(session) == 0
    again = insert_row(session, Blob(sha256="b" * 64, size=2, storage_key="k/b"))
    session.commit()
    assert _count(session) == 1 and session.get(Blob, again.id) is again


def test_update_row_and_insert_rows(session: Session) -> None:
    blob = insert_row(session, Blob(sha256="c" * 64, size=3, storage_key="k/c"))
    update_row(session, blob, size=4)
    assert not inspect(blob).modified and blob.size == 4
    blob.storage_key = "k/c2"  # a change pending: the update joins it, for the flush to write
    update_row(session, blob, size=5)
    assert inspect(blob).modified
    made = insert_rows(session, Blob, [{"sha256": "d" * 64, "size": 6, "storage_key": "k/d"}])
    assert [inspect(b).persistent for b in made] == [True] and made[0].created_at is not None
    session.commit()
    session.expire_all()
    assert [(b.storage_key, b.size) for b in session.scalars(select(Blob).order_by(Blob.id))] == [
        ("k/c2", 5), ("k/d", 6)
    ]


class _Base(DeclarativeBase):
    pass


class _ServerDefaulted(_Base):
    __tablename__ = "row_writes_server_defaulted"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(10), server_default="x")


def test_a_column_only_the_database_can_fill_must_be_set(session: Session) -> None:
    """A flush leaves such a column out and reads the database's value back; written as NULL it would
    lose the default, so ``insert_row`` refuses before writing anything."""
    with pytest.raises(ValueError, match="only the database has its default"):
        insert_row(session, _ServerDefaulted())
