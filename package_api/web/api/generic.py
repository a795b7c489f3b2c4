"""The generic package API: ``PUT``/``GET`` of files by package name, version and path, and ``GET`` of
a whole package as one zip.

A download is judged on the package it reads, after ``latest`` (or another alias a plugin resolves)
has become that package: ``fraud-detector/latest`` is the latest model version, judged as one. An
upload is judged on the name and version it writes, before a byte is read."""
from __future__ import annotations

from functools import partial
from typing import NoReturn

from flask import Blueprint, Response, jsonify, request

from package_api.access.policy import Action
from package_api.errors import InvalidParameter
from package_api.packages.service import parse_status
from package_api.web.api import entities
from package_api.web.api.context import (
    archive_services,
    authorize_package,
    authorized_project,
    package_services,
    visible_project,
)
from package_api.web.api.downloads import archive_response, file_response
from package_api.web.api.upload_bodies import receive, refuse_workhorse_authorization
from package_api.web.body_limits import streams_body

bp = Blueprint("generic_packages", __name__, url_prefix="/api/v4")

PACKAGE = "/projects/<project:project_ref>/packages/generic/<package_name>/<package_version>"
ROUTE = f"{PACKAGE}/<filepath:file_path>"


@bp.put(ROUTE)
@streams_body
def upload(project_ref: str, package_name: str, package_version: str, file_path: str) -> tuple[Response, int]:
    """Store the body; or, for ``?sha256=<hex>`` with no body, attach bytes the project already holds."""
    status = parse_status(request.args.get("status"))
    selected = request.args.get("select")
    if selected not in (None, "package_file"):
        raise InvalidParameter("select", "does not have a valid value")
    project = authorized_project(project_ref, Action.PUBLISH_PACKAGE, package=(package_name, package_version))
    package_file = receive(project, package_name, package_version, file_path, status=status)
    if selected:
        return jsonify(entities.uploaded_file(package_file)), 200
    return jsonify(message="201 Created"), 201


@bp.put(f"{ROUTE}/authorize")
def authorize_upload(project_ref: str, package_name: str, package_version: str, file_path: str) -> NoReturn:
    """GitLab Workhorse's pre-authorization of an upload: never a file named ``authorize``."""
    authorized_project(project_ref, Action.PUBLISH_PACKAGE, package=(package_name, package_version))
    refuse_workhorse_authorization()


@bp.get(ROUTE)
def download(project_ref: str, package_name: str, package_version: str, file_path: str) -> Response:
    project = visible_project(project_ref)
    service = package_services()
    package_file = service.find_file(
        project, package_name, package_version, file_path, judge=partial(authorize_package, project, action=Action.READ_PACKAGE)
    )
    return file_response(service, package_file)


@bp.get(PACKAGE)
def download_archive(project_ref: str, package_name: str, package_version: str) -> Response:
    """Every file of the package (the newest of each path) as one streamed zip."""
    project = visible_project(project_ref)
    service = package_services()
    package = authorize_package(project, service.find_package(project, package_name, package_version), Action.READ_PACKAGE)
    return archive_response(service, archive_services().archive(package))
