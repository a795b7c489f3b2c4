"""Tables of access control: users, projects and their features, memberships, tokens, CI jobs."""
from __future__ import annotations

import datetime
import enum

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from package_api.db import IDS_NEVER_REUSED, DbModel, utcnow


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


class FeatureAccess(str, enum.Enum):
    """GitLab's feature access levels: who may use a feature of a project they can see."""

    DISABLED = "disabled"
    PRIVATE = "private"  # only project members
    ENABLED = "enabled"  # everyone with access to the project


class JobStatus(str, enum.Enum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"


class User(DbModel):
    __tablename__ = "users"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Set for the bot user behind a project access token: the project it belongs to.
    bot_project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE", use_alter=True, name="fk_users_bot_project_id"),
        nullable=True,
        index=True,
    )
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    #: Part of every browser session's fingerprint: signing out, a new password and "sign out
    #: everywhere" bump it, which ends every session signed in before.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_bot(self) -> bool:
        return self.bot_project_id is not None


class Project(DbModel):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("namespace", "path", name="uq_projects_namespace_path"), IDS_NEVER_REUSED)

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
    #: SHA-256 of the project's CI token, which an external CI presents to register jobs.
    ci_token_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    #: How many enabled webhooks the project has (``package_api.webhooks``), kept with the project so
    #: that a change in a project without any (most) reads nothing more to know it.
    enabled_webhooks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def full_path(self) -> str:
        return f"{self.namespace}/{self.path}"


class ProjectFeature(DbModel):
    """A feature's access level in a project (``package_registry``, ``model_registry``, ...). No row
    means ``enabled``, GitLab's default for a new project."""

    __tablename__ = "project_features"
    __table_args__ = (
        UniqueConstraint("project_id", "feature", name="uq_project_features_project_feature"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    feature: Mapped[str] = mapped_column(String(64))
    access_level: Mapped[FeatureAccess] = mapped_column(
        Enum(FeatureAccess, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )


class Membership(DbModel):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("project_id", "user_id", name="uq_memberships_project_user"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    access_level: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class PersonalAccessToken(DbModel):
    __tablename__ = "personal_access_tokens"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the token; the token itself is shown once and never stored.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(255))  # comma-separated
    expires_at: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The token this one replaced when that one was rotated (GitLab's
    #: ``previous_personal_access_token_id``): a chain of rotations is a token family.
    previous_token_id: Mapped[int | None] = mapped_column(
        ForeignKey(
            "personal_access_tokens.id", ondelete="SET NULL", name="fk_personal_access_tokens_previous_token_id"
        ),
        nullable=True,
        index=True,
    )
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


class DeployToken(DbModel):
    """A project's deploy token: a username and a secret (stored as its SHA-256) with package scopes."""

    __tablename__ = "deploy_tokens"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(255))  # comma-separated
    expires_at: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)

    project: Mapped[Project] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


class CiJob(DbModel):
    """A job of an external CI system (GitLab CI, GitHub Actions, Jenkins), registered while it runs.

    Its token (stored as a SHA-256) acts with the triggering user's role in this project only, until
    the job is marked finished or ``expires_at`` passes."""

    __tablename__ = "ci_jobs"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    ci_system: Mapped[str] = mapped_column(String(64), default="")
    #: The job's id in its CI system (``$CI_JOB_ID``, ``$GITHUB_RUN_ID``...), as text.
    external_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    web_url: Mapped[str] = mapped_column(String(2000), default="")
    pipeline_id: Mapped[str] = mapped_column(String(255), default="")
    pipeline_url: Mapped[str] = mapped_column(String(2000), default="")
    ref: Mapped[str] = mapped_column(String(255), default="")
    sha: Mapped[str] = mapped_column(String(64), default="")
    merge_request_iid: Mapped[str] = mapped_column(String(64), default="")
    merge_request_title: Mapped[str] = mapped_column(String(1000), default="")
    merge_request_url: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=JobStatus.RUNNING,
    )
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)

    project: Mapped[Project] = relationship()
    user: Mapped[User | None] = relationship()


class SignInFailures(DbModel):
    """Failed sign-ins of one account name or one client address in the current window, and how long
    further attempts are refused (``package_api.access.sign_in_throttle``)."""

    __tablename__ = "sign_in_failures"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # account | address
    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # the lower-cased username, or the address
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)
