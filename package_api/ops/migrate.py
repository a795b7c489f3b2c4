"""Schema migrations with Alembic: ``modelshelf db upgrade``, and the check ``serve`` makes.

The core's revisions live in ``package_api/migrations/versions``; a plugin with tables of its own
keeps its revisions in a directory of its own, on a branch that depends on the core's baseline, and
registers it (``register_versions``). ``upgrade`` takes every branch to its head.

An embedded SQLite database (the default on one machine) is brought up to date when a command
starts, so ``modelshelf serve`` works on a fresh machine. Any other database must be upgraded on
purpose (``modelshelf db upgrade``, one node, before the new version's nodes start): ``check``
refuses to start on one that is behind and says what to run.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util.exc import CommandError
from flask import Flask
from sqlalchemy import inspect, text

from package_api.db import db

log = logging.getLogger(__name__)
HERE = Path(__file__).parents[1] / "migrations"
#: Key of the PostgreSQL advisory lock an upgrade holds: nodes started together take turns.
UPGRADE_LOCK = 0x6D6967726174  # "migrat"


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this code needs."""


def register_versions(app: Flask, directory: str | Path) -> None:
    """Add a plugin's directory of revisions."""
    locations = app.extensions.setdefault("modelshelf.migrations", [str(HERE / "versions")])
    if str(directory) not in locations:
        locations.append(str(directory))


def _config(app: Flask, connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    locations = app.extensions.get("modelshelf.migrations", [str(HERE / "versions")])
    # A separator that paths do not contain (the default splits on spaces).
    config.set_main_option("path_separator", "newline")
    config.set_main_option("version_locations", "\n".join(locations))
    config.attributes["connection"] = connection
    config.attributes["metadata"] = db.metadata
    return config


def heads(app: Flask) -> set[str]:
    """The revisions the code expects the database to be at."""
    return set(ScriptDirectory.from_config(_config(app)).get_heads())


def current(app: Flask) -> set[str]:
    """The revisions the database is at (empty for a database never migrated)."""
    with app.app_context(), db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def applied(app: Flask) -> set[str]:
    """Every revision the database has had applied (its heads and all they stand on)."""
    found = current(app)
    if not found:
        return set()
    script = ScriptDirectory.from_config(_config(app))
    return {rev.revision for rev in script.iterate_revisions(tuple(found), "base")}


def is_current(app: Flask) -> bool:
    """Whether every head of this version's revisions is applied (a branch that depends on another
    branch's revision stands for both in ``alembic_version``)."""
    return heads(app) <= applied(app)


def upgrade(app: Flask, revision: str = "heads") -> None:
    """Take the database to ``revision`` (every branch's head by default).

    SQLite changes a table by building a new one and dropping the old (Alembic's batch mode); with
    foreign keys enforced, dropping the old one would delete the rows that refer to it (or fail). So
    enforcement is off while the revisions run, and the keys are checked before the commit: raise
    ``SchemaOutOfDate`` (nothing committed) if a row refers to one that is gone."""
    with app.app_context(), db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _enforce_foreign_keys(connection, False)
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
                command.upgrade(_config(app, connection), revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise SchemaOutOfDate(f"the upgrade would leave rows that refer to missing rows: {broken[:5]}")
        finally:
            if sqlite:
                _enforce_foreign_keys(connection, True)


def _enforce_foreign_keys(connection: Any, on: bool) -> None:
    """Turn SQLite's foreign key enforcement on or off for ``connection``. The pragma does nothing
    inside a transaction, so it is set outside one and read back."""
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    connection.commit()
    if bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar()) != on:
        raise RuntimeError("could not change SQLite's foreign key enforcement (a transaction is open)")
    connection.commit()


def differences(app: Flask) -> list[Any]:
    """What the database's schema lacks or has beyond the models' (Alembic's autogenerate diff)."""
    with app.app_context(), db.engine.connect() as connection, warnings.catch_warnings():
        # SQLAlchemy cannot reflect SQLite's expression indexes (model_registry_0009's tag indexes)
        # and says so on stderr, where ``modelshelf serve`` logs JSON; tests/unit/test_migrations.py
        # checks those indexes by name instead.
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
        warnings.filterwarnings("ignore", message="autogenerate skipping .*expression-based index")
        def on_this_database(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
            # An object the models make on some databases only (``Index(...).ddl_if(dialect=...,
            # callable_=...)``), compared where they would make it.
            condition = getattr(item, "_ddl_if", None) if not reflected else None
            return condition is None or bool(condition._should_execute(None, item, connection))

        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": on_this_database})
        return list(compare_metadata(context, db.metadata))


def auto_upgrades(app: Flask) -> bool:
    """Whether commands bring this app's database up to date themselves (``AUTO_MIGRATE``)."""
    return upgrades_automatically(app.config["MODELSHELF"])


def upgrades_automatically(settings: Mapping[str, Any]) -> bool:
    """Whether commands bring the database of ``settings`` (``load_settings``'s, with the database URL
    derived) up to date themselves: ``AUTO_MIGRATE``, whose ``auto`` means SQLite only."""
    setting = str(settings.get("AUTO_MIGRATE", "auto")).lower()
    if setting == "auto":
        return str(settings["DATABASE_URL"]).startswith("sqlite")
    return setting in ("1", "true", "yes", "on")


def _known(app: Flask) -> None:
    """Raise ``SchemaOutOfDate`` if the database is at revisions this app does not have (those of
    a plugin that is not loaded now, or of a newer Modelshelf)."""
    script = ScriptDirectory.from_config(_config(app))
    unknown = sorted(rev for rev in current(app) if not _exists(script, rev))
    if unknown:
        raise SchemaOutOfDate(
            f"The database is at revisions this installation does not know ({', '.join(unknown)}): "
            "load the plugin they belong to (MODELSHELF_PLUGINS) or install the Modelshelf version that made them."
        )


def _exists(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def prepare(app: Flask) -> None:
    """Before a command uses the database: upgrade it when allowed, else raise ``SchemaOutOfDate``
    unless it is at the heads.

    A database at the heads is left as it is, without comparing its schema with the models: that
    comparison (Alembic's autogenerate, a fifth of a second) runs after an upgrade, where it tells a
    developer who changed a model without a revision; tests/unit/test_migrations.py makes the same
    comparison on every migrated database."""
    _known(app)
    wanted = heads(app)
    if auto_upgrades(app):
        if is_current(app):
            return
        upgrade(app)
        missing = differences(app)
        if missing:  # a model changed without a revision: say so where a developer will look
            log.warning(
                "the models differ from the migrated schema (%s); add a revision to package_api/migrations "
                "or the plugin's migrations directory",
                "; ".join(str(d) for d in missing[:5]),
            )
        return
    if is_current(app):
        return
    found = current(app)
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    if not found and tables - {"alembic_version"}:
        raise SchemaOutOfDate(
            "The database has tables but no migration history (made before migrations, or by another "
            "program). Back it up, then run `modelshelf db stamp heads` if its schema is this version's."
        )
    state = ", ".join(sorted(found)) or "an empty database"
    raise SchemaOutOfDate(
        f"The database schema is not up to date (at {state}; this version needs {', '.join(sorted(wanted))}). "
        "Run `modelshelf db upgrade` (once, from one node), then start the nodes."
    )


def stamp(app: Flask, revision: str = "heads") -> None:
    with app.app_context(), db.engine.begin() as connection:
        command.stamp(_config(app, connection), revision)
