"""Helpers for the end-to-end tests: accounts made with the ``modelshelf`` CLI against a running
``modelshelf serve``, a server that lives for a whole test module, and what the filesystem store
holds on disk."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .servers import Server, start_server, stop_server

#: The filesystem store writes each blob to a temporary file of this prefix, then renames it.
TMP_PREFIX = ".tmp-"


@dataclass
class Account:
    """A user of ``server`` with an ``api`` token, made through the CLI as an operator would."""

    server: Server
    username: str
    token: str

    def create_project(self, full_path: str | None = None) -> tuple[int, str]:
        """Create a project owned by this user with ``modelshelf admin create-project``."""
        full_path = full_path or f"team-{uuid.uuid4().hex[:8]}/models"
        printed = self.server.cli_in_process("admin", "create-project", full_path, "--owner", self.username)
        assert printed.isdigit(), f"create-project printed {printed!r}, not a project id"
        return int(printed), full_path


def create_account(server: Server, username: str = "alice") -> Account:
    server.cli_in_process("admin", "create-user", username)
    token = server.cli_in_process("admin", "create-token", "--user", username, "--scopes", "api")
    assert token.startswith("mspat-") and len(token.split()) == 1, f"create-token printed {token!r}"
    return Account(server, username, token)


@contextmanager
def running_server(data_dir: Path, settings: dict[str, Any] | None = None, **kwargs: int) -> Iterator[Server]:
    """``modelshelf serve`` on ``data_dir`` for as long as the block runs; stopped by its pid."""
    data_dir.mkdir(parents=True)
    server = start_server(data_dir, settings, **kwargs)
    try:
        yield server
    finally:
        stop_server(server)


def files_on_disk(server: Server) -> list[Path]:
    """Every file under the filesystem store, temporary ones included."""
    root = server.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def blobs_on_disk(server: Server) -> list[Path]:
    """The stored blobs: files under the store, without uploads still being written."""
    return [p for p in files_on_disk(server) if not p.name.startswith(TMP_PREFIX)]


def gc_dry_run(server: Server) -> str:
    return server.cli("gc", "--dry-run")
