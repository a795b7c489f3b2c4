"""Receiving a file from a request, shared by every upload route (generic packages, ml_models)."""
from __future__ import annotations

from typing import NoReturn

from flask import request

from package_api import names
from package_api.access.models import Project
from package_api.errors import Forbidden, InvalidParameter
from package_api.packages.models import PackageFile, PackageStatus
from package_api.packages.streams import ExpectedDigests
from package_api.storage import Readable
from package_api.web.api import multipart
from package_api.web.api.context import package_services, principal


def receive(
    project: Project, name: str, version: str, path: str, *, status: PackageStatus | None, spaces_in_name: bool = False
) -> PackageFile:
    """Store the request body as ``name/version/path`` (of a ``multipart/form-data`` body, its
    ``file`` field: ``package_api.web.api.multipart``), checked against the digests the request
    declares; or, for ``?sha256=<hex>`` without a body, attach the bytes of the project's file with
    that digest (upload by digest: ``curl -X PUT '...?sha256=<hex>'``). A CI job's token records the
    job as the package's provenance, in the upload's transaction."""
    caller = principal()
    service, creator, job_id = package_services(), caller.user, caller.job_id
    if "sha256" in request.args and not _has_body():
        return service.upload_by_digest(
            project,
            name,
            version,
            path,
            request.args["sha256"],
            creator=creator,
            job_id=job_id,
            status=status,
            spaces_in_name=spaces_in_name,
        )
    body: Readable = request.stream
    content_length = request.content_length
    if multipart.is_multipart(request.content_type):  # curl --form file=@model.onnx: the file field
        body, content_length = multipart.FilePart(request.stream, request.content_type), None
    return service.upload(
        project,
        name,
        version,
        path,
        body,
        creator=creator,
        job_id=job_id,
        status=status,
        content_length=content_length,
        spaces_in_name=spaces_in_name,
        expected=_expected_digests(),
    )


#: GitLab answers ``PUT .../<file>/authorize`` for its Workhorse proxy only: Workhorse asks there
#: before an upload (where to put the bytes, how many it may take), then sends the upload itself to
#: ``PUT .../<file>``; any other client gets a 403 (``require_gitlab_workhorse!``). There is no
#: Workhorse here, so every client gets that answer, with the reason, and nothing is stored (the
#: generic route would otherwise take it for a file ``authorize`` in a folder named like the file).
WORKHORSE_ONLY = (
    "Request should be executed via GitLab Workhorse: upload the file with a PUT to its own URL "
    "(curl --upload-file <path> <URL without /authorize>)"
)


def refuse_workhorse_authorization() -> NoReturn:
    """Answer Workhorse's pre-authorization as GitLab answers a client that is not Workhorse: raise
    ``Forbidden``. The caller checks first that the upload itself would be allowed."""
    raise Forbidden(WORKHORSE_ONLY)


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _expected_digests() -> ExpectedDigests:
    """``X-Checksum-SHA256`` (hex or base64; the ``sha256`` parameter means the same) and
    ``Content-MD5``. Raise ``InvalidParameter`` for a malformed one, or a header and a parameter
    that disagree."""
    header, param = request.headers.get("X-Checksum-SHA256"), request.args.get("sha256")
    sha256 = names.sha256_digest(header, "X-Checksum-SHA256") if header else None
    if param is not None:
        from_param = names.sha256_digest(param)
        if sha256 is not None and sha256 != from_param:
            raise InvalidParameter("sha256", "does not match X-Checksum-SHA256")
        sha256 = from_param
    md5 = request.headers.get("Content-MD5")
    return ExpectedDigests(sha256, names.md5_digest(md5) if md5 else None)
