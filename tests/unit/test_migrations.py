"""Alembic migrations: the migrated schema is the models' schema, commands refuse a database that is
behind (on SQLite, and on PostgreSQL when ``MODELSHELF_TEST_DATABASE_URL`` names one), and the data
revisions do what their docstrings say to rows made before them."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import column, insert, inspect, text
from sqlalchemy import table as sa_table
from sqlalchemy.engine import Connection

from package_api import create_app, services
from package_api.access.models import Project
from package_api.config import DEFAULTS
from package_api.db import db
from package_api.ops import migrate
from plugin.registry.model_service import ModelService
from plugin.registry.models import ModelOrigin
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
    assert migrate.heads(app) == {"core_0009", "model_registry_0017"}
    assert migrate.is_current(app) and migrate.current(app) == migrate.heads(app)
    assert migrate.applied(app) == migrate.heads(app) | {
        "core_0001", "core_0002", "core_0003", "core_0004", "core_0005", "core_0006", "core_0008", "model_registry_0001",
        "model_registry_0002",
        "model_registry_0003", "model_registry_0004", "model_registry_0005", "model_registry_0006", "model_registry_0009",
        "model_registry_0010", "model_registry_0014", "model_registry_0015", "model_registry_0013", "model_registry_0016",
    }
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


def test_prepare_compares_the_schema_with_the_models_after_an_upgrade_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(tmp_path / "data", AUTO_MIGRATE="true")
    compared: list[bool] = []
    monkeypatch.setattr(migrate, "differences", lambda _app: compared.append(True) or ["a column the models lack"])
    with caplog.at_level("WARNING", logger=migrate.log.name):
        migrate.prepare(app)  # an empty database: upgraded, then compared
    assert compared == [True]
    assert "the models differ from the migrated schema (a column the models lack)" in caplog.text

    caplog.clear()
    migrate.prepare(app)  # at the heads: every command after the first, and every server start
    migrate.prepare(app)
    assert compared == [True]
    assert caplog.text == ""
    assert migrate.is_current(app)


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
        # fraud was made on purpose (so model_registry_0003 keeps it: it has its model_created event).
        _insert(connection, "audit_events", project_id=project, author_id=users[0], author_name="alice",
                token_type="session", event_name="model_created", target_type="Model", target_id=models[0],
                target_details="fraud", ip_address="", details="{}", created_at=now)
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
        new_model = _insert(connection, "ml_models", project_id=project, name="new", description="", origin="api", **stamps)
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
    with pytest.raises(migrate.SchemaOutOfDate, match="model_registry_0017.*MODELSHELF_PLUGINS"):
        migrate.prepare(without_plugins)


# -- model_registry_0003: models are made on purpose ------------------------------------------------


class OldRows:
    """Rows as the model registry made them before ``model_registry_0003``, written with SQL into a
    database at ``model_registry_0001`` (today's tables have columns that revision lacks)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.metadata = sa.MetaData()
        self.now = datetime.datetime(2026, 1, 1, 12, 0)
        self.user = self.add("users", username="alice", name="Alice", is_admin=False, created_at=self.now)
        self.project = self.add(
            "projects", namespace="team", path="fraud", description="", visibility="private",
            generic_duplicates_allowed=True, generic_duplicate_exception_regex="", created_at=self.now,
        )

    def add(self, table: str, **values: Any) -> int:
        """Insert a row; return its id (``0`` for tables without one)."""
        found = self.metadata.tables.get(table)
        if found is None:
            found = sa.Table(table, self.metadata, autoload_with=self.connection)
        result = self.connection.execute(sa.insert(found).values(**values))
        return result.inserted_primary_key[0] if result.inserted_primary_key else 0

    def at(self, minutes: int) -> datetime.datetime:
        return self.now + datetime.timedelta(minutes=minutes)

    def event(self, event_name: str, target_type: str, target_id: int, minutes: int, /, **details: Any) -> None:
        self.add(
            "audit_events", project_id=self.project, author_id=self.user, author_name="alice",
            token_type="personal_access_token", event_name=event_name, target_type=target_type, target_id=target_id,
            target_details="", ip_address="", details=json.dumps(details), created_at=self.at(minutes),
        )

    def model(self, name: str, minutes: int, *, description: str = "") -> int:
        """A model and its default experiment ``[model]<name>`` (the experiment's id is ``model + 1000``)."""
        model = self.add(
            "ml_models", project_id=self.project, name=name, description=description, author_id=self.user,
            created_at=self.at(minutes), updated_at=self.at(minutes),
        )
        self.add(
            "ml_experiments", id=model + 1000, project_id=self.project, iid=model, name=f"[model]{name}",
            model_id=model, lifecycle_stage="active", creator_id=self.user, created_at=self.at(minutes),
            updated_at=self.at(minutes),
        )
        return model

    def package(self, name: str, version: str, minutes: int) -> int:
        return self.add(
            "packages", project_id=self.project, name=name, version=version, package_type="generic",
            status="default", creator_id=self.user, created_at=self.at(minutes), updated_at=self.at(minutes),
        )

    def version(self, model: int, name: str, version: str, minutes: int, *, uploaded: bool = True) -> tuple[int, int]:
        """A version as the pipeline made it: its package (by an upload, or empty through the model
        registry), its row, its own run with only a run name, its registration and its audit event."""
        package = self.package(name, version, minutes)
        sequence = self.connection.scalar(sa.text("SELECT count(*) FROM ml_model_versions WHERE model_id = :m"), {"m": model})
        row = self.add(
            "ml_model_versions", model_id=model, package_id=package, version=version, sequence=sequence + 1,
            description="", author_id=self.user, created_at=self.at(minutes), updated_at=self.at(minutes),
        )
        run = self.run(model, minutes, own=row)
        self.add("ml_model_version_registrations", version_id=row, stage="None", source="", run_id=run, run_link="")
        file = {"file_name": "model.onnx", "size": 7} if uploaded else {}
        self.event("model_version_created", "Package", package, minutes, name=name, version=version, **file)
        return row, run

    def run(self, model: int, minutes: int, *, own: int | None = None) -> int:
        run = self.add(
            "ml_runs", project_id=self.project, experiment_id=model + 1000, uuid=uuid.uuid4().hex, name="a run",
            user_name="alice", creator_id=self.user, status="FINISHED", start_time=0, end_time=0,
            lifecycle_stage="active", model_version_id=own, created_at=self.at(minutes),
        )
        self.add("ml_run_tags", run_id=run, key="mlflow.runName", value="a run")
        return run


def test_model_registry_0003_keeps_the_models_made_on_purpose_or_used_and_removes_what_uploads_alone_made(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(tmp_path / "data")
    migrate.upgrade(app, "model_registry_0001")
    with app.app_context(), db.engine.begin() as connection:
        old = OldRows(connection)
        # Removed: a CI release tarball that an upload made a model of.
        tarball = old.model("release-tarball", 1)
        tarball_version, tarball_run = old.version(tarball, "release-tarball", "2.3.4", 1)
        # Removed: the empty model a deleted package left (its version gone, the own run orphaned).
        emptied = old.model("emptied", 2)
        old.run(emptied, 2)
        # Removed: an upload's model whose id an older model had, made on purpose and then deleted.
        reused = old.model("reused", 10)
        old.event("model_created", "Model", reused, 5)
        # Kept as made on purpose: a model_created event, no versions.
        made = old.model("made", 3)
        old.event("model_created", "Model", made, 3, description="")
        # Kept as made by an upload, for what the model registry holds about them.
        described = old.model("described", 4, description="words")
        old.version(described, "described", "1.0.0", 4)
        registry_version = old.model("registry-version", 5)
        old.version(registry_version, "registry-version", "1.0.0", 5)
        old.version(registry_version, "registry-version", "1.1.0", 6, uploaded=False)
        with_metric = old.model("with-metric", 7)
        _, run = old.version(with_metric, "with-metric", "1.0.0", 7)
        old.add("ml_run_metrics", run_id=run, key="loss", value=0.5, is_nan=False, timestamp=1, step=0)
        aliased = old.model("aliased", 8)
        version, _ = old.version(aliased, "aliased", "1.0.0", 8)
        old.add("ml_model_aliases", model_id=aliased, alias="champion", version_id=version, created_at=old.at(8))
        registered = old.model("registered", 9)
        version, _ = old.version(registered, "registered", "1.0.0", 9)
        connection.execute(sa.text("UPDATE ml_model_version_registrations SET source = 's3://b/m' WHERE version_id = :v"),
                           {"v": version})
        mlflow_run = old.model("mlflow-run", 11)
        created = old.run(mlflow_run, 11)
        old.event("run_created", "Run", created, 11)
        # Removed, and the highest id: no model gets it again.
        last = old.model("last", 12)

    migrate.upgrade(app)

    assert migrate.differences(app) == []
    [said] = [r.getMessage() for r in caplog.records if r.name == "modelshelf.migrations"]
    assert said.startswith("model_registry_0003: 1 models made on purpose, 6 made by uploads and kept")
    assert said.endswith(f"4 made by uploads alone removed (their packages stay): {old.project}:emptied, "
                         f"{old.project}:last, {old.project}:release-tarball, {old.project}:reused")
    with app.app_context(), db.engine.connect() as connection:
        models = dict(connection.execute(sa.text("SELECT name, origin FROM ml_models")).all())
        assert models == {
            "made": "created",
            "described": "upload",
            "registry-version": "upload",
            "with-metric": "upload",
            "aliased": "upload",
            "registered": "upload",
            "mlflow-run": "upload",
        }
        left = {
            "versions": "SELECT count(*) FROM ml_model_versions WHERE model_id IN (:a, :b, :c)",
            "experiments": "SELECT count(*) FROM ml_experiments WHERE id IN (:a + 1000, :b + 1000, :c + 1000)",
            "runs": "SELECT count(*) FROM ml_runs WHERE experiment_id IN (:a + 1000, :b + 1000, :c + 1000)",
        }
        ids = {"a": tarball, "b": emptied, "c": reused}
        assert "last" not in models
        assert {what: connection.scalar(sa.text(query), ids) for what, query in left.items()} == {
            "versions": 0, "experiments": 0, "runs": 0
        }
        assert connection.scalar(sa.text("SELECT count(*) FROM ml_model_version_registrations WHERE version_id = :v"),
                                 {"v": tarball_version}) == 0
        assert connection.scalar(sa.text("SELECT count(*) FROM ml_run_tags WHERE run_id = :r"), {"r": tarball_run}) == 0
        # The packages stay, as plain packages; the kept models keep their versions.
        assert connection.execute(sa.text("SELECT name, version, status FROM packages WHERE name = 'release-tarball'")).all() \
            == [("release-tarball", "2.3.4", "default")]
        assert connection.scalar(sa.text(
            "SELECT count(*) FROM ml_model_versions v JOIN ml_models m ON m.id = v.model_id WHERE m.name = 'registry-version'"
        )) == 2

    # Under the new rule the tarball is a plain package until a model of its name is made again, which
    # takes an id no model had.
    with app.app_context():
        project = db.session.get_one(Project, old.project)
        packages = services.package_service(app)
        model = ModelService(db.session, packages).create(project, "release-tarball", author=None, origin=ModelOrigin.API)
        assert [v.version for v in ModelService(db.session, packages).versions(model)] == ["2.3.4"]
        assert model.id == last + 1


# -- model_registry_0005: runs keep their latest metrics --------------------------------------------


def test_model_registry_0005_fills_the_latest_metrics_from_the_points_logged_before(tmp_path: Path) -> None:
    app = _app(tmp_path / "data")
    migrate.upgrade(app, "model_registry_0004")
    with app.app_context(), db.engine.begin() as connection:
        old = OldRows(connection)
        model = old.add(  # as model_registry_0003 left the table: with an origin
            "ml_models", project_id=old.project, name="fraud", description="", author_id=old.user,
            created_at=old.now, updated_at=old.now, origin="api",
        )
        old.add(
            "ml_experiments", id=model + 1000, project_id=old.project, iid=1, name="[model]fraud", model_id=model,
            lifecycle_stage="active", creator_id=old.user, created_at=old.now, updated_at=old.now,
        )
        run = old.run(model, 1)
        other = old.run(model, 2)
        points = [  # (run, key, value, is_nan, timestamp, step)
            (run, "loss", 0.9, False, 10, 0), (run, "loss", 0.5, False, 5, 2), (run, "loss", 0.4, False, 4, 2),
            (run, "loss", 0.7, False, 1, 1),  # step 2, then timestamp 5: 0.5
            (run, "acc", 0.0, True, 7, 3), (run, "acc", 0.8, False, 7, 3),  # NaN is 0 here, as in MLflow
            (run, "neg", -1.0, False, 1, 0), (run, "neg", 0.0, True, 1, 0),  # so NaN beats -1
            (run, "tie", 0.0, False, 1, 0), (run, "tie", 0.0, True, 1, 0),  # and of equals the first stays
            (other, "loss", 0.0, True, 3, 0),  # only NaN
        ]
        for run_id, key, value, nan, timestamp, step in points:
            old.add("ml_run_metrics", run_id=run_id, key=key, value=value, is_nan=nan, timestamp=timestamp, step=step)
    migrate.upgrade(app)
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT run_id, key, value, is_nan, timestamp, step FROM ml_run_latest_metrics ORDER BY run_id, key"
        )).all()
        assert [tuple(r) for r in rows] == [
            (run, "acc", 0.8, False, 7, 3), (run, "loss", 0.5, False, 5, 2), (run, "neg", 0.0, True, 1, 0),
            (run, "tie", 0.0, False, 1, 0), (other, "loss", 0.0, True, 3, 0),
        ]


# -- model_registry_0009: versions sort in SQL, tag search indexes ------------------------------------


def test_model_registry_0009_gives_the_versions_made_before_their_precedence_and_the_indexes(tmp_path: Path) -> None:
    from plugin.registry import semver

    app = _app(tmp_path / "data")
    migrate.upgrade(app, "model_registry_0005")
    versions = ["1.0.0", "1.0.0-rc.1", "1.10.0", "1.2.0", "2.0.0-alpha", "1.0.0+build.7"]
    with app.app_context(), db.engine.begin() as connection:
        old = OldRows(connection)
        model = old.add(
            "ml_models", project_id=old.project, name="fraud", description="", author_id=old.user,
            created_at=old.now, updated_at=old.now, origin="api",
        )
        old.add(
            "ml_experiments", id=model + 1000, project_id=old.project, iid=1, name="[model]fraud", model_id=model,
            lifecycle_stage="active", creator_id=old.user, created_at=old.now, updated_at=old.now,
        )
        made = [old.version(model, "fraud", v, i)[0] for i, v in enumerate(versions)]
        connection.execute(sa.text("DELETE FROM ml_model_versions WHERE id = :i"), {"i": made[-1]})  # its id stays used
    migrate.upgrade(app)
    assert migrate.differences(app) == []
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT version, precedence, release FROM ml_model_versions ORDER BY id")).all()
        assert [(v, bytes(p), bool(r)) for v, p, r in rows] == [
            (v, semver.precedence(v), semver.is_release(v)) for v in versions[:-1]
        ]
        ordered = connection.scalars(sa.text("SELECT version FROM ml_model_versions ORDER BY precedence DESC")).all()
        assert ordered == semver.ordered(versions[:-1], str, descending=True)
        if connection.dialect.name == "sqlite":
            indexes = set(connection.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'index'")))
        else:
            indexes = set(connection.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")))
        assert {"ix_ml_model_tags_key_value", "ix_ml_model_version_tags_key_prefix",
                "ix_ml_model_versions_model_precedence", "ix_ml_model_versions_model_release_precedence"} <= indexes
        assert never_reused(connection, "ml_model_versions")
    with app.app_context():  # the latest version is the highest release, found in SQL
        service = ModelService(db.session, services.package_service(app))
        summary = service.summary(service.get(db.session.get_one(Project, old.project), "fraud"))
        assert summary.latest_version is not None and summary.latest_version.version == "1.10.0"
        assert summary.version_count == 5
        assert [v.version for v in service.versions(summary.model)] == semver.ordered(versions[:-1], str, descending=True)


# -- model_registry_0010: alias history and protected aliases ----------------------------------------


def test_model_registry_0010_gives_each_existing_alias_a_first_history_row(tmp_path: Path) -> None:
    app = _app(tmp_path / "data")
    migrate.upgrade(app, "model_registry_0005")
    with app.app_context(), db.engine.begin() as connection:
        old = OldRows(connection)
        model = old.add(
            "ml_models", project_id=old.project, name="fraud", description="", author_id=old.user,
            created_at=old.now, updated_at=old.now, origin="api",
        )
        old.add(
            "ml_experiments", id=model + 1000, project_id=old.project, iid=1, name="[model]fraud", model_id=model,
            lifecycle_stage="active", creator_id=old.user, created_at=old.now, updated_at=old.now,
        )
        first, _ = old.version(model, "fraud", "1.0.0", 1)
        second, _ = old.version(model, "fraud", "1.1.0", 2)
        old.add("ml_model_aliases", model_id=model, alias="champion", version_id=second, created_at=old.at(5))
        old.add("ml_model_aliases", model_id=model, alias="shadow", version_id=first, created_at=old.at(3))
    migrate.upgrade(app)
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT alias, action, from_version_id, to_version_id, to_version, author_id, request_id, created_at "
            "FROM ml_model_alias_moves ORDER BY id"
        )).all()
        assert [tuple(r)[:7] for r in rows] == [
            ("shadow", "existing", None, first, "1.0.0", None, None),  # in the order they were made
            ("champion", "existing", None, second, "1.1.0", None, None),
        ]
        assert [str(r[7])[:16] for r in rows] == ["2026-01-01 12:03", "2026-01-01 12:05"]


def test_core_0008_encrypts_the_webhook_secrets_stored_before_and_downgrading_decrypts_them(tmp_path: Path) -> None:
    from package_api.webhooks import dispatcher
    from package_api.webhooks.secret_box import SecretBox

    app = _app(tmp_path / "data", SECRET_KEY="instance key")
    migrate.upgrade(app, "core_0006")
    with app.app_context(), db.engine.begin() as connection:
        old = OldRows(connection)
        hooks = {
            secret: old.add(
                "webhooks", project_id=old.project, name=f"hook{n}", description="", url="https://example.com/hook",
                secret=secret, events='["package.created"]', enabled=True, created_at=old.now, updated_at=old.now,
            )
            for n, secret in enumerate(["s3cret-á", "", "x" * 255])
        }
    migrate.upgrade(app)
    assert migrate.differences(app) == []
    box = SecretBox("instance key")
    with app.app_context(), db.engine.connect() as connection:
        stored = dict(connection.execute(sa.text("SELECT id, secret_ciphertext FROM webhooks")).all())
        assert "secret" not in {c["name"] for c in inspect(connection).get_columns("webhooks")}
    for secret, hook_id in hooks.items():
        assert (stored[hook_id] == "") == (secret == "")
        assert secret == "" or secret not in stored[hook_id]
        assert box.open(stored[hook_id]) == secret  # the key the server decrypts with at send time
    with pytest.raises(Exception, match="cannot be decrypted"):
        SecretBox("another key").open(stored[hooks["s3cret-á"]])
    outcome = dispatcher.send_signed(
        dispatcher.Settings.of(_app(tmp_path / "other", SECRET_KEY="another key")), SecretBox("another key"),
        "https://example.com/hook", "{}", "package.created", stored[hooks["s3cret-á"]], "d",
    )
    assert outcome.status is None and "set the secret again" in outcome.error

    with app.app_context(), db.engine.begin() as connection:
        from alembic import command

        command.downgrade(migrate._config(app, connection), "core_0006")
    with app.app_context(), db.engine.connect() as connection:
        assert dict(connection.execute(sa.text("SELECT id, secret FROM webhooks")).all()) == {v: k for k, v in hooks.items()}


# -- model_registry_0016: version tag objects, trigram index of model names ---------------------------


def test_model_registry_0016_fills_the_tag_objects_of_the_versions_made_before(tmp_path: Path) -> None:
    from plugin.registry import semver

    app = _app(tmp_path / "data")
    migrate.upgrade(app, "model_registry_0013")
    tags = {"stage": "50%_off", "long": "é" * 300, 'quo"te': '{"a": 1}', "empty": ""}
    with app.app_context(), db.engine.begin() as connection:
        old = OldRows(connection)
        model = old.add(
            "ml_models", project_id=old.project, name="fraud", description="", author_id=old.user,
            created_at=old.now, updated_at=old.now, origin="api", last_sequence=2,
        )
        made = [
            old.add(
                "ml_model_versions", model_id=model, package_id=old.package("fraud", v, 0), version=v, sequence=i + 1,
                precedence=semver.precedence(v), release=True, description="", author_id=old.user, created_at=old.now,
                updated_at=old.now,
            )
            for i, v in enumerate(["1.0.0", "1.0.1"])
        ]
        for key, value in tags.items():
            old.add("ml_model_version_tags", version_id=made[0], key=key, value=value)
    migrate.upgrade(app)
    assert migrate.differences(app) == []
    with app.app_context(), db.engine.connect() as connection:
        objects = dict(connection.execute(sa.text("SELECT id, tag_index FROM ml_model_versions")).all())
        assert [o if isinstance(o, dict) or o is None else json.loads(o) for o in (objects[made[0]], objects[made[1]])] == [
            tags, None
        ]
        if connection.dialect.name == "postgresql":  # .ci/postgres's server has pg_trgm (contrib)
            indexes = set(connection.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")))
            assert {"ix_ml_model_versions_tag_index", "ix_ml_models_name_trgm"} <= indexes
