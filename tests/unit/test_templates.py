"""The databases tests/support/templates.py copies: a test given the copy gets what it would have
made itself, and one whose database was written to first is seeded as before. On SQLite, or on
PostgreSQL with ``MODELSHELF_TEST_DATABASE_URL``."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import inspect, text

from package_api import create_app
from package_api.access.users import UserService
from package_api.db import db
from tests.conftest import _seed_world
from tests.support.databases import SCHEMAS, database_settings
from tests.support.templates import Templates
from tests.support.world import World


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[list[Flask]]:
    made: list[Flask] = []
    yield made
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _app(templates: Templates, tmp_path: Path, apps: list[Flask]) -> tuple[Flask, bool]:
    """An app made as the ``app`` fixture makes it; and whether its database file was written
    before ``create_app`` (SQLite)."""
    data_dir = tmp_path / f"app-{len(apps)}" / "data"
    settings = {"DATA_DIR": str(data_dir), "STORAGE": "memory", "SECRET_KEY": "test", "PLUGINS": "all"}
    settings.update(database_settings(data_dir, reuse=True))
    found = templates.before_app(settings)
    written_before = (data_dir / "modelshelf.db").exists()
    app = create_app(settings)
    templates.after_app(app, found)
    apps.append(app)
    return app, written_before


def _world(templates: Templates, app: Flask) -> tuple[World, bool]:
    """The app's world; and whether it was seeded (not copied)."""
    seeded: list[bool] = []

    def seed() -> World:
        seeded.append(True)
        return _seed_world(app)

    return templates.world(app, seed), bool(seeded)


def _rows(app: Flask) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, by primary key, without the columns that differ between two seedings
    (times, token digests and what is derived from them)."""
    with app.app_context():
        tables = {}
        for name in sorted(inspect(db.engine).get_table_names()):
            table = db.metadata.tables.get(name)
            if table is None:
                continue
            columns = [c.name for c in table.columns if not any(word in c.name for word in ("_at", "digest", "hash", "secret", "details"))]
            listed = ", ".join(f'"{c}"' for c in columns)
            order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns) or "1"
            tables[name] = [tuple(row) for row in db.session.execute(text(f'SELECT {listed} FROM "{name}" ORDER BY {order}'))]
        return tables


def test_a_copied_world_has_the_rows_of_a_seeded_one_and_its_tokens_work(tmp_path: Path, apps: list[Flask]) -> None:
    templates = Templates()
    first, _ = _app(templates, tmp_path, apps)
    assert _world(templates, first)[1]  # seeded: settings seen once keep no copy
    second, _ = _app(templates, tmp_path, apps)
    assert _world(templates, second)[1]  # seeded, and kept
    third, tables_copied = _app(templates, tmp_path, apps)
    world, seeded = _world(templates, third)

    assert not seeded
    assert tables_copied == (SCHEMAS is None)  # SQLite: the tables' copy was there before create_app
    rows = _rows(third)
    assert rows == _rows(second) == _rows(first)  # the copy's source, and a world seeded on its own
    assert len(rows["users"]) == 7 and len(rows["projects"]) == 3
    client = third.test_client()
    me = client.get("/api/v4/user", headers=world.headers("guest"))
    assert me.status_code == 200 and me.json["username"] == "guest"
    project = client.get(f"/api/v4/projects/{world.projects['private']}", headers=world.headers("reporter"))
    assert project.status_code == 200 and project.json["path_with_namespace"] == "acme/private"
    # The sequences stand where seeding left them: the next user gets the next id.
    with third.app_context():
        assert UserService(db.session).create("newcomer").id == 8


def test_a_database_written_after_create_app_is_seeded_not_copied(tmp_path: Path, apps: list[Flask]) -> None:
    templates = Templates()
    for _ in range(3):
        app, _ = _app(templates, tmp_path, apps)
        _world(templates, app)
    app, _ = _app(templates, tmp_path, apps)
    with app.app_context():
        UserService(db.session).create("early")
    world, seeded = _world(templates, app)

    assert seeded
    with app.app_context():
        names = [row[0] for row in db.session.execute(text("SELECT username FROM users ORDER BY id"))]
    assert names[0] == "early" and "owner" in names
    assert world.projects  # the seeded world's


def test_settings_no_other_test_shares_keep_no_copy(tmp_path: Path, apps: list[Flask]) -> None:
    templates = Templates()
    for i in range(3):
        data_dir = tmp_path / f"own-{i}" / "data"
        settings = {"DATA_DIR": str(data_dir), "STORAGE": "memory", "SECRET_KEY": f"own-{i}", "PLUGINS": "none"}
        settings.update(database_settings(data_dir, reuse=True))
        found = templates.before_app(settings)
        app = create_app(settings)
        templates.after_app(app, found)
        apps.append(app)
        assert _world(templates, app)[1]
    assert templates._tables == {} and templates._worlds == {}


def test_a_server_database_is_copied_migrated_to_the_heads_from_the_second_on(tmp_path: Path, apps: list[Flask]) -> None:
    from package_api.ops import migrate

    if SCHEMAS is not None:
        pytest.skip("servers migrate a schema of their own on PostgreSQL")
    templates = Templates()
    written = [templates.migrated_into(tmp_path / f"serve-{i}" / "data", {"PLUGINS": "all"}) for i in range(3)]
    assert written == [False, True, True]  # the first server of a process migrates its database itself
    refused = templates.migrated_into(tmp_path / "manual" / "data", {"PLUGINS": "all", "AUTO_MIGRATE": "false"})
    assert not refused and not (tmp_path / "manual" / "data").exists()

    data_dir = tmp_path / "serve-2" / "data"
    app = create_app({"DATA_DIR": str(data_dir), "CREATE_SCHEMA": False, "SECRET_KEY": "x", "STORAGE": "memory"})
    apps.append(app)
    assert (data_dir / "modelshelf.db").stat().st_mode & 0o077 == 0
    assert migrate.is_current(app)
    assert migrate.differences(app) == []
