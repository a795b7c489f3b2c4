"""The package registry pages, at GitLab's URLs: a project's packages, a package and its files,
file downloads, and deletes (soft, through ``PackageService``; ``modelshelf gc`` frees the bytes)."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from package_api.access.policy import Action
from package_api.packages.service import LIVE_STATUSES
from package_api.web.api.context import base_url
from package_api.web.api.downloads import file_response
from package_api.web.api.pagination import page_args
from package_api.web.pages.context import (
    authorize_package,
    authorized_project,
    can,
    package_services,
    visible_project,
)
from package_api.web.pages.listing import listing_query
from package_api.web.pages.navigation import package_links

bp = Blueprint("package_pages", __name__)

PREFIX = "/<namespace>/<project>/-"
#: A package page lists this many files at a time.
FILES_PER_PAGE = 100
#: (order_by, label) of the sort menu.
PACKAGE_ORDERS = (("created_at", "Created"), ("name", "Name"), ("version", "Version"), ("type", "Type"))


@bp.get(f"{PREFIX}/packages")
def index(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.READ_PACKAGE)
    query = listing_query("created_at")
    page = package_services().list(
        found,
        package_name=query.search or None,
        order_by=query.order_by,
        sort=query.sort,
        page=query.page,
        per_page=query.per_page,
    )
    return render_template(
        "package_pages/index.html",
        project=found,
        page=page,
        **query.shown(),
        orders=PACKAGE_ORDERS,
        base_url=base_url(),
    )


@bp.get(f"{PREFIX}/packages/<int:package_id>")
def show(namespace: str, project: str, package_id: int) -> ResponseReturnValue:
    found = visible_project(namespace, project)
    service = package_services()
    package = authorize_package(found, service.get(found, package_id), Action.READ_PACKAGE)
    number, _ = page_args(request.args)
    return render_template(
        "package_pages/show.html",
        project=found,
        package=package,
        files=service.list_files(package, page=number, per_page=FILES_PER_PAGE),
        other_versions=service.other_versions(package),
        served_by_name=service.served_by_name(package),
        links=package_links(package),
        can_delete=can(found, Action.DELETE_PACKAGE, package=package),
        base_url=base_url(),
    )


@bp.post(f"{PREFIX}/packages/<int:package_id>/delete")
def delete(namespace: str, project: str, package_id: int) -> ResponseReturnValue:
    found = visible_project(namespace, project)
    service = package_services()
    package = authorize_package(found, service.get(found, package_id, statuses=LIVE_STATUSES), Action.DELETE_PACKAGE)
    service.delete(package)
    flash(f"Package {package.name} {package.version} deleted.", "success")
    return redirect(url_for(".index", namespace=namespace, project=project))


@bp.post(f"{PREFIX}/packages/<int:package_id>/package_files/<int:file_id>/delete")
def delete_file(namespace: str, project: str, package_id: int, file_id: int) -> ResponseReturnValue:
    found = visible_project(namespace, project)
    service = package_services()
    package = authorize_package(found, service.get(found, package_id, statuses=LIVE_STATUSES), Action.DELETE_PACKAGE)
    package_file = service.get_file(package, file_id)
    service.delete_file(package_file)
    flash(f"File {package_file.file_name} deleted.", "success")
    return redirect(url_for(".show", namespace=namespace, project=project, package_id=package_id))


@bp.get(f"{PREFIX}/package_files/<int:file_id>/download")
def download(namespace: str, project: str, file_id: int) -> Response:
    found = visible_project(namespace, project)
    service = package_services()
    package_file = service.get_project_file(found, file_id)
    authorize_package(found, package_file.package, Action.READ_PACKAGE)
    return file_response(service, package_file)
