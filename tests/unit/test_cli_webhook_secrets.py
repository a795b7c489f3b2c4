"""``modelshelf admin reencrypt-webhook-secrets``: after ``SECRET_KEY`` is rotated (the old one in
``SECRET_KEY_FALLBACKS``), every stored webhook secret is encrypted with the new key, so the old key
can go; a secret no key opens is named and left as it is (exit 1)."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from package_api import services
from package_api.db import db
from package_api.identity import COMMAND_LINE
from package_api.webhooks.models import Webhook
from package_api.webhooks.secret_box import SecretBox, UnreadableSecret
from package_api.webhooks.service import WebhookService

from .test_cli import Invoke, cli, data_dir, opened  # noqa: F401  (fixtures)


def _hook(data_dir: Path, name: str, secret: str) -> None:  # noqa: F811
    with opened(data_dir) as app:
        project = services.project_service().get("team/p")
        WebhookService(db.session, app, actor=COMMAND_LINE).create(project, name=name, url="http://127.0.0.1:9/hook", events=["package.created"], secret=secret)


def _secrets(data_dir: Path) -> dict[str, str | None]:  # noqa: F811
    """Each hook's secret as this environment's keys open it (``None``: unreadable)."""
    with opened(data_dir) as app:
        box = SecretBox.of(app)
        found: dict[str, str | None] = {}
        for hook in db.session.scalars(select(Webhook).order_by(Webhook.id)):
            try:
                found[hook.name] = box.open(hook.secret_ciphertext)
            except UnreadableSecret:
                found[hook.name] = None
        return found


def test_a_rotation_then_reencrypting_lets_the_old_key_go(cli: Invoke, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("MODELSHELF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    monkeypatch.setenv("MODELSHELF_SECRET_KEY", "old key")
    cli("admin", "create-user", "alice")
    cli("admin", "create-project", "team/p", "--owner", "alice")
    _hook(data_dir, "signed", "one")
    _hook(data_dir, "unsigned", "")

    monkeypatch.setenv("MODELSHELF_SECRET_KEY", "new key")
    assert _secrets(data_dir) == {"signed": None, "unsigned": ""}
    monkeypatch.setenv("MODELSHELF_SECRET_KEY_FALLBACKS", "old key")
    assert _secrets(data_dir) == {"signed": "one", "unsigned": ""}
    result = cli("admin", "reencrypt-webhook-secrets")
    assert result.exit_code == 0 and "1 webhook secrets encrypted with the current SECRET_KEY" in result.stderr
    monkeypatch.delenv("MODELSHELF_SECRET_KEY_FALLBACKS")
    assert _secrets(data_dir) == {"signed": "one", "unsigned": ""}  # the old key is no longer needed

    monkeypatch.setenv("MODELSHELF_SECRET_KEY", "a stranger's key")
    _hook(data_dir, "stray", "two")
    monkeypatch.setenv("MODELSHELF_SECRET_KEY", "new key")
    result = cli("admin", "reencrypt-webhook-secrets")
    assert result.exit_code == 1
    assert "1 webhook secrets encrypted" in result.stderr and "(stray, project" in result.stderr and "set it again" in result.stderr
    assert _secrets(data_dir) == {"signed": "one", "unsigned": "", "stray": None}
