"""The webhooks' tables: the hooks of a project, the outbox of events, one delivery of an event to a
hook, and every attempt at it."""
from __future__ import annotations

import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from package_api.db import IDS_NEVER_REUSED, DbModel, utcnow

#: A delivery's states: waiting for its next attempt (``next_attempt_at``), received (a 2xx answer),
#: given up (its retry window passed, or its hook was disabled or deleted).
PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


class Webhook(DbModel):
    """A project's hook: where to send which events, signed with ``secret`` (MLflow's fields)."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_project", "project_id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(1000), default="")
    url: Mapped[str] = mapped_column(String(2048))
    #: The HMAC key of ``X-MLflow-Signature``, encrypted with the instance key
    #: (``package_api.webhooks.secret_box``); empty: deliveries are not signed. Never shown again.
    secret_ciphertext: Mapped[str] = mapped_column(Text, default="")
    #: JSON list of event names (``model_version.created``, ``package.created``...).
    events: Mapped[str] = mapped_column(String(2000), default="[]")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ciphertext)


class WebhookEvent(DbModel):
    """The outbox: one event that at least one hook wanted, written in the transaction of the change."""

    __tablename__ = "webhook_events"
    __table_args__ = (IDS_NEVER_REUSED,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    #: ``<entity>.<action>``: ``model_version.created``.
    name: Mapped[str] = mapped_column(String(64))
    #: The JSON body every delivery of the event sends, byte for byte.
    payload: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class WebhookDelivery(DbModel):
    """``event`` for ``webhook``: its stable id (``X-MLflow-Delivery-Id``), state and next attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    event: Mapped[WebhookEvent] = relationship(lazy="joined")
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the dispatcher may try next; a claim moves it forward by the claim's lease, so a node
    #: that dies mid-attempt leaves the delivery due again once the lease is over.
    next_attempt_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    #: Where the retry window starts: the event's time, or the last Redeliver.
    window_started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class WebhookAttempt(DbModel):
    """One attempt at a delivery: the answer's status, how long it took, what it said or what failed."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    #: The first ``RESPONSE_EXCERPT`` characters of the answer's body.
    response: Mapped[str] = mapped_column(String(1000), default="")
    error: Mapped[str] = mapped_column(String(1000), default="")
    #: The address connected to (the one checked against the private ranges).
    address: Mapped[str] = mapped_column(String(64), default="")
