"""curl against a real ``modelshelf serve``: what the README and GitLab's docs tell people to type."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.live_server import Account, blobs_on_disk, create_account, files_on_disk, gc_dry_run, running_server
from tests.support.servers import Server

pytestmark = pytest.mark.server

CURL = shutil.which("curl") or "/usr/bin/curl"
MIB = 1024 * 1024
NOTHING_TO_COLLECT = "would remove 0 packages, 0 files, 0 blobs, 0 abandoned uploads (0 bytes)"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # the final response's, names lower-cased
    body: bytes
    size_download: int
    verbose: str  # curl's stderr

    def json(self) -> object:
        return json.loads(self.body)


def curl(*args: str, input: bytes | None = None) -> Reply:
    """Run curl with ``args``; return the final response (after any ``100 Continue``)."""
    with tempfile.TemporaryDirectory() as tmp:
        head, body = Path(tmp) / "headers", Path(tmp) / "body"
        result = subprocess.run(
            [CURL, "--silent", "--show-error", "--dump-header", str(head), "--output", str(body),
             "--write-out", "%{http_code} %{size_download}", *args],
            input=input,
            capture_output=True,
            timeout=120,
        )
        assert result.returncode == 0, f"curl failed ({result.returncode}): {result.stderr.decode()}"
        status, size_download = result.stdout.decode().split()
        blocks = [b for b in head.read_bytes().decode("latin-1").split("\r\n\r\n") if b.strip()]
        headers: dict[str, str] = {}
        for line in blocks[-1].split("\r\n")[1:] if blocks else []:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Reply(int(status), headers, body.read_bytes() if body.exists() else b"",
                     int(size_download), result.stderr.decode(errors="replace"))


def auth(account: Account) -> list[str]:
    return ["--header", f"PRIVATE-TOKEN: {account.token}"]


def generic(account: Account, project: int | str, path: str, name: str = "fraud-detector", version: str = "1.4") -> str:
    return f"{account.server.api}/projects/{project}/packages/generic/{name}/{version}/{path}"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def packages(account: Account, project: int) -> list[dict[str, object]]:
    reply = curl(*auth(account), f"{account.server.api}/projects/{project}/packages")
    assert reply.status == 200, reply.body
    return reply.json()  # type: ignore[return-value]


def package_files(account: Account, project: int, package_id: object) -> list[dict[str, object]]:
    reply = curl(*auth(account), f"{account.server.api}/projects/{project}/packages/{package_id}/package_files")
    assert reply.status == 200, reply.body
    return reply.json()  # type: ignore[return-value]


# -- one server for the module (20 GiB default limit) ---------------------------------------------


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with running_server(tmp_path_factory.mktemp("curl") / "data") as server:
        yield create_account(server)


@pytest.fixture
def project(account: Account) -> int:
    return account.create_project()[0]


def test_upload_with_private_token_header(account: Account, project: int, tmp_path: Path) -> None:
    model = write(tmp_path, "model.onnx", os.urandom(4096))

    reply = curl(*auth(account), "--upload-file", str(model), generic(account, project, "model.onnx"))

    assert reply.status == 201
    assert reply.json() == {"message": "201 Created"}
    [package] = packages(account, project)
    assert (package["name"], package["version"], package["package_type"]) == ("fraud-detector", "1.4", "generic")


def test_basic_auth_to_encoded_path_with_subfolder_returns_the_file_record(account: Account, tmp_path: Path) -> None:
    project_id, full_path = account.create_project()
    data = os.urandom(3000)
    model = write(tmp_path, "file", data)
    url = generic(account, full_path.replace("/", "%2F"), "sub/dir/file") + "?select=package_file"

    reply = curl("--user", f"any:{account.token}", "--upload-file", str(model), url)

    assert reply.status == 200
    record = reply.json()
    assert isinstance(record, dict)
    assert record["file_name"] == "sub/dir/file"
    assert record["size"] == len(data)
    assert record["file_sha256"] == hashlib.sha256(data).hexdigest()
    [package] = packages(account, project_id)
    assert record["package_id"] == package["id"]
    [listed] = package_files(account, project_id, package["id"])
    assert listed["id"] == record["id"]
    assert listed["file_name"] == "sub/dir/file"


def test_an_encoded_slash_never_splits_a_name_or_a_version(account: Account, tmp_path: Path) -> None:
    """gunicorn decodes ``%2F`` before routing: ``2.0.1-rc%2F2/model.onnx`` must not become version
    ``2.0.1-rc`` and file ``2/model.onnx``. In a project or file path it is a slash."""
    project_id, full_path = account.create_project()
    model = write(tmp_path, "model.onnx", b"weights")
    upload = ["--path-as-is", *auth(account), "--upload-file", str(model)]

    split_version = curl(*upload, generic(account, project_id, "model.onnx", version="2.0.1-rc%2F2"))
    split_name = curl(*upload, generic(account, project_id, "model.onnx", name="fraud%2Fdetector", version="2.0.1"))
    dots = {name: curl(*upload, generic(account, project_id, "model.onnx", name=name, version="2.0.1"))
            for name in (".", "..")}

    refused = "must not contain an encoded slash (%2F)"
    assert (split_version.status, split_version.json()) == (400, {"error": f"package_version {refused}"})
    assert (split_name.status, split_name.json()) == (400, {"error": f"package_name {refused}"})
    assert {name: (r.status, r.json()) for name, r in dots.items()} == {
        name: (400, {"error": "package_name cannot be '.' or '..'"}) for name in (".", "..")
    }
    assert packages(account, project_id) == []
    whole = curl(*upload, generic(account, full_path.replace("/", "%2F"), "weights%2Fmodel.onnx", version="2.0.1-rc"))
    assert whole.status == 201
    [package] = packages(account, project_id)
    assert (package["name"], package["version"]) == ("fraud-detector", "2.0.1-rc")
    assert [f["file_name"] for f in package_files(account, project_id, package["id"])] == ["weights/model.onnx"]


def test_a_form_upload_stores_the_file_and_authorize_stores_nothing(account: Account, project: int, tmp_path: Path) -> None:
    """``curl --form file=@model.onnx`` (the style some of GitLab's docs show) stores the file, not
    the form around it; ``.../model.onnx/authorize`` is Workhorse's pre-authorization, never a file."""
    data = os.urandom(300_000)
    model = write(tmp_path, "model.onnx", data)

    form = curl(*auth(account), "--request", "PUT", "--form", f"file=@{model}", generic(account, project, "model.onnx"))
    authorize = curl(*auth(account), "--upload-file", str(model), generic(account, project, "card.md/authorize"))

    assert (form.status, form.json()) == (201, {"message": "201 Created"})
    assert curl(*auth(account), generic(account, project, "model.onnx")).body == data
    assert authorize.status == 403
    assert str(authorize.json()).startswith("{'message': '403 Forbidden - Request should be executed via GitLab Workhorse")
    [package] = packages(account, project)
    assert [(f["file_name"], f["size"]) for f in package_files(account, project, package["id"])] == [("model.onnx", len(data))]


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(lambda token: (["--header", f"Authorization: Bearer {token}"], ""), id="bearer"),
        pytest.param(lambda token: ([], f"?private_token={token}"), id="query"),
    ],
)
def test_upload_with_other_token_transports(
    account: Account, project: int, tmp_path: Path, credential: Callable[[str], tuple[list[str], str]]
) -> None:
    data = os.urandom(1000)
    args, query = credential(account.token)
    url = generic(account, project, "w.bin") + query

    reply = curl(*args, "--upload-file", str(write(tmp_path, "w.bin", data)), url)

    assert reply.status == 201, reply.body
    assert curl(*args, url).body == data


def test_chunked_upload_from_stdin_stores_the_exact_bytes(account: Account, project: int) -> None:
    data = os.urandom(3 * MIB + 123)  # several chunks, and no Content-Length to check up front
    url = generic(account, project, "piped.bin")

    reply = curl("--verbose", *auth(account), "--upload-file", "-", url, input=data)

    assert reply.status == 201, reply.body
    assert "Transfer-Encoding: chunked" in reply.verbose  # really the chunked path
    assert curl(*auth(account), url).body == data
    [package] = packages(account, project)
    [listed] = package_files(account, project, package["id"])
    assert (listed["size"], listed["file_sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_expect_100_continue_is_answered(account: Account, project: int, tmp_path: Path) -> None:
    model = write(tmp_path, "large.bin", os.urandom(MIB + MIB // 2))  # curl asks first above 1 MiB
    url = generic(account, project, "large.bin")

    reply = curl("--verbose", *auth(account), "--upload-file", str(model), url)

    assert "Expect: 100-continue" in reply.verbose
    assert "HTTP/1.1 100 Continue" in reply.verbose
    assert reply.status == 201


def test_download_gives_identical_bytes_and_headers(account: Account, project: int, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    url = generic(account, project, "weights/model.onnx")
    assert curl(*auth(account), "--upload-file", str(write(tmp_path, "m", data)), url).status == 201
    sha256 = hashlib.sha256(data).hexdigest()

    reply = curl(*auth(account), url)

    assert reply.status == 200
    assert reply.body == data
    assert reply.headers["content-disposition"] == 'attachment; filename="model.onnx"'
    assert reply.headers["x-checksum-sha256"] == sha256
    assert reply.headers["etag"] == f'"{sha256}"'
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["content-length"] == str(len(data))


def test_range_request_gives_exactly_those_bytes(account: Account, project: int, tmp_path: Path) -> None:
    data = os.urandom(1000)
    url = generic(account, project, "model.onnx")
    curl(*auth(account), "--upload-file", str(write(tmp_path, "m", data)), url)

    reply = curl(*auth(account), "--range", "10-19", url)

    assert reply.status == 206
    assert reply.body == data[10:20]
    assert reply.headers["content-range"] == f"bytes 10-19/{len(data)}"


def test_head_gives_headers_and_no_body(account: Account, project: int, tmp_path: Path) -> None:
    data = os.urandom(5000)
    url = generic(account, project, "model.onnx")
    curl(*auth(account), "--upload-file", str(write(tmp_path, "m", data)), url)

    reply = curl(*auth(account), "--head", url)

    assert reply.status == 200
    assert reply.size_download == 0
    assert reply.headers["content-length"] == str(len(data))
    assert reply.headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()


def test_wrong_token_is_refused(account: Account, project: int, tmp_path: Path) -> None:
    model = write(tmp_path, "m", b"weights")
    url = generic(account, project, "model.onnx")
    wrong = ["--header", "PRIVATE-TOKEN: mspat-not-a-real-token"]

    put = curl(*wrong, "--upload-file", str(model), url)
    get = curl(*wrong, url)

    assert (put.status, put.json()) == (401, {"message": "401 Unauthorized"})
    assert (get.status, get.json()) == (401, {"message": "401 Unauthorized"})
    assert packages(account, project) == []


def test_private_project_without_token(account: Account, project: int, tmp_path: Path) -> None:
    url = generic(account, project, "model.onnx")
    curl(*auth(account), "--upload-file", str(write(tmp_path, "m", b"weights")), url)

    get = curl(url)
    put = curl("--upload-file", str(write(tmp_path, "n", b"other")), url)

    assert (get.status, get.json()) == (404, {"message": "404 Project Not Found"})
    assert (put.status, put.json()) == (401, {"message": "401 Unauthorized"})
    assert curl(*auth(account), url).body == b"weights"


# -- a server of its own per test, with a 1 MiB limit ---------------------------------------------

TRAVERSALS = [
    "../x",
    "a/%2e%2e/x",
    "a/%2E%2E/%2E%2E/x",
    "../../../../../../etc/passwd",
    "..%5Cx",
    "a%5C..%5Cx",
    "x%00.bin",
    "/x",  # the URL has ``1.0.0//x``: an empty segment
    "%2Fetc%2Fpasswd",
    "a//x",
    "./x",
]


@pytest.fixture
def limited(serve) -> Account:  # type: ignore[no-untyped-def]
    return create_account(serve({"MAX_FILE_SIZE": MIB}))


def assert_nothing_half_stored(server: Server) -> None:
    assert gc_dry_run(server) == NOTHING_TO_COLLECT
    assert files_on_disk(server) == []


@pytest.mark.slow
def test_traversal_is_refused_and_nothing_is_stored(limited: Account, tmp_path: Path) -> None:
    project, _ = limited.create_project()
    model = write(tmp_path, "m", b"not where it belongs")

    put = {path: curl("--path-as-is", *auth(limited), "--upload-file", str(model),
                      generic(limited, project, path, version="1.0.0")) for path in TRAVERSALS}
    get = {path: curl("--path-as-is", *auth(limited), generic(limited, project, path, version="1.0.0"))
           for path in TRAVERSALS}

    assert {path: reply.status for path, reply in put.items()} == {path: 400 for path in TRAVERSALS}
    assert {path: reply.status for path, reply in get.items()} == {path: 400 for path in TRAVERSALS}
    assert all(reply.json() == {"error": "file_name should be a valid file path"} for reply in put.values())
    assert packages(limited, project) == []
    assert_nothing_half_stored(limited.server)
    # The same URLs with an honest path do store: the refusals above were about the paths.
    honest = curl(*auth(limited), "--upload-file", str(model), generic(limited, project, "a/x", version="1.0.0"))
    assert honest.status == 201
    assert [p.read_bytes() for p in blobs_on_disk(limited.server)] == [b"not where it belongs"]


@pytest.mark.slow
def test_size_limit_refuses_large_uploads_and_stores_nothing(limited: Account, tmp_path: Path) -> None:
    project, _ = limited.create_project()
    too_large = os.urandom(2 * MIB)
    refusal = {"message": "400 Bad request - File is too large"}

    declared = curl(*auth(limited), "--upload-file", str(write(tmp_path, "big", too_large)),
                    generic(limited, project, "declared.bin"))
    chunked = curl(*auth(limited), "--upload-file", "-", generic(limited, project, "chunked.bin"),
                   input=too_large)

    assert (declared.status, declared.json()) == (400, refusal)
    assert (chunked.status, chunked.json()) == (400, refusal)
    assert packages(limited, project) == []
    assert_nothing_half_stored(limited.server)

    # The limit itself is allowed, and then the store holds exactly that one blob.
    at_limit = os.urandom(MIB)
    fits = curl(*auth(limited), "--upload-file", "-", generic(limited, project, "fits.bin"), input=at_limit)
    assert fits.status == 201
    assert [p.read_bytes() for p in blobs_on_disk(limited.server)] == [at_limit]
    assert gc_dry_run(limited.server) == NOTHING_TO_COLLECT


def test_a_package_protection_rule_with_curl(account: Account, project: int, tmp_path: Path) -> None:
    rules = f"{account.server.api}/projects/{project}/packages/protection/rules"
    created = curl(*auth(account), "--header", "Content-Type: application/json", "--data",
                   json.dumps({"package_name_pattern": "fraud-*", "package_type": "generic",
                               "minimum_access_level_for_push": "admin"}), rules)
    assert created.status == 201, created.body
    rule = created.json()
    assert isinstance(rule, dict) and rule["minimum_access_level_for_push"] == "admin"
    model = write(tmp_path, "model.onnx", os.urandom(4096))

    refused = curl(*auth(account), "--upload-file", str(model), generic(account, project, "model.onnx"))

    assert refused.status == 403
    message = refused.json()["message"]  # type: ignore[index]
    assert f"rule {rule['id']}" in message and "'fraud-*'" in message and "admin" in message
    assert packages(account, project) == []
    listed = curl(*auth(account), rules)
    assert listed.status == 200 and listed.json() == [rule]
    assert curl(*auth(account), "--request", "DELETE", f"{rules}/{rule['id']}").status == 204
    assert curl(*auth(account), "--upload-file", str(model), generic(account, project, "model.onnx")).status == 201
