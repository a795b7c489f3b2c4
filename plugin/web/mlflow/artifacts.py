"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/...``): uploads stream into packages,
listings derive directories from file paths, downloads stream with ``Range`` and ``ETag``.
Multipart uploads are not offered (``server-info`` says so; the endpoints answer 501 with the
words that make the client fall back to one streamed PUT)."""
from __future__ import annotations

import mimetypes

from flask import Response, request

from package_api.plugin_api import file_response, package_services, streams_body
from plugin.tracking.errors import Unsupported
from plugin.web.mlflow import context, entities
from plugin.web.mlflow.blueprints import ARTIFACTS, ROOT
from plugin.web.mlflow.errors import MULTIPART_UNSUPPORTED
from plugin.web.mlflow.params import Params
from plugin.web.mlflow.responses import empty, json_response

#: ``GET /api/3.0/mlflow/server-info``: no multipart, no presigned URLs (uploads stream anyway).
SERVER_INFO = {
    "store_type": "SqlStore",
    "workspaces_enabled": False,
    "trace_archival_enabled": False,
    "multipart_uploads_enabled": False,
    "multipart_downloads_enabled": False,
    "presigned_upload_run_id_supported": False,
    "presigned_upload_model_id_supported": False,
    "features_enabled": {},
}


@ROOT.get("/api/3.0/mlflow/server-info")
def server_info(project_ref: str) -> Response:
    context.readable(project_ref)
    return json_response(SERVER_INFO)


@ARTIFACTS.put("/artifacts/<path:artifact_path>")
@streams_body
def upload_artifact(project_ref: str, artifact_path: str) -> Response:
    project = context.writable(project_ref)
    context.artifacts().upload(
        project,
        artifact_path,
        request.stream,
        content_length=request.content_length,
        creator=context.user(),
        job_id=context.job_id(),
    )
    return Response(b"", status=200)


@ARTIFACTS.get("/artifacts")
def list_artifacts(project_ref: str) -> Response:
    project = context.readable(project_ref)
    path = Params.from_request().string("path") or ""
    return json_response(entities.files(context.artifacts().listing(project, path)))


@ARTIFACTS.get("/artifacts/<path:artifact_path>")
def download_artifact(project_ref: str, artifact_path: str) -> Response:
    project = context.readable(project_ref)
    package_file = context.artifacts().file(project, artifact_path)
    response = file_response(package_services(), package_file)
    name = package_file.file_name.rsplit("/", 1)[-1]
    response.headers["Content-Type"] = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@ARTIFACTS.delete("/artifacts/<path:artifact_path>")
def delete_artifact(project_ref: str, artifact_path: str) -> Response:
    project = context.deletable(project_ref)
    context.artifacts().delete(project, artifact_path)
    return empty()


@ARTIFACTS.post("/mpu/create/<path:artifact_path>")
@ARTIFACTS.post("/mpu/complete/<path:artifact_path>")
@ARTIFACTS.post("/mpu/abort/<path:artifact_path>")
def multipart(project_ref: str, artifact_path: str) -> Response:
    context.writable(project_ref)
    raise Unsupported(MULTIPART_UNSUPPORTED)


@ARTIFACTS.get("/presigned/<path:artifact_path>")
def presigned(project_ref: str, artifact_path: str) -> Response:
    context.readable(project_ref)
    raise Unsupported("Presigned URLs are not supported for the current artifact repository")
