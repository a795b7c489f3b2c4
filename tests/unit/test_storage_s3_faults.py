"""The S3 store when S3 fails, and the generic package API on top of a real S3 store (SeaweedFS).

An unreachable or misconfigured store must answer promptly with ``StorageUnavailable`` (503 over
HTTP) and leave nothing behind; a working one must give back the bytes and keep identical bytes once.
"""
from __future__ import annotations

import gc
import hashlib
import io
import mmap
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from minio.error import ServerError
from werkzeug.exceptions import ClientDisconnected

from package_api.storage import BlobNotFound, BlobStorage, StorageUnavailable
from package_api.storage.s3 import S3Storage
from tests.support.databases import database_settings
from tests.support.servers import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFS, free_port
from tests.support.world import MAX_FILE_SIZE, World, generic_url

pytestmark = pytest.mark.s3

MIB = 1024 * 1024
#: Short enough that a store that does not answer fails the test run in seconds, not minutes.
TIMEOUT = 2.0


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def dead_endpoint() -> str:
    """``host:port`` where nothing listens: a port the OS just handed out and took back."""
    return f"127.0.0.1:{free_port()}"


def base_settings(tmp_path: Path) -> dict[str, object]:
    data_dir = tmp_path / "data"
    return {"DATA_DIR": str(data_dir), "MAX_FILE_SIZE": MAX_FILE_SIZE, "SECRET_KEY": "test", **database_settings(data_dir, reuse=True)}


# -- the store itself -----------------------------------------------------------------------------


def unreachable_store() -> S3Storage:
    return S3Storage(dead_endpoint(), "modelshelf", S3_ACCESS_KEY, S3_SECRET_KEY, timeout=TIMEOUT)


def test_an_unreachable_store_raises_storage_unavailable_on_put() -> None:
    with pytest.raises(StorageUnavailable):
        unreachable_store().put("blobs/ab/key", io.BytesIO(b"weights"))


def test_an_unreachable_store_raises_storage_unavailable_on_open() -> None:
    store = unreachable_store()
    with pytest.raises(StorageUnavailable):
        store.open("blobs/ab/key")
    with pytest.raises(StorageUnavailable):
        store.open("blobs/ab/key", 0, 0)


def test_an_unreachable_store_raises_storage_unavailable_on_size() -> None:
    with pytest.raises(StorageUnavailable):
        unreachable_store().size("blobs/ab/key")


def test_an_unreachable_store_raises_storage_unavailable_everywhere_else() -> None:
    store = unreachable_store()
    with pytest.raises(StorageUnavailable):
        store.delete("blobs/ab/key")  # not "missing, so fine": the store did not say so
    with pytest.raises(StorageUnavailable):
        list(store.keys())
    with pytest.raises(StorageUnavailable):
        store.check()


@pytest.fixture
def wrong_secret_store(seaweedfs: SeaweedFS, s3_settings: dict[str, object]) -> S3Storage:
    return S3Storage(seaweedfs.endpoint, str(s3_settings["S3_BUCKET"]), S3_ACCESS_KEY, "not-the-secret", timeout=TIMEOUT)


def test_a_wrong_secret_key_raises_storage_unavailable(wrong_secret_store: S3Storage) -> None:
    with pytest.raises(StorageUnavailable):
        wrong_secret_store.put("blobs/ab/key", io.BytesIO(b"weights"))
    with pytest.raises(StorageUnavailable):
        wrong_secret_store.check()


def test_a_wrong_secret_key_is_not_mistaken_for_a_missing_blob(
    seaweedfs: SeaweedFS, s3_settings: dict[str, object], wrong_secret_store: S3Storage
) -> None:
    good = S3Storage(seaweedfs.endpoint, str(s3_settings["S3_BUCKET"]), S3_ACCESS_KEY, S3_SECRET_KEY, timeout=TIMEOUT)
    good.put("blobs/ab/key", io.BytesIO(b"weights"))
    for key in ("blobs/ab/key", "blobs/ab/missing"):
        with pytest.raises(StorageUnavailable):
            wrong_secret_store.open(key)
        with pytest.raises(StorageUnavailable):
            wrong_secret_store.size(key)
    with pytest.raises(StorageUnavailable):
        wrong_secret_store.delete("blobs/ab/key")
    assert b"".join(good.open("blobs/ab/key")) == b"weights"  # nothing was deleted


def test_a_working_store_reports_missing_blobs_as_missing(s3_settings: dict[str, object], seaweedfs: SeaweedFS) -> None:
    store = S3Storage(seaweedfs.endpoint, str(s3_settings["S3_BUCKET"]), S3_ACCESS_KEY, S3_SECRET_KEY, timeout=TIMEOUT)
    with pytest.raises(BlobNotFound):
        store.size("blobs/ab/missing")


def test_the_parts_of_an_upload_go_unsigned_and_two_at_a_time(
    s3_settings: dict[str, object], seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each PUT of an upload's bytes is a URL the server presigned (the payload unsigned: minio's
    own calls would SHA-256 every part again over plain HTTP, MD5 it over HTTPS), and two parts are
    in flight at once; the bytes read back whole, and a part the store refuses fails the upload."""
    store = S3Storage(
        seaweedfs.endpoint, str(s3_settings["S3_BUCKET"]), S3_ACCESS_KEY, S3_SECRET_KEY, timeout=TIMEOUT, part_size=5 * MIB
    )
    puts: list[str] = []
    in_flight, most = 0, 0
    lock = threading.Lock()
    urlopen = store._http.urlopen

    def recording_urlopen(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        if method != "PUT" or "/blobs/" not in url:  # not the bucket's creation
            return urlopen(method, url, *args, **kwargs)
        with lock:
            puts.append(url)
            in_flight += 1
            most = max(most, in_flight)
        try:
            time.sleep(0.05)  # as a store over a network would: the next part is sent meanwhile
            return urlopen(method, url, *args, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(store._http, "urlopen", recording_urlopen)
    data = payload(4 * 5 * MIB + 123)
    assert store.put("blobs/ab/parts", io.BytesIO(data)) == len(data)
    reader = store.open("blobs/ab/parts")
    assert b"".join(reader) == data
    assert len(puts) == 5 and all("partNumber=" in url and "X-Amz-Signature=" in url for url in puts)
    assert most == 2

    small = payload(1000, seed=1)
    assert store.put("blobs/ab/small", io.BytesIO(small)) == len(small)
    assert "X-Amz-Signature=" in puts[-1] and "partNumber=" not in puts[-1]
    assert b"".join(store.open("blobs/ab/small")) == small

    other = S3Storage(seaweedfs.endpoint, "no-such-bucket-here", S3_ACCESS_KEY, S3_SECRET_KEY, timeout=TIMEOUT, part_size=5 * MIB)
    other._bucket_ready = True  # as if it had been there: the PUTs themselves are refused
    with pytest.raises(BlobNotFound):
        other.put("blobs/ab/refused", io.BytesIO(small))


class _CutStream:
    """A client body that fails after ``size`` bytes, as a client that goes away mid-upload."""

    def __init__(self, size: int) -> None:
        self._data = io.BytesIO(payload(size, seed=5))

    def read(self, size: int = -1) -> bytes:
        data = self._data.read(min(size, MIB) if size > 0 else MIB)
        if not data:
            raise ClientDisconnected()
        return data

    def readinto(self, view: memoryview) -> int:
        got = self._data.readinto(view[:MIB])
        if not got:
            raise ClientDisconnected()
        return got


def _part_buffers_alive() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, mmap.mmap))


@pytest.mark.parametrize("failure", ["client", "store"])
def test_a_failed_upload_leaves_nothing_and_lets_go_of_its_part_buffers(
    s3_settings: dict[str, object], seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """A client gone mid-upload (after two parts went up) or a part the store refuses: no object, no
    multipart upload left, and the part buffers are freed when the failure is handled, not at the
    garbage collector's next full pass (the exception kept in the reader and in the part sender made
    a cycle through the frames of its traceback: 20 MiB held per failed upload here, 64 MiB with the
    default parts)."""
    store = S3Storage(
        seaweedfs.endpoint, str(s3_settings["S3_BUCKET"]), S3_ACCESS_KEY, S3_SECRET_KEY, timeout=TIMEOUT, part_size=5 * MIB
    )
    key = f"blobs/ab/failed-{failure}"
    if failure == "store":
        put_bytes = store._put_bytes

        def refusing(key: str, data: memoryview, query: Any = None) -> str:
            if query is not None and query.get("partNumber") == "2":
                raise ServerError("S3 answered 500 to a PUT", 500)
            return put_bytes(key, data, query)

        monkeypatch.setattr(store, "_put_bytes", refusing)
    store.check()  # the bucket made (its creation's own exceptions are not what is measured)
    gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        before = _part_buffers_alive()
        for _ in range(3):
            with pytest.raises(ClientDisconnected if failure == "client" else StorageUnavailable):
                store.put(key, _CutStream(12 * MIB) if failure == "client" else io.BytesIO(payload(17 * MIB)))
        assert _part_buffers_alive() == before
    finally:
        if collecting:
            gc.enable()
    with pytest.raises(BlobNotFound):
        store.size(key)
    assert [r.key for r in store.remnants("blobs/ab/failed-")] == []


# -- the HTTP API over a dead store ---------------------------------------------------------------


class TestUploadWhenTheStoreIsDown:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> dict[str, object]:
        return {
            **base_settings(tmp_path),
            "STORAGE": "s3",
            "S3_ENDPOINT": dead_endpoint(),
            "S3_BUCKET": "modelshelf",
            "S3_ACCESS_KEY": S3_ACCESS_KEY,
            "S3_SECRET_KEY": S3_SECRET_KEY,
        }

    def test_an_upload_answers_503_and_records_no_package(self, client: FlaskClient, world: World) -> None:
        project = world.projects["private"]
        response = client.put(generic_url(project), data=b"weights", headers=world.headers("developer"))
        assert response.status_code == 503
        assert response.get_json()["message"]

        listed = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("owner"))
        assert listed.status_code == 200
        assert listed.get_json() == []
        download = client.get(generic_url(project), headers=world.headers("owner"))
        assert download.status_code == 404

    def test_an_upload_with_basic_auth_answers_503_too(self, client: FlaskClient, world: World) -> None:
        response = client.put(generic_url(world.projects["public"]), data=b"w", headers=world.basic("maintainer"))
        assert response.status_code == 503
        assert "message" in response.get_json()


# -- the HTTP API over a working store ------------------------------------------------------------


class TestUploadToSeaweedFS:
    @pytest.fixture
    def settings(self, tmp_path: Path, s3_settings: dict[str, object]) -> dict[str, object]:
        return {**base_settings(tmp_path), **s3_settings, "S3_PART_SIZE": 5 * MIB, "MAX_FILE_SIZE": 16 * MIB}

    def test_an_upload_downloads_back_identical(self, client: FlaskClient, world: World, storage: BlobStorage) -> None:
        project, data = world.projects["private"], payload(6 * MIB + 7, seed=1)  # two S3 parts
        url = generic_url(project, "fraud-detector", "1.4.0", "weights/model.onnx")
        uploaded = client.put(url, data=data, headers=world.headers("developer"))
        assert uploaded.status_code == 201, uploaded.get_json()

        downloaded = client.get(url, headers=world.headers("reporter"))
        assert downloaded.status_code == 200
        assert downloaded.data == data
        assert downloaded.headers["X-Checksum-SHA256"] == hashlib.sha256(data).hexdigest()

        ranged = client.get(url, headers={**world.headers("reporter"), "Range": "bytes=5242870-5242889"})
        assert ranged.status_code == 206
        assert ranged.data == data[5242870:5242890]
        assert len(list(storage.keys())) == 1

    @pytest.mark.parametrize("header", ["X-Checksum-SHA256", "Content-MD5"])
    def test_a_declared_digest_that_does_not_match_keeps_nothing(
        self, client: FlaskClient, world: World, storage: BlobStorage, header: str
    ) -> None:
        """Every part went up before the digest could be compared: the completed object is deleted, no
        multipart upload is left, no package recorded, and the same path takes the right bytes after."""
        project, data = world.projects["private"], payload(11 * MIB + 3, seed=4)  # three S3 parts
        url = generic_url(project, "digest", "1.0.0", "model.bin")
        wrong = hashlib.sha256(b"other").hexdigest() if header == "X-Checksum-SHA256" else "AAAAAAAAAAAAAAAAAAAAAA=="
        refused = client.put(url, data=data, headers={**world.headers("developer"), header: wrong})
        assert refused.status_code == 400 and "mismatch" in refused.get_json()["message"], refused.get_json()
        assert list(storage.keys()) == [] and list(storage.remnants()) == []
        assert client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("owner")).get_json() == []
        assert client.put(url, data=data, headers=world.headers("developer")).status_code == 201

    def test_an_empty_file_round_trips(self, client: FlaskClient, world: World) -> None:
        url = generic_url(world.projects["private"], path="empty.txt")
        assert client.put(url, data=b"", headers=world.headers("developer")).status_code == 201
        downloaded = client.get(url, headers=world.headers("developer"))
        assert downloaded.status_code == 200
        assert downloaded.data == b""

    def test_identical_bytes_are_stored_once(self, client: FlaskClient, world: World, storage: BlobStorage) -> None:
        project, data = world.projects["private"], payload(300_000, seed=2)
        first = generic_url(project, "pkg", "1.0.0", "model.bin")
        second = generic_url(project, "other", "2.0.0", "copy/model.bin")
        for url in (first, second):
            assert client.put(url, data=data, headers=world.headers("developer")).status_code == 201

        assert len(list(storage.keys())) == 1
        for url in (first, second):
            assert client.get(url, headers=world.headers("developer")).data == data

        different = generic_url(project, "pkg", "1.0.0", "other.bin")
        assert client.put(different, data=data + b"!", headers=world.headers("developer")).status_code == 201
        assert len(list(storage.keys())) == 2

    def test_an_upload_past_the_size_limit_leaves_nothing_in_the_bucket(
        self, client: FlaskClient, world: World, storage: BlobStorage
    ) -> None:
        # No Content-Length (chunked, as a streaming client sends), so the limit is hit mid-stream,
        # after a whole S3 part has gone up.
        project = world.projects["private"]
        body = io.BytesIO(payload(16 * MIB + 1, seed=3))
        response = client.put(
            generic_url(project, path="too-big.bin"),
            input_stream=body,
            headers={**world.headers("developer"), "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert response.status_code == 400  # GitLab's answer: "400 Bad request - File is too large"
        assert "too large" in response.get_json()["message"]
        assert list(storage.keys()) == []
        listed = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("owner"))
        assert listed.get_json() == []
