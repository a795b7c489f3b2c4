"""The tables of governed promotion: alias moves (the history), protected alias rules, promotion
requests and their reviews."""
from __future__ import annotations

import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from package_api.plugin_api import IDS_NEVER_REUSED, DbModel, User, utcnow
from plugin.registry.models import Model, ModelVersion

#: What an alias move did (``AliasMove.action``).
SET, ROLLBACK, DELETED, EXISTING = "set", "rollback", "deleted", "existing"
#: Where a promotion request stands (``PromotionRequest.status``).
PENDING, APPROVED, REJECTED, SUPERSEDED = "pending", "approved", "rejected", "superseded"


class AliasMove(DbModel):
    """One move of an alias: from a version (none when it was made) to a version (none when it was
    deleted), by whom, when, and through which promotion request. Versions are kept by name too,
    so the history still reads once a version is deleted."""

    __tablename__ = "ml_model_alias_moves"
    __table_args__ = (Index("ix_ml_model_alias_moves_alias", "model_id", "alias", "id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16))
    from_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("ml_model_versions.id", ondelete="SET NULL"), nullable=True
    )
    from_version: Mapped[str | None] = mapped_column(String(255), nullable=True)
    to_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("ml_model_versions.id", ondelete="SET NULL"), nullable=True
    )
    to_version: Mapped[str | None] = mapped_column(String(255), nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    author_name: Mapped[str] = mapped_column(String(255), default="")
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("ml_promotion_requests.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    author: Mapped[User | None] = relationship()


class AliasRule(DbModel):
    """A protected alias rule of a project: aliases matching ``alias_pattern`` (``*`` wildcards) are
    moved only by members of ``minimum_access_level``, onto versions carrying ``required_tags``
    (``key=value`` lines), after ``approvals_required`` approvals."""

    __tablename__ = "ml_alias_rules"
    __table_args__ = (UniqueConstraint("project_id", "alias_pattern", name="uq_ml_alias_rules_pattern"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    alias_pattern: Mapped[str] = mapped_column(String(255))
    minimum_access_level: Mapped[int] = mapped_column(Integer)
    approvals_required: Mapped[int] = mapped_column(Integer, default=0)
    required_tags: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def tags(self) -> list[tuple[str, str]]:
        """The required tags as ``(key, value)`` pairs."""
        pairs = (line.partition("=") for line in self.required_tags.splitlines() if line)
        return [(key, value) for key, _, value in pairs]


class PromotionRequest(DbModel):
    """A move of a protected alias that waits for approvals: ``alias`` of ``model`` onto ``version``,
    asked by ``requester`` under the rules named in ``rule``."""

    __tablename__ = "ml_promotion_requests"
    __table_args__ = (Index("ix_ml_promotion_requests_model", "model_id", "status"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[int] = mapped_column(ForeignKey("ml_model_versions.id", ondelete="CASCADE"), index=True)
    rollback: Mapped[bool] = mapped_column(default=False)
    #: The rules' patterns, as the requester was told (``prod*, prod``).
    rule: Mapped[str] = mapped_column(String(1024))
    minimum_access_level: Mapped[int] = mapped_column(Integer)
    approvals_required: Mapped[int] = mapped_column(Integer)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    requester_name: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)

    model: Mapped[Model] = relationship()
    version: Mapped[ModelVersion] = relationship()
    requester: Mapped[User | None] = relationship()
    reviews: Mapped[list[PromotionReview]] = relationship(
        order_by="PromotionReview.id", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def approvals(self) -> int:
        return sum(1 for r in self.reviews if r.approved)


class PromotionReview(DbModel):
    """One member's approval (or rejection) of a promotion request."""

    __tablename__ = "ml_promotion_reviews"
    __table_args__ = (UniqueConstraint("request_id", "user_id", name="uq_ml_promotion_reviews_user"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("ml_promotion_requests.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    approved: Mapped[bool] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship()
