"""Receiving a file from a request, shared by every upload route (generic packages, ml_models)."""
from __future__ import annotations

from flask import request

from package_api import names
from package_api.access.models import Project
from package_api.errors import InvalidParameter
from package_api.packages.models import PackageFile, PackageStatus
from package_api.packages.streams import ExpectedDigests
from package_api.web.api.context import package_services, principal


def receive(
    project: Project, name: str, version: str, path: str, *, status: PackageStatus | None, spaces_in_name: bool = False
) -> PackageFile:
    """Store the request body as ``name/version/path``, checked against the digests the request
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
    return service.upload(
        project,
        name,
        version,
        path,
        request.stream,
        creator=creator,
        job_id=job_id,
        status=status,
        content_length=request.content_length,
        spaces_in_name=spaces_in_name,
        expected=_expected_digests(),
    )


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
