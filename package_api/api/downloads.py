"""Streamed file responses with ``Range``, ``ETag`` and GitLab's checksum header."""
from __future__ import annotations

from flask import Response, request

from ..models import PackageFile
from ..packages import PackageService


def file_response(service: PackageService, package_file: PackageFile) -> Response:
    """Answer GET/HEAD for ``package_file``: 200, 206, 304 or 416, streaming from storage."""
    size, sha256 = package_file.size, package_file.sha256
    etag = f'"{sha256}"'
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{package_file.file_name.rsplit("/", 1)[-1]}"',
        "X-Checksum-SHA256": sha256,
        "ETag": etag,
        "Accept-Ranges": "bytes",
    }
    if request.if_none_match.contains(sha256):
        return Response(status=304, headers=headers)

    start, length, status = 0, size, 200
    requested = request.range
    if_range = request.headers.get("If-Range")
    if requested is not None and len(requested.ranges) == 1 and (if_range is None or if_range == etag):
        bounds = requested.range_for_length(size)
        if bounds is None:
            headers["Content-Range"] = f"bytes */{size}"
            return Response(status=416, headers=headers)
        start, stop = bounds
        length, status = stop - start, 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status=status, headers=headers)
    reader = service.open_file(package_file, start, length)
    return Response(reader, status=status, headers=headers, direct_passthrough=True)
