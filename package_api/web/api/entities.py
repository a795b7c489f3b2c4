"""JSON shapes, as GitLab's entities (``lib/api/entities``)."""
from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from package_api.access.models import CiJob, FeatureAccess, Project, User
from package_api.access.policy import PACKAGE_REGISTRY
from package_api.packages.models import Package, PackageFile, PackageStatus


def timestamp(value: datetime.datetime | None) -> str | None:
    """GitLab's ``2019-11-27T03:37:38.711Z``."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def package(
    item: Package,
    base_url: str,
    *,
    can_delete: bool,
    versions: list[Package] | None = None,
    builds: Mapping[int, Sequence[CiJob]] | None = None,
) -> dict[str, Any]:
    """GitLab's package; ``builds`` (package id -> its jobs, newest first: ``JobService.builds_of``)
    gives it and its versions their ``pipeline`` and ``pipelines``."""
    builds = builds or {}
    links: dict[str, str] = {}
    if item.status == PackageStatus.DEFAULT:
        links["web_path"] = f"/{item.project.full_path}/-/packages/{item.id}"
    if can_delete:
        links["delete_api_path"] = f"{base_url}/api/v4/projects/{item.project_id}/packages/{item.id}"
    body: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "version": item.version,
        "package_type": item.package_type,
        "status": item.status.value,
        "_links": links,
        "created_at": timestamp(item.created_at),
        "last_downloaded_at": timestamp(item.last_downloaded_at),
        "tags": [],
    }
    # As GitLab: ``pipeline`` (the newest; deprecated there) and ``pipelines`` only when there are some.
    found = pipelines(builds.get(item.id, ()), base_url)
    if found:
        body["pipeline"], body["pipelines"] = found[0], found
    if versions is not None:
        body["versions"] = [_version(v, pipelines(builds.get(v.id, ()), base_url)) for v in versions]
    return body


def _version(item: Package, found: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": item.id, "version": item.version, "created_at": timestamp(item.created_at)}
    if found:
        body["pipeline"] = found[0]
    body["pipelines"] = found
    return body


def user_basic(item: User, base_url: str) -> dict[str, Any]:
    """GitLab's ``UserBasic``: what anyone who sees a user's work may know of them."""
    return {
        "id": item.id,
        "username": item.username,
        "name": item.name,
        "state": "active",
        "avatar_url": None,
        "web_url": f"{base_url}/{item.username}",
    }


def _number(value: str) -> int | str:
    """An id from a CI system: a number where it is one (GitLab's ids are), else the text."""
    return int(value) if value.isdecimal() and len(value) < 19 else value


def pipeline(job: CiJob, base_url: str) -> dict[str, Any]:
    """GitLab's ``Package::Pipeline`` for the pipeline ``job`` ran in (the job stands for its
    pipeline when it was registered without one). Its CI system is not GitLab: ``source`` is
    ``external``, as GitLab says of pipelines that external CI reports."""
    return {
        "id": _number(job.pipeline_id or job.external_id),
        "iid": None,
        "project_id": job.project_id,
        "sha": job.sha or None,
        "ref": job.ref or None,
        "status": job.status.value,
        "source": "external",
        "created_at": timestamp(job.created_at),
        "updated_at": timestamp(job.finished_at or job.created_at),
        "web_url": job.pipeline_url or job.web_url or None,
        "user": None if job.user is None else user_basic(job.user, base_url),
    }


def pipelines(jobs: Sequence[CiJob], base_url: str) -> list[dict[str, Any]]:
    """Each pipeline of ``jobs`` (newest first) once, as its newest job shows it."""
    seen: set[tuple[str, str]] = set()
    found = []
    for job in jobs:
        key = (job.ci_system, job.pipeline_id or f"job {job.id}")
        if key not in seen:
            seen.add(key)
            found.append(pipeline(job, base_url))
    return found


def job(item: CiJob, base_url: str) -> dict[str, Any]:
    """A registered CI job (``/projects/:id/jobs``): ``id`` is Modelshelf's, ``external_id`` the
    CI system's (``$CI_JOB_ID``); empty metadata is ``null``."""
    pipeline_ = {"id": _number(item.pipeline_id), "web_url": item.pipeline_url or None}
    merge_request = {
        "iid": _number(item.merge_request_iid),
        "title": item.merge_request_title or None,
        "web_url": item.merge_request_url or None,
    }
    return {
        "id": item.id,
        "project_id": item.project_id,
        "status": item.status.value,
        "ci_system": item.ci_system or None,
        "external_id": item.external_id,
        "name": item.name or None,
        "web_url": item.web_url or None,
        "pipeline": pipeline_ if item.pipeline_id else None,
        "ref": item.ref or None,
        "sha": item.sha or None,
        "merge_request": merge_request if item.merge_request_iid else None,
        "user": None if item.user is None else user_basic(item.user, base_url),
        "created_at": timestamp(item.created_at),
        "expires_at": timestamp(item.expires_at),
        "finished_at": timestamp(item.finished_at),
    }


def package_file(item: PackageFile) -> dict[str, Any]:
    return {
        "id": item.id,
        "package_id": item.package_id,
        "created_at": timestamp(item.created_at),
        "file_name": item.file_name,
        "size": item.size,
        # GitLab stores only SHA-256 for generic files; MD5 and SHA-1 are null there too.
        "file_md5": None,
        "file_sha1": None,
        "file_sha256": item.sha256,
    }


def uploaded_file(item: PackageFile) -> dict[str, Any]:
    """The raw record ``select=package_file`` returns."""
    return {
        **package_file(item),
        "updated_at": timestamp(item.updated_at),
        "file_store": 1,
        "verification_state": 0,
    }


def user(item: User, base_url: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "username": item.username,
        "name": item.name,
        "state": "active",
        "avatar_url": None,
        "web_url": f"{base_url}/{item.username}",
        "created_at": timestamp(item.created_at),
        "is_admin": item.is_admin,
    }


def project(item: Project, base_url: str, features: Mapping[str, FeatureAccess] | None = None) -> dict[str, Any]:
    """A project; with ``features`` (``Policy.feature_levels``), each one's ``<feature>_access_level``."""
    body: dict[str, Any] = {
        "id": item.id,
        "name": item.path,
        "path": item.path,
        "name_with_namespace": f"{item.namespace} / {item.path}",
        "path_with_namespace": item.full_path,
        "description": item.description,
        "visibility": item.visibility.value,
        "namespace": {"name": item.namespace, "path": item.namespace, "full_path": item.namespace, "kind": "group"},
        "created_at": timestamp(item.created_at),
        "web_url": f"{base_url}/{item.full_path}",
        "default_branch": None,
        "packages_enabled": True,
        "generic_duplicates_allowed": item.generic_duplicates_allowed,
        "generic_duplicate_exception_regex": item.generic_duplicate_exception_regex,
    }
    for feature, level in (features or {}).items():
        body[f"{feature}_access_level"] = level.value
    if features is not None:
        body["packages_enabled"] = features.get(PACKAGE_REGISTRY) != FeatureAccess.DISABLED
    return body
