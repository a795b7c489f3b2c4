"""Streamed file responses with ``Range``, ``ETag`` and GitLab's checksum header, redirects to the
store when it serves downloads itself, and streamed package archives."""
from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from flask import Response, current_app, request

from package_api.packages.archives import Archive
from package_api.packages.models import PackageFile
from package_api.packages.service import PackageService
from package_api.packages.streams import MeteredBody


def attachment(name: str) -> str:
    """``Content-Disposition`` for a download named ``name``: GitLab's plain ``filename="..."`` for a
    name of printable ASCII without quotes or backslashes, else an ASCII stand-in and the name itself
    as RFC 6266's ``filename*`` (a header holds Latin-1 at most; MLflow's artifact names hold any)."""
    if all(32 <= ord(c) < 127 and c not in '"\\' for c in name):
        return f'attachment; filename="{name}"'
    stand_in = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{stand_in}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


def file_response(service: PackageService, package_file: PackageFile) -> Response:
    """Answer GET/HEAD for ``package_file``: 200, 206, 302, 304 or 416, streaming from storage.

    With ``S3_REDIRECT_DOWNLOADS`` a GET is a 302 to a presigned URL (the store honours ``Range``
    itself); the redirect carries the same ``X-Checksum-SHA256`` and ``ETag`` as the bytes would.
    """
    size, sha256 = package_file.size, package_file.sha256
    etag = f'"{sha256}"'
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": attachment(package_file.file_name.rsplit("/", 1)[-1]),
        "X-Checksum-SHA256": sha256,
        "ETag": etag,
        "Accept-Ranges": "bytes",
    }
    if request.if_none_match.contains(sha256):
        return Response(status=304, headers=headers)
    if request.method == "GET":
        url = service.download_url(package_file)
        if url is not None:
            # The URL expires soon: no cache may keep the redirect longer than it works.
            redirect = {"Location": url, "Cache-Control": "no-store", "X-Checksum-SHA256": sha256, "ETag": etag}
            return Response(status=302, headers=redirect)

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
    return Response(_metered(reader), status=status, headers=headers, direct_passthrough=True)


def archive_response(service: PackageService, archive: Archive) -> Response:
    """Answer GET/HEAD for a package archive: 200 streaming a zip made as it goes, its length known
    up front (so clients show progress and see a cut download as one), or 304. The ETag is strong:
    the same files give the same bytes."""
    etag = archive.etag
    headers = {
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{archive.filename}"',
        "ETag": f'"{etag}"',
    }
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    headers["Content-Length"] = str(archive.size)
    if request.method == "HEAD":
        return Response(status=200, headers=headers)
    if archive.entries:
        service.note_download(archive.package)
    return Response(_metered(iter(archive)), status=200, headers=headers, direct_passthrough=True)


def _metered(chunks: Iterable[bytes]) -> MeteredBody:
    return MeteredBody(chunks, current_app.extensions["modelshelf.metrics"])
