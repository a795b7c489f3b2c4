"""Databases made once per test process and copied for each test.

Most tests start from the same database: the app's tables, made by ``create_app`` (``db.create_all()``,
a fifth of a second of DDL on SQLite), and for many the seeded ``World`` of ``tests/conftest.py``
(some forty service calls, each committing: a fifth of a second on SQLite, more on PostgreSQL). Both
are the same rows each time for the same settings. So a test whose settings an earlier test of the
process had makes them as always and keeps a copy; the tests after it with those settings get the copy:

- on SQLite, the tables' copy (kept in memory with SQLite's backup API) is written into the data
  directory before ``create_app`` opens it, whose ``create_all`` then finds every table made (and
  makes any missing); the world's copy is written over the app's database the same way;
- on PostgreSQL (``MODELSHELF_TEST_DATABASE_URL``), where emptied schemas are reused already
  (tests/support/databases.py), the world's rows are copied from a schema that holds them
  (``Schemas.snapshot``, ``Schemas.copy_rows``), sequences included.

A copy is only used where it is what the test would have made itself:

- the key is the effective settings (``load_settings``, the environment's included) without the
  data directory and the database URL, the kind of database, and the tables the process's metadata
  holds (which grows as plugins are imported);
- the app's database must be its data directory's default SQLite file, not there yet, or its
  PostgreSQL schema of the test session;
- the world is copied only into a database nothing has written to since ``create_app`` (a listener
  on the app's engine watches), of an app the ``app`` fixture made: anything else is seeded as before.

The world's tokens are then the same in every test of a process with the same settings, as its ids
already were.

``modelshelf serve`` subprocesses (tests/support/servers.py) migrate their database rather than make
it with ``create_all``; on SQLite they get a copy of one migrated to the heads (``migrated_into``).
"""
from __future__ import annotations

import copy
import os
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event

from package_api.config import load_settings
from package_api.db import db
from package_api.private_files import create_private_file
from tests.support.databases import SCHEMAS
from tests.support.world import World

#: ``app.extensions`` key of the app's ``Made`` (set by ``after_app``).
EXTENSION = "tests.templates"


@dataclass
class Made:
    """What the app fixture knows of one app's database."""

    key: tuple[Any, ...]
    where: str  # the SQLite file, or the PostgreSQL schema
    written: bool = False  # a statement that may write ran since create_app
    listener: Callable[..., None] | None = field(default=None, repr=False)


class Templates:
    def __init__(self) -> None:
        self._tables: dict[tuple[Any, ...], sqlite3.Connection] = {}
        # The world's copy: an SQLite database in memory, or the PostgreSQL schema holding its rows.
        self._worlds: dict[tuple[Any, ...], tuple[sqlite3.Connection | str, World]] = {}
        self._migrated: dict[str, sqlite3.Connection] = {}  # PLUGINS -> a database at their heads (``migrated_into``)
        # Keys seen once: a copy is kept the second time a key is seen, so that settings no other
        # test shares (a path of the test's own, a bucket) cost no copy and no memory.
        self._seen: set[tuple[Any, ...]] = set()

    def _second_sighting(self, key: tuple[Any, ...]) -> bool:
        if key in self._seen:
            return True
        self._seen.add(key)
        return False

    @staticmethod
    def _key(settings: dict[str, object]) -> tuple[tuple[Any, ...], str] | None:
        """The settings' part of the key and the database (SQLite file or PostgreSQL schema), or
        ``None`` where no copy applies."""
        try:
            effective = load_settings(settings)
        except Exception:  # noqa: BLE001 - settings a test expects create_app to refuse
            return None
        if not effective.get("CREATE_SCHEMA"):
            return None
        data_dir = str(effective["DATA_DIR"])
        url = str(effective["DATABASE_URL"])
        if SCHEMAS is None:
            where = os.path.join(data_dir, "modelshelf.db")
            if url != f"sqlite:///{where}" or os.path.exists(where):
                return None
            kind = "sqlite"
        else:
            schema = SCHEMAS.schema_of(data_dir)
            if schema is None or not SCHEMAS.can_copy() or url != SCHEMAS.url_for(data_dir):
                return None
            where, kind = schema, "postgresql"
        items = tuple(
            sorted((name, repr(value).replace(data_dir, "<DATA_DIR>")) for name, value in effective.items() if name != "DATABASE_URL")
        )
        return (kind, items), where

    def before_app(self, settings: dict[str, object]) -> tuple[tuple[Any, ...], str] | None:
        """On SQLite, write the tables' copy for ``settings`` into the data directory, if one was
        made; return what ``after_app`` needs."""
        found = self._key(settings)
        if found is None:
            return None
        settings_key, where = found
        template = self._tables.get((settings_key, frozenset(db.metadata.tables)))
        if template is not None:
            os.makedirs(os.path.dirname(where), exist_ok=True)
            create_private_file(where)  # 0600, as create_app makes it
            _write(template, where)
        return found

    def after_app(self, app: Flask, found: tuple[tuple[Any, ...], str] | None) -> None:
        """Keep a copy of the new app's SQLite database (its tables) if none was made for its
        settings, and watch the app's database for writes."""
        if found is None:
            return
        settings_key, where = found
        key = (settings_key, frozenset(db.metadata.tables))  # create_app may have imported more (plugins)
        if settings_key[0] == "sqlite" and key not in self._tables and self._second_sighting(("tables", key)):
            self._tables[key] = _copy_of(where)
        made = Made(key, where)

        def _watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip()[:6].upper() not in ("SELECT", "PRAGMA"):
                made.written = True

        made.listener = _watch
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", _watch)
        app.extensions[EXTENSION] = made

    def world(self, app: Flask, seed: Callable[[], World]) -> World:
        """The seeded world of ``app``: the copy of the world made for its settings, written into its
        database if nothing has written there since create_app; else ``seed()`` (keeping a copy)."""
        made: Made | None = app.extensions.pop(EXTENSION, None)
        if made is None:
            return seed()
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", made.listener)
        if made.written:
            return seed()
        postgresql = made.key[0][0] == "postgresql"
        kept = self._worlds.get(made.key)
        if kept is not None:
            template, world = kept
            if postgresql:
                assert SCHEMAS is not None and isinstance(template, str)
                SCHEMAS.copy_rows(template, made.where)
            else:
                assert isinstance(template, sqlite3.Connection)
                _write(template, made.where)
            return copy.deepcopy(world)
        world = seed()
        if self._second_sighting(("world", made.key)):
            if postgresql:
                assert SCHEMAS is not None
                self._worlds[made.key] = (SCHEMAS.snapshot(made.where), copy.deepcopy(world))
            else:
                self._worlds[made.key] = (_copy_of(made.where), copy.deepcopy(world))
        return world

    def migrated_into(self, data_dir: Path, settings: Mapping[str, object]) -> bool:
        """Before ``modelshelf serve`` starts on ``data_dir`` (tests/support/servers.py): on SQLite,
        write a database migrated to the heads of the plugins ``settings`` names into it, where the
        server would migrate an empty one itself (0.9 s of CPU: every revision, then the comparison
        with the models). The first server of a process with those plugins migrates as always; the
        copy is made (in this process, by the same upgrade) for the second. Return whether one was
        written."""
        from package_api.ops import migrate

        # The server's settings: start_server passes it these and no other MODELSHELF_* variable.
        effective = load_settings({**settings, "DATA_DIR": str(data_dir)}, environ={})
        path = Path(effective["DATA_DIR"]) / "modelshelf.db"
        if SCHEMAS is not None or effective["DATABASE_URL"] != f"sqlite:///{path}" or path.exists():
            return False
        if not migrate.upgrades_automatically(effective):
            return False  # the server is to refuse (or find) an empty database
        plugins = str(effective["PLUGINS"])
        template = self._migrated.get(plugins)
        if template is None:
            if not self._second_sighting(("migrated", plugins)):
                return False
            template = self._migrated[plugins] = _migrated_copy(plugins)
        data_dir.mkdir(parents=True, exist_ok=True)
        create_private_file(str(path))
        _write(template, str(path))
        return True


def _migrated_copy(plugins: str) -> sqlite3.Connection:
    """An SQLite database brought to the heads of ``plugins``' revisions, as ``modelshelf`` commands
    bring an empty one (``package_api.ops.migrate.upgrade``), kept in memory."""
    from package_api import create_app
    from package_api.ops import migrate

    with tempfile.TemporaryDirectory() as scratch:
        app = create_app({"DATA_DIR": scratch, "CREATE_SCHEMA": False, "PLUGINS": plugins, "SECRET_KEY": "x", "STORAGE": "memory"})
        try:
            migrate.upgrade(app)
        finally:
            with app.app_context():
                db.engine.dispose()
        return _copy_of(os.path.join(scratch, "modelshelf.db"))


def _write(template: sqlite3.Connection, path: str) -> None:
    """Make the SQLite database at ``path`` a copy of ``template`` (other connections to it, such as
    the app's pool, see the copy)."""
    target = sqlite3.connect(path)
    try:
        template.backup(target)
    finally:
        target.close()


def _copy_of(path: str) -> sqlite3.Connection:
    source = sqlite3.connect(path)
    kept = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        source.backup(kept)
    finally:
        source.close()
    return kept


#: The test process's templates (tests/conftest.py).
TEMPLATES = Templates()
