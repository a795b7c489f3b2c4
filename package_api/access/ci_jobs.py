"""CI jobs of external CI systems, and their job tokens.

Modelshelf runs no CI of its own. A CI system (GitLab CI, GitHub Actions, Jenkins) registers a job
when it starts, with the project's CI token and the job's metadata, and gets a job token back. The
job token acts with the triggering user's role in that project only, until the job is marked
finished or its time to live passes. Uploads made with it record the job on the package
(``PackageBuildInfo``): that is a model version's provenance. Registering and finishing a job
are recorded in the audit trail (``job_registered``, ``job_finished``); each change is committed
by the method that makes it.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from package_api import audit
from package_api.access.models import CiJob, JobStatus, Project
from package_api.access.tokens import JOB_TOKEN_PREFIX, digest, find_by_digest, new_secret, stamp
from package_api.access.users import UserService
from package_api.db import DbSession, utcnow
from package_api.errors import InvalidParameter, NotFound
from package_api.identity import COMMAND_LINE, Actor
from package_api.packages.models import Package, PackageBuildInfo
from package_api.paging import Page, choice, query_page
from package_api.transactions import unit_of_work

#: Metadata a registration may carry: parameter -> (column, maximum length).
METADATA = {
    "ci_system": ("ci_system", 64),
    "job_id": ("external_id", 255),
    "job_name": ("name", 255),
    "job_url": ("web_url", 2000),
    "pipeline_id": ("pipeline_id", 255),
    "pipeline_url": ("pipeline_url", 2000),
    "ref": ("ref", 255),
    "sha": ("sha", 64),
    "merge_request_iid": ("merge_request_iid", 64),
    "merge_request_title": ("merge_request_title", 1000),
    "merge_request_url": ("merge_request_url", 2000),
}
URL_PARAMS = frozenset({"job_url", "pipeline_url", "merge_request_url"})
FINISHED = frozenset({JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELED})


def _text(params: Mapping[str, Any], param: str, limit: int) -> str:
    value = params.get(param)
    if value is None:
        return ""
    value = str(value).strip()
    if len(value) > limit or not value.isprintable():
        raise InvalidParameter(param)
    # Links are shown on pages: only http(s), never javascript: or data:.
    if param in URL_PARAMS and value and not value.lower().startswith(("https://", "http://")):
        raise InvalidParameter(param, "must be an http(s) URL")
    return value


def _label(job: CiJob) -> str:
    """``job`` in a few words: its CI system, its id there and its name."""
    return " ".join(part for part in (job.ci_system, job.external_id, job.name) if part)


class JobService:
    def __init__(
        self,
        session: DbSession,
        *,
        ttl: datetime.timedelta = datetime.timedelta(hours=3),
        clock: Callable[[], datetime.datetime] = utcnow,
        actor: Actor = COMMAND_LINE,
    ) -> None:
        self.session = session
        self.ttl = ttl
        self.clock = clock
        self.actor = actor  # who makes the changes

    def register(self, project: Project, params: Mapping[str, Any]) -> tuple[CiJob, str]:
        """Record a running job of ``project`` and commit; return it and its token (shown once).

        ``user`` (a username) is who triggered it: the token acts with that user's role here. Raise
        ``InvalidParameter``, or ``NotFound("User")``."""
        with unit_of_work(self.session):
            return self._register(project, params)

    def _register(self, project: Project, params: Mapping[str, Any]) -> tuple[CiJob, str]:
        username = params.get("user") or params.get("username")
        if not username:
            raise InvalidParameter("user", "is missing")
        user = UserService(self.session).find(str(username))
        if user is None:
            raise NotFound("User")
        if not params.get("job_id"):
            raise InvalidParameter("job_id", "is missing")
        values = {column: _text(params, param, limit) for param, (column, limit) in METADATA.items()}
        secret = new_secret(JOB_TOKEN_PREFIX)
        now = self.clock()
        job = CiJob(
            project_id=project.id,
            user_id=user.id,
            token_digest=digest(secret),
            expires_at=now + self.ttl,
            created_at=now,
            **values,
        )
        self.session.add(job)
        self.session.flush()
        self._record("job_registered", job, user=user.username, expires_at=job.expires_at)
        return job, secret

    def get(self, project: Project, job_id: int) -> CiJob:
        job = self.session.get(CiJob, job_id)
        if job is None or job.project_id != project.id:
            raise NotFound("Job")
        return job

    def find_external(self, project: Project, external_id: str) -> CiJob | None:
        """The newest job of ``project`` with this id in its CI system (``$CI_JOB_ID``)."""
        return self.session.scalar(
            select(CiJob)
            .where(CiJob.project_id == project.id, CiJob.external_id == str(external_id))
            .order_by(CiJob.id.desc())
            .limit(1)
        )

    def finish(self, job: CiJob, status: str) -> CiJob:
        """Mark the job finished (``success``, ``failed`` or ``canceled``) and commit: its token
        stops working. Raise ``InvalidParameter`` for another status."""
        try:
            final = JobStatus(status)
        except ValueError:
            raise InvalidParameter("status", "does not have a valid value") from None
        if final not in FINISHED:
            raise InvalidParameter("status", "does not have a valid value")
        if job.status == JobStatus.RUNNING:
            with unit_of_work(self.session):
                job.status = final
                job.finished_at = self.clock()
                self._record("job_finished", job, status=final.value)
        return job

    def _record(self, event: str, job: CiJob, **details: object) -> None:
        audit.record(
            self.session,
            event,
            project=job.project_id,
            target_type="CiJob",
            target_id=job.id,
            target_details=_label(job),
            details=details,
            actor=self.actor,
        )

    def find_active(self, secret: str) -> CiJob | None:
        """The running, unexpired job whose token this is, its ``last_used_at`` stamped (committed)."""
        return self.accept(find_by_digest(self.session, CiJob, secret, with_user=True))

    def accept(self, job: CiJob | None) -> CiJob | None:
        """``find_active``'s answer for the job ``job`` found by its token (``None``: none was)."""
        now = self.clock()
        if job is None or job.status != JobStatus.RUNNING or job.expires_at <= now:
            return None
        stamp(self.session, job, now)
        return job

    def page_for(self, project: Project, *, status: str | None = None, page: int = 1, per_page: int = 20) -> Page:
        """A page of ``project``'s jobs, newest first (``status``: only those); raise
        ``InvalidParameter`` for an unknown status."""
        query = select(CiJob).where(CiJob.project_id == project.id).options(joinedload(CiJob.user))
        if status:
            query = query.where(CiJob.status == JobStatus(choice("status", status, [s.value for s in JobStatus])))
        return query_page(self.session, query, [CiJob.id.desc()], page, per_page)

    def list_for(self, project: Project, limit: int = 100) -> list[CiJob]:
        return list(
            self.session.scalars(
                select(CiJob).where(CiJob.project_id == project.id).order_by(CiJob.id.desc()).limit(limit)
            )
        )

    # -- provenance ---------------------------------------------------------------------------

    def record_build(self, package: Package, job_id: int) -> None:
        """Remember that job ``job_id`` uploaded into ``package`` (once per job), and commit. Raise
        ``IntegrityError`` when a parallel upload of the same job recorded it first."""
        exists = self.session.scalar(
            select(PackageBuildInfo.id).where(PackageBuildInfo.package_id == package.id, PackageBuildInfo.ci_job_id == job_id)
        )
        if exists is None:
            with unit_of_work(self.session):
                self.session.add(PackageBuildInfo(package_id=package.id, ci_job_id=job_id))

    def builds(self, package: Package) -> list[CiJob]:
        """The jobs that uploaded into ``package``, newest first."""
        return self.builds_of([package.id])[package.id]

    def builds_of(self, package_ids: Iterable[int]) -> dict[int, list[CiJob]]:
        """The jobs that uploaded into each of these packages, newest first, with their users: one
        query for a whole page of packages."""
        found: dict[int, list[CiJob]] = {package_id: [] for package_id in package_ids}
        if not found:
            return found
        rows = self.session.execute(
            select(PackageBuildInfo.package_id, CiJob)
            .join(CiJob, PackageBuildInfo.ci_job_id == CiJob.id)
            .where(PackageBuildInfo.package_id.in_(list(found)))
            .options(joinedload(CiJob.user))
            .order_by(PackageBuildInfo.id.desc())
        )
        for package_id, job in rows:
            found[package_id].append(job)
        return found
