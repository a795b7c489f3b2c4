"""JSON shapes, as GitLab's entities (``lib/api/entities``)."""
from __future__ import annotations

import datetime
from typing import Any

from ..models import Package, PackageFile, PackageStatus, Project, User


def timestamp(value: datetime.datetime | None) -> str | None:
    """GitLab's ``2019-11-27T03:37:38.711Z``."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def package(item: Package, base_url: str, *, can_delete: bool, versions: list[Package] | None = None) -> dict[str, Any]:
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
    if versions is not None:
        body["versions"] = [
            {"id": v.id, "version": v.version, "created_at": timestamp(v.created_at), "pipelines": []} for v in versions
        ]
    return body


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


def project(item: Project, base_url: str) -> dict[str, Any]:
    return {
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
