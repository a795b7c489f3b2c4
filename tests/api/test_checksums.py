"""Checksums end to end: an upload may declare its SHA-256 (``X-Checksum-SHA256``) and its MD5
(``Content-MD5``, as S3 takes it); bytes that do not match are refused with a 400 naming both
digests, and nothing is stored. Against the filesystem store and a real S3 server."""
from __future__ import annotations

import base64
import hashlib

import pytest

from tests.support.storage import MIB, NOTHING, md5_b64, payload, sha256, stored
from tests.support.world import generic_url

#: Two and a bit 5 MiB parts: on S3 a mismatch is found after a multipart upload went up.
BIG = 11 * MIB + 7


@pytest.fixture
def settings(settings, backend_settings):
    return {**settings, **backend_settings, "MAX_FILE_SIZE": 64 * MIB}


@pytest.fixture
def url(world):
    return generic_url(world.projects["private"], "fraud-detector", "1.4.0", "weights/model.onnx")


@pytest.mark.parametrize("size", [0, 1000, BIG], ids=["empty", "small", "multipart"])
def test_declared_digests_that_match_are_accepted(client, world, url, size):
    data = payload(size, seed=1)
    headers = {**world.headers("developer"), "X-Checksum-SHA256": sha256(data), "Content-MD5": md5_b64(data)}
    assert client.put(url, data=data, headers=headers).status_code == 201
    got = client.get(url, headers=world.headers("guest"))
    assert got.data == data
    assert got.headers["X-Checksum-SHA256"] == sha256(data)
    assert got.headers["ETag"] == f'"{sha256(data)}"'


def test_a_base64_sha256_and_a_hex_md5_are_accepted_too(client, world, url):
    data = b"weights"
    headers = {
        **world.headers("developer"),
        "X-Checksum-SHA256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
        "Content-MD5": hashlib.md5(data).hexdigest().upper(),
    }
    assert client.put(url, data=data, headers=headers).status_code == 201


@pytest.mark.parametrize("size", [1000, BIG], ids=["small", "multipart"])
def test_a_sha256_mismatch_is_a_400_naming_both_digests_and_stores_nothing(app, client, world, url, size):
    data = payload(size, seed=2)
    declared = sha256(b"what the client meant to send")
    response = client.put(url, data=data, headers={**world.headers("developer"), "X-Checksum-SHA256": declared})

    assert response.status_code == 400
    message = response.get_json()["message"]
    assert message.startswith("400 Bad request - SHA-256 mismatch")
    assert declared in message and sha256(data) in message
    assert stored(app) == NOTHING
    assert client.get(url, headers=world.headers("developer")).status_code == 404


def test_an_md5_mismatch_is_a_400_naming_both_digests_and_stores_nothing(app, client, world, url):
    data = payload(3000, seed=3)
    declared = md5_b64(b"other bytes")
    response = client.put(url, data=data, headers={**world.headers("developer"), "Content-MD5": declared})

    assert response.status_code == 400
    message = response.get_json()["message"]
    assert "MD5 mismatch" in message
    assert base64.b64decode(declared).hex() in message and hashlib.md5(data).hexdigest() in message
    assert stored(app) == NOTHING


def test_a_mismatch_on_a_later_file_keeps_the_earlier_ones(app, client, world):
    project = world.projects["private"]
    good = generic_url(project, "m", "1.0.0", "a.bin")
    bad = generic_url(project, "m", "1.0.0", "b.bin")
    assert client.put(good, data=b"aaa", headers=world.headers("developer")).status_code == 201
    before = stored(app)
    headers = {**world.headers("developer"), "X-Checksum-SHA256": sha256(b"aaa")}
    assert client.put(bad, data=b"bbb", headers=headers).status_code == 400
    assert stored(app) == before
    assert client.get(good, headers=world.headers("developer")).data == b"aaa"


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Checksum-SHA256", "abc"), ("X-Checksum-SHA256", "z" * 64), ("Content-MD5", "not base64!")],
)
def test_a_malformed_digest_is_a_400_and_stores_nothing(app, client, world, url, header, value):
    response = client.put(url, data=b"weights", headers={**world.headers("developer"), header: value})
    assert response.status_code == 400
    assert header in response.get_json()["error"]
    assert stored(app) == NOTHING


def test_the_sha256_parameter_with_a_body_is_the_declared_digest(app, client, world, url):
    data = b"weights"
    ok = client.put(f"{url}?sha256={sha256(data)}", data=data, headers=world.headers("developer"))
    assert ok.status_code == 201
    wrong = client.put(f"{url}?sha256={sha256(b'x')}", data=data, headers=world.headers("developer"))
    assert wrong.status_code == 400
    assert sha256(b"x") in wrong.get_json()["message"]
    disagree = client.put(
        f"{url}?sha256={sha256(data)}", data=data, headers={**world.headers("developer"), "X-Checksum-SHA256": sha256(b"x")}
    )
    assert disagree.status_code == 400
