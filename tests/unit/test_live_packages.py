"""``LIVE_PACKAGE``: the condition that a package is not being destroyed, said as the condition of the
partial unique index on name and version, so that a lookup by name and version can use that index.
Said as ``status IN ('default', 'hidden')`` (the same packages), SQLite read every package of the
project for each upload and download (a generic download of 30,000 packages: 37.7 ms against 7.0)."""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from package_api.db import db
from package_api.packages.models import LIVE_PACKAGE
from tests.support.world import World, generic_url

INDEX = "uq_packages_live_name_version"


def _plan(sql: str, parameters: Any) -> str:
    """The plan of ``sql`` with the ``parameters`` it ran with, on the app's database."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(parameters))
        return "\n".join(str(row[-1]) for row in rows)
    # An empty table is read whole whatever its indexes: with sequential scans priced out, the plan
    # shows whether the index can serve the condition at all. The plan is the generic one a prepared
    # statement may get: a plan made for the values at hand can prove that ``status IN ('default',
    # 'hidden')`` meets the index's condition, a plan for any value cannot.
    from psycopg.sql import Literal

    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))  # psycopg's placeholders, as $1, $2...
    numbered = re.sub(r"%\((\w+)\)s", lambda found: f"${names.index(found.group(1)) + 1}", sql)
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    connection.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    connection.exec_driver_sql("PREPARE live_lookup AS " + numbered.replace("%%", "%"))
    try:
        raw = connection.connection.dbapi_connection  # its values as literals: EXECUTE's arguments take no types
        arguments = ", ".join(Literal(parameters[name]).as_string(raw) for name in names)
        plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE live_lookup({arguments})").scalar()
    finally:
        connection.exec_driver_sql("DEALLOCATE live_lookup")
    db.session.rollback()
    return json.dumps(plan)


def test_uploads_and_downloads_look_their_package_up_through_the_live_index(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The lookups by name and version that a generic upload and download run, explained with their own
    parameters: each uses the partial unique index (with ``status IN (...)`` SQLite did not, nor a generic plan
    of PostgreSQL)."""
    lookups: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM packages" in sql and "packages.version =" in sql:
            lookups.append((sql, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        url = generic_url(world.projects["private"], "fraud-detector", "1.4.0", "model.onnx")
        developer = world.headers("developer")
        assert client.put(url, data=b"weights", headers=developer).status_code == 201
        assert client.get(url, headers=developer).data == b"weights"
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(lookups) >= 2, lookups  # the upload's and the download's
    with app.app_context():
        for sql, parameters in lookups:
            assert INDEX in _plan(sql, parameters), sql


def test_live_package_means_default_or_hidden() -> None:
    """The same packages as the statuses it replaced: every status but the one being destroyed."""
    from package_api.packages.models import PackageStatus
    from package_api.packages.service import LIVE_STATUSES

    assert set(PackageStatus) - set(LIVE_STATUSES) == {PackageStatus.PENDING_DESTRUCTION}
    assert str(LIVE_PACKAGE.compile()) == "packages.status != 'pending_destruction'"
