"""JSON shapes of the model registry REST API (GitLab's GraphQL fields, in snake_case)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from package_api.plugin_api import CiJob, PackageFile, Project, User, timestamp
from package_api.plugin_api import job_json as job
from package_api.plugin_api import package_file_json as package_file
from plugin.registry.model_service import ModelSummary
from plugin.registry.models import ModelVersion


def author(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "name": user.name}


def version(
    row: ModelVersion,
    project: Project,
    base_url: str,
    *,
    files: Sequence[PackageFile] | None = None,
    aliases: list[str] | None = None,
    ci_job: CiJob | None = None,
) -> dict[str, Any]:
    """A version; with ``files`` (one version's view) also its artifacts and ``ci_job``, the
    registered CI job that produced it (GitLab's candidate ``ciJob``), or ``null``."""
    api = f"{base_url}/api/v4/projects/{project.id}"
    body: dict[str, Any] = {
        "id": row.id,
        "model_id": row.model_id,
        "model_name": row.model.name,
        "version": row.version,
        "sequence": row.sequence,
        "description": row.description,
        "author": author(row.author),
        "package_id": row.package_id,
        "sealed": row.package.sealed,
        "sealed_at": None if row.package.sealed_at is None else timestamp(row.package.sealed_at),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "_links": {
            "show_path": f"/{project.full_path}/-/ml/models/{row.model_id}/versions/{row.id}",
            "package_path": f"/{project.full_path}/-/packages/{row.package_id}",
            "import_path": f"{api}/packages/ml_models/{row.id}/files/",
        },
    }
    if aliases is not None:
        body["aliases"] = aliases
    if files is not None:
        body["artifacts_count"] = len(files)
        body["files"] = [package_file(f) for f in files]
        body["ci_job"] = None if ci_job is None else job(ci_job, base_url)
    return body


def model(summary: ModelSummary, project: Project, base_url: str) -> dict[str, Any]:
    item = summary.model
    latest = summary.latest_version
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "author": author(item.author),
        "created_at": timestamp(item.created_at),
        "updated_at": timestamp(item.updated_at),
        "version_count": summary.version_count,
        "latest_version": None if latest is None else {"id": latest.id, "version": latest.version},
        "_links": {"show_path": f"/{project.full_path}/-/ml/models/{item.id}"},
    }
