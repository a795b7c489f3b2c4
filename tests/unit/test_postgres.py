"""What only a database server shows: apps (workers, nodes) that start together on one PostgreSQL
database. Runs where ``MODELSHELF_TEST_DATABASE_URL`` names one (see tests/support/databases.py)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import inspect

from package_api import create_app
from package_api.db import create_tables, db
from tests.support.databases import database_settings, require_postgres

pytestmark = pytest.mark.postgres


def test_apps_starting_together_on_an_empty_database_make_the_tables_once(tmp_path: Path) -> None:
    """Each app makes missing tables when it starts (``CREATE_SCHEMA``): four at once on one empty
    schema all succeed, instead of all but one failing on a table another just made."""
    require_postgres()
    settings = {"DATA_DIR": str(tmp_path / "data"), "STORAGE": "memory", "SECRET_KEY": "test",
                "CREATE_SCHEMA": False, **database_settings(tmp_path / "data")}
    # Built one after the other (CPython 3.11 may fail compiling routes in threads at once); the
    # step that races, making the tables, runs in all four at once.
    apps = [create_app(settings) for _ in range(4)]
    barrier = threading.Barrier(len(apps))

    def start(app: Flask) -> None:
        with app.app_context():
            barrier.wait()
            create_tables()

    try:
        with ThreadPoolExecutor(len(apps)) as pool:
            list(pool.map(start, apps))
        with apps[0].app_context():
            assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
    finally:
        for app in apps:
            with app.app_context():
                db.engine.dispose()
