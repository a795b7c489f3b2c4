"""``modelshelf admin unlock-user`` (lifts a sign-in lock) and ``admin sign-out-user`` (ends every
browser session of a user)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from package_api import services
from package_api.access.authentication import session_fingerprint
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.identity import ANONYMOUS, Actor

from .test_cli import Invoke, cli, data_dir, fails_with, opened  # noqa: F401  (fixtures)


def test_unlock_user_lifts_a_lock_at_once(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice")
    with opened(data_dir):
        throttle = services.sign_in_throttle(actor=Actor(ANONYMOUS, "10.0.0.1"))
        for _ in range(10):  # the default maximum
            throttle.failed("alice")
        assert throttle.retry_after("alice") is not None

    result = cli("admin", "unlock-user", "alice")

    assert result.exit_code == 0 and "alice unlocked" in result.stderr
    with opened(data_dir):
        assert services.sign_in_throttle(actor=Actor(ANONYMOUS, "10.0.0.2")).retry_after("alice") is None
    assert "alice had no failed sign-ins" in cli("admin", "unlock-user", "alice").stderr


def test_sign_out_user_ends_every_session(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice")
    with opened(data_dir):
        before = session_fingerprint(services.user_service().get("alice"))

    result = cli("admin", "sign-out-user", "alice")

    assert result.exit_code == 0 and "every session of alice ended" in result.stderr
    with opened(data_dir):
        assert session_fingerprint(services.user_service().get("alice")) != before
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == "user_sessions_ended")).all()
        assert (event.token_type, event.target_details) == ("cli", "alice")
    fails_with(cli("admin", "sign-out-user", "nobody"), "User not found")
