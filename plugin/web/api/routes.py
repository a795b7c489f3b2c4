"""The model registry REST API under ``/api/v4/projects/:id/ml/models`` (GitLab offers only GraphQL
here) and GitLab's ``packages/ml_models/:model_version_id/files`` endpoints. Errors use the
``/api/v4`` mapping in ``package_api.web.api.errors``."""
from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, Response, jsonify, request

from package_api.plugin_api import (
    CiJob,
    InvalidParameter,
    Page,
    archive_response,
    archive_services,
    authorized_project,
    base_url,
    file_response,
    package_file_json,
    package_services,
    page_args,
    paginated,
    parse_status,
    principal,
    receive,
    refuse_workhorse_authorization,
    request_body,
    row_id,
    streams_body,
    text_param,
)
from plugin.registry.access import ModelAction
from plugin.registry.models import ModelOrigin, ModelVersion
from plugin.services import card_services, model_services, version_services
from plugin.web.api import entities

bp = Blueprint("model_registry_api", __name__, url_prefix="/api/v4/projects/<project:project_ref>")


def _paginated(items: list[dict[str, Any]], page: Page) -> Response:
    return paginated(items, page, base_url())


def _job(row: ModelVersion) -> CiJob | None:
    """The registered CI job that produced the version (``CardService.job_of``)."""
    return card_services().job_of(row)


# -- models ----------------------------------------------------------------------------------------


@bp.get("/ml/models")
def list_models(project_ref: str) -> Response:
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    number, per_page = page_args(request.args)
    page = model_services().list(
        project,
        search=request.args.get("search") or request.args.get("name"),
        order_by=request.args.get("order_by", "created_at"),
        sort=request.args.get("sort", "desc"),
        page=number,
        per_page=per_page,
    )
    root = base_url()
    return _paginated([entities.model(s, project, root) for s in page.items], page)


@bp.post("/ml/models")
def create_model(project_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, ModelAction.WRITE_MODEL)
    params = request_body()
    name = text_param(params, "name", required=True, keep_blank=True)  # missing, or empty: "is required"
    service = model_services()
    description = text_param(params, "description") or ""
    model = service.create(project, name, description_=description, author=principal().user, origin=ModelOrigin.API)
    return jsonify(entities.model(service.summary(model), project, base_url())), 201


@bp.get("/ml/models/<model_ref>")
def get_model(project_ref: str, model_ref: str) -> Response:
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    service = model_services()
    return jsonify(entities.model(service.summary(service.get(project, model_ref)), project, base_url()))


@bp.put("/ml/models/<model_ref>")
def update_model(project_ref: str, model_ref: str) -> Response:
    project = authorized_project(project_ref, ModelAction.WRITE_MODEL)
    service = model_services()
    params = request_body()
    model = service.update(service.get(project, model_ref), description_=text_param(params, "description", keep_blank=True))
    return jsonify(entities.model(service.summary(model), project, base_url()))


@bp.delete("/ml/models/<model_ref>")
def delete_model(project_ref: str, model_ref: str) -> tuple[str, int]:
    project = authorized_project(project_ref, ModelAction.DELETE_MODEL)
    service = model_services()
    service.delete(service.get(project, model_ref))
    return "", 204


# -- versions --------------------------------------------------------------------------------------


@bp.get("/ml/models/<model_ref>/versions")
def list_versions(project_ref: str, model_ref: str) -> Response:
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    model = model_services().get(project, model_ref)
    number, per_page = page_args(request.args)
    page = version_services().list(
        model,
        search=request.args.get("search"),
        order_by=request.args.get("order_by", "version"),
        sort=request.args.get("sort", "desc"),
        page=number,
        per_page=per_page,
    )
    root = base_url()
    return _paginated([entities.version(v, project, root) for v in page.items], page)


@bp.post("/ml/models/<model_ref>/versions")
def create_version(project_ref: str, model_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, ModelAction.WRITE_MODEL)
    model = model_services().get(project, model_ref)
    params = request_body()
    version = text_param(params, "version", required=True)
    description = text_param(params, "description") or ""
    caller = principal()
    row = version_services().create(
        project,
        model,
        version,
        description_=description,
        author=caller.user,
        job_id=caller.job_id,  # a CI job's token makes this version: its provenance
    )
    return jsonify(entities.version(row, project, base_url(), files=[], ci_job=_job(row))), 201


@bp.get("/ml/models/<model_ref>/versions/<version_ref>")
def get_version(project_ref: str, model_ref: str, version_ref: str) -> Response:
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    versions = version_services()
    # With its model, package and author, in one query when both are names.
    row = versions.find_named(project, model_ref, version_ref)
    if row is None:
        row = versions.get(model_services().get(project, model_ref), version_ref)
    job, aliases = card_services().shown(row)
    return jsonify(entities.version(row, project, base_url(), files=versions.files(row), aliases=aliases, ci_job=job))


@bp.put("/ml/models/<model_ref>/versions/<version_ref>")
def update_version(project_ref: str, model_ref: str, version_ref: str) -> Response:
    project = authorized_project(project_ref, ModelAction.WRITE_MODEL)
    versions = version_services()
    row = versions.get(model_services().get(project, model_ref), version_ref)
    row = versions.update(row, description_=text_param(request_body(), "description", keep_blank=True))
    return jsonify(entities.version(row, project, base_url(), files=versions.files(row), ci_job=_job(row)))


@bp.delete("/ml/models/<model_ref>/versions/<version_ref>")
def delete_version(project_ref: str, model_ref: str, version_ref: str) -> tuple[str, int]:
    project = authorized_project(project_ref, ModelAction.DELETE_MODEL)
    versions = version_services()
    versions.delete(versions.get(model_services().get(project, model_ref), version_ref))
    return "", 204


@bp.post("/ml/models/<model_ref>/versions/<version_ref>/seal")
def seal_version(project_ref: str, model_ref: str, version_ref: str) -> Response:
    """Seal the version (Maintainers): its files never change again and only an Owner deletes it.
    Sealing a sealed version changes nothing and answers the same."""
    project = authorized_project(project_ref, ModelAction.SEAL_VERSION)
    versions = version_services()
    row = versions.get(model_services().get(project, model_ref), version_ref)
    versions.seal(row)
    return jsonify(entities.version(row, project, base_url(), files=versions.files(row), ci_job=_job(row)))


@bp.get("/ml/models/<model_ref>/versions/<version_ref>/files")
def list_files(project_ref: str, model_ref: str, version_ref: str) -> Response:
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    versions = version_services()
    row = versions.get(model_services().get(project, model_ref), version_ref)
    return jsonify([package_file_json(f) for f in versions.files(row)])


@bp.get("/ml/models/<model_ref>/versions/<version_ref>/files/<filepath:file_path>")
def download_version_file(project_ref: str, model_ref: str, version_ref: str, file_path: str) -> Response:
    """One file of a version; ``latest`` names the model's latest version."""
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    row = version_services().resolve(model_services().get(project, model_ref), version_ref)
    service = package_services()
    return file_response(service, service.newest_file(row.package, file_path, spaces_in_name=True))


@bp.get("/ml/models/<model_ref>/versions/<version_ref>/archive")
def download_version_archive(project_ref: str, model_ref: str, version_ref: str) -> Response:
    """Every file of a version as one streamed zip; ``latest`` names the model's latest version."""
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    row = version_services().resolve(model_services().get(project, model_ref), version_ref)
    return archive_response(package_services(), archive_services().archive(row.package))


@bp.delete("/ml/models/<model_ref>/versions/<version_ref>/files")
def delete_files(project_ref: str, model_ref: str, version_ref: str) -> tuple[str, int]:
    """Delete several files at once: ``{"ids": [1, 2]}`` (or ``?ids[]=1&ids[]=2``)."""
    project = authorized_project(project_ref, ModelAction.DELETE_MODEL)
    raw = request_body().get("ids") or request.args.getlist("ids[]") or request.args.getlist("ids")
    if not isinstance(raw, list):
        raise InvalidParameter("ids")
    found = [None if isinstance(i, bool) else row_id(str(i)) for i in raw]
    ids = [i for i in found if i is not None]
    if len(ids) != len(found):
        raise InvalidParameter("ids")
    if not ids:
        raise InvalidParameter("ids", "is missing")
    versions = version_services()
    versions.delete_files(versions.get(model_services().get(project, model_ref), version_ref), ids)
    return "", 204


@bp.delete("/ml/models/<model_ref>/versions/<version_ref>/files/<int:file_id>")
def delete_file(project_ref: str, model_ref: str, version_ref: str, file_id: int) -> tuple[str, int]:
    project = authorized_project(project_ref, ModelAction.DELETE_MODEL)
    versions = version_services()
    versions.delete_files(versions.get(model_services().get(project, model_ref), version_ref), [file_id])
    return "", 204


# -- GitLab's ml_models package files --------------------------------------------------------------

FILES = "/packages/ml_models/<int:version_id>/files/<filepath:file_path>"


@bp.put(FILES)
@streams_body
def upload_file(project_ref: str, version_id: int, file_path: str) -> tuple[Response, int]:
    status = parse_status(request.args.get("status"))
    project = authorized_project(project_ref, ModelAction.WRITE_MODEL)
    row = version_services().get_in_project(project, version_id)
    receive(project, row.model.name, row.version, file_path, status=status, spaces_in_name=True)
    return jsonify(message="201 Created"), 201


@bp.put(f"{FILES}/authorize")
def authorize_file_upload(project_ref: str, version_id: int, file_path: str) -> NoReturn:
    """GitLab Workhorse's pre-authorization of an upload: never a file named ``authorize``."""
    project = authorized_project(project_ref, ModelAction.WRITE_MODEL)
    version_services().get_in_project(project, version_id)
    refuse_workhorse_authorization()


@bp.get(FILES)
def download_file(project_ref: str, version_id: int, file_path: str) -> Response:
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    row = version_services().get_in_project(project, version_id)
    service = package_services()
    return file_response(service, service.newest_file(row.package, file_path, spaces_in_name=True))
