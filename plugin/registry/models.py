"""The model registry's tables. A version row keeps only what its package does not: the package
itself (name, version, files) stays in ``package_api``."""
from __future__ import annotations

import datetime
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.engine import default as engine_default
from sqlalchemy.orm import Mapped, mapped_column, relationship

from package_api.plugin_api import IDS_NEVER_REUSED, DbModel, Package, User, utcnow
from plugin.registry import semver


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


def _has_trigrams(
    ddl: Any, target: Any, bind: Connection | None, tables: Any = None, state: Any = None, *, dialect: Any,
    compiler: Any = None, checkfirst: bool = False,
) -> bool:
    """Whether PostgreSQL's ``pg_trgm`` extension is in the database, its operator class on the
    ``search_path`` (revision ``model_registry_0016`` creates it where the server offers it and the
    registry's role may)."""
    return bind is not None and bind.execute(text(TRIGRAM_OPERATORS)).first() is not None


#: A row if ``gin_trgm_ops`` (``pg_trgm``) can be named here.
TRIGRAM_OPERATORS = "SELECT 1 FROM pg_opclass WHERE opcname = 'gin_trgm_ops' AND pg_opclass_is_visible(oid)"


class Model(DbModel):
    __tablename__ = "ml_models"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_ml_models_project_name"),
        # Substring searches of names (``ILIKE '%term%'``: the REST models search, MLflow's ``name
        # LIKE``) on PostgreSQL with pg_trgm; without it, and on SQLite, they scan the project's models.
        Index(
            "ix_ml_models_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}
        ).ddl_if(dialect="postgresql", callable_=_has_trigrams),
        # A page of the project's models newest first (the lists' default order) without sorting them all.
        Index("ix_ml_models_project_created", "project_id", "created_at", "id"),
        IDS_NEVER_REUSED,
    )

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
        # A model's versions in precedence order (the versions list), its latest (releases first).
        Index("ix_ml_model_versions_model_precedence", "model_id", "precedence"),
        Index("ix_ml_model_versions_model_release_precedence", "model_id", "release", "precedence"),
        # The versions whose tags contain given key/value pairs (an MLflow search's ``tags.k = 'v'``,
        # ``plugin.mlflow_registry.tag_index``): PostgreSQL only, SQLite has no inverted index.
        Index(
            "ix_ml_model_versions_tag_index", "tag_index",
            postgresql_using="gin", postgresql_ops={"tag_index": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(255))
    #: 1, 2, 3... per model in order of creation, never reused (``Model.last_sequence``): MLflow's
    #: integer version.
    sequence: Mapped[int] = mapped_column(Integer)
    #: ``version``'s SemVer precedence as bytes that sort as versions do (``semver.precedence``) and
    #: whether it is a release, set from ``version`` on insert: the database orders versions and
    #: finds the latest one (``semver.latest``: the highest release, else the highest prerelease).
    precedence: Mapped[bytes] = mapped_column(LargeBinary, default=lambda context: _semver_of(context)[0])
    release: Mapped[bool] = mapped_column(Boolean, default=lambda context: _semver_of(context)[1])
    description: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    #: The version's tags (``ml_model_version_tags``) as one JSON object, ``{key: value}`` (NULL or
    #: ``{}`` without tags), kept by whoever writes them (``plugin.mlflow_registry.tag_index``): on
    #: PostgreSQL a GIN index intersects a search's ``tags.k = 'v'`` filters in it. Never loaded with
    #: the row.
    tag_index: Mapped[dict[str, str] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"), nullable=True, deferred=True
    )

    model: Mapped[Model] = relationship()
    package: Mapped[Package] = relationship()
    author: Mapped[User | None] = relationship()


def _semver_of(context: engine_default.DefaultExecutionContext) -> tuple[bytes, bool]:
    version = str(context.get_current_parameters()["version"])  # type: ignore[no-untyped-call]
    return semver.precedence(version), semver.is_release(version)


#: ``semver.latest`` as an order: releases first, then by precedence; of versions of equal precedence
#: (``1.0.0+a``, ``1.0.0+b``) the first made, the same way on every database.
LATEST_FIRST = (ModelVersion.release.desc(), ModelVersion.precedence.desc(), ModelVersion.id.asc())


def in_precedence_order(*, descending: bool) -> tuple[Any, ...]:
    """``semver.ordered`` as an order (equal precedence: by id either way, as its stable sort kept them)."""
    return (ModelVersion.precedence.desc() if descending else ModelVersion.precedence.asc(), ModelVersion.id.asc())
