"""``modelshelf admin add-member`` and ``create-token --scope``, and the audit events the command
writes (token type ``cli``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from package_api.access.models import Membership, PersonalAccessToken
from package_api.access.projects import ProjectService
from package_api.access.tokens import digest
from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db

from .test_cli import Invoke, cli, data_dir, fails_with, opened  # noqa: F401  (fixtures)


@pytest.fixture
def project(cli: Invoke, data_dir: Path) -> str:  # noqa: F811
    for user in ("alice", "bob"):
        cli("admin", "create-user", user)
    cli("admin", "create-project", "team/fraud", "--owner", "alice")
    return "team/fraud"


def role_of(data_dir: Path, full_path: str, username: str) -> int | None:  # noqa: F811
    with opened(data_dir):
        project = ProjectService(db.session).get(full_path)
        user = UserService(db.session).get(username)
        return db.session.scalar(
            select(Membership.access_level).where(Membership.project_id == project.id, Membership.user_id == user.id)
        )


def member_events(data_dir: Path) -> list[AuditEvent]:  # noqa: F811
    with opened(data_dir):
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_name.like("member_%")).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


@pytest.mark.parametrize(("role", "level"), [("developer", 30), ("Reporter", 20), ("40", 40), ("owner", 50)])
def test_add_member_by_role_name_or_level(cli: Invoke, data_dir: Path, project: str, role: str, level: int) -> None:  # noqa: F811
    result = cli("admin", "add-member", project, "bob", role)

    assert result.exit_code == 0
    assert role_of(data_dir, project, "bob") == level
    assert f"in {project}" in result.stderr


def test_add_member_changes_an_existing_role_and_is_audited(cli: Invoke, data_dir: Path, project: str) -> None:  # noqa: F811
    cli("admin", "add-member", project, "bob", "guest")
    cli("admin", "add-member", project, "bob", "maintainer")

    assert role_of(data_dir, project, "bob") == 40
    added, updated = [e for e in member_events(data_dir) if e.target_details == "bob"]
    assert (added.event_name, added.token_type, added.author_id) == ("member_added", "cli", None)
    assert (updated.event_name, updated.token_type) == ("member_updated", "cli")
    assert json.loads(updated.details) == {"access_level": {"from": 10, "to": 40}}


def test_add_member_keeps_the_last_owner(cli: Invoke, data_dir: Path, project: str) -> None:  # noqa: F811
    fails_with(cli("admin", "add-member", project, "alice", "developer"), "at least one Owner")

    assert role_of(data_dir, project, "alice") == 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("team/nope", "bob", "developer"), "Project not found"),
        (("team/fraud", "nobody", "developer"), "User not found"),
        (("team/fraud", "bob", "boss"), "access_level does not have a valid value"),
        (("team/fraud", "bob", "60"), "access_level does not have a valid value"),
    ],
)
def test_add_member_fails_clearly(cli: Invoke, data_dir: Path, project: str, args: tuple[str, ...], message: str) -> None:  # noqa: F811
    fails_with(cli("admin", "add-member", *args), message)


def test_create_token_with_repeated_scope_options_is_audited(cli: Invoke, data_dir: Path, project: str) -> None:  # noqa: F811
    token = cli("admin", "create-token", "--user", "bob", "--scope", "read_api", "--scope", "api").stdout.strip()

    with opened(data_dir):
        row = db.session.scalar(select(PersonalAccessToken).where(PersonalAccessToken.token_digest == digest(token)))
        assert row.scope_list == ["api", "read_api"]
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.event_name == "personal_access_token_created"))
        assert (event.token_type, event.target_id, event.project_id) == ("cli", row.id, None)
        assert token not in event.details
