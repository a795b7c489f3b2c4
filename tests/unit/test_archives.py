"""Downloads of a whole package or model version as one streamed zip, and ``latest``. Filesystem
and S3; the model registry plugin is loaded (it is what knows which version is the latest)."""
from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from package_api.storage import StorageError
from tests.support.storage import MIB, payload, sha256
from tests.support.world import create_model, generic_url

BIG = payload(6 * MIB + 5, seed=21)  # a multipart object on S3


@pytest.fixture
def settings(settings, backend_settings):
    return {**settings, **backend_settings, "MAX_FILE_SIZE": 64 * MIB, "PLUGINS": "all"}


@pytest.fixture
def project(world):
    return world.projects["private"]


@pytest.fixture
def model(client, world, project):
    """Model ``fraud-detector``: its SemVer packages are its versions, which ``latest`` knows."""
    return create_model(client, project, "fraud-detector", world.headers("reporter"))


def archive_url(project, name="fraud-detector", version="1.4.0"):
    return f"/api/v4/projects/{project}/packages/generic/{name}/{version}"


def publish(client, world, project, version, files, name="fraud-detector"):
    for path, data in files.items():
        response = client.put(generic_url(project, name, version, path), data=data, headers=world.headers("developer"))
        assert response.status_code == 201, response.get_json()


def unpack(data: bytes) -> tuple[list[str], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every entry's CRC-32 checks
        return archive.namelist(), {name: archive.read(name) for name in archive.namelist()}


def test_a_package_downloads_as_a_zip_whose_entries_check_against_sha256sums(client, world, project):
    files = {"model.onnx": BIG, "config/params.json": b'{"lr": 0.1}', "README.md": b"# card\n", "empty.txt": b""}
    publish(client, world, project, "1.4.0", files)

    response = client.get(archive_url(project), headers=world.headers("guest"))

    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="fraud-detector-1.4.0.zip"'
    assert response.headers["Content-Length"] == str(len(response.data))  # known before the zip is made
    names, contents = unpack(response.data)
    root = "fraud-detector-1.4.0"
    assert names == ["SHA256SUMS", *(f"{root}/{p}" for p in sorted(files))]
    for path, data in files.items():
        assert contents[f"{root}/{path}"] == data
    sums = [line.split("  ") for line in contents["SHA256SUMS"].decode().splitlines()]
    assert sums == [[sha256(files[p]), f"{root}/{p}"] for p in sorted(files)]
    for digest, name in sums:
        assert hashlib.sha256(contents[name]).hexdigest() == digest


def test_the_archive_has_the_newest_file_of_each_path_and_no_deleted_file(client, world, project):
    publish(client, world, project, "1.4.0", {"model.onnx": b"first", "old.bin": b"gone"})
    publish(client, world, project, "1.4.0", {"model.onnx": b"second"})
    [package] = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("owner")).get_json()
    files = client.get(f"/api/v4/projects/{project}/packages/{package['id']}/package_files", headers=world.headers("owner")).get_json()
    old = next(f for f in files if f["file_name"] == "old.bin")
    url = f"/api/v4/projects/{project}/packages/{package['id']}/package_files/{old['id']}"
    assert client.delete(url, headers=world.headers("owner")).status_code == 204

    names, contents = unpack(client.get(archive_url(project), headers=world.headers("guest")).data)
    assert names == ["SHA256SUMS", "fraud-detector-1.4.0/model.onnx"]
    assert contents["fraud-detector-1.4.0/model.onnx"] == b"second"


def test_the_archive_bytes_and_etag_are_stable_and_if_none_match_gives_304(client, world, project):
    publish(client, world, project, "1.4.0", {"a.bin": b"a" * 1000, "b/c.bin": b"c"})
    first = client.get(archive_url(project), headers=world.headers("guest"))
    second = client.get(archive_url(project), headers=world.headers("guest"))
    assert first.data == second.data
    etag = first.headers["ETag"]
    assert etag == second.headers["ETag"] and etag.startswith('"') and not etag.startswith("W/")

    cached = client.get(archive_url(project), headers={**world.headers("guest"), "If-None-Match": etag})
    assert (cached.status_code, cached.data) == (304, b"")
    head = client.head(archive_url(project), headers=world.headers("guest"))
    assert (head.status_code, head.headers["ETag"]) == (200, etag)

    publish(client, world, project, "1.4.0", {"a.bin": b"changed"})
    assert client.get(archive_url(project), headers=world.headers("guest")).headers["ETag"] != etag


def test_an_empty_package_is_a_zip_with_an_empty_manifest(client, world, project):
    created = client.post(f"/api/v4/projects/{project}/ml/models", json={"name": "empty"}, headers=world.headers("reporter"))
    model = created.get_json()
    assert client.post(f"/api/v4/projects/{project}/ml/models/{model['id']}/versions", json={"version": "1.0.0"},
                       headers=world.headers("reporter")).status_code == 201
    response = client.get(archive_url(project, "empty", "1.0.0"), headers=world.headers("guest"))
    names, contents = unpack(response.data)
    assert (names, contents["SHA256SUMS"]) == (["SHA256SUMS"], b"")
    assert response.headers["Content-Length"] == str(len(response.data))


def test_an_archive_needs_read_access_and_a_package(client, world, project):
    publish(client, world, project, "1.4.0", {"a.bin": b"a"})
    assert client.get(archive_url(project), headers=world.headers("outsider")).status_code == 404
    missing = client.get(archive_url(project, version="9.9.9"), headers=world.headers("guest"))
    assert (missing.status_code, missing.get_json()) == (404, {"message": "404 Package Not Found"})


def test_a_stored_file_of_the_wrong_length_breaks_the_download_instead_of_lying(client, world, project, storage):
    publish(client, world, project, "1.4.0", {"a.bin": b"a" * 5000, "b.bin": b"b" * 5000})
    [key] = [k for k in storage.keys() if b"".join(storage.open(k)) == b"b" * 5000]
    storage.put(key, io.BytesIO(b"b" * 4000))  # the store lost the end of the file

    response = client.get(archive_url(project), headers=world.headers("guest"))
    assert response.status_code == 200  # the headers went before the bytes were read...
    assert int(response.headers["Content-Length"]) > 10_000  # ...announcing the whole length...
    with pytest.raises(StorageError):
        response.get_data()  # ...so the stream ends early, without the zip's central directory


# -- latest ---------------------------------------------------------------------------------------

VERSIONS = {"1.0.0": b"one", "1.10.0": b"ten", "1.9.0": b"nine", "2.0.0-rc.1": b"candidate"}


@pytest.fixture
def versions(client, world, project, model):
    for version, data in VERSIONS.items():  # 1.10.0 is not the newest upload, nor the lexically last
        publish(client, world, project, version, {"model.onnx": data, f"notes-{version}.txt": version.encode()})


def test_latest_downloads_a_file_of_the_latest_version(client, world, project, versions):
    # The latest release by semantic-version precedence; a prerelease does not count.
    response = client.get(generic_url(project, "fraud-detector", "latest", "model.onnx"), headers=world.headers("guest"))
    assert (response.status_code, response.data) == (200, b"ten")
    assert response.headers["X-Checksum-SHA256"] == sha256(b"ten")


def test_latest_downloads_the_archive_of_the_latest_version(client, world, project, versions):
    response = client.get(archive_url(project, version="latest"), headers=world.headers("guest"))
    assert response.headers["Content-Disposition"] == 'attachment; filename="fraud-detector-1.10.0.zip"'
    names, contents = unpack(response.data)
    assert names == ["SHA256SUMS", "fraud-detector-1.10.0/model.onnx", "fraud-detector-1.10.0/notes-1.10.0.txt"]
    assert contents["fraud-detector-1.10.0/model.onnx"] == b"ten"


def test_latest_follows_a_new_release(client, world, project, versions):
    publish(client, world, project, "1.11.0", {"model.onnx": b"eleven"})
    url = generic_url(project, "fraud-detector", "latest", "model.onnx")
    assert client.get(url, headers=world.headers("guest")).data == b"eleven"


def test_the_model_registry_api_takes_latest_for_files_and_archives(client, world, project, versions):
    base = f"/api/v4/projects/{project}/ml/models/fraud-detector/versions"
    file = client.get(f"{base}/latest/files/model.onnx", headers=world.headers("guest"))
    assert (file.status_code, file.data) == (200, b"ten")
    by_version = client.get(f"{base}/1.9.0/files/model.onnx", headers=world.headers("guest"))
    assert by_version.data == b"nine"
    archive = client.get(f"{base}/latest/archive", headers=world.headers("guest"))
    assert archive.headers["Content-Disposition"] == 'attachment; filename="fraud-detector-1.10.0.zip"'
    assert unpack(archive.data)[1]["fraud-detector-1.10.0/model.onnx"] == b"ten"
    assert client.get(f"{base}/3.0.0/archive", headers=world.headers("guest")).status_code == 404


def test_a_package_published_as_version_latest_keeps_answering_to_it(client, world, project, versions):
    # GitLab users publish moving "latest" packages: a plain package may be one.
    publish(client, world, project, "latest", {"tool.bin": b"literal"}, name="tool")
    assert client.get(generic_url(project, "tool", "latest", "tool.bin"), headers=world.headers("guest")).data == b"literal"
    # A model's versions are semantic versions: its latest is always the alias.
    url = generic_url(project, "fraud-detector", "latest", "model.onnx")
    refused = client.put(url, data=b"literal", headers=world.headers("developer"))
    assert (refused.status_code, refused.get_json()) == (
        400, {"message": "400 Bad request - fraud-detector is a model: versions must be semantic versions, e.g. 1.4.0"}
    )
    assert client.get(url, headers=world.headers("guest")).data == b"ten"


def test_latest_of_a_name_that_is_no_model_is_not_found(client, world, project):
    publish(client, world, project, "nightly", {"tool.bin": b"x"}, name="tool")
    publish(client, world, project, "1.0.0", {"tool.bin": b"x"}, name="tool")  # a plain SemVer package
    response = client.get(generic_url(project, "tool", "latest", "tool.bin"), headers=world.headers("guest"))
    assert response.status_code == 404


class TestWithoutThePlugin:
    @pytest.fixture
    def settings(self, settings):
        return {**settings, "PLUGINS": "none"}

    def test_latest_is_just_a_version_name(self, client, world, project):
        publish(client, world, project, "1.0.0", {"model.onnx": b"one"})
        assert client.get(generic_url(project, "fraud-detector", "latest", "model.onnx"), headers=world.headers("guest")).status_code == 404
        names, _ = unpack(client.get(archive_url(project, version="1.0.0"), headers=world.headers("guest")).data)
        assert names == ["SHA256SUMS", "fraud-detector-1.0.0/model.onnx"]
