"""What the registry keeps beside models and versions: their tags, aliases, and each version's
registration (MLflow stage, source, run and logged model)."""
from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import (
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from package_api.plugin_api import IDS_NEVER_REUSED, DbModel, utcnow
from plugin.registry.models import ModelVersion
from plugin.tracking.models import KeyValue, LoggedModel, Run

#: MLflow's stages, as it spells them on the wire.
STAGES = ("None", "Staging", "Production", "Archived")
#: How much of a tag's value the searches' indexes hold (a value may have 100,000 characters, more
#: than a PostgreSQL index entry takes): a search on ``value = 'v'`` asks for this prefix too.
INDEXED_VALUE_LENGTH = 200
#: The registrations of the versions in a stage other than ``None`` (a partial index's condition).
STAGED = text(f"stage <> '{STAGES[0]}'")


def indexed_value(value: Any = None) -> ColumnElement[str]:
    """The indexed prefix of a tag's ``value`` column (the index's own: unqualified), written with
    literal bounds so that the databases match a query's expression with the index's."""
    value = literal_column("value", Text) if value is None else value
    return func.substr(value, literal_column("1"), literal_column(str(INDEXED_VALUE_LENGTH)))


class ModelTag(KeyValue, DbModel):
    __tablename__ = "ml_model_tags"
    __table_args__ = (
        UniqueConstraint("model_id", "key", name="uq_ml_model_tags_key"),
        Index("ix_ml_model_tags_key_value", "key", indexed_value(), "model_id"),
        IDS_NEVER_REUSED,
    )

    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"), index=True)


class VersionTag(KeyValue, DbModel):
    __tablename__ = "ml_model_version_tags"
    __table_args__ = (
        UniqueConstraint("version_id", "key", name="uq_ml_model_version_tags_key"),
        Index("ix_ml_model_version_tags_key_prefix", "key", "value_prefix", "version_id"),
        IDS_NEVER_REUSED,
    )

    version_id: Mapped[int] = mapped_column(ForeignKey("ml_model_versions.id", ondelete="CASCADE"), index=True)
    #: The value's indexed prefix, computed by the database: a column rather than an expression
    #: index, so that PostgreSQL answers a search's ``tags.k = 'v'`` from the index alone (it reads
    #: the table for any expression index) and intersects several such filters without the table.
    value_prefix: Mapped[str | None] = mapped_column(
        String(INDEXED_VALUE_LENGTH), Computed(f"substr(value, 1, {INDEXED_VALUE_LENGTH})", persisted=True)
    )


class Alias(DbModel):
    """A movable name for one version of a model (``champion``)."""

    __tablename__ = "ml_model_aliases"
    __table_args__ = (UniqueConstraint("model_id", "alias", name="uq_ml_model_aliases_alias"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[int] = mapped_column(ForeignKey("ml_model_versions.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    version: Mapped[ModelVersion] = relationship()


class Registration(DbModel):
    """How a version stands in MLflow's registry: its stage, the source it was registered from,
    the run MLflow reports (its own run, or the training run it was registered from) and the
    logged model it holds."""

    __tablename__ = "ml_model_version_registrations"
    __table_args__ = (
        # The versions in a stage other than None, the few a model's latest per stage is chosen from
        # (``ModelVersionService._highest_by_stage``).
        Index("ix_ml_model_version_registrations_staged", "version_id", postgresql_where=STAGED, sqlite_where=STAGED),
    )

    version_id: Mapped[int] = mapped_column(ForeignKey("ml_model_versions.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), default="None")
    source: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ml_runs.id", ondelete="SET NULL"), nullable=True)
    logged_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("ml_logged_models.id", ondelete="SET NULL"), nullable=True
    )
    run_link: Mapped[str] = mapped_column(Text, default="")

    version: Mapped[ModelVersion] = relationship()
    run: Mapped[Run | None] = relationship()
    logged_model: Mapped[LoggedModel | None] = relationship()
