"""Managing a project's hooks (MLflow's fields), their deliveries and attempts, Redeliver and Test.
Every change commits here and is audited (``webhook_created``...; the secret never is). A secret is
encrypted here before it is stored (``secret_box``) and decrypted only to sign a send."""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from package_api import audit
from package_api.access.models import Project, User
from package_api.db import DbSession, utcnow
from package_api.errors import InvalidInput, NotFound
from package_api.identity import Actor
from package_api.transactions import commit
from package_api.webhooks import dispatcher, outbox, sending
from package_api.webhooks.models import (
    DELIVERED,
    FAILED,
    PENDING,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from package_api.webhooks.secret_box import SecretBox, UnreadableSecret

MAX_HOOKS_PER_PROJECT = 100


class WebhookService:
    def __init__(self, session: DbSession, app: Flask, *, actor: Actor) -> None:
        self.session = session
        self.app = app
        self.actor = actor
        self.settings = dispatcher.Settings.of(app)
        self.box = SecretBox.of(app)

    # -- hooks -------------------------------------------------------------------------------------

    def check_url(self, url: str) -> str:
        """``url``, if a hook may call it now (its address checked; again at every send)."""
        url = (url or "").strip()
        if len(url) > 2048:
            raise InvalidInput("url is too long (2048 characters at most)")
        _, host, port, _ = sending.check_url(url)
        sending.resolve(host, port, allow_private=self.settings.allow_private)
        return url

    def check_events(self, events: Sequence[str]) -> list[str]:
        known = outbox.event_names(self.app)
        wanted = sorted({str(e).strip() for e in events})
        if not wanted:
            raise InvalidInput("events must name at least one event")
        unknown = [e for e in wanted if e not in known]
        if unknown:
            raise InvalidInput(f"unknown events {', '.join(unknown)} (known: {', '.join(known)})")
        return wanted

    def create(
        self, project: Project, *, name: str, url: str, events: Sequence[str], secret: str = "",
        description: str = "", enabled: bool = True, user: User | None = None,
    ) -> Webhook:
        count = self.session.scalar(select(func.count()).select_from(Webhook).where(Webhook.project_id == project.id))
        if (count or 0) >= MAX_HOOKS_PER_PROJECT:
            raise InvalidInput(f"a project has at most {MAX_HOOKS_PER_PROJECT} webhooks")
        hook = Webhook(
            project_id=project.id, name=_text("name", name, 255, required=True), url=self.check_url(url),
            events=json.dumps(self.check_events(events)), secret_ciphertext=self.box.seal(_text("secret", secret, 255)),
            description=_text("description", description, 1000), enabled=enabled,
            created_by_id=user.id if user is not None else None,
        )
        self.session.add(hook)
        self.session.flush()
        self._audit("created", hook)
        self._count(hook.project_id)
        commit(self.session)
        return hook

    def update(self, hook: Webhook, **changes: Any) -> Webhook:
        """Change the fields given (``name``, ``url``, ``events``, ``secret``, ``description``,
        ``enabled``); ``None`` leaves a field as it is."""
        changed = []
        for field, value in changes.items():
            if value is None:
                continue
            if field == "url":
                value = self.check_url(value)
            elif field == "events":
                value = json.dumps(self.check_events(value))
            elif field == "secret":
                # Encrypted afresh each time (a new token even for the same secret): counted as a change.
                field, value = "secret_ciphertext", self.box.seal(_text("secret", value, 255))
                if not value and not hook.secret_ciphertext:
                    continue
                setattr(hook, field, value)
                changed.append("secret")
                continue
            elif field in ("name", "description"):
                value = _text(field, value, {"name": 255, "description": 1000}[field], required=field == "name")
            elif field == "enabled":
                value = bool(value)
            else:
                raise InvalidInput(f"unknown field {field}")
            if getattr(hook, field) != value:
                setattr(hook, field, value)
                changed.append(field)
        if changed:
            hook.updated_at = utcnow()
            self._audit("updated", hook, changed=changed)
            self._count(hook.project_id)
            commit(self.session)
        return hook

    def delete(self, hook: Webhook) -> None:
        self._audit("deleted", hook)
        self.session.delete(hook)
        self.session.flush()
        self._count(hook.project_id)
        commit(self.session)

    def of_project(self, project: Project) -> list[Webhook]:
        return list(self.session.scalars(select(Webhook).where(Webhook.project_id == project.id).order_by(Webhook.id)))

    def get(self, project: Project, hook_id: int | str) -> Webhook:
        try:
            number = int(hook_id)
        except (TypeError, ValueError):
            raise NotFound("Webhook") from None
        hook = self.session.get(Webhook, number) if 0 < number < 2**31 else None
        if hook is None or hook.project_id != project.id:
            raise NotFound("Webhook")
        return hook

    def _count(self, project_id: int) -> None:
        """Count the project's enabled hooks again, on its row (what the outbox reads first)."""
        self.session.flush()
        enabled = select(func.count()).select_from(Webhook).where(Webhook.project_id == project_id, Webhook.enabled.is_(True))
        project = self.session.get(Project, project_id)
        if project is not None:
            project.enabled_webhooks = int(self.session.scalar(enabled) or 0)

    def _audit(self, what: str, hook: Webhook, **details: Any) -> None:
        audit.record(
            self.session, f"webhook_{what}", project=hook.project_id, target_type="Webhook", target_id=hook.id,
            target_details=hook.name, details={"name": hook.name, "url": hook.url, **details}, actor=self.actor,
        )

    # -- deliveries --------------------------------------------------------------------------------

    def deliveries(self, hook: Webhook, *, page: int = 1, per_page: int = 20) -> list[WebhookDelivery]:
        """``hook``'s deliveries, newest first."""
        query = (
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)
            .order_by(WebhookDelivery.id.desc()).offset((max(page, 1) - 1) * per_page).limit(per_page)
        )
        return list(self.session.scalars(query))

    def delivery(self, hook: Webhook, delivery_id: int | str) -> WebhookDelivery:
        try:
            number = int(delivery_id)
        except (TypeError, ValueError):
            raise NotFound("Webhook delivery") from None
        row = self.session.get(WebhookDelivery, number) if 0 < number < 2**31 else None
        if row is None or row.webhook_id != hook.id:
            raise NotFound("Webhook delivery")
        return row

    def attempts(self, delivery: WebhookDelivery) -> list[WebhookAttempt]:
        query = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.id)
        return list(self.session.scalars(query))

    def redeliver(self, hook: Webhook, delivery: WebhookDelivery) -> WebhookDelivery:
        """Send ``delivery`` again (same delivery id, same body), with a new retry window from now."""
        now = utcnow()
        delivery.state, delivery.next_attempt_at, delivery.window_started_at, delivery.updated_at = PENDING, now, now, now
        self._audit("redelivered", hook, delivery=delivery.uuid)
        commit(self.session)
        return delivery

    def test(self, hook: Webhook, event: str, data: dict[str, Any]) -> sending.Outcome:
        """Send one example ``event`` now (MLflow's Test), logged as a delivery that is not retried."""
        row = WebhookEvent(project_id=hook.project_id, name=event, created_at=utcnow())
        row.payload = outbox.envelope(event, row.created_at, data)
        delivery = WebhookDelivery(uuid=str(uuid.uuid4()), webhook_id=hook.id, event=row, state=FAILED)
        self.session.add_all([row, delivery])
        commit(self.session)
        started = utcnow()
        outcome = dispatcher.send_signed(self.settings, self.box, hook.url, row.payload, event, hook.secret_ciphertext, delivery.uuid)
        dispatcher.record(self.settings, delivery.id, started, outcome, retry=False)
        return outcome


def reencrypt_secrets(session: DbSession, box: SecretBox) -> tuple[int, list[Webhook]]:
    """Encrypt every stored hook secret again with ``box``'s first key (``SECRET_KEY``), in one
    commit; return how many were, and the hooks whose secret no key of ``box`` opens (left as they are)."""
    done, unreadable = 0, []
    for hook in session.scalars(select(Webhook).where(Webhook.secret_ciphertext != "").order_by(Webhook.id)):
        try:
            hook.secret_ciphertext = box.reseal(hook.secret_ciphertext)
        except UnreadableSecret:
            unreadable.append(hook)
            continue
        done += 1
    commit(session)
    return done, unreadable


def _text(field: str, value: Any, limit: int, *, required: bool = False) -> str:
    text = "" if value is None else str(value)
    if required and not text.strip():
        raise InvalidInput(f"{field} is required")
    if len(text) > limit:
        raise InvalidInput(f"{field} is too long ({limit} characters at most)")
    return text


__all__ = ["DELIVERED", "FAILED", "PENDING", "WebhookService"]
