"""Tables of the generic package registry: packages, their files, the blobs that hold the bytes,
upload leases and build provenance."""
from __future__ import annotations

import datetime
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from package_api.access.models import CiJob, Project, User
from package_api.db import IDS_NEVER_REUSED, DbModel, utcnow


class PackageStatus(str, enum.Enum):
    DEFAULT = "default"
    HIDDEN = "hidden"
    PENDING_DESTRUCTION = "pending_destruction"


class Blob(DbModel):
    """Stored bytes, kept once per SHA-256 however many files carry them."""

    __tablename__ = "blobs"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Upload(DbModel):
    """A lease on an upload in progress: its bytes are being written under ``storage_key`` and no
    blob row names them yet. ``package_api.packages.leases`` explains how it keeps gc off those bytes."""

    __tablename__ = "uploads"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime, index=True)


class Package(DbModel):
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
        IDS_NEVER_REUSED,
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
    #: When the package was sealed (``package_api.packages.protection``): its files never change
    #: again and only an Owner deletes it. ``None``: not sealed. A seal is never lifted.
    sealed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)
    sealed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)

    project: Mapped[Project] = relationship()
    creator: Mapped[User | None] = relationship(foreign_keys=[creator_id])
    sealed_by: Mapped[User | None] = relationship(foreign_keys=[sealed_by_id])

    @property
    def sealed(self) -> bool:
        return self.sealed_at is not None


#: A package that is not being destroyed, in the words of ``uq_packages_live_name_version``'s condition
#: (a literal, as there). A planner uses a partial index only for a query that states its condition:
#: said as ``status IN ('default', 'hidden')``, the same packages, a lookup by name and version read
#: every package of the project on SQLite.
LIVE_PACKAGE: ColumnElement[bool] = Package.status != literal_column("'pending_destruction'")


class PackageBuildInfo(DbModel):
    """A CI job that uploaded into a package (GitLab's ``packages_build_infos``): its provenance."""

    __tablename__ = "package_build_infos"
    __table_args__ = (
        UniqueConstraint("package_id", "ci_job_id", name="uq_package_build_infos_package_job"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    ci_job_id: Mapped[int] = mapped_column(ForeignKey("ci_jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    job: Mapped[CiJob] = relationship(lazy="joined")


class PackageFile(DbModel):
    __tablename__ = "package_files"
    __table_args__ = IDS_NEVER_REUSED

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


class PackageProtectionRule(DbModel):
    """GitLab's package protection rule: packages of ``package_type`` whose name matches
    ``package_name_pattern`` (``*`` wildcards, case-insensitive) take at least the access level
    ``minimum_access_level_for_push`` to be pushed (created, or files added) and
    ``minimum_access_level_for_delete`` to be deleted (their files included); ``None``: that action is
    not protected by this rule. ``package_api.packages.protection`` enforces them."""

    __tablename__ = "package_protection_rules"
    __table_args__ = (
        UniqueConstraint(
            "project_id", "package_type", "package_name_pattern", name="uq_package_protection_rules_pattern"
        ),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    package_name_pattern: Mapped[str] = mapped_column(String(255))
    package_type: Mapped[str] = mapped_column(String(32))
    minimum_access_level_for_push: Mapped[int | None] = mapped_column(Integer, nullable=True)
    minimum_access_level_for_delete: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship()


class CleanupPolicy(DbModel):
    """A project's cleanup policy for its packages (GitLab's container expiration policy, applied to
    model versions): ``package_api.packages.cleanup`` says what it removes and what it never does."""

    __tablename__ = "package_cleanup_policies"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How often the server runs it: ``1d``, ``7d``, ``14d``, ``1month``, ``3month`` (GitLab's).
    cadence: Mapped[str] = mapped_column(String(16), default="1d")
    #: Keep this many most recent versions of each package name (model) among those the regexes
    #: select; ``None``: no such exception.
    keep_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Remove only versions older than this many days (``90d``); ``None``: whatever their age.
    older_than_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    name_regex_delete: Mapped[str] = mapped_column(String(255), default=".*")
    name_regex_keep: Mapped[str] = mapped_column(String(255), default="")
    #: Our own: only packages (models) whose name matches; empty: every package of the project.
    package_name_regex: Mapped[str] = mapped_column(String(255), default="")
    #: When the server runs it next (``None`` while disabled); a runner moves it on when it claims it.
    next_run_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    last_run_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
