"""One contract for every blob store: memory, filesystem and S3 (a real SeaweedFS) must behave alike.

Each test gets a fresh, empty store; the S3 store uses its own bucket and 5 MiB parts, so the
~11 MiB blob below goes up as a real multipart upload.
"""
from __future__ import annotations

import datetime
import os
import random
from pathlib import Path

import pytest

from package_api.db import utcnow
from package_api.storage import CHUNK_SIZE, BlobNotFound, BlobStorage, build_storage, check_key
from tests.support.storage import make_remnant

MIB = 1024 * 1024
#: The smallest part S3 accepts; the store is built with it so that multipart is cheap to reach.
PART_SIZE = 5 * MIB
#: More than two parts, and not a multiple of the part size or of a read.
BIG = 11 * MIB + 12345

UNSAFE_KEYS = ["../x", "/abs", "a//b", "a\\b", "", "a/../b", "./a", "a/", ".tmp-hidden"]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


class OddReads:
    """A body that hands out its bytes in small, odd-sized reads whatever size is asked for."""

    def __init__(self, data: bytes, sizes: tuple[int, ...] = (1, 7, 13, 4093, 65521)) -> None:
        self._data = data
        self._sizes = sizes
        self._offset = 0
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        step = self._sizes[self.reads % len(self._sizes)]
        if size is not None and size >= 0:
            step = min(step, size)
        chunk = self._data[self._offset : self._offset + step]
        self._offset += len(chunk)
        self.reads += 1
        return chunk


class DroppedConnection(ConnectionResetError):
    """What a body raises when its client goes away mid-upload: an ``OSError``, like a socket's,
    which a store must not mistake for its own failure."""


class FailingBody:
    """A body that yields ``fail_after`` bytes, then raises."""

    def __init__(self, fail_after: int) -> None:
        self._data = payload(fail_after, seed=99)
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        if self._offset >= len(self._data):
            raise DroppedConnection("client went away")
        step = CHUNK_SIZE if size is None or size < 0 else size
        chunk = self._data[self._offset : self._offset + step]
        self._offset += len(chunk)
        return chunk


@pytest.fixture(params=["memory", "filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStorage:
    """A fresh, empty store of each kind, built the way the app builds it."""
    kind = request.param
    if kind == "memory":
        return build_storage({"STORAGE": "memory"})
    if kind == "filesystem":
        return build_storage({"STORAGE": "filesystem", "DATA_DIR": str(tmp_path / "data")})
    s3_settings = request.getfixturevalue("s3_settings")  # starts SeaweedFS only when needed
    return build_storage({**s3_settings, "S3_PART_SIZE": PART_SIZE})


def put(store: BlobStorage, key: str, data: bytes) -> int:
    return store.put(key, OddReads(data))


def read(store: BlobStorage, key: str, start: int = 0, length: int | None = None) -> bytes:
    reader = store.open(key, start, length)
    try:
        return b"".join(reader)
    finally:
        reader.close()


def stored_files(root: str) -> list[str]:
    """Every file under a filesystem store's root, temporary ones included."""
    return sorted(os.path.join(d, name) for d, _dirs, files in os.walk(root) for name in files)


# -- put and read back ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE + 3, BIG], ids=lambda s: f"{s}B")
def test_put_returns_the_byte_count_and_the_bytes_read_back_equal(store: BlobStorage, size: int) -> None:
    data = payload(size)
    assert put(store, "blobs/ab/one", data) == size
    assert store.size("blobs/ab/one") == size
    assert read(store, "blobs/ab/one") == data
    assert list(store.keys()) == ["blobs/ab/one"]


def test_put_takes_a_body_that_gives_tiny_odd_sized_reads(store: BlobStorage) -> None:
    data = payload(300_001, seed=3)
    body = OddReads(data, sizes=(1, 3, 7, 1021))
    assert store.put("odd", body) == len(data)
    assert body.reads > 1000  # the body really was read in small pieces
    assert read(store, "odd") == data


def test_put_takes_a_plain_file(store: BlobStorage, tmp_path: Path) -> None:
    data = payload(CHUNK_SIZE * 2 + 5, seed=4)
    source = tmp_path / "model.onnx"
    source.write_bytes(data)
    with source.open("rb") as body:
        assert store.put("from-file", body) == len(data)
    assert read(store, "from-file") == data


def test_put_over_an_existing_key_replaces_its_bytes(store: BlobStorage) -> None:
    put(store, "k", payload(5000, seed=1))
    replacement = payload(17, seed=2)
    assert put(store, "k", replacement) == 17
    assert read(store, "k") == replacement
    assert store.size("k") == 17
    assert list(store.keys()) == ["k"]


def test_keys_are_independent(store: BlobStorage) -> None:
    first, second = payload(100, seed=1), payload(200, seed=2)
    put(store, "blobs/aa/first", first)
    put(store, "blobs/aa/second", second)
    assert read(store, "blobs/aa/first") == first
    assert read(store, "blobs/aa/second") == second


# -- ranges ---------------------------------------------------------------------------------------

RANGE_DATA = payload(CHUNK_SIZE + 1000, seed=7)
END = len(RANGE_DATA)


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, None),  # everything
        (0, 1),  # the first byte
        (10, 100),
        (CHUNK_SIZE - 2, 5),  # across a chunk boundary
        (END - 10, None),  # from an offset to the end
        (END - 10, 10),  # a range ending exactly at the end
        (END - 1, 1),  # the last byte
        (0, END),  # everything, spelled as a range
        (0, 0),
        (123, 0),
    ],
)
def test_open_returns_the_requested_range(store: BlobStorage, start: int, length: int | None) -> None:
    put(store, "ranged", RANGE_DATA)
    expected = RANGE_DATA[start:] if length is None else RANGE_DATA[start : start + length]
    assert read(store, "ranged", start, length) == expected


def test_a_range_of_an_empty_blob_is_empty(store: BlobStorage) -> None:
    put(store, "empty", b"")
    assert read(store, "empty", 0, 0) == b""
    assert read(store, "empty") == b""


def test_a_range_in_a_multipart_blob_spans_parts(store: BlobStorage) -> None:
    data = payload(PART_SIZE + MIB, seed=8)
    put(store, "parts", data)
    start = PART_SIZE - 100
    assert read(store, "parts", start, 300) == data[start : start + 300]


def test_a_reader_closed_early_leaves_the_blob_readable(store: BlobStorage) -> None:
    data = payload(3 * CHUNK_SIZE, seed=9)
    put(store, "k", data)
    reader = store.open("k")
    first = next(iter(reader))
    reader.close()
    assert data.startswith(first) and first
    assert read(store, "k") == data


# -- missing keys, deletion, listing --------------------------------------------------------------


def test_open_and_size_of_a_missing_key_raise_blob_not_found(store: BlobStorage) -> None:
    for _ in range(2):  # on an empty store, then beside another blob
        with pytest.raises(BlobNotFound) as opened:
            store.open("blobs/no/such")
        assert opened.value.key == "blobs/no/such"
        with pytest.raises(BlobNotFound):
            store.open("blobs/no/such", 0, 0)
        with pytest.raises(BlobNotFound):
            store.size("blobs/no/such")
        put(store, "blobs/no/other", b"x")


@pytest.mark.parametrize("key", ["blobs", "blobs/ab", "blobs/ab/stored/deeper"])
def test_a_key_above_or_below_a_stored_key_is_missing(store: BlobStorage, key: str) -> None:
    put(store, "blobs/ab/stored", b"bytes")
    with pytest.raises(BlobNotFound):
        store.open(key)
    with pytest.raises(BlobNotFound):
        store.size(key)
    store.delete(key)
    assert read(store, "blobs/ab/stored") == b"bytes"


def test_delete_removes_the_blob(store: BlobStorage) -> None:
    put(store, "blobs/aa/gone", b"bytes")
    put(store, "blobs/aa/kept", b"other")
    store.delete("blobs/aa/gone")
    with pytest.raises(BlobNotFound):
        store.open("blobs/aa/gone")
    with pytest.raises(BlobNotFound):
        store.size("blobs/aa/gone")
    assert list(store.keys()) == ["blobs/aa/kept"]
    assert read(store, "blobs/aa/kept") == b"other"


def test_modified_tells_when_a_key_was_last_written(store: BlobStorage) -> None:
    before = utcnow() - datetime.timedelta(seconds=5)  # S3 stores seconds; clocks may differ a little
    put(store, "xet/aa/written", b"bytes")
    when = store.modified("xet/aa/written")
    assert when.tzinfo is None and before <= when <= utcnow() + datetime.timedelta(seconds=5)
    with pytest.raises(BlobNotFound):
        store.modified("xet/aa/never")
    with pytest.raises(ValueError):
        store.modified("../x")


def test_deleting_a_missing_key_is_not_an_error(store: BlobStorage) -> None:
    store.delete("never/stored")  # on an empty store
    put(store, "k", b"x")
    store.delete("k")
    store.delete("k")  # twice
    assert list(store.keys()) == []


def test_keys_lists_what_starts_with_the_prefix(store: BlobStorage) -> None:
    stored = ["blobs/ab/1", "blobs/ab/2", "blobs/cd/3", "other/4", "top"]
    for key in stored:
        put(store, key, key.encode())
    assert sorted(store.keys()) == stored
    assert sorted(store.keys("")) == stored
    assert sorted(store.keys("blobs/")) == ["blobs/ab/1", "blobs/ab/2", "blobs/cd/3"]
    assert sorted(store.keys("blobs/ab/")) == ["blobs/ab/1", "blobs/ab/2"]
    assert sorted(store.keys("blobs/a")) == ["blobs/ab/1", "blobs/ab/2"]  # a prefix, not a folder
    assert sorted(store.keys("blobs/cd/3")) == ["blobs/cd/3"]
    assert list(store.keys("nothing")) == []


def test_keys_of_an_empty_store_is_empty(store: BlobStorage) -> None:
    assert list(store.keys()) == []


def test_check_passes_on_a_working_store(store: BlobStorage) -> None:
    store.check()


# -- unsafe keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_check_key_refuses_unsafe_keys(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


@pytest.mark.parametrize("key", ["k", "blobs/ab/0123abcd", "a.b/c_d-e", "A/B/C"])
def test_check_key_accepts_safe_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_every_operation_refuses_an_unsafe_key(store: BlobStorage, tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, OddReads(b"escape"))
    with pytest.raises(ValueError):
        store.open(key)
    with pytest.raises(ValueError):
        store.size(key)
    with pytest.raises(ValueError):
        store.delete(key)
    assert list(store.keys()) == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "data" / "x").exists()


# -- failed uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_after", [0, 1000, PART_SIZE + 1], ids=["at-once", "mid-way", "after-a-part"])
def test_a_body_that_fails_leaves_nothing_under_the_key(store: BlobStorage, fail_after: int) -> None:
    with pytest.raises(DroppedConnection):
        store.put("blobs/ab/broken", FailingBody(fail_after))
    with pytest.raises(BlobNotFound):
        store.open("blobs/ab/broken")
    with pytest.raises(BlobNotFound):
        store.size("blobs/ab/broken")
    assert list(store.keys()) == []
    assert list(store.remnants()) == []  # an aborted multipart upload, a removed temporary file
    if hasattr(store, "root"):  # filesystem: no temporary file left beside the target either
        assert stored_files(store.root) == []


def test_a_failed_overwrite_keeps_the_previous_bytes(store: BlobStorage) -> None:
    original = payload(2000, seed=5)
    put(store, "k", original)
    with pytest.raises(DroppedConnection):
        store.put("k", FailingBody(1000))
    assert read(store, "k") == original
    assert list(store.keys()) == ["k"]
    if hasattr(store, "root"):
        assert [os.path.basename(path) for path in stored_files(store.root)] == ["k"]


def test_a_failed_upload_does_not_disturb_the_next_one(store: BlobStorage) -> None:
    with pytest.raises(DroppedConnection):
        store.put("k", FailingBody(1000))
    data = payload(4321, seed=6)
    assert put(store, "k", data) == len(data)
    assert read(store, "k") == data



# -- remnants of unfinished writes, and download URLs ----------------------------------------------


def test_a_fresh_store_has_no_remnants_and_streams_its_downloads(store: BlobStorage) -> None:
    put(store, "blobs/ab/k", b"bytes")
    assert list(store.remnants()) == []
    assert store.download_url("blobs/ab/k", filename="k.bin") is None  # unless S3 is told to redirect


@pytest.mark.parametrize("store", ["filesystem", pytest.param("s3", marks=pytest.mark.s3)], indirect=True)
def test_what_a_killed_writer_left_is_listed_by_key_and_can_be_discarded(store: BlobStorage) -> None:
    # (A memory put stores all or nothing: it leaves no remnant.)
    put(store, "blobs/ab/done", b"finished")
    make_remnant(store, "blobs/cd/half.way", payload(PART_SIZE, seed=12))

    [remnant] = store.remnants()
    assert (remnant.key, remnant.size) == ("blobs/cd/half.way", PART_SIZE)
    assert list(store.remnants("blobs/cd/")) == [remnant]
    assert list(store.remnants("blobs/ab/")) == []
    assert list(store.keys()) == ["blobs/ab/done"]  # not readable, not listed as a blob

    store.discard(remnant)
    store.discard(remnant)  # twice: gone is gone
    assert list(store.remnants()) == []
    assert read(store, "blobs/ab/done") == b"finished"
