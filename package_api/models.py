"""Tables of the generic package registry."""
from __future__ import annotations

import datetime
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import db, utcnow


class Role(enum.IntEnum):
    """GitLab's access levels."""

    GUEST = 10
    REPORTER = 20
    DEVELOPER = 30
    MAINTAINER = 40
    OWNER = 50


class Visibility(str, enum.Enum):
    PRIVATE = "private"
    INTERNAL = "internal"
    PUBLIC = "public"


class PackageStatus(str, enum.Enum):
    DEFAULT = "default"
    HIDDEN = "hidden"
    PENDING_DESTRUCTION = "pending_destruction"


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Project(db.Model):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("namespace", "path", name="uq_projects_namespace_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(2000), default="")
    visibility: Mapped[Visibility] = mapped_column(
        Enum(Visibility, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=Visibility.PRIVATE,
    )
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    # GitLab keeps these per group (namespace_package_settings); users asked for them per project (#337810).
    generic_duplicates_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    generic_duplicate_exception_regex: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def full_path(self) -> str:
        return f"{self.namespace}/{self.path}"


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("project_id", "user_id", name="uq_memberships_project_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    access_level: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class PersonalAccessToken(db.Model):
    __tablename__ = "personal_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the token; the token itself is shown once and never stored.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(255))  # comma-separated
    expires_at: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


class Blob(db.Model):
    """Stored bytes, kept once per SHA-256 however many files carry them."""

    __tablename__ = "blobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Upload(db.Model):
    """A lease on an upload in progress: its bytes are being written under ``storage_key`` and no
    blob row names them yet. ``package_api.uploads`` explains how it keeps gc off those bytes."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime, index=True)


class Package(db.Model):
    __tablename__ = "packages"
    __table_args__ = (
        # One live package per name and version: concurrent first uploads meet here and the loser
        # re-reads the winner's row. Deleted packages leave the index so the name can be reused.
        Index(
            "uq_packages_live_name_version",
            "project_id",
            "package_type",
            "name",
            "version",
            unique=True,
            sqlite_where=text("status != 'pending_destruction'"),
            postgresql_where=text("status != 'pending_destruction'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255))
    package_type: Mapped[str] = mapped_column(String(32), default="generic")
    status: Mapped[PackageStatus] = mapped_column(
        Enum(PackageStatus, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e]),
        default=PackageStatus.DEFAULT,
    )
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    last_downloaded_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)

    project: Mapped[Project] = relationship()
    creator: Mapped[User | None] = relationship()


class PackageFile(db.Model):
    __tablename__ = "package_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"), index=True)
    #: The path inside the package, subfolders included (``weights/model.onnx``), stored unencoded.
    file_name: Mapped[str] = mapped_column(String(1024))
    status: Mapped[PackageStatus] = mapped_column(
        Enum(PackageStatus, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e]),
        default=PackageStatus.DEFAULT,
    )
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    package: Mapped[Package] = relationship()
    blob: Mapped[Blob] = relationship(lazy="joined")

    @property
    def size(self) -> int:
        return self.blob.size

    @property
    def sha256(self) -> str:
        return self.blob.sha256

    @property
    def storage_key(self) -> str:
        return self.blob.storage_key
