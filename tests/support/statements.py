"""Count the SQL statements and commits that one request costs, for the tests that keep the hot
endpoints' cost fixed (tests/api/test_statement_counts.py)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine.default import CACHE_HIT

from package_api.db import db, wrote


@dataclass
class Statements:
    """What the engine ran while counting: each statement's text, and how many commits."""

    sql: list[str] = field(default_factory=list)
    commits: int = 0
    #: How each transaction ended, in order: ``commit`` (a read's too) or ``rollback``.
    endings: list[str] = field(default_factory=list)
    #: The statements SQLAlchemy compiled afresh (not found in the engine's compiled cache), and those
    #: it could not cache at all: a statement built anew on each request.
    compiled: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sql)

    def __str__(self) -> str:
        lines = "\n".join(f"  {' '.join(statement.split())[:200]}" for statement in self.sql)
        return f"{self.count} statements, {self.commits} commits:\n{lines}"


@contextmanager
def counting(app: Flask) -> Iterator[Statements]:
    """Count what the app's engine runs inside the block (``before_cursor_execute``: one per statement,
    ``executemany`` counted once), which of its statements were compiled rather than found in the
    compiled cache, and its commits of transactions that wrote."""
    seen = Statements()

    def statement(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.sql.append(sql)
        if context is not None and context.compiled is not None and context.cache_hit is not CACHE_HIT:
            seen.compiled.append(sql)

    def commit(conn: Any) -> None:
        seen.endings.append("commit")
        if wrote(conn):  # a read ends in a commit too (package_api.db.end_reads): it costs no write
            seen.commits += 1

    def rollback(conn: Any) -> None:
        seen.endings.append("rollback")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
        event.remove(engine, "rollback", rollback)
