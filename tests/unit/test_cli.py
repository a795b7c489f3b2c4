"""The ``modelshelf`` command, driven with Click's runner on a real data directory."""
from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from package_api import create_app
from package_api.access.tokens import TokenService
from package_api.access.users import UserService
from package_api.config import DEFAULTS
from package_api.db import db
from package_api.ops.cli import main
from tests.support.databases import database_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory named by ``MODELSHELF_DATA_DIR``, and no other setting from outside."""
    for name in DEFAULTS:
        monkeypatch.delenv(f"MODELSHELF_{name}", raising=False)
    path = tmp_path / "data"
    monkeypatch.setenv("MODELSHELF_DATA_DIR", str(path))
    for name, value in database_settings(path).items():  # on PostgreSQL: the data directory's schema
        monkeypatch.setenv(f"MODELSHELF_{name}", value)
    return path


Invoke = Callable[..., Result]


@pytest.fixture
def cli() -> Invoke:
    """``cli("admin", "create-user", "alice", input=...)`` runs ``modelshelf`` in this process."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


@contextmanager
def opened(data_dir: Path) -> Iterator[Flask]:
    """The app on ``data_dir``, as ``modelshelf serve`` would build it."""
    app = create_app({"DATA_DIR": str(data_dir)})
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def fails_with(result: Result, message: str) -> None:
    """A clear failure: non-zero exit, one line naming the problem, no traceback."""
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert message in lines[0]
    assert "Traceback" not in result.output


# -- create-user ----------------------------------------------------------------------------------


def test_create_user(cli: Invoke, data_dir: Path) -> None:
    result = cli("admin", "create-user", "alice", "--admin")

    assert result.exit_code == 0
    assert "created user alice" in result.stderr
    with opened(data_dir):
        assert UserService(db.session).get("alice").is_admin


def test_duplicate_user_fails_with_one_line(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")

    fails_with(cli("admin", "create-user", "alice"), "Username already exists")


def test_invalid_username_fails(cli: Invoke, data_dir: Path) -> None:
    fails_with(cli("admin", "create-user", "no spaces"), "username is invalid")


def test_password_from_stdin_lets_the_user_sign_in(cli: Invoke, data_dir: Path) -> None:
    result = cli("admin", "create-user", "alice", "--password-stdin", input="correct horse battery\n")

    assert result.exit_code == 0
    with opened(data_dir):
        users = UserService(db.session)
        assert users.authenticate("alice", "correct horse battery") is not None
        assert users.authenticate("alice", "correct horse battery\n") is None
        assert users.authenticate("alice", "wrong password") is None


def test_short_password_from_stdin_fails(cli: Invoke, data_dir: Path) -> None:
    fails_with(cli("admin", "create-user", "alice", "--password-stdin", input="short\n"), "password is too short")


def test_data_dir_option_and_environment_name_the_same_store(
    cli: Invoke, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database the data directory names: the default SQLite file in it (on PostgreSQL the
    # database URL, not the data directory, names the database).
    monkeypatch.delenv("MODELSHELF_DATABASE_URL", raising=False)
    elsewhere = tmp_path / "elsewhere"
    assert cli("admin", "create-user", "bob", "--data-dir", str(elsewhere)).exit_code == 0

    fails_with(cli("admin", "create-project", "team/x", "--owner", "bob"), "User not found")
    assert cli("admin", "create-project", "team/x", "--owner", "bob", "--data-dir", str(elsewhere)).exit_code == 0


# -- create-project -------------------------------------------------------------------------------


def test_create_project_prints_its_id(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")

    first = cli("admin", "create-project", "team/fraud", "--owner", "alice")
    second = cli("admin", "create-project", "team/churn", "--owner", "alice", "--visibility", "public")

    assert first.exit_code == second.exit_code == 0
    assert first.stdout.strip().isdigit() and second.stdout.strip().isdigit()
    assert int(first.stdout) != int(second.stdout)


@pytest.mark.parametrize("path", ["fraud", "team/fraud/extra", "team/../x", "team/with space", "team/x.git"])
def test_bad_project_path_fails_clearly(cli: Invoke, data_dir: Path, path: str) -> None:
    cli("admin", "create-user", "alice")

    fails_with(cli("admin", "create-project", path, "--owner", "alice"), "path is invalid")


def test_existing_project_or_unknown_owner_fails(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")
    cli("admin", "create-project", "team/fraud", "--owner", "alice")

    fails_with(cli("admin", "create-project", "team/fraud", "--owner", "alice"), "Project already exists")
    fails_with(cli("admin", "create-project", "team/other", "--owner", "nobody"), "User not found")


# -- create-token ---------------------------------------------------------------------------------


def scopes_of(data_dir: Path, token: str) -> list[str] | None:
    with opened(data_dir):
        row = TokenService(db.session).find_active(token)
        return None if row is None else row.scope_list


def test_create_token_prints_only_the_token(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")

    result = cli("admin", "create-token", "--user", "alice")

    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1
    token = result.stdout.strip()
    assert token.startswith("mspat-") and " " not in token
    assert scopes_of(data_dir, token) == ["api"]


def test_read_api_token(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")

    token = cli("admin", "create-token", "--user", "alice", "--scopes", "read_api").stdout.strip()

    assert scopes_of(data_dir, token) == ["read_api"]


def test_token_with_a_future_expiry_works(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()

    token = cli("admin", "create-token", "--user", "alice", "--expires", tomorrow).stdout.strip()

    assert scopes_of(data_dir, token) == ["api"]


def test_invalid_scope_fails(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")

    fails_with(cli("admin", "create-token", "--user", "alice", "--scopes", "api,write_everything"), "scopes")


def test_expiry_in_the_past_fails(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")

    fails_with(cli("admin", "create-token", "--user", "alice", "--expires", "2000-01-01"), "must be in the future")


def test_token_for_unknown_user_fails(cli: Invoke, data_dir: Path) -> None:
    fails_with(cli("admin", "create-token", "--user", "nobody"), "User not found")


# -- gc -------------------------------------------------------------------------------------------


def stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "blobs").rglob("*") if p.is_file())


def test_gc_reclaims_the_bytes_of_a_deleted_package(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")
    project = cli("admin", "create-project", "team/fraud", "--owner", "alice").stdout.strip()
    headers = {"PRIVATE-TOKEN": cli("admin", "create-token", "--user", "alice").stdout.strip()}
    doomed, kept = os.urandom(1000), os.urandom(2000)
    with opened(data_dir) as app:
        client = app.test_client()
        base = f"/api/v4/projects/{project}/packages"
        assert client.put(f"{base}/generic/old/1.0.0/model.onnx", data=doomed, headers=headers).status_code == 201
        assert client.put(f"{base}/generic/new/1.0.0/model.onnx", data=kept, headers=headers).status_code == 201
        old = client.get(f"{base}?package_name=old", headers=headers).get_json()[0]
        assert client.delete(f"{base}/{old['id']}", headers=headers).status_code == 204
    assert sorted(p.read_bytes() for p in stored_files(data_dir)) == sorted([doomed, kept])

    dry = cli("gc", "--dry-run")

    assert dry.exit_code == 0
    assert dry.stdout.strip() == "would remove 1 packages, 1 files, 1 blobs, 0 abandoned uploads (1000 bytes)"
    assert sorted(p.read_bytes() for p in stored_files(data_dir)) == sorted([doomed, kept])

    result = cli("gc")

    assert result.exit_code == 0
    assert result.stdout.strip() == "removed 1 packages, 1 files, 1 blobs, 0 abandoned uploads (1000 bytes)"
    assert [p.read_bytes() for p in stored_files(data_dir)] == [kept]
    assert cli("gc").stdout.strip() == "removed 0 packages, 0 files, 0 blobs, 0 abandoned uploads (0 bytes)"
    with opened(data_dir) as app:
        reply = app.test_client().get(f"{base}/generic/new/1.0.0/model.onnx", headers=headers)
        assert (reply.status_code, reply.data) == (200, kept)


def test_gc_keeps_bytes_another_package_still_carries(cli: Invoke, data_dir: Path) -> None:
    cli("admin", "create-user", "alice")
    project = cli("admin", "create-project", "team/fraud", "--owner", "alice").stdout.strip()
    headers = {"PRIVATE-TOKEN": cli("admin", "create-token", "--user", "alice").stdout.strip()}
    shared = os.urandom(1500)
    with opened(data_dir) as app:
        client = app.test_client()
        base = f"/api/v4/projects/{project}/packages"
        client.put(f"{base}/generic/model/1.0.0/weights.bin", data=shared, headers=headers)
        client.put(f"{base}/generic/model/1.0.1/weights.bin", data=shared, headers=headers)
        first = client.get(f"{base}?package_version=1.0.0", headers=headers).get_json()[0]
        assert client.delete(f"{base}/{first['id']}", headers=headers).status_code == 204

    result = cli("gc")

    assert result.stdout.strip() == "removed 1 packages, 1 files, 0 blobs, 0 abandoned uploads (0 bytes)"
    assert [p.read_bytes() for p in stored_files(data_dir)] == [shared]
    with opened(data_dir) as app:
        reply = app.test_client().get(f"{base}/generic/model/1.0.1/weights.bin", headers=headers)
        assert reply.data == shared
