"""A request's transaction that wrote nothing ends in a commit, not a rollback (``package_api.db.end_reads``).

psycopg forgets the statements it prepared on a connection at every rollback, and every request ended
in one (the session's close), so on PostgreSQL each statement of each request was parsed and planned
afresh: 4.3 ms to plan the latest versions of a model at a million versions, against 0.13 ms to run
them. A commit ends a transaction that wrote nothing as a rollback would, and keeps them."""
from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, literal, select, text, update

from package_api.access.models import User
from package_api.db import db, end_reads, prepared
from tests.support.statements import counting
from tests.support.world import World, generic_url


def test_a_request_that_reads_ends_in_a_commit(app: Flask, client: FlaskClient, world: World) -> None:
    url = generic_url(world.projects["private"], "fraud-detector", "1.4.0", "model.onnx")
    developer = world.headers("developer")
    assert client.put(url, data=b"weights", headers=developer).status_code == 201
    with counting(app) as counted:
        assert client.get(url, headers=developer).data == b"weights"
        assert client.get(f"/api/v4/projects/{world.projects['private']}/packages", headers=developer).status_code == 200
    assert counted.endings == ["commit", "commit"]


def test_only_a_transaction_that_wrote_nothing_is_committed(app: Flask, world: World) -> None:
    """What the session holds unflushed is dropped, as by the rollback; a transaction that ran a write is
    still rolled back; a ``WITH`` is a read unless it holds a write."""
    with app.app_context():
        user_id = db.session.scalars(select(User.id).where(User.username == "developer")).one()

        def name() -> str:
            db.session.remove()
            return db.session.get_one(User, user_id).name

        before = name()
        with counting(app) as counted:
            db.session.get_one(User, user_id).name = "changed, never flushed"
            end_reads(db.session)
        assert counted.endings == ["commit"] and name() == before

        with counting(app) as counted:
            db.session.execute(update(User).where(User.id == user_id).values(name="written, not committed"))
            end_reads(db.session)
        assert counted.endings == [] and name() == before  # left to the session's close, which rolls it back

        with counting(app) as counted:
            db.session.execute(text("WITH found AS (SELECT id FROM users) SELECT count(*) FROM found")).scalar()
            end_reads(db.session)
        assert counted.endings == ["commit"]

        with counting(app) as counted:
            statement = "WITH found AS (SELECT id FROM users WHERE id = :id) UPDATE users SET name = 'via a CTE' WHERE id IN (SELECT id FROM found)"
            db.session.execute(text(statement), {"id": user_id})
            end_reads(db.session)
        # Not committed here. (Python's sqlite3 runs a statement that starts with WITH outside any
        # transaction, so on SQLite it is already written; no statement of the app's is one.)
        assert counted.endings == []


def _placeholders_as_one(sql: str) -> str:
    """``sql`` as psycopg sends it (``$1``) or as SQLAlchemy gives it psycopg (``%(name)s``), either way."""
    return " ".join(re.sub(r"%\(\w+\)s|\$\d+", "?", sql).split())


def test_on_postgresql_lookups_stay_prepared_and_lists_are_planned_for_their_values(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """After a few requests of one kind, the lookups by key they run (``prepared``) are prepared on the
    connection that served them, and stay so for the next request; the statements of a list are not."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "postgresql":
            return  # SQLite prepares nothing across statements: commit and rollback of a read are alike
    developer = world.headers("developer")
    download = generic_url(world.projects["private"], "fraud-detector", "1.4.0", "model.onnx")
    assert client.put(download, data=b"weights", headers=developer).status_code == 201
    packages = f"/api/v4/projects/{world.projects['private']}/packages"
    ran: dict[str, set[str]] = {"download": set(), "list": set()}
    asking = "download"

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        ran[asking].add(_placeholders_as_one(sql))

    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(8):
            asking = "download"
            assert client.get(download, headers=developer).data == b"weights"
            asking = "list"
            assert client.get(packages, headers=developer).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    with app.app_context():
        with engine.connect() as connection:  # the connection returned last (the pool is LIFO)
            rows = connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
    prepared = {_placeholders_as_one(statement) for statement in rows}
    lookups = {sql for sql in ran["download"] if sql.startswith("SELECT")}
    token = {sql for sql in lookups if "FROM personal_access_tokens" in sql}
    live = {sql for sql in lookups if "FROM packages" in sql and "packages.version = ?" in sql}
    assert token and live, lookups
    assert token | live <= prepared, f"{token | live}\nnot among\n{prepared}"
    listed = ran["list"] - ran["download"]
    assert listed and not listed & prepared, listed & prepared


def test_a_streamed_read_runs_through_a_server_side_cursor(app: Flask) -> None:
    """``stream_results`` (``yield_per``) reads through a server-side cursor on PostgreSQL, whose
    ``execute`` takes no ``prepare``: such a statement is left to the dialect, marked or not."""
    with app.app_context():
        with db.engine.connect() as connection:
            streamed = connection.execution_options(stream_results=True)
            assert streamed.execute(prepared(select(literal(7)))).scalars().all() == [7]
            assert streamed.execute(select(literal(8))).scalars().all() == [8]
