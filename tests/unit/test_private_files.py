"""The data directory is the service's own: made 0700, with the SQLite database (password hashes),
its ``-wal`` and ``-shm`` files, the session-signing key and the filesystem store's folders (0700)
and files (0600), under the usual umask of 022 that would make them readable by every user."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from package_api.private_files import create_private_file, make_private_dirs
from tests.support.databases import ENV_URL
from tests.support.world import World, generic_url


@pytest.fixture
def _umask_022() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.fixture
def settings(_umask_022: None, settings: dict[str, object], tmp_path: Path) -> dict[str, object]:
    # A data directory two levels below any that exists: each level made is private.
    # No SECRET_KEY: the app makes its own in the data directory.
    return {**settings, "STORAGE": "filesystem", "DATA_DIR": str(tmp_path / "srv" / "data"), "SECRET_KEY": None}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_everything_in_it_are_private(app: Flask, client, world: World, tmp_path: Path) -> None:
    data = tmp_path / "srv" / "data"
    url = generic_url(world.projects["private"], "pkg", "1.0.0", "weights/model.bin")
    assert client.put(url, data=b"weights", headers=world.headers("developer")).status_code == 201

    assert mode(tmp_path / "srv") == 0o700
    assert mode(data) == 0o700
    assert mode(data / "secret_key") == 0o600
    blobs = list((data / "blobs").rglob("*"))
    assert [p for p in blobs if p.is_file()], "the upload stored its bytes under blobs/"
    assert {oct(mode(p)) for p in blobs if p.is_dir()} | {oct(mode(data / "blobs"))} == {oct(0o700)}
    assert {oct(mode(p)) for p in blobs if p.is_file()} == {oct(0o600)}
    if not os.environ.get(ENV_URL):  # SQLite: the database and the journals it keeps beside it
        files = sorted(p.name for p in data.glob("modelshelf.db*"))
        assert {"modelshelf.db", "modelshelf.db-wal", "modelshelf.db-shm"} <= set(files)
        assert {name: oct(mode(data / name)) for name in files} == {name: oct(0o600) for name in files}


def test_existing_files_and_folders_are_left_as_they_are(_umask_022: None, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    os.chmod(shared, 0o750)
    make_private_dirs(str(shared / "a" / "b"))
    assert (mode(shared), mode(shared / "a"), mode(shared / "a" / "b")) == (0o750, 0o700, 0o700)
    existing = shared / "modelshelf.db"
    existing.write_bytes(b"")
    os.chmod(existing, 0o640)
    create_private_file(str(existing))
    assert mode(existing) == 0o640
    create_private_file(str(shared / "new.db"))
    assert mode(shared / "new.db") == 0o600


def test_a_data_directory_of_an_older_version_is_tightened_on_start(_umask_022: None, tmp_path: Path) -> None:
    """Older versions made the data directory 0755 and its files 0644: the app takes group and other
    permissions away from it and from what it holds directly; what lies above it is left alone."""
    from package_api.app import create_app

    parent = tmp_path / "srv"
    data = parent / "data"
    (data / "blobs" / "ab").mkdir(parents=True, mode=0o755)
    for folder in (parent, data, data / "blobs", data / "blobs" / "ab"):
        os.chmod(folder, 0o755)
    for name in ("modelshelf.db", "secret_key"):
        (data / name).write_text("")
        os.chmod(data / name, 0o644)
    (data / "secret_key").write_text("k" * 64)
    create_app({"DATA_DIR": str(data), "STORAGE": "filesystem", "SECRET_KEY": None, "DATABASE_URL": f"sqlite:///{data / 'modelshelf.db'}"})
    assert (mode(data), mode(data / "blobs"), mode(data / "modelshelf.db"), mode(data / "secret_key")) == (0o700, 0o700, 0o600, 0o600)
    assert mode(parent) == 0o755  # not ours to change
