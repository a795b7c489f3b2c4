"""No id is ever handed out twice: every table whose ids the database assigns says so
(``IDS_NEVER_REUSED``), and the database made from the models keeps to it: ``AUTOINCREMENT`` on
SQLite, a sequence on PostgreSQL (``MODELSHELF_TEST_DATABASE_URL``). The migrated schema is checked
in ``test_migrations.py``, the behaviour a user sees in ``tests/api/test_ids.py``."""
from __future__ import annotations

import pytest
from flask import Flask

from package_api.db import db
from tests.support.ids import assigned_ids, never_reused


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


def test_every_table_with_ids_of_its_own_says_they_are_never_reused(app: Flask) -> None:
    tables = [t for t in db.metadata.sorted_tables if assigned_ids(t)]

    assert len(tables) > 20  # the core's and the plugin's
    assert [t.name for t in tables if not t.dialect_options["sqlite"]["autoincrement"]] == []


def test_the_database_never_reuses_ids(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        tables = [t.name for t in db.metadata.sorted_tables if assigned_ids(t)]
        assert [t for t in tables if not never_reused(connection, t)] == []
