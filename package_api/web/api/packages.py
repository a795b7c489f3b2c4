"""The packages API: list, get, files, delete (``lib/api/project_packages.rb``, ``package_files.rb``)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from package_api import services
from package_api.access.models import Project
from package_api.access.policy import Action, Policy
from package_api.packages.models import Package
from package_api.packages.service import LIVE_STATUSES
from package_api.paging import Page
from package_api.web.api import entities, pagination
from package_api.web.api.context import (
    authorize_package,
    authorized_project,
    base_url,
    package_services,
    policy,
    principal,
    visible_project,
)

bp = Blueprint("packages", __name__, url_prefix="/api/v4")


def _can_delete(project: Project, package: Package, judge: Policy | None = None) -> bool:
    """Whether the caller may delete ``package`` (``judge``: one policy for a whole page, so the
    caller's role and the features are read once)."""
    judge = judge or policy()
    return judge.can(principal(), project, Action.DELETE_PACKAGE, package=(package.name, package.version))


def _paginated(items: list[dict[str, object]], page: Page) -> Response:
    return pagination.paginated(items, page, base_url())


@bp.get("/projects/<project:project_ref>/packages")
def list_packages(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.READ_PACKAGE)
    number, per_page = pagination.page_args(request.args)
    page = package_services().list(
        project,
        package_type=request.args.get("package_type"),
        package_name=request.args.get("package_name"),
        package_version=request.args.get("package_version"),
        status=request.args.get("status"),
        order_by=request.args.get("order_by", "created_at"),
        sort=request.args.get("sort", "asc"),
        page=number,
        per_page=per_page,
    )
    root = base_url()
    builds = services.job_service().builds_of(p.id for p in page.items)
    judge = policy()
    judge.expect_packages(project, ((p.name, p.version) for p in page.items))
    return _paginated(
        [entities.package(p, root, can_delete=_can_delete(project, p, judge), builds=builds) for p in page.items], page
    )


@bp.get("/projects/<project:project_ref>/packages/<int:package_id>")
def get_package(project_ref: str, package_id: int) -> Response:
    project = visible_project(project_ref)
    service = package_services()
    package = authorize_package(project, service.get(project, package_id), Action.READ_PACKAGE)
    versions = service.other_versions(package)
    builds = services.job_service().builds_of([package.id, *(v.id for v in versions)])
    return jsonify(
        entities.package(package, base_url(), can_delete=_can_delete(project, package), versions=versions, builds=builds)
    )


@bp.get("/projects/<project:project_ref>/packages/<int:package_id>/package_files")
def list_files(project_ref: str, package_id: int) -> Response:
    project = visible_project(project_ref)
    service = package_services()
    number, per_page = pagination.page_args(request.args)
    page = service.list_files(
        authorize_package(project, service.get(project, package_id), Action.READ_PACKAGE),
        order_by=request.args.get("order_by", "id"),
        sort=request.args.get("sort", "asc"),
        page=number,
        per_page=per_page,
    )
    return _paginated([entities.package_file(f) for f in page.items], page)


@bp.delete("/projects/<project:project_ref>/packages/<int:package_id>")
def delete_package(project_ref: str, package_id: int) -> tuple[str, int]:
    project = visible_project(project_ref)
    service = package_services()
    service.delete(authorize_package(project, service.get(project, package_id, statuses=LIVE_STATUSES), Action.DELETE_PACKAGE))
    return "", 204


@bp.delete("/projects/<project:project_ref>/packages/<int:package_id>/package_files/<int:file_id>")
def delete_file(project_ref: str, package_id: int, file_id: int) -> tuple[str, int]:
    project = visible_project(project_ref)
    service = package_services()
    package = authorize_package(project, service.get(project, package_id, statuses=LIVE_STATUSES), Action.DELETE_PACKAGE)
    service.delete_file(service.get_file(package, file_id))
    return "", 204
