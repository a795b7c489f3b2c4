"""Alembic migrations: the migrated schema is the models' schema, and commands refuse a database that
is behind (on SQLite, and on PostgreSQL when ``MODELSHELF_TEST_DATABASE_URL`` names one)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from package_api import create_app
from package_api.config import DEFAULTS
from package_api.db import db
from package_api.ops import migrate
from tests.support.databases import database_settings


def _app(data_dir: Path, **settings: object):  # type: ignore[no-untyped-def]
    """An app on ``data_dir`` that makes no tables itself (as the ``modelshelf`` commands build it)."""
    return create_app(
        {"DATA_DIR": str(data_dir), "STORAGE": "memory", "SECRET_KEY": "test", "CREATE_SCHEMA": False,
         **database_settings(data_dir), **settings}
    )


def _tables(app) -> set[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_the_migrated_schema_is_the_models_schema(tmp_path: Path) -> None:
    app = _app(tmp_path / "data")
    assert migrate.current(app) == set()
    migrate.upgrade(app)
    assert migrate.heads(app) == {"core_0001", "model_registry_0001"}
    assert migrate.is_current(app) and migrate.applied(app) == migrate.heads(app)
    assert migrate.differences(app) == []
    with app.app_context():
        assert _tables(app) == set(db.metadata.tables)  # every table of the core and the plugin


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    app = _app(tmp_path / "data")
    migrate.upgrade(app)
    migrate.upgrade(app)  # at the heads already: nothing to do
    with app.app_context(), db.engine.begin() as connection:
        from alembic import command

        command.downgrade(migrate._config(app, connection), "base")
    assert _tables(app) == set()
    migrate.upgrade(app)
    assert migrate.differences(app) == []


def test_prepare_upgrades_sqlite_and_refuses_a_server_database_that_is_behind(tmp_path: Path) -> None:
    automatic = _app(tmp_path / "auto", AUTO_MIGRATE="true")
    migrate.prepare(automatic)
    assert migrate.is_current(automatic)

    manual = _app(tmp_path / "manual", AUTO_MIGRATE="false")
    with pytest.raises(migrate.SchemaOutOfDate, match="modelshelf db upgrade"):
        migrate.prepare(manual)
    assert _tables(manual) == set()  # refusing changed nothing

    made_by_hand = _app(tmp_path / "legacy", AUTO_MIGRATE="false")
    with made_by_hand.app_context():
        db.create_all()
    with pytest.raises(migrate.SchemaOutOfDate, match="modelshelf db stamp heads"):
        migrate.prepare(made_by_hand)


def _modelshelf(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not any(k == f"MODELSHELF_{name}" for name in DEFAULTS)}
    environ["MODELSHELF_DATA_DIR"] = str(data_dir)
    environ.update({f"MODELSHELF_{k}": str(v) for k, v in database_settings(data_dir).items()})
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "package_api.ops.cli", *args], env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_serve_refuses_an_unmigrated_database_and_says_what_to_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    refused = _modelshelf(data_dir, "serve", "--port", "0", MODELSHELF_AUTO_MIGRATE="false")
    assert refused.returncode == 1, refused.stderr
    assert "Run `modelshelf db upgrade`" in refused.stderr
    assert _modelshelf(data_dir, "db", "current", MODELSHELF_AUTO_MIGRATE="false").returncode == 1

    upgraded = _modelshelf(data_dir, "db", "upgrade", MODELSHELF_AUTO_MIGRATE="false")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "model_registry_0001" in upgraded.stdout
    current = _modelshelf(data_dir, "db", "current", MODELSHELF_AUTO_MIGRATE="false")
    assert current.returncode == 0, current.stdout + current.stderr
    created = _modelshelf(data_dir, "admin", "create-user", "alice", MODELSHELF_AUTO_MIGRATE="false")
    assert created.returncode == 0, created.stderr


def test_a_database_of_a_plugin_that_is_not_loaded_is_refused_with_a_reason(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    migrate.upgrade(_app(data_dir))  # every plugin
    without_plugins = _app(data_dir, PLUGINS="none", AUTO_MIGRATE="true")
    with pytest.raises(migrate.SchemaOutOfDate, match="model_registry_0001.*MODELSHELF_PLUGINS"):
        migrate.prepare(without_plugins)
