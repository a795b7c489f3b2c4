"""Which test modules touch a database, so that CI runs on PostgreSQL only those that do.

CI (.ci/run) runs the suite on SQLite, then again on PostgreSQL. A module none of whose tests (or
fixtures) ever asks for a database (``tests/support/databases.py``: ``database_settings``, a schema,
``require_postgres``) runs the same on both, its format, parser and structure tests: running it twice
tests nothing more. So the SQLite run notes, per module, whether it asked
(``MODELSHELF_TEST_RECORD_DATABASE_USE=DIR``: one file per xdist worker in DIR), and the PostgreSQL
run, given the same directory (``MODELSHELF_TEST_DATABASE_MODULES_ONLY=DIR``), deselects the modules
that ran on SQLite and never asked. A module that did not run on SQLite (a failed or interrupted run,
a module added since) runs on PostgreSQL; without the directory, or on SQLite, everything runs.
A module also counts as touching a database when its source names ``tests.support.databases`` or
its environment variable (a test that decides on it without asking for a database).
"""
from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

RECORD_ENV = "MODELSHELF_TEST_RECORD_DATABASE_USE"
ONLY_ENV = "MODELSHELF_TEST_DATABASE_MODULES_ONLY"
#: Source text that makes a module count as touching a database whatever its tests asked.
MARKERS = ("tests.support.databases", "MODELSHELF_TEST_DATABASE_URL", ".databases import")


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def names_a_database(path: Path) -> bool:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return True
    return any(marker in source for marker in MARKERS)


class Record:
    """The modules this process ran tests of, and those that asked for a database."""

    def __init__(self) -> None:
        self.ran: set[str] = set()
        self.database: set[str] = set()

    def note(self, nodeid: str, path: Path, asked: bool) -> None:
        module = module_of(nodeid)
        self.ran.add(module)
        if asked or (module not in self.database and names_a_database(path)):
            self.database.add(module)

    def save(self, directory: str) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        name = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:8]}.json"
        (Path(directory) / name).write_text(json.dumps({"ran": sorted(self.ran), "database": sorted(self.database)}))


def modules_without_database(directory: str) -> set[str]:
    """The modules that ran in the recorded run and never asked for a database; empty without a record."""
    ran: set[str] = set()
    database: set[str] = set()
    for path in Path(directory).glob("*.json") if Path(directory).is_dir() else []:
        recorded = json.loads(path.read_text())
        ran.update(recorded["ran"])
        database.update(recorded["database"])
    return ran - database


def split(items: Iterable[object], leave_out: set[str]) -> tuple[list[object], list[object]]:
    kept: list[object] = []
    left: list[object] = []
    for item in items:
        (left if module_of(item.nodeid) in leave_out else kept).append(item)  # type: ignore[attr-defined]
    return kept, left
