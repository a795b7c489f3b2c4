"""Where a test's database lives.

By default a data directory's database is SQLite inside it (``modelshelf.db``), as in production
on one machine. When ``MODELSHELF_TEST_DATABASE_URL`` names a PostgreSQL server
(``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``; ``.ci/postgres start DIR`` makes one),
each data directory gets a schema of its own there instead, created empty on first use and chosen
with ``search_path`` in the URL (then ``public``, which holds no table, for pg_trgm), so that tests stay as isolated as with SQLite files: a test gets a
fresh database, and an app or server reopening the same data directory finds the same data.
The app makes its tables with ``db.create_all()`` as always. ``tests/conftest.py`` gives the
schemas a test took back when it ends (those of module-wide servers when the session ends), and
drops them all when the session ends.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENV_URL = "MODELSHELF_TEST_DATABASE_URL"
#: Set in CI: the PostgreSQL tests must run there, so a missing server fails them instead of skipping.
ENV_REQUIRE = "MODELSHELF_TEST_REQUIRE_POSTGRES"

#: Whether a database was asked for (``database_settings``, a schema, ``require_postgres``) since
#: ``asked_since_reset`` was last called: tests/conftest.py notes, per test module, whether any of
#: its tests (or fixtures) asked, so that CI's PostgreSQL run can leave out the modules that never do.
_asked = False


def asked_since_reset() -> bool:
    """Whether a database was asked for since the last call; start counting again."""
    global _asked
    asked, _asked = _asked, False
    return asked


def _ask() -> None:
    global _asked
    _asked = True


class Schemas:
    """Schemas on one PostgreSQL server, one per data directory, made and emptied through one
    autocommit connection of the test process.

    Making a schema's tables costs a fifth of a second of DDL; emptying them costs a millisecond. So a
    schema whose tables ``db.create_all()`` made is emptied when its test is done (every row deleted,
    every sequence back at 1, every connection to it ended) and handed to the next data directory
    that asks for ``reuse``: an app that makes its tables with ``db.create_all()`` finds them made
    and empty, as in a new database. Schemas that Alembic migrated (an ``alembic_version`` table) are
    dropped instead, and directories that do not ask for ``reuse`` (servers and commands, which
    migrate an empty database) get a new schema. Emptying needs a superuser (to delete without
    foreign key order); for any other user every schema is dropped and made anew."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        if self.url.get_backend_name() != "postgresql":
            raise ValueError(f"{ENV_URL} must be a postgresql+psycopg:// URL, not {url!r}")
        self._schemas: dict[Path, str] = {}  # data directory -> its schema
        self._free: list[str] = []  # emptied schemas, ready for another data directory
        self._snapshots: list[str] = []  # copies of rows (``snapshot``), dropped with the session's
        self._connection: Any = None
        self._superuser = False

    def _admin(self) -> Any:
        import psycopg

        if self._connection is None or self._connection.closed:
            params = self.url.translate_connect_args(username="user", database="dbname")
            self._connection = psycopg.connect(autocommit=True, **params)
            # Emptying or dropping a schema that something still locks fails, naming it, rather than
            # waiting for ever (a connection of this process holding the lock would never let go).
            self._connection.execute("SET lock_timeout = '60s'")
            self._superuser = self._connection.execute("SELECT current_setting('is_superuser')").fetchone()[0] == "on"
            self._trigrams()
        return self._connection

    def _trigrams(self) -> None:
        """pg_trgm in ``public``, which every test schema's ``search_path`` ends with, as a database
        administrator would make it once: revision ``model_registry_0016`` would otherwise create it in
        the first test schema that migrates, whose drop at the test's end takes it (and the trigram
        indexes of every other schema) along."""
        import psycopg

        if not self._superuser:
            return
        try:
            self._connection.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
            pass  # another xdist worker made it at the same moment

    def url_for(self, data_dir: Path | str, *, reuse: bool = False) -> str:
        """The database URL of ``data_dir``: its own schema, taken now if it is new: an emptied one
        with ``reuse``, else a new empty one."""
        from psycopg import sql

        _ask()
        key = Path(data_dir).resolve()
        schema = self._schemas.get(key)
        if schema is None:
            if reuse and self._free:
                schema = self._free.pop()
            else:
                schema = f"test_{uuid.uuid4().hex[:20]}"
                self._admin().execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            self._schemas[key] = schema
        # application_name marks the schema's connections, so that emptying or dropping it can end
        # the ones a test left open (an idle transaction would hold the tables' locks forever). A
        # statement that waits on a lock for 2 minutes fails saying so (a test holding a lock its own
        # server or a second connection of its own then waits for would otherwise hang the run), and
        # one that runs for 3 minutes fails with its SQL (a plan gone quadratic or worse: the test
        # data is small) before pytest-timeout stops the test with only a stack.
        options = f"-csearch_path={schema},public -clock_timeout=120s -cstatement_timeout=180s"
        url = self.url.update_query_dict({"options": options, "application_name": schema})
        return url.render_as_string(hide_password=False)

    def schema_of(self, data_dir: Path | str) -> str | None:
        """The schema ``data_dir`` took, if it took one."""
        return self._schemas.get(Path(data_dir).resolve())

    def can_copy(self) -> bool:
        """Whether ``copy_rows`` can copy (it writes rows in any order: a superuser's right)."""
        self._admin()
        return self._superuser

    def snapshot(self, schema: str) -> str:
        """Copy the rows of ``schema``'s tables that have any, and its sequences' positions (table
        ``__sequences__``), into a new schema; return its name, for ``copy_rows``."""
        from psycopg import sql

        snapshot = f"snapshot_{uuid.uuid4().hex[:20]}"
        self._admin().execute(
            sql.SQL(
                """DO $$
                DECLARE item record; copied bigint;
                BEGIN
                    EXECUTE format('CREATE SCHEMA %I', {snapshot});
                    FOR item IN SELECT tablename FROM pg_tables WHERE schemaname = {schema} LOOP
                        EXECUTE format('CREATE TABLE %I.%I AS SELECT * FROM %I.%I', {snapshot}, item.tablename, {schema}, item.tablename);
                        GET DIAGNOSTICS copied = ROW_COUNT;
                        IF copied = 0 THEN
                            EXECUTE format('DROP TABLE %I.%I', {snapshot}, item.tablename);
                        END IF;
                    END LOOP;
                    EXECUTE format('CREATE TABLE %I.__sequences__ AS SELECT sequencename AS name, last_value FROM pg_sequences'
                                   ' WHERE schemaname = %L AND last_value IS NOT NULL', {snapshot}, {schema});
                END $$"""
            ).format(snapshot=sql.Literal(snapshot), schema=sql.Literal(schema))
        )
        self._snapshots.append(snapshot)
        return snapshot

    def copy_rows(self, snapshot: str, schema: str) -> None:
        """Insert the rows ``snapshot`` holds into the same tables of ``schema`` (whose tables must
        be the same and empty) and set its sequences where they stood; in one round trip."""
        from psycopg import sql

        self._admin().execute(
            sql.SQL(
                """DO $$
                DECLARE item record;
                BEGIN
                    SET LOCAL session_replication_role = replica;
                    FOR item IN SELECT tablename FROM pg_tables WHERE schemaname = {snapshot} AND tablename <> '__sequences__' LOOP
                        EXECUTE format('INSERT INTO %I.%I SELECT * FROM %I.%I', {schema}, item.tablename, {snapshot}, item.tablename);
                    END LOOP;
                    FOR item IN EXECUTE format('SELECT name, last_value FROM %I.__sequences__', {snapshot}) LOOP
                        PERFORM setval(format('%I.%I', {schema}, item.name), item.last_value, true);
                    END LOOP;
                END $$"""
            ).format(snapshot=sql.Literal(snapshot), schema=sql.Literal(schema))
        )

    def taken(self) -> set[str]:
        return set(self._schemas.values())

    def release(self, schemas: Iterable[str]) -> None:
        """Empty ``schemas`` for reuse, or drop them (migrated ones, or without superuser rights),
        ending any connection still using them."""
        schemas = sorted(set(schemas))
        if not schemas:
            return
        self._schemas = {k: v for k, v in self._schemas.items() if v not in schemas}
        admin = self._admin()
        dropped = set(schemas)
        if self._superuser:
            rows = admin.execute(
                "SELECT schemaname FROM pg_tables WHERE schemaname = ANY(%s) AND tablename = 'alembic_version'",
                [schemas],
            ).fetchall()
            dropped = {row[0] for row in rows}
        if dropped:
            self._drop(sorted(dropped))
        schemas = [s for s in schemas if s not in dropped]
        if not schemas:
            return
        from psycopg import sql

        # One round trip. session_replication_role=replica skips the foreign key triggers, so rows
        # go in any order; sequences restart at 1 as in a new database.
        names = sql.SQL(", ").join(sql.Literal(s) for s in schemas)
        admin.execute(
            sql.SQL(
                """DO $$
                DECLARE item record;
                BEGIN
                    PERFORM pg_terminate_backend(pid, 5000) FROM pg_stat_activity
                        WHERE application_name IN ({names}) AND pid <> pg_backend_pid();
                    SET LOCAL session_replication_role = replica;
                    FOR item IN SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ({names}) LOOP
                        EXECUTE format('DELETE FROM %I.%I', item.schemaname, item.tablename);
                    END LOOP;
                    FOR item IN SELECT schemaname, sequencename FROM pg_sequences WHERE schemaname IN ({names}) LOOP
                        PERFORM setval(format('%I.%I', item.schemaname, item.sequencename), 1, false);
                    END LOOP;
                END $$"""
            ).format(names=names)
        )
        self._free.extend(schemas)

    def _drop(self, schemas: list[str]) -> None:
        from psycopg import sql

        admin = self._admin()
        admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE application_name = ANY(%s) AND pid <> pg_backend_pid()",
            [schemas],
        )
        names = sql.SQL(", ").join(sql.Identifier(s) for s in schemas)
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(names))

    def close(self) -> None:
        """Drop every schema of the session."""
        schemas = sorted(self.taken() | set(self._free) | set(self._snapshots))
        if schemas:
            self._drop(schemas)
        self._schemas, self._free, self._snapshots = {}, [], []
        if self._connection is not None:
            self._connection.close()


#: The schemas of this test session, or ``None`` on SQLite.
SCHEMAS: Schemas | None = Schemas(os.environ[ENV_URL]) if os.environ.get(ENV_URL) else None


def require_postgres() -> Schemas:
    """The session's schemas; skip the calling test on SQLite, or fail it where CI asks for
    PostgreSQL (``MODELSHELF_TEST_REQUIRE_POSTGRES``) and none is named."""
    import pytest

    _ask()
    if SCHEMAS is None:
        message = f"needs PostgreSQL: set {ENV_URL} (.ci/postgres start DIR prints one)"
        if os.environ.get(ENV_REQUIRE):
            pytest.fail(f"{ENV_REQUIRE} is set but {ENV_URL} is not: {message}")
        pytest.skip(message)
    return SCHEMAS


def database_settings(data_dir: Path | str, *, reuse: bool = False) -> dict[str, str]:
    """The settings of ``data_dir``'s database: ``{}`` on SQLite (the app's default, a file in the
    data directory); on PostgreSQL its schema's ``DATABASE_URL``, with ``AUTO_MIGRATE`` on so that
    servers and commands bring an empty schema up to date themselves, as they do an SQLite file.
    ``reuse``: the app makes its tables with ``db.create_all()``, so an emptied schema will do."""
    _ask()
    if SCHEMAS is None:
        return {}
    return {"DATABASE_URL": SCHEMAS.url_for(data_dir, reuse=reuse), "AUTO_MIGRATE": "true"}
