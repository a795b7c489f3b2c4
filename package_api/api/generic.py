"""The generic package API: ``PUT``/``GET`` of files by package name, version and path."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..errors import InvalidParameter
from ..packages import parse_status
from ..policy import Action
from . import entities
from .context import authorized_project, package_services, principal
from .downloads import file_response

bp = Blueprint("generic_packages", __name__, url_prefix="/api/v4")

ROUTE = "/projects/<project:project_ref>/packages/generic/<package_name>/<package_version>/<filepath:file_path>"


@bp.put(ROUTE)
def upload(project_ref: str, package_name: str, package_version: str, file_path: str) -> tuple[Response, int]:
    status = parse_status(request.args.get("status"))
    selected = request.args.get("select")
    if selected not in (None, "package_file"):
        raise InvalidParameter("select", "does not have a valid value")
    project = authorized_project(project_ref, Action.PUBLISH_PACKAGE)
    package_file = package_services().upload(
        project,
        package_name,
        package_version,
        file_path,
        request.stream,
        creator=principal().user,
        status=status,
        content_length=request.content_length,
    )
    if selected:
        return jsonify(entities.uploaded_file(package_file)), 200
    return jsonify(message="201 Created"), 201


@bp.get(ROUTE)
def download(project_ref: str, package_name: str, package_version: str, file_path: str) -> Response:
    project = authorized_project(project_ref, Action.READ_PACKAGE)
    service = package_services()
    return file_response(service, service.find_file(project, package_name, package_version, file_path))
