"""The model registry's tables. A version row keeps only what its package does not: the package
itself (name, version, files) stays in ``package_api``."""
from __future__ import annotations

import datetime
import enum

from sqlalchemy import DateTime, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from package_api.plugin_api import IDS_NEVER_REUSED, DbModel, Package, User, utcnow


class ModelOrigin(str, enum.Enum):
    """How a model came to be. Models are made on purpose; the last two values are what revision
    ``model_registry_0003`` could tell of the models made before it recorded this."""

    API = "api"  # POST /ml/models
    PAGE = "page"  # the New model form
    MLFLOW = "mlflow"  # registered-models/create: create_registered_model, log_model(registered_model_name=...)
    HUGGING_FACE = "huggingface"  # the Hugging Face API's repos/create: create_repo, hf repos create
    #: Made on purpose before revision 0003, by a surface not recorded (a ``model_created`` event says so).
    CREATED = "created"
    #: Made by the first upload of a SemVer package under the old rule, kept by revision 0003 for what
    #: the registry holds about it (a description, MLflow data, a version made through the registry).
    UPLOAD = "upload"


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
    #: No default: whoever makes a model says how (``ModelService.create``).
    origin: Mapped[ModelOrigin] = mapped_column(
        Enum(ModelOrigin, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
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
