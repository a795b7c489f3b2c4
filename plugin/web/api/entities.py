"""JSON shapes of the model registry REST API (GitLab's GraphQL fields, in snake_case)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from package_api.plugin_api import CiJob, PackageFile, Project, User, timestamp
from package_api.plugin_api import job_json as job
from package_api.plugin_api import package_file_json as package_file
from plugin.promotion.models import AliasMove, AliasRule, PromotionRequest
from plugin.promotion.rules import level_name, rule_details
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


def version_ref(row: ModelVersion | None, name: str | None = None) -> dict[str, Any] | None:
    """A version as an alias or a request names it (``name`` alone once the version is deleted)."""
    if row is None:
        return None if name is None else {"id": None, "version": name, "sequence": None}
    return {"id": row.id, "version": row.version, "sequence": row.sequence}


def alias(name: str, row: ModelVersion, *, protected: bool) -> dict[str, Any]:
    return {"alias": name, "model_id": row.model_id, "version": version_ref(row), "protected": protected}


def alias_move(move: AliasMove) -> dict[str, Any]:
    return {
        "id": move.id,
        "alias": move.alias,
        "action": move.action,
        "from_version": None if move.from_version is None else {"id": move.from_version_id, "version": move.from_version},
        "to_version": None if move.to_version is None else {"id": move.to_version_id, "version": move.to_version},
        "author": author(move.author),
        "author_name": move.author_name,
        "promotion_request_id": move.request_id,
        "created_at": timestamp(move.created_at),
    }


def promotion_request(request: PromotionRequest, project: Project) -> dict[str, Any]:
    return {
        "id": request.id,
        "model_id": request.model_id,
        "model_name": request.model.name,
        "alias": request.alias,
        "version": version_ref(request.version),
        "rollback": request.rollback,
        "rule": request.rule,
        "minimum_access_level": level_name(request.minimum_access_level),
        "approvals_required": request.approvals_required,
        "approvals": request.approvals,
        "status": request.status,
        "requester": author(request.requester),
        "requester_name": request.requester_name,
        "reviews": [
            {"user": author(r.user), "approved": r.approved, "comment": r.comment, "created_at": timestamp(r.created_at)}
            for r in request.reviews
        ],
        "created_at": timestamp(request.created_at),
        "closed_at": None if request.closed_at is None else timestamp(request.closed_at),
        "_links": {"show_path": f"/{project.full_path}/-/ml/models/{request.model_id}/promotions/{request.id}"},
    }


def alias_rule(rule: AliasRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "project_id": rule.project_id,
        **rule_details(rule),
        "created_at": timestamp(rule.created_at),
        "updated_at": timestamp(rule.updated_at),
    }
