"""The model registry's tables. A version row keeps only what its package does not: the package
itself (name, version, files) stays in ``package_api``."""
from __future__ import annotations

import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from package_api.plugin_api import IDS_NEVER_REUSED, DbModel, Package, User, utcnow


class Model(DbModel):
    __tablename__ = "ml_models"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_ml_models_project_name"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    #: The highest MLflow version number (``ModelVersion.sequence``) the model ever gave: the next
    #: version takes the one after it, so a number never comes back after its version is deleted.
    last_sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    author: Mapped[User | None] = relationship()


class ModelVersion(DbModel):
    __tablename__ = "ml_model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_ml_model_versions_model_version"),
        UniqueConstraint("model_id", "sequence", name="uq_ml_model_versions_model_sequence"),
        UniqueConstraint("package_id", name="uq_ml_model_versions_package"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(255))
    #: 1, 2, 3... per model in order of creation, never reused (``Model.last_sequence``): MLflow's
    #: integer version.
    sequence: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    model: Mapped[Model] = relationship()
    package: Mapped[Package] = relationship()
    author: Mapped[User | None] = relationship()
