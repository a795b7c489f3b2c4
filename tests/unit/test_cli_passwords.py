"""Passwords from the ``modelshelf`` command: ``admin set-password`` and ``create-user
--password-stdin``, read from stdin in scripts and typed twice, without echo, on a terminal."""
from __future__ import annotations

import json
import os
import pty
import select
import sys
import time
from pathlib import Path

from sqlalchemy import select as sql_select

from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db

from .test_cli import Invoke, cli, data_dir, fails_with, opened  # noqa: F401  (fixtures)

PASSWORD = "correct horse battery"
PROMPT, REPEAT = b"Password: ", b"Repeat for confirmation: "


def on_a_terminal(*args: str, typed: list[str], timeout: float = 30.0) -> tuple[int, str]:
    """Run ``modelshelf ARGS`` on a pseudo-terminal (its controlling terminal, as a shell's), typing
    each of ``typed`` after the next prompt; return the exit status and everything the terminal showed."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
        os.execv(sys.executable, [sys.executable, "-m", "package_api.ops.cli", *args])
    shown, pending, deadline = b"", list(typed), time.monotonic() + timeout
    answered = 0  # how much the terminal had shown when the last answer was typed
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:  # EIO: the child has gone and closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if pending and shown[answered:].rstrip().endswith((PROMPT.strip(), REPEAT.strip())):
                os.write(terminal, pending.pop(0).encode() + b"\n")
                answered = len(shown)
    finally:
        os.close(terminal)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def _events(data_dir: Path) -> list[dict[str, object]]:  # noqa: F811
    with opened(data_dir):
        rows = db.session.scalars(sql_select(AuditEvent).where(AuditEvent.event_name == "user_updated")).all()
        return [{"author": row.token_type, "target": row.target_details, **json.loads(row.details)} for row in rows]


# -- set-password ------------------------------------------------------------------------------------


def test_set_password_from_stdin_lets_a_user_made_without_one_sign_in(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice", "--admin")  # the quick start's user, without a password

    result = cli("admin", "set-password", "alice", input=PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    assert "password of alice changed" in result.stderr
    with opened(data_dir):
        assert UserService(db.session).authenticate("alice", PASSWORD) is not None
    assert _events(data_dir) == [{"author": "cli", "target": "alice", "password": "changed"}]


def test_set_password_refuses_a_short_password_and_an_unknown_user(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice")

    fails_with(cli("admin", "set-password", "alice", input="short\n"), "password is too short")
    fails_with(cli("admin", "set-password", "nobody", input=PASSWORD + "\n"), "User not found")
    assert _events(data_dir) == []


def test_create_user_for_an_existing_user_says_how_to_give_a_password(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice")

    fails_with(
        cli("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n"),
        "Username already exists (a new password: modelshelf admin set-password alice)",
    )


# -- on a terminal ----------------------------------------------------------------------------------


def test_set_password_on_a_terminal_asks_twice_without_echo(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice")

    status, shown = on_a_terminal("admin", "set-password", "alice", typed=[PASSWORD, "a typo", PASSWORD, PASSWORD])

    assert status == 0, shown
    assert PASSWORD not in shown and "a typo" not in shown  # nothing typed was shown
    assert shown.count("Password:") == 2 and shown.count("Repeat for confirmation:") == 2
    assert "do not match" in shown  # the typo was caught, and asked again
    with opened(data_dir):
        assert UserService(db.session).authenticate("alice", PASSWORD) is not None


def test_create_user_password_stdin_on_a_terminal_asks_twice_without_echo(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    status, shown = on_a_terminal("admin", "create-user", "alice", "--admin", "--password-stdin", typed=[PASSWORD, PASSWORD])

    assert status == 0, shown
    assert PASSWORD not in shown and "created user alice" in shown
    assert shown.count("Password:") == 1 and shown.count("Repeat for confirmation:") == 1
    with opened(data_dir):
        user = UserService(db.session).authenticate("alice", PASSWORD)
        assert user is not None and user.is_admin
