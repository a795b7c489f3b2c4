"""The audit trail's table."""
from __future__ import annotations

import datetime

from sqlalchemy import (
    DateTime,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from package_api.db import IDS_NEVER_REUSED, DbModel, utcnow


class AuditEvent(DbModel):
    """One change, who made it and from where. Kept when its target (or project) is gone."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_project_created", "project_id", "created_at"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: No foreign key: the trail of a deleted project stays readable by admins.
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author_name: Mapped[str] = mapped_column(String(255), default="")
    #: How the author authenticated: personal_access_token, session, deploy_token, job_token, cli...
    token_type: Mapped[str] = mapped_column(String(64), default="")
    event_name: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target_details: Mapped[str] = mapped_column(String(1000), default="")
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[str] = mapped_column(String(4000), default="{}")  # JSON
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
