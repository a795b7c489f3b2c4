"""Upload by digest: ``PUT ...?sha256=<hex>`` with no body attaches bytes the same project already
holds, without sending them again; a digest the project does not hold is refused exactly as one
nobody holds, so digests cannot be probed across projects. Filesystem and S3."""
from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

import pytest

from tests.support.storage import MIB, payload, sha256, stored
from tests.support.world import generic_url

WEIGHTS = payload(6 * MIB + 3, seed=11)  # more than one 5 MiB S3 part


@pytest.fixture
def settings(settings, backend_settings):
    return {**settings, **backend_settings, "MAX_FILE_SIZE": 64 * MIB}


def put_digest(client, url, digest, headers):
    return client.put(f"{url}?sha256={digest}", headers=headers)


def test_a_digest_the_project_holds_attaches_its_bytes_without_sending_them(app, client, world):
    project = world.projects["private"]
    first = generic_url(project, "fraud-detector", "1.4.0", "model.onnx")
    assert client.put(first, data=WEIGHTS, headers=world.headers("developer")).status_code == 201
    before = stored(app)

    second = generic_url(project, "fraud-detector", "1.5.0", "weights/model.onnx")
    response = put_digest(client, second, sha256(WEIGHTS), world.headers("developer"))

    assert (response.status_code, response.get_json()) == (201, {"message": "201 Created"})
    after = stored(app)
    assert after.objects == before.objects  # no new bytes
    assert (after.blobs, after.files, after.packages) == (1, 2, 2)
    downloaded = client.get(second, headers=world.headers("guest"))
    assert downloaded.data == WEIGHTS
    assert downloaded.headers["X-Checksum-SHA256"] == sha256(WEIGHTS)


def test_select_package_file_and_status_work_by_digest(client, world):
    project = world.projects["private"]
    client.put(generic_url(project, path="a.bin"), data=b"abc", headers=world.headers("developer"))
    url = generic_url(project, "other", "2.0.0", "b.bin")
    response = client.put(f"{url}?sha256={sha256(b'abc')}&select=package_file&status=hidden", headers=world.headers("developer"))
    assert response.status_code == 200
    assert response.get_json()["file_sha256"] == sha256(b"abc")
    assert response.get_json()["size"] == 3
    listed = client.get(f"/api/v4/projects/{project}/packages?status=hidden", headers=world.headers("developer")).get_json()
    assert [p["name"] for p in listed] == ["other"]


def test_an_uppercase_or_base64_digest_works(client, world):
    project = world.projects["private"]
    client.put(generic_url(project, path="a.bin"), data=b"abc", headers=world.headers("developer"))
    upper = put_digest(client, generic_url(project, path="b.bin"), sha256(b"abc").upper(), world.headers("developer"))
    assert upper.status_code == 201
    b64 = quote(base64.b64encode(hashlib.sha256(b"abc").digest()).decode(), safe="")
    assert put_digest(client, generic_url(project, path="c.bin"), b64, world.headers("developer")).status_code == 201


def test_a_digest_held_only_by_another_project_is_refused_like_an_unknown_one(app, client, world):
    secret = b"the private project's weights"
    private, public = world.projects["private"], world.projects["public"]
    assert client.put(generic_url(private, path="secret.bin"), data=secret, headers=world.headers("owner")).status_code == 201
    target = generic_url(public, path="copy.bin")

    # The same request id for both: the answer's X-Request-Id echoes it, and nothing else may differ.
    headers = {**world.headers("developer"), "X-Request-Id": "probe"}
    held_elsewhere = put_digest(client, target, sha256(secret), headers)
    held_nowhere = put_digest(client, target, sha256(b"nobody has these bytes"), headers)

    assert held_elsewhere.status_code == held_nowhere.status_code == 404
    assert held_elsewhere.get_json() == held_nowhere.get_json() == {"message": "404 Blob Not Found"}
    assert dict(held_elsewhere.headers) == dict(held_nowhere.headers)
    assert client.get(target, headers=world.headers("owner")).status_code == 404
    assert stored(app).files == 1


def test_the_bytes_of_a_deleted_file_cannot_be_attached(client, world):
    project = world.projects["private"]
    url = generic_url(project, "gone", "1.0.0", "model.bin")
    client.put(url, data=b"old weights", headers=world.headers("developer"))
    [package] = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("owner")).get_json()
    assert client.delete(f"/api/v4/projects/{project}/packages/{package['id']}", headers=world.headers("owner")).status_code == 204

    response = put_digest(client, generic_url(project, "new", "1.0.0", "model.bin"), sha256(b"old weights"), world.headers("developer"))
    assert response.status_code == 404


def test_attaching_needs_the_publish_role(client, world):
    project = world.projects["private"]
    client.put(generic_url(project, path="a.bin"), data=b"abc", headers=world.headers("developer"))
    response = put_digest(client, generic_url(project, path="b.bin"), sha256(b"abc"), world.headers("reporter"))
    assert response.status_code == 403
    anonymous = put_digest(client, generic_url(world.projects["public"], path="b.bin"), sha256(b"abc"), {})
    assert anonymous.status_code == 401


def test_a_malformed_digest_is_a_400(client, world):
    response = put_digest(client, generic_url(world.projects["private"]), "not-a-digest", world.headers("developer"))
    assert response.status_code == 400
    assert response.get_json() == {"error": "sha256 must be a 256-bit digest in hex or base64"}


def test_attaching_respects_the_duplicate_setting(client, world):
    project = world.projects["private"]
    settings = {"generic_duplicates_allowed": False}
    assert client.put(f"/api/v4/projects/{project}", json=settings, headers=world.headers("owner")).status_code == 200
    url = generic_url(project, path="a.bin")
    client.put(url, data=b"abc", headers=world.headers("developer"))
    response = put_digest(client, url, sha256(b"abc"), world.headers("developer"))
    assert response.status_code == 400
    assert response.get_json()["message"] == "400 Bad request - Duplicate package is not allowed"


def test_an_empty_body_without_the_parameter_is_an_empty_file(client, world):
    url = generic_url(world.projects["private"], path="empty.txt")
    assert client.put(url, data=b"", headers=world.headers("developer")).status_code == 201
    assert client.get(url, headers=world.headers("developer")).headers["X-Checksum-SHA256"] == sha256(b"")
