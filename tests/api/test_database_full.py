"""A database with no room left answers 503 with a message that says so, on every surface (GitLab's
JSON, MLflow's, the pages), as a store that is down does, and keeps nothing of the change.

The full disk is simulated with SQLite's ``PRAGMA max_page_count`` set to the pages the test
database has, on every connection of the app's engine: the next write that needs a page fails with
SQLite's own ``SQLITE_FULL`` ("database or disk is full"), as on a full disk. PostgreSQL's
``disk_full`` is mapped by the same function, checked here with psycopg's exception.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import sqlalchemy
from flask import Flask
from sqlalchemy import event, func, select

from package_api.access.models import Project
from package_api.db import db, full_database
from package_api.errors import DatabaseFull
from package_api.packages.models import Package, PackageFile
from tests.support.databases import ENV_URL
from tests.support.world import World, generic_url

on_sqlite = pytest.mark.skipif(bool(os.environ.get(ENV_URL)), reason="simulated with SQLite's max_page_count")


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@contextmanager
def full_disk(app: Flask) -> Iterator[None]:
    """No page more than the database has now, on every connection the app opens meanwhile."""

    def cap(connection, _record):  # type: ignore[no-untyped-def]
        cursor = connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    with app.app_context():
        db.session.remove()
        engine = db.engine
        engine.dispose()
        event.listen(engine, "connect", cap)
        try:
            yield
        finally:
            event.remove(engine, "connect", cap)
            db.session.remove()
            engine.dispose()


def count(app: Flask, what: object) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(what)) or 0)


DESCRIPTION = "x" * 2000  # the longest a project may have: a page fills after a few projects


def fill(client, world: World) -> tuple[str, object]:
    """Create projects until the database refuses one; return the refused one's path and answer."""
    for n in range(500):
        path = f"filler-{n}"
        response = client.post("/api/v4/projects", json={"path": path, "description": DESCRIPTION},
                               headers=world.headers("owner"))
        if response.status_code != 201:
            return path, response
    raise AssertionError("the database never filled up")


@on_sqlite
def test_a_full_database_answers_503_on_the_api_and_keeps_nothing(app: Flask, client, world: World) -> None:
    projects = count(app, Project)
    with full_disk(app):
        path, response = fill(client, world)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.get_json() == {"message": "503 Service Unavailable - database: the database is out of disk space"}
        created = int(path.rsplit("-", 1)[1])

        for uploaded in range(500):  # the package tables fill in their turn
            upload = client.put(generic_url(world.projects["private"], "pkg", f"1.0.{uploaded}", "f" * 200),
                                data=b"x" * 1000, headers=world.headers("developer"))
            if upload.status_code != 201:
                break
        assert upload.status_code == 503, upload.get_data(as_text=True)
    # nothing half-written: not the refused project, nor the refused package or its file
    assert count(app, Project) == projects + created
    assert client.get(f"/api/v4/projects/owner%2F{path}", headers=world.headers("owner")).status_code == 404
    assert count(app, Package) == uploaded and count(app, PackageFile) == uploaded
    # With room again the same requests work: the failed ones left nothing in their way.
    again = client.post("/api/v4/projects", json={"path": path, "description": DESCRIPTION}, headers=world.headers("owner"))
    assert again.status_code == 201, again.get_json()
    assert client.put(generic_url(world.projects["private"], "pkg", f"1.0.{uploaded}", "f" * 200),
                      data=b"x" * 1000, headers=world.headers("developer")).status_code == 201


@on_sqlite
def test_mlflow_clients_get_a_503_they_retry(app: Flask, client, world: World) -> None:
    url = f"/api/v4/projects/{world.projects['private']}/ml/mlflow/api/2.0/mlflow/experiments/create"
    headers = {"Authorization": f"Bearer {world.tokens['developer']}"}
    with full_disk(app):
        for n in range(500):
            response = client.post(url, json={"name": f"experiment {n} " + "x" * 200}, headers=headers)
            if response.status_code != 200:
                break
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "database is full" in body["message"]


def test_pages_say_the_database_is_full(app: Flask) -> None:
    from package_api.web.pages.errors import error_page

    with app.test_request_context("/acme/private"):
        body, status = error_page(DatabaseFull())[:2]
    assert status == 503
    assert "The database is out of disk space, so nothing was saved." in str(body)


def _operational(orig: Exception) -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("INSERT ...", {}, orig)


def test_postgres_disk_full_and_sqlite_full_are_one_domain_error() -> None:
    disk_full = psycopg.errors.DiskFull('could not extend file "base/16384/16385": No space left on device')
    assert isinstance(full_database(_operational(disk_full)), DatabaseFull)
    assert isinstance(full_database(_operational(Exception("could not extend file \"base/1/2\""))), DatabaseFull)
    sqlite_full = sqlite3.OperationalError("database or disk is full")
    assert isinstance(full_database(_operational(sqlite_full)), DatabaseFull)
    assert full_database(_operational(sqlite3.OperationalError("database is locked"))) is None
    assert full_database(_operational(psycopg.errors.AdminShutdown("terminating connection"))) is None
