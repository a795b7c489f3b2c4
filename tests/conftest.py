"""flaskr-style fixtures (``app``, ``client``, ``runner``), a seeded world of users, projects and
tokens, and the real services (SeaweedFS, ``modelshelf serve``) for the tests that need them."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import settings as hypothesis_settings

from package_api import create_app
from package_api.access.members import MemberService
from package_api.access.models import Visibility
from package_api.access.projects import ProjectService
from package_api.access.tokens import TokenService
from package_api.access.users import UserService
from package_api.db import db
from tests.support import database_modules, databases, routing_cache
from tests.support.databases import SCHEMAS, database_settings
from tests.support.servers import SeaweedFS, Server, start_seaweedfs, start_server, stop, stop_server
from tests.support.templates import TEMPLATES
from tests.support.world import MAX_FILE_SIZE, MEMBERS, World

# Hypothesis's per-example deadline (200 ms) measures the machine, not the code: at load 10 a semver
# property test went past it once. Examples stay bounded by max_examples; pytest-timeout catches hangs.
hypothesis_settings.register_profile("modelshelf", deadline=None)
hypothesis_settings.load_profile("modelshelf")

routing_cache.install()  # every test's app binds its URL rules with the builders made once

# -- which modules touch a database (tests/support/database_modules.py) ------------------------------

_RECORD = database_modules.Record()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    databases.asked_since_reset()
    yield
    _RECORD.note(item.nodeid, item.path, databases.asked_since_reset())


def pytest_sessionfinish(session: pytest.Session) -> None:
    directory = os.environ.get(database_modules.RECORD_ENV)
    if directory and _RECORD.ran:
        _RECORD.save(directory)


def pytest_report_header(config: pytest.Config) -> list[str]:
    directory = os.environ.get(database_modules.ONLY_ENV)
    if SCHEMAS is None or not directory:
        return []
    left = sorted(database_modules.modules_without_database(directory))
    return [f"left out on PostgreSQL, as they touched no database on SQLite: {len(left)} modules: {' '.join(left)}"]


#: Modules with a test of these marks run first (the first mark found ranks the module), so that
#: under pytest-xdist the long tests start early instead of finishing the run alone.
_FIRST = ("slow", "server", "browser", "s3")


def _rank(item: pytest.Item) -> int:
    names = {mark.name for mark in item.iter_markers()}
    return next((i for i, name in enumerate(_FIRST) if name in names), len(_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the modules by their slowest marks, each module's tests kept together and in order;
    on PostgreSQL with ``MODELSHELF_TEST_DATABASE_MODULES_ONLY``, leave out the modules that never
    touched a database on the SQLite run."""
    ranks: dict[str, int] = {}
    for item in items:
        module = database_modules.module_of(item.nodeid)
        ranks[module] = min(ranks.get(module, len(_FIRST)), _rank(item))
    order = {module: i for i, module in enumerate(ranks)}
    items.sort(key=lambda item: (ranks[database_modules.module_of(item.nodeid)], order[database_modules.module_of(item.nodeid)]))
    directory = os.environ.get(database_modules.ONLY_ENV)
    if SCHEMAS is None or not directory:
        return
    kept, left = database_modules.split(items, database_modules.modules_without_database(directory))
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept  # type: ignore[assignment]


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, object]:
    return {
        "DATA_DIR": str(tmp_path / "data"),
        "STORAGE": "memory",
        "MAX_FILE_SIZE": MAX_FILE_SIZE,
        "SECRET_KEY": "test",
        # package_api must work on its own (DESIGN.md); plugin tests override this.
        "PLUGINS": "none",
        # SQLite in the data directory, or a PostgreSQL schema (emptied and reused: the app makes its tables).
        **database_settings(tmp_path / "data", reuse=True),
    }


@pytest.fixture(scope="session", autouse=True)
def _postgres_schemas() -> Iterator[None]:
    """On PostgreSQL (``MODELSHELF_TEST_DATABASE_URL``, see tests/support/databases.py), drop the session's
    schemas at its end."""
    yield
    if SCHEMAS is not None:
        SCHEMAS.close()


@pytest.fixture(autouse=True)
def _fresh_postgres_schemas() -> Iterator[None]:
    """Give back the schemas a test took when it ends, emptied. Fixtures of wider scope are set up
    before this one, so the schemas of module-wide servers outlive the test."""
    before = SCHEMAS.taken() if SCHEMAS is not None else set()
    yield
    if SCHEMAS is not None:
        SCHEMAS.release(SCHEMAS.taken() - before)


@pytest.fixture
def app(settings: dict[str, object]) -> Iterator[Flask]:
    template = TEMPLATES.before_app(settings)  # the tables copied from an earlier test's, on SQLite
    app = create_app(settings)
    TEMPLATES.after_app(app, template)
    app.config["TESTING"] = True
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def storage(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["modelshelf.storage"]


@pytest.fixture
def world(app: Flask) -> World:
    """owner (Owner everywhere), guest/reporter/developer/maintainer, outsider (no role), root (admin);
    projects ``acme/private``, ``acme/internal`` and ``acme/public``; copied from an earlier test's
    with the same settings where it can be (tests/support/templates.py)."""
    return TEMPLATES.world(app, lambda: _seed_world(app))


def _seed_world(app: Flask) -> World:
    seeded = World()
    with app.app_context():
        users, projects, tokens = UserService(db.session), ProjectService(db.session), TokenService(db.session)
        # No passwords: hashing them is slow and the API authenticates with tokens.
        people = {name: users.create(name) for name in ["owner", *MEMBERS, "outsider"]}
        people["root"] = users.create("root", admin=True)
        for visibility in Visibility:
            project = projects.create(f"acme/{visibility.value}", people["owner"], visibility=visibility)
            seeded.projects[visibility.value] = project.id
            for name, role in MEMBERS.items():
                MemberService(db.session).add(project, people[name], role)
        for name, user in people.items():
            seeded.tokens[name] = tokens.create(user, "test", ["api"])[1]
            seeded.read_tokens[name] = tokens.create(user, "test-read", ["read_api"])[1]
        db.session.commit()
    return seeded


# -- real services --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS for the session; each test takes its own bucket."""
    try:
        server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    except FileNotFoundError as exc:
        if os.environ.get("MODELSHELF_TEST_REQUIRE_S3"):
            raise  # CI must not pass by skipping the S3 backend
        pytest.skip(str(exc))
    yield server
    stop(server.process)


@pytest.fixture
def s3_settings(seaweedfs: SeaweedFS) -> Iterator[dict[str, object]]:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    yield seaweedfs.settings(bucket)
    seaweedfs.remove_bucket(bucket)


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def backend_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    """Settings for each real store in turn: the filesystem, then S3 (SeaweedFS, a bucket per test,
    5 MiB parts so that a few MiB already make a multipart upload)."""
    if request.param == "filesystem":
        return {"STORAGE": "filesystem"}
    return {**request.getfixturevalue("s3_settings"), "S3_PART_SIZE": 5 * 1024 * 1024}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """Start ``modelshelf serve`` subprocesses; each is stopped by its pid when the test ends."""
    started: list[Server] = []

    def _start(settings: dict[str, object] | None = None, **kwargs: int) -> Server:
        data_dir = tmp_path / f"serve-{len(started)}" / "data"
        data_dir.mkdir(parents=True)
        server = start_server(data_dir, settings, **kwargs)
        started.append(server)
        return server

    yield _start
    for server in started:
        stop_server(server)
