"""Alembic migrations: the migrated schema is the models' schema, and commands refuse a database that
is behind (on SQLite, and on PostgreSQL when ``MODELSHELF_TEST_DATABASE_URL`` names one)."""
from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import column, insert, inspect, text
from sqlalchemy import table as sa_table
from sqlalchemy.engine import Connection

from package_api import create_app
from package_api.config import DEFAULTS
from package_api.db import db
from package_api.ops import migrate
from tests.support.databases import database_settings
from tests.support.ids import assigned_ids, never_reused


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
    assert migrate.heads(app) == {"core_0003", "model_registry_0002"}
    assert migrate.is_current(app) and migrate.current(app) == migrate.heads(app)
    assert migrate.applied(app) == migrate.heads(app) | {"core_0001", "core_0002", "model_registry_0001"}
    assert migrate.differences(app) == []
    with app.app_context():
        assert _tables(app) == set(db.metadata.tables)  # every table of the core and the plugin
        with db.engine.connect() as connection:  # what Alembic's comparison does not look at
            reused = [t.name for t in db.metadata.sorted_tables if assigned_ids(t) and not never_reused(connection, t.name)]
            assert reused == []


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


def _insert(connection: Connection, table: str, **values: object) -> int:
    """Insert a row as the old schema holds it (raw SQL: today's models have columns it lacks);
    return its id."""
    row = sa_table(table, column("id"), *(column(name) for name in values))
    return connection.execute(insert(row).values(**values).returning(row.c.id)).scalar_one()


def test_upgrading_keeps_every_row_and_never_hands_out_an_id_again(tmp_path: Path) -> None:
    """A database made before ids were kept (``core_0001``, ``model_registry_0001``), with rows
    deleted: the upgrade keeps every row and every row that refers to one (SQLite rebuilds its tables),
    counts on from the highest id the table holds or the audit trail names, and numbers a model's
    next version after its highest."""
    app = _app(tmp_path / "data")
    migrate.upgrade(app, "model_registry_0001")
    now = datetime.datetime(2026, 1, 1)
    stamps = {"created_at": now, "updated_at": now}
    with app.app_context(), db.engine.begin() as connection:
        users = [_insert(connection, "users", username=name, name="", is_admin=False, created_at=now)
                 for name in ("alice", "bob", "carol")]
        project = _insert(connection, "projects", namespace="acme", path="p", description="", visibility="private",
                          generic_duplicates_allowed=True, generic_duplicate_exception_regex="", created_at=now)
        for user in users[:2]:
            _insert(connection, "memberships", project_id=project, user_id=user, access_level=30, created_at=now)
        models = [_insert(connection, "ml_models", project_id=project, name=name, description="", **stamps)
                  for name in ("fraud", "churn", "spam")]
        blob = _insert(connection, "blobs", sha256="0" * 64, size=1, storage_key="k", created_at=now)
        for number in (1, 2):
            package = _insert(connection, "packages", project_id=project, name="fraud", version=f"1.{number}.0",
                              package_type="generic", status="default", **stamps)
            _insert(connection, "package_files", package_id=package, blob_id=blob, file_name="m.onnx",
                    status="default", **stamps)
            _insert(connection, "ml_model_versions", model_id=models[0], package_id=package, version=f"1.{number}.0",
                    sequence=number, description="", **stamps)
        # carol made a change and left; spam was deleted, and the trail says so.
        _insert(connection, "audit_events", author_id=users[2], author_name="carol", token_type="session",
                event_name="model_deleted", target_type="Model", target_id=models[2], target_details="spam",
                ip_address="", details="{}", created_at=now)
        connection.execute(text("DELETE FROM ml_models WHERE id IN (:a, :b)"), {"a": models[1], "b": models[2]})
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": users[2]})

    migrate.upgrade(app)

    assert migrate.differences(app) == []
    with app.app_context(), db.engine.begin() as connection:
        counts = {t: connection.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in ("users", "memberships", "ml_models", "packages", "package_files", "ml_model_versions")}
        assert counts == {"users": 2, "memberships": 2, "ml_models": 1, "packages": 2, "package_files": 2,
                          "ml_model_versions": 2}
        assert connection.execute(text("SELECT last_sequence FROM ml_models")).scalar_one() == 2
        new_model = _insert(connection, "ml_models", project_id=project, name="new", description="", **stamps)
        assert new_model == models[2] + 1
        assert _insert(connection, "users", username="dave", name="", is_admin=False, created_at=now) == users[2] + 1
        reused = [t.name for t in db.metadata.sorted_tables if assigned_ids(t) and not never_reused(connection, t.name)]
        assert reused == []


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
    with pytest.raises(migrate.SchemaOutOfDate, match="model_registry_0002.*MODELSHELF_PLUGINS"):
        migrate.prepare(without_plugins)
