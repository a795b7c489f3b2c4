"""The SQLAlchemy extension, created unbound and bound in ``create_app``; the base of the tables
(``DbModel``) and the type of the session a service is handed (``DbSession``). The transaction
policy of services is ``package_api.transactions``."""
from __future__ import annotations

import datetime
import functools
import re
import sys
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as AppSession
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session
from sqlalchemy.sql.expression import Executable

from package_api.errors import DatabaseFull, InvalidInput


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model

    class DbModel(Model, DeclarativeBase):
        """``db.Model``, the base of every table, as the type checker sees it. mypy takes no
        attribute as a base class (python/mypy#8603), so the tables subclass this name, which at run
        time is ``db.Model`` itself: the class flask-sqlalchemy builds from ``Base``, its ``Model``
        (``query``...) and two mixins (bind key, table name: nothing to type) on ``Base``'s bases."""

else:
    DbModel = db.Model

#: The session a service is handed: the app's ``db.session`` (the scoped proxy that stands for the
#: current app context's session, as the composition roots pass it) or a plain ``Session``.
DbSession: TypeAlias = Session | scoped_session[AppSession]


#: The table options of every table whose rows get their id from the database. An id is never handed
#: out twice, even after its row is deleted, so that an old link, an audit event or a pinned MLflow
#: URI never names something else later. SQLite gives a deleted highest id to the next row unless the
#: table is ``AUTOINCREMENT`` (which keeps the highest id ever used in ``sqlite_sequence``);
#: PostgreSQL's ``SERIAL`` sequences never go back, so it needs nothing. ``tests/unit/test_ids.py``
#: checks every table.
IDS_NEVER_REUSED: dict[str, Any] = {"sqlite_autoincrement": True}


def refused_value(exc: DataError) -> InvalidInput:
    """The domain error for a value the database refused: text with a NUL character (PostgreSQL),
    text longer than its column, a number past its column's range. The client sent that value, so
    it is a 400 that names the reason, not a 500. The surfaces' error handlers call this (after a
    rollback) for every ``DataError``; services check what they can name better themselves."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return InvalidInput(f"the database refused a value: {reason}")


#: PostgreSQL's ``disk_full`` (class 53, insufficient resources): "could not extend file ... No space
#: left on device", or a full WAL or temporary file.
POSTGRES_DISK_FULL = "53100"
#: SQLite's ``SQLITE_FULL``: "database or disk is full" (the disk, or ``PRAGMA max_page_count``).
SQLITE_FULL = "SQLITE_FULL"


def full_database(exc: OperationalError) -> DatabaseFull | None:
    """The domain error for a write the database refused for lack of space (SQLite's
    ``SQLITE_FULL``, PostgreSQL's ``disk_full``); ``None`` for any other operational error. The one
    place that knows how each database says so: the surfaces' error handlers call it (after a
    rollback) and answer 503, as for a store that is down, instead of a 500."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == POSTGRES_DISK_FULL or getattr(orig, "pgcode", None) == POSTGRES_DISK_FULL:
        return DatabaseFull()
    if getattr(orig, "sqlite_errorname", None) == SQLITE_FULL:
        return DatabaseFull()
    message = str(orig or exc)
    if "database or disk is full" in message or "could not extend file" in message:
        return DatabaseFull()
    return None


def utcnow() -> datetime.datetime:
    """Now, in UTC, without tzinfo (as stored)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def engine_options(database_url: str) -> dict[str, Any]:
    """Engine options that suit the database: SQLite waits for its write lock instead of failing and
    lets the threads of a worker share its connections; a server's connections are checked before
    use (a restarted PostgreSQL, or a pooler that dropped them), and the one used last is used next
    (LIFO): a connection that served many requests holds their prepared statements (``end_reads``)."""
    if make_url(database_url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_use_lifo": True}


#: Execution option of a statement psycopg may prepare on PostgreSQL (``prepared``).
_PREPARED = "modelshelf_prepared"
Statement = TypeVar("Statement", bound=Executable)


def prepared(statement: Statement) -> Statement:
    """``statement``, prepared by psycopg on PostgreSQL at its first run on a connection: PostgreSQL
    parses it no more, and may keep one plan for any values after planning it five times. For a lookup
    by key (a token's digest, a model's name, a version's number), whose best plan is the same for
    any key, and where the planning costs more than the lookup (4.3 ms to plan a model's latest
    versions, 0.13 ms to read them). A statement not marked is planned for its values on every run,
    as a list or a search must be: one plan for any model would be made for a model of the average
    size, not for the one of 10,000 versions among models of 100 (a search of its versions by three
    tags took 21 ms in a plan kept, 5.7 ms in one made for it). An ``INSERT`` may be prepared from its
    sixth run (psycopg's ``prepare_threshold``): its plan has no choice to make. See also ``end_reads``."""
    return statement.execution_options(**{_PREPARED: True})


@event.listens_for(PGDialect_psycopg, "do_execute")  # psycopg's alone: no event for SQLite's statements
def _prepare_only_what_may_be(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    if context.execution_options.get("stream_results"):
        return False  # the dialect executes it (a server-side cursor, ``stream_results``, prepares nothing)
    if context.execution_options.get(_PREPARED, False):
        prepare: bool | None = True  # at once: a lookup marked so is a hot one
    else:
        prepare = None if context.isinsert else False  # None: from its sixth run (``prepare_threshold``)
    cursor.execute(statement, parameters, prepare=prepare)
    return True


#: ``connection.info`` key: the connection's transaction ran a statement that may write.
_WROTE = "modelshelf.wrote"
#: ``session.info`` key: the connection of the session's newest transaction.
_CONNECTION = "modelshelf.connection"
#: A data-modifying statement inside a ``WITH`` (a column such as ``updated_at`` is one word: no match).
_WRITES_IN_WITH = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def wrote(conn: Connection) -> bool:
    """Whether ``conn``'s transaction ran a statement that may write (anything but a ``SELECT``, or a
    ``WITH`` that holds no ``INSERT``, ``UPDATE``, ``DELETE`` or ``MERGE``)."""
    return bool(conn.info.get(_WROTE))


@event.listens_for(Engine, "begin")
def _reads_so_far(conn: Connection) -> None:
    conn.info.pop(_WROTE, None)


@functools.lru_cache(maxsize=1024)
def _may_write(statement: str) -> bool:
    """Whether ``statement`` may write; once per statement text (the engine's compiled statements give
    the same string object each run, whose hash Python keeps)."""
    head = statement.lstrip()[:6].upper()
    return not (head == "SELECT" or (head.startswith("WITH") and not _WRITES_IN_WITH.search(statement)))


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    if _may_write(statement):
        conn.info[_WROTE] = True


@event.listens_for(Session, "after_begin")
def _note_connection(session: Session, _transaction: Any, connection: Connection) -> None:
    session.info[_CONNECTION] = connection


def end_reads(session: DbSession) -> None:
    """Commit a request's transaction that wrote nothing, before the session's close would roll it
    back. Either ends it alike, but psycopg forgets every statement it prepared on a connection at
    each rollback (it cannot know what the rollback undid): with every request ending in one, no
    statement stayed prepared (``prepared``), and each was parsed and planned afresh on PostgreSQL on
    every request (4.3 ms to plan the latest versions of a model, 0.13 ms to run them).

    The connection is committed, not the session: the session flushes nothing (changes it holds that
    were never flushed are dropped at its close, as before), and its commit hooks (webhooks, Hugging
    Face commit ids) do not run for a transaction that wrote nothing. One that wrote is left to the
    rollback."""
    connection = session.info.pop(_CONNECTION, None)
    if connection is not None and not connection.closed and connection.in_transaction() and not wrote(connection):
        connection.commit()


#: Key of the PostgreSQL advisory lock that ``create_tables`` holds (any constant of our own).
CREATE_TABLES_LOCK = 0x6D6F64656C  # "model"


def create_tables() -> None:
    """``db.create_all()``, one app at a time (``CREATE_SCHEMA``; ``modelshelf`` commands migrate
    instead). Apps that start together on one PostgreSQL database, such as the workers of a WSGI
    server that each call ``create_app()``, would otherwise all see a table missing, all create it,
    and all but one fail; they take turns on an advisory lock instead. SQLite's write lock does this
    already."""
    if db.engine.dialect.name != "postgresql":
        db.create_all()
        return
    with db.engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": CREATE_TABLES_LOCK})
        try:
            db.create_all()
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": CREATE_TABLES_LOCK})
            lock.commit()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    # WAL lets downloads read while an upload commits; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: Seconds a writer waits for SQLite's write lock (``engine_options``), and for the write gate.
SQLITE_BUSY_TIMEOUT = 30
#: ``connection.info`` key: this connection holds the write gate.
_HOLDS_GATE = "modelshelf.write_gate"


class _WriteGate:
    """One SQLite writer at a time among the greenlets of a gevent process (``modelshelf serve``).

    SQLite waits for its write lock in C, sleeping without yielding to gevent's hub: if the greenlet
    holding the lock yielded (any socket I/O inside a write transaction) and another greenlet of the
    process then wrote, the process would sleep until the busy timeout, the holder unable to run and
    release the lock. So a connection takes this gate, cooperatively, before its transaction's first
    write statement and gives it back at commit or rollback (or when the pool takes the connection
    back): a second writer waits in gevent, and the holder runs on. A greenlet that already holds it
    (through another connection) passes, as it would reach SQLite's lock anyway."""

    def __init__(self) -> None:
        from gevent import getcurrent
        from gevent.lock import BoundedSemaphore

        self._getcurrent = getcurrent
        self._lock = BoundedSemaphore(1)
        self._owner: Any = None
        self._holds = 0

    def enter(self, info: dict[Any, Any], statement: str) -> None:
        if info.get(_HOLDS_GATE):
            return
        me = self._getcurrent()
        if self._owner is not me:
            if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT):
                import sqlite3

                raise OperationalError(statement, None, sqlite3.OperationalError("database is locked (write gate)"))
            self._owner = me
        self._holds += 1
        info[_HOLDS_GATE] = True

    def leave(self, info: dict[Any, Any]) -> None:
        if not info.pop(_HOLDS_GATE, False):
            return
        self._holds -= 1
        if not self._holds:
            self._owner = None
            self._lock.release()


_gates: list[_WriteGate] = []
#: First words of the statements that do not write (everything else takes the gate).
_READS = ("SELECT", "PRAGMA", "EXPLAIN", "BEGIN", "SAVEPOINT", "RELEASE")


def _write_gate() -> _WriteGate | None:
    """The process's gate once gevent has patched it (the gevent worker), else ``None``."""
    if _gates:
        return _gates[0]
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return None
    _gates.append(_WriteGate())
    return _gates[0]


@event.listens_for(Engine, "before_cursor_execute")
def _gate_sqlite_writes(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if conn.dialect.name != "sqlite" or statement.lstrip()[:9].upper().startswith(_READS):
        return
    gate = _write_gate()
    if gate is not None:
        gate.enter(conn.info, statement)


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _open_sqlite_gate(conn: Any) -> None:
    if _gates:
        _gates[0].leave(conn.info)


@event.listens_for(Engine, "checkin")
def _open_sqlite_gate_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    if _gates and record is not None:
        _gates[0].leave(record.info)
