"""``modelshelf gc`` and what uploads leave behind: objects no row names and unfinished writes are
reclaimed, but never the bytes of an upload still under way (its lease keeps gc off them) nor a blob
an upload is about to reference. Filesystem and S3; the race with 50 concurrent uploads is in
``test_e2e_storage.py``."""
from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
from flask import Flask

from package_api.db import db
from package_api.packages.gc import GarbageCollector, GcReport
from package_api.packages.leases import new_key
from tests.support.storage import MIB, NOTHING, make_remnant, payload, sha256, stored
from tests.support.world import generic_url

BIG = 11 * MIB + 3  # three 5 MiB parts on S3


@pytest.fixture
def settings(settings, backend_settings):
    return {**settings, **backend_settings, "MAX_FILE_SIZE": 64 * MIB}


def collect(app: Flask, *, dry_run: bool = False) -> GcReport:
    # A context of its own: when called from inside a request, gc must not share its session.
    with app.app_context():
        return GarbageCollector(db.session, app.extensions["modelshelf.storage"]).collect(dry_run=dry_run)


def test_an_object_no_row_and_no_upload_names_is_reclaimed(app, client, world, storage):
    kept = generic_url(world.projects["private"], path="kept.bin")
    assert client.put(kept, data=b"kept", headers=world.headers("developer")).status_code == 201
    stray = new_key()  # what a server that died between storing and recording leaves
    storage.put(stray, io.BytesIO(payload(3000)))

    dry = collect(app, dry_run=True)
    assert (dry.abandoned, dry.bytes, dry.blobs) == (1, 3000, 0)
    assert stray in stored(app).objects
    assert dry.summary(dry_run=True) == "would remove 0 packages, 0 files, 0 blobs, 1 abandoned uploads (3000 bytes)"

    report = collect(app)
    assert (report.abandoned, report.bytes) == (1, 3000)
    assert stray not in stored(app).objects
    assert client.get(kept, headers=world.headers("developer")).data == b"kept"
    assert collect(app).summary(dry_run=False) == "removed 0 packages, 0 files, 0 blobs, 0 abandoned uploads (0 bytes)"


def test_an_unfinished_write_is_reclaimed(app, storage):
    make_remnant(storage, new_key(), payload(5 * MIB, seed=1))
    assert len(stored(app).remnants) == 1

    dry = collect(app, dry_run=True)
    assert (dry.abandoned, dry.bytes) == (1, 5 * MIB)
    assert len(stored(app).remnants) == 1

    assert collect(app).abandoned == 1
    assert stored(app) == NOTHING


def test_gc_leaves_keys_outside_the_upload_prefix_alone(app, storage):
    storage.put("other/thing", io.BytesIO(b"not ours"))
    assert collect(app).abandoned == 0
    assert stored(app).objects == ["other/thing"]


class GcMidway:
    """A request body that runs ``during(done_so_far)`` at chosen points while it is being read."""

    def __init__(self, data: bytes, during: Callable[[int], None], at: tuple[int, ...]) -> None:
        self.data, self.during, self.at = data, during, sorted(at)
        self.offset = 0

    def tell(self) -> int:  # the test client measures the body by seeking
        return self.offset

    def seek(self, offset: int, whence: int = 0) -> int:
        self.offset = len(self.data) + offset if whence == 2 else offset
        return self.offset

    def read(self, size: int = -1) -> bytes:
        while self.at and self.offset >= self.at[0]:
            self.at.pop(0)
            self.during(self.offset)
        step = MIB if size is None or size < 0 else min(size, MIB)
        chunk = self.data[self.offset : self.offset + step]
        self.offset += len(chunk)
        return chunk


def test_gc_during_an_upload_leaves_its_bytes_alone(app, client, world):
    data = payload(BIG, seed=2)
    reports: list[GcReport] = []

    def run_gc(_offset: int) -> None:
        reports.append(collect(app))
        # The upload's bytes are in the store (a temporary file, or parts of a multipart upload)
        # and nothing but its lease says they are wanted.
        assert stored(app).leases == 1

    url = generic_url(world.projects["private"], path="model.bin")
    body = GcMidway(data, run_gc, at=(6 * MIB, 11 * MIB))  # after one part went up, and after two
    response = client.put(url, input_stream=body, headers={**world.headers("developer"), "Content-Length": str(BIG)})

    assert response.status_code == 201, response.get_json()
    assert [r.abandoned for r in reports] == [0, 0]
    got = client.get(url, headers=world.headers("guest"))
    assert got.data == data and got.headers["X-Checksum-SHA256"] == sha256(data)
    after = stored(app)
    assert (after.leases, after.remnants, len(after.objects), after.blobs) == (0, [], 1, 1)


class TestAStalledUpload:
    @pytest.fixture
    def settings(self, settings):
        return {**settings, "UPLOAD_LEASE_SECONDS": 0.5}

    def test_is_given_up_once_its_lease_expired_and_gc_reclaims_its_bytes(self, app, client, world, storage):
        reports: list[GcReport] = []

        def stall_then_gc(_offset: int) -> None:
            time.sleep(0.8)  # longer than the lease, with no byte read: the lease is not renewed
            deadline = time.monotonic() + 10
            while not any(r.size for r in storage.remnants()) and time.monotonic() < deadline:
                time.sleep(0.05)  # S3: the first part is still on its way (a new bucket is slow)
            reports.append(collect(app))

        data = payload(BIG, seed=3)
        url = generic_url(world.projects["private"], path="model.bin")
        body = GcMidway(data, stall_then_gc, at=(6 * MIB,))
        response = client.put(url, input_stream=body, headers={**world.headers("developer"), "Content-Length": str(BIG)})

        assert response.status_code == 503
        assert "abandoned" in response.get_json()["message"]
        assert reports[0].abandoned == 1 and reports[0].bytes > 0
        assert stored(app) == NOTHING
        assert client.get(url, headers=world.headers("developer")).status_code == 404

    def test_a_moving_upload_keeps_renewing_its_lease(self, app, client, world):
        data = payload(BIG, seed=4)
        slow = GcMidway(data, lambda _offset: time.sleep(0.15), at=tuple(range(0, BIG, MIB)))  # ~1.7 s
        url = generic_url(world.projects["private"], path="slow.bin")
        response = client.put(url, input_stream=slow, headers={**world.headers("developer"), "Content-Length": str(BIG)})
        assert response.status_code == 201
        assert client.get(url, headers=world.headers("guest")).data == data


class GcAfterPut:
    """The app's store, running gc right after each ``put`` stored all its bytes: between the
    upload storing them and recording them."""

    def __init__(self, storage: object, app: Flask) -> None:
        self.storage, self.app = storage, app
        self.reports: list[GcReport] = []

    def put(self, key: str, stream: object) -> int:
        size = self.storage.put(key, stream)  # type: ignore[attr-defined]
        self.reports.append(collect(self.app))
        return size

    def __getattr__(self, name: str) -> object:
        return getattr(self.storage, name)


@pytest.fixture
def gc_after_put(app, storage):
    hooked = GcAfterPut(storage, app)
    app.extensions["modelshelf.storage"] = hooked
    yield hooked
    app.extensions["modelshelf.storage"] = storage


def test_gc_between_storing_and_recording_leaves_the_new_bytes_alone(app, client, world, gc_after_put):
    data = payload(BIG, seed=6)
    url = generic_url(world.projects["private"], path="model.bin")
    assert client.put(url, data=data, headers=world.headers("developer")).status_code == 201
    assert [r.abandoned for r in gc_after_put.reports] == [0]
    assert client.get(url, headers=world.headers("guest")).data == data


def test_gc_does_not_take_a_blob_an_upload_is_about_to_reference(app, client, world, gc_after_put):
    """The blob of a deleted package is unreferenced, and an upload of the same bytes is about to
    reference it when gc runs: gc may take the blob, and then the upload keeps its own copy."""
    project, data = world.projects["private"], payload(7000, seed=5)
    client.put(generic_url(project, "old", "1.0.0", "model.bin"), data=data, headers=world.headers("developer"))
    [package] = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("owner")).get_json()
    client.delete(f"/api/v4/projects/{project}/packages/{package['id']}", headers=world.headers("owner"))
    gc_after_put.reports.clear()

    url = generic_url(project, "new", "1.0.0", "model.bin")
    assert client.put(url, data=data, headers=world.headers("developer")).status_code == 201

    [report] = gc_after_put.reports
    assert (report.packages, report.blobs, report.abandoned) == (1, 1, 0)  # the old blob went, not the new bytes
    assert client.get(url, headers=world.headers("guest")).data == data
    after = stored(app)
    assert (after.blobs, len(after.objects), after.leases) == (1, 1, 0)
