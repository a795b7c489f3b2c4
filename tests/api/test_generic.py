"""The generic package API through the Flask test client: GitLab's wire format, validation, limits."""
from __future__ import annotations

import hashlib
import io
import os
import tempfile

import pytest
from werkzeug import formparser

from tests.support.world import MAX_FILE_SIZE, generic_url


def _files(client, world, project="private", user="owner"):
    packages = client.get(f"/api/v4/projects/{world.projects[project]}/packages", headers=world.headers(user)).json
    found = []
    for package in packages:
        found += client.get(
            f"/api/v4/projects/{world.projects[project]}/packages/{package['id']}/package_files",
            headers=world.headers(user),
        ).json
    return found


def test_upload_answers_201_created_and_download_returns_the_bytes(client, world):
    url = generic_url(world.projects["private"], "fraud-detector", "1.4.0", "model.onnx")
    r = client.put(url, data=b"weights", headers=world.headers("developer"))
    assert (r.status_code, r.json) == (201, {"message": "201 Created"})

    r = client.get(url, headers=world.headers("guest"))
    assert r.status_code == 200
    assert r.data == b"weights"
    digest = hashlib.sha256(b"weights").hexdigest()
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"] == 'attachment; filename="model.onnx"'
    assert r.headers["X-Checksum-SHA256"] == digest
    assert r.headers["ETag"] == f'"{digest}"'
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Content-Length"] == "7"


def test_select_package_file_returns_the_record(client, world):
    url = generic_url(world.projects["private"], "pkg", "1.0.0", "dir/sub/file.txt") + "?select=package_file"
    r = client.put(url, data=b"abc", headers=world.headers("developer"))
    assert r.status_code == 200
    body = r.json
    assert body["file_name"] == "dir/sub/file.txt"
    assert body["size"] == 3
    assert body["file_sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert body["file_md5"] is None and body["file_sha1"] is None
    assert {"id", "package_id", "created_at", "updated_at"} <= body.keys()


def test_project_can_be_named_by_its_path(client, world):
    r = client.put(generic_url("acme%2Fprivate"), data=b"x", headers=world.headers("developer"))
    assert r.status_code == 201
    r = client.get(generic_url("acme/private"), headers=world.headers("developer"))
    assert r.data == b"x"


def test_head_gives_headers_without_body(client, world):
    url = generic_url(world.projects["private"])
    client.put(url, data=b"0123456789", headers=world.headers("developer"))
    r = client.head(url, headers=world.headers("developer"))
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "10"
    assert r.data == b""


@pytest.mark.parametrize(
    ("range_header", "status", "body", "content_range"),
    [
        ("bytes=2-5", 206, b"2345", "bytes 2-5/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
        ("bytes=20-30", 416, b"", "bytes */10"),
    ],
)
def test_range_requests(client, world, range_header, status, body, content_range):
    url = generic_url(world.projects["private"])
    client.put(url, data=b"0123456789", headers=world.headers("developer"))
    r = client.get(url, headers={**world.headers("developer"), "Range": range_header})
    assert r.status_code == status
    assert r.data == body
    assert r.headers["Content-Range"] == content_range


def test_if_none_match_gives_304(client, world):
    url = generic_url(world.projects["private"])
    client.put(url, data=b"abc", headers=world.headers("developer"))
    etag = client.get(url, headers=world.headers("developer")).headers["ETag"]
    r = client.get(url, headers={**world.headers("developer"), "If-None-Match": etag})
    assert r.status_code == 304 and r.data == b""


def test_duplicates_are_added_and_download_returns_the_newest(client, world):
    url = generic_url(world.projects["private"])
    for body in (b"first", b"second"):
        assert client.put(url, data=body, headers=world.headers("developer")).status_code == 201
    assert client.get(url, headers=world.headers("developer")).data == b"second"
    assert [f["file_name"] for f in _files(client, world)] == ["file.bin", "file.bin"]


def _set(client, world, **settings):
    r = client.put(f"/api/v4/projects/{world.projects['private']}", json=settings, headers=world.headers("maintainer"))
    assert r.status_code == 200, r.json
    return r.json


def test_duplicates_can_be_forbidden_per_project(client, world):
    assert _set(client, world, generic_duplicates_allowed=False)["generic_duplicates_allowed"] is False
    url = generic_url(world.projects["private"])
    assert client.put(url, data=b"first", headers=world.headers("developer")).status_code == 201
    r = client.put(url, data=b"second", headers=world.headers("developer"))
    assert (r.status_code, r.json) == (400, {"message": "400 Bad request - Duplicate package is not allowed"})
    assert client.get(url, headers=world.headers("developer")).data == b"first"
    # Another file name in the same package is not a duplicate.
    other = generic_url(world.projects["private"], path="other.bin")
    assert client.put(other, data=b"x", headers=world.headers("developer")).status_code == 201


def test_exception_regex_inverts_the_duplicate_setting(client, world):
    project = world.projects["private"]
    _set(client, world, generic_duplicates_allowed=False, generic_duplicate_exception_regex="-SNAPSHOT$")
    snapshot = generic_url(project, version="1.0.0-SNAPSHOT")
    assert client.put(snapshot, data=b"a", headers=world.headers("developer")).status_code == 201
    assert client.put(snapshot, data=b"b", headers=world.headers("developer")).status_code == 201

    _set(client, world, generic_duplicates_allowed=True, generic_duplicate_exception_regex="^release$")
    release = generic_url(project, name="release")
    assert client.put(release, data=b"a", headers=world.headers("developer")).status_code == 201
    assert client.put(release, data=b"b", headers=world.headers("developer")).status_code == 400


def test_invalid_exception_regex_is_refused(client, world):
    r = client.put(
        f"/api/v4/projects/{world.projects['private']}",
        json={"generic_duplicate_exception_regex": "(unclosed"},
        headers=world.headers("maintainer"),
    )
    assert r.status_code == 400
    assert r.json == {"error": "generic_duplicate_exception_regex not valid RE2 syntax: missing ): (unclosed"}


def test_package_settings_need_maintainer(client, world):
    r = client.put(
        f"/api/v4/projects/{world.projects['private']}",
        json={"generic_duplicates_allowed": False},
        headers=world.headers("developer"),
    )
    assert r.status_code == 403


def test_file_too_large_stores_nothing(client, world, storage):
    url = generic_url(world.projects["private"])
    r = client.put(url, data=b"x" * (MAX_FILE_SIZE + 1), headers=world.headers("developer"))
    assert (r.status_code, r.json) == (400, {"message": "400 Bad request - File is too large"})
    assert list(storage.keys()) == []
    assert _files(client, world) == []
    exactly = client.put(url, data=b"x" * MAX_FILE_SIZE, headers=world.headers("developer"))
    assert exactly.status_code == 201


def test_file_too_large_without_content_length_is_caught_while_streaming(client, world, storage):
    class Unsized(io.RawIOBase):
        """A body of unknown length, as ``curl -T -`` sends it (chunked)."""

        left = MAX_FILE_SIZE + 65536

        def readable(self):
            return True

        def readinto(self, buffer):
            n = min(len(buffer), self.left)
            buffer[:n] = b"y" * n
            self.left -= n
            return n

    url = generic_url(world.projects["private"])
    r = client.put(
        url,
        headers={**world.headers("developer"), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": io.BufferedReader(Unsized()), "wsgi.input_terminated": True},
    )
    assert r.status_code == 400
    assert r.json["message"] == "400 Bad request - File is too large"
    assert list(storage.keys()) == []
    assert _files(client, world) == []


def test_status_hidden_hides_from_list_but_still_downloads(client, world):
    project = world.projects["private"]
    url = generic_url(project)
    assert client.put(url + "?status=hidden", data=b"h", headers=world.headers("developer")).status_code == 201
    listed = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("developer")).json
    assert listed == []
    hidden = client.get(f"/api/v4/projects/{project}/packages?status=hidden", headers=world.headers("developer")).json
    assert [p["status"] for p in hidden] == ["hidden"]
    assert client.get(url, headers=world.headers("developer")).data == b"h"
    # Uploading again with the default status makes the package visible (GitLab updates it).
    client.put(generic_url(project, path="b.bin") + "?status=default", data=b"d", headers=world.headers("developer"))
    listed = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("developer")).json
    assert [p["status"] for p in listed] == ["default"]


@pytest.mark.parametrize(
    ("query", "error"),
    [("status=deprecated", "status does not have a valid value"), ("select=file", "select does not have a valid value")],
)
def test_bad_query_parameters(client, world, query, error):
    r = client.put(generic_url(world.projects["private"]) + "?" + query, data=b"x", headers=world.headers("developer"))
    assert (r.status_code, r.json) == (400, {"error": error})


BAD_PATHS = [
    ("bad name", "1.0.0", "f", "package_name is invalid"),
    ("pkg%2A", "1.0.0", "f", "package_name is invalid"),
    ("pkg", "1..0", "f", "package_version is invalid"),
    ("pkg", "1.0$", "f", "package_version is invalid"),
    ("pkg", "1.0.0", "~f", "file_name is invalid"),
    ("pkg", "1.0.0", "f~", "file_name is invalid"),
    ("pkg", "1.0.0", "a b", "file_name is invalid"),
    ("pkg", "1.0.0", "../f", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "a/../../f", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "a/%2e%2e/f", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "a/%2E%2E/%2E%2E/f", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "./f", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "a//f", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "/etc/passwd", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "a%5Cb", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "a%00b", "file_name should be a valid file path"),
    ("pkg", "1.0.0", "a%2Fb%2F..%2Fc", "file_name should be a valid file path"),
    # An encoded slash would move where the name or version ends (WSGI decodes it before routing).
    ("pkg", "2.0.1-rc%2F2", "model.onnx", "package_version must not contain an encoded slash (%2F)"),
    ("pkg", "2.0.1-rc%2f2", "model.onnx", "package_version must not contain an encoded slash (%2F)"),
    ("fraud%2Fdetector", "1.0.0", "f", "package_name must not contain an encoded slash (%2F)"),
    # Path segments of their own: no client would ever ask for them by URL.
    (".", "1.0.0", "f", "package_name cannot be '.' or '..'"),
    ("..", "1.0.0", "f", "package_name cannot be '.' or '..'"),
    ("pkg", ".", "f", "package_version cannot be '.' or '..'"),
]


@pytest.mark.parametrize(("name", "version", "path", "error"), BAD_PATHS)
def test_invalid_names_and_paths_are_refused_and_store_nothing(client, world, storage, name, version, path, error):
    url = f"/api/v4/projects/{world.projects['private']}/packages/generic/{name}/{version}/{path}"
    r = client.put(url, data=b"payload", headers=world.headers("developer"))
    assert (r.status_code, r.json) == (400, {"error": error})
    assert list(storage.keys()) == []
    assert _files(client, world) == []
    assert client.get(url, headers=world.headers("developer")).status_code == 400


def test_an_encoded_slash_in_a_project_or_file_path_is_a_slash(client, world):
    encoded = "/api/v4/projects/acme%2Fprivate/packages/generic/pkg/1.0.0/weights%2Fmodel.onnx"

    assert client.put(encoded, data=b"w", headers=world.headers("developer")).status_code == 201
    assert [f["file_name"] for f in _files(client, world)] == ["weights/model.onnx"]
    plain = generic_url(world.projects["private"], path="weights/model.onnx")
    assert client.get(plain, headers=world.headers("developer")).data == b"w"


def test_an_encoded_slash_splitting_a_version_without_a_file_is_refused(client, world, storage):
    url = f"/api/v4/projects/{world.projects['private']}/packages/generic/pkg/2.0.1-rc%2F2"

    r = client.put(url, data=b"w", headers=world.headers("developer"))

    assert (r.status_code, r.json) == (400, {"error": "package_version must not contain an encoded slash (%2F)"})
    assert list(storage.keys()) == []


def test_a_form_upload_stores_the_file_field_streamed_never_the_envelope(client, world, monkeypatch):
    """``curl --form file=@model.onnx``: the ``file`` field's bytes are the file (as GitLab's
    Workhorse takes them), read as they arrive: no temporary file, no form parsing."""
    for spool in ("TemporaryFile", "SpooledTemporaryFile", "NamedTemporaryFile"):
        monkeypatch.setattr(tempfile, spool, lambda *a, **k: pytest.fail("the upload was spooled to a file"))
    monkeypatch.setattr(formparser, "SpooledTemporaryFile", lambda *a, **k: pytest.fail("the form was spooled"))
    monkeypatch.setattr(formparser.FormDataParser, "parse", lambda *a, **k: pytest.fail("the form was parsed"))
    data = os.urandom(3 * 1024 * 100 + 7)  # several chunks of the multipart decoder
    url = generic_url(world.projects["private"], path="model.onnx")

    r = client.put(url, data={"note": "ignored", "file": (io.BytesIO(data), "local-name.onnx")},
                   headers=world.headers("developer"))

    assert (r.status_code, r.json) == (201, {"message": "201 Created"})
    assert client.get(url, headers=world.headers("developer")).data == data
    [stored] = _files(client, world)
    assert (stored["file_name"], stored["size"]) == ("model.onnx", len(data))
    assert stored["file_sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ({"other": (io.BytesIO(b"w"), "m.onnx")}, None, "the multipart/form-data body has no 'file' field"),
        ({"file": [(io.BytesIO(b"a"), "a"), (io.BytesIO(b"b"), "b")]}, None, "more than one 'file' field"),
        (b"--b\r\nno headers end", "multipart/form-data; boundary=b", "the multipart/form-data body is malformed"),
        (b"x", "multipart/form-data", "a multipart/form-data body needs a boundary"),
    ],
    ids=["no file field", "two file fields", "truncated", "no boundary"],
)
def test_a_form_upload_without_one_file_field_stores_nothing(client, world, storage, body, content_type, message):
    headers = {**world.headers("developer"), **({"Content-Type": content_type} if content_type else {})}

    r = client.put(generic_url(world.projects["private"], path="model.onnx"), data=body, headers=headers)

    assert r.status_code == 400 and message in r.json["message"]
    assert list(storage.keys()) == [] and _files(client, world) == []


def test_workhorse_pre_authorization_is_refused_and_stores_nothing(client, world, storage):
    """GitLab answers ``.../<file>/authorize`` for its Workhorse only; it is never a file upload."""
    url = generic_url(world.projects["private"], path="model.onnx") + "/authorize"

    r = client.put(url, data=b"w", headers=world.headers("developer"))
    anonymous = client.put(url, data=b"w")

    assert r.status_code == 403 and r.json["message"].startswith("403 Forbidden - Request should be executed via GitLab Workhorse")
    assert "curl --upload-file" in r.json["message"]
    assert anonymous.status_code == 401
    assert list(storage.keys()) == [] and _files(client, world) == []
    # A file named authorize at the top of a package is a file, as in GitLab.
    top = generic_url(world.projects["private"], path="authorize")
    assert client.put(top, data=b"a", headers=world.headers("developer")).status_code == 201


def test_missing_package_and_file_are_404(client, world):
    project = world.projects["private"]
    r = client.get(generic_url(project, "nope"), headers=world.headers("developer"))
    assert (r.status_code, r.json) == (404, {"message": "404 Package Not Found"})
    client.put(generic_url(project), data=b"x", headers=world.headers("developer"))
    r = client.get(generic_url(project, path="other.bin"), headers=world.headers("developer"))
    assert (r.status_code, r.json) == (404, {"message": "404 Package file Not Found"})
    r = client.get(generic_url(999999), headers=world.headers("root"))
    assert (r.status_code, r.json) == (404, {"message": "404 Project Not Found"})


def test_identical_bytes_are_stored_once(client, world, storage):
    project = world.projects["private"]
    for version in ("1.0.0", "1.0.1", "2.0.0"):
        client.put(generic_url(project, version=version), data=b"same weights", headers=world.headers("developer"))
    assert len(list(storage.keys())) == 1
    for version in ("1.0.0", "1.0.1", "2.0.0"):
        assert client.get(generic_url(project, version=version), headers=world.headers("developer")).data == b"same weights"


def test_unknown_route_answers_gitlab_404(client):
    r = client.get("/api/v4/nothing/here")
    assert (r.status_code, r.json) == (404, {"error": "404 Not Found"})
