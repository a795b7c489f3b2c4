"""Storage integrity against a real ``modelshelf serve``, on the filesystem store and on SeaweedFS:
the README's curl recipes (declared checksums, upload by digest, archives, ``latest``), gc racing
50 concurrent uploads, ``modelshelf verify``, and the faults (the store stopping, the client going
away, the server killed) mid-upload."""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from package_api import create_app
from package_api.db import db
from package_api.packages.gc import GarbageCollector
from package_api.packages.models import Blob
from tests.support.live_server import Account, create_account
from tests.support.servers import Server, start_seaweedfs, start_server, stop, stop_server
from tests.support.storage import MIB, NOTHING, Stored, payload, sha256, stored

pytestmark = [pytest.mark.server, pytest.mark.slow]

CURL = shutil.which("curl") or "/usr/bin/curl"


@pytest.fixture
def server(serve, backend_settings: dict[str, object]) -> Server:  # type: ignore[no-untyped-def]
    return serve({**backend_settings, "MAX_FILE_SIZE": 256 * MIB}, threads=16)


@pytest.fixture
def account(server: Server) -> Account:
    return create_account(server)


def local_app(server: Server) -> Flask:
    """An app on the server's database and store, for looking at what they hold (and running gc)."""
    settings: dict[str, Any] = {"DATA_DIR": str(server.data_dir), "PLUGINS": "none", "SECRET_KEY": "test"}
    for name, value in server.env.items():
        if name.startswith("MODELSHELF_") and name != "MODELSHELF_DATA_DIR":
            settings[name.removeprefix("MODELSHELF_")] = value
    return create_app(settings)


def cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "package_api.ops.cli", *args], env=server.env, capture_output=True, text=True, timeout=300,
        check=False,
    )


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CURL, "--silent", "--show-error", *args], capture_output=True, text=True, timeout=120, check=False
    )


def generic(account: Account, project: int, name: str, version: str, path: str = "") -> str:
    url = f"{account.server.api}/projects/{project}/packages/generic/{name}/{version}"
    return f"{url}/{path}" if path else url


# -- the README's recipes, with curl ----------------------------------------------------------------


def test_the_readme_recipes_work_with_curl(account: Account, tmp_path: Path) -> None:
    project, _ = account.create_project()
    token = f"PRIVATE-TOKEN: {account.token}"
    weights = tmp_path / "model.onnx"
    weights.write_bytes(payload(7 * MIB, seed=1))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()

    # The model, made on purpose: its versions are the packages of its name.
    made = curl("--fail", "--header", token, "--data", "name=fraud-detector", f"{account.server.api}/projects/{project}/ml/models")
    assert made.returncode == 0, made.stderr

    # Upload, declaring the digest: a mismatch is refused, naming both digests.
    wrong = curl("--header", token, "--header", f"X-Checksum-SHA256: {sha256(b'other')}", "--upload-file", str(weights),
                 "--write-out", "\n%{http_code}", generic(account, project, "fraud-detector", "1.4.0", "model.onnx"))
    assert wrong.stdout.endswith("\n400") and digest in wrong.stdout and sha256(b"other") in wrong.stdout
    ok = curl("--fail", "--header", token, "--header", f"X-Checksum-SHA256: {digest}", "--upload-file", str(weights),
              generic(account, project, "fraud-detector", "1.4.0", "model.onnx"))
    assert ok.returncode == 0, ok.stderr

    # The next version re-publishes the same weights by digest, sending no bytes.
    attach = curl("--fail", "--request", "PUT", "--header", token, "--write-out", "%{http_code} %{size_upload}",
                  generic(account, project, "fraud-detector", "1.5.0", "model.onnx") + f"?sha256={digest}")
    assert attach.returncode == 0, attach.stderr
    assert attach.stdout.endswith("201 0")
    card = tmp_path / "README.md"
    card.write_text("# fraud-detector\n")
    assert curl("--fail", "--header", token, "--upload-file", str(card),
                generic(account, project, "fraud-detector", "1.5.0", "README.md")).returncode == 0

    # latest: the model's latest version, for a file and for the whole version as a zip.
    out = tmp_path / "latest.onnx"
    got = curl("--fail", "--header", token, "--output", str(out), generic(account, project, "fraud-detector", "latest", "model.onnx"))
    assert got.returncode == 0 and out.read_bytes() == weights.read_bytes()
    archive = tmp_path / "fraud-detector.zip"
    got = curl("--fail", "--header", token, "--remote-header-name", "--output", str(archive),
               generic(account, project, "fraud-detector", "latest"))
    assert got.returncode == 0, got.stderr
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == ["SHA256SUMS", "fraud-detector-1.5.0/README.md", "fraud-detector-1.5.0/model.onnx"]
    if shutil.which("unzip") and shutil.which("sha256sum"):
        unpacked = tmp_path / "unpacked"
        subprocess.run(["unzip", "-q", str(archive), "-d", str(unpacked)], check=True)
        checked = subprocess.run(
            ["sha256sum", "-c", "SHA256SUMS"], cwd=unpacked, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "fraud-detector-1.5.0/model.onnx: OK" in checked.stdout


def test_a_form_upload_streams_its_file_field_into_the_store(account: Account, server: Server, tmp_path: Path) -> None:
    """``curl --form file=@model.onnx``: the file field's bytes, several S3 parts of them, are what the
    store holds; the form around them is not."""
    project, _ = account.create_project()
    weights = tmp_path / "model.onnx"
    weights.write_bytes(payload(12 * MIB, seed=3))

    sent = curl("--fail", "--header", f"PRIVATE-TOKEN: {account.token}", "--request", "PUT", "--form", f"file=@{weights}",
                generic(account, project, "fraud-detector", "1.4.0", "model.onnx"))

    assert sent.returncode == 0, sent.stderr
    held = stored(local_app(server))
    assert (held.blobs, held.files, held.leases, held.remnants) == (1, 1, 0, [])
    with local_app(server).app_context():
        [blob] = db.session.scalars(select(Blob)).all()
        assert (blob.sha256, blob.size) == (sha256(weights.read_bytes()), 12 * MIB)


def test_other_requests_are_answered_during_a_fast_large_upload(account: Account, tmp_path: Path) -> None:
    """curl sends faster than the store takes the bytes, so the body's socket always has bytes
    waiting and a read of it never waits: the upload must still give the worker's other connections
    a turn (one 1 GiB upload once held ``/-/health`` for its whole length). Also on S3, where the
    body is received straight into the part buffers, the declared digest is checked and the bytes
    are stored whole."""
    project, _ = account.create_project()
    weights = tmp_path / "weights.bin"
    digest = hashlib.sha256()
    with open(weights, "wb") as out:
        for _ in range(200):
            block = os.urandom(MIB)
            digest.update(block)
            out.write(block)
    url = generic(account, project, "big", "1.0.0", "weights.bin")
    token = f"PRIVATE-TOKEN: {account.token}"
    upload = subprocess.Popen(
        [CURL, "--silent", "--show-error", "--fail", "--header", token, "--header", f"X-Checksum-SHA256: {digest.hexdigest()}",
         "--upload-file", str(weights), "--output", os.devnull, url],
        stderr=subprocess.PIPE,
    )
    timings = []
    while upload.poll() is None:
        started = time.monotonic()
        answer = requests.get(f"{account.server.url}/-/health", timeout=10)
        if upload.poll() is None:  # answered while the upload went on
            timings.append(time.monotonic() - started)
        assert answer.status_code == 200
        time.sleep(0.02)
    assert upload.returncode == 0, upload.stderr.read() if upload.stderr else ""
    assert len(timings) >= 3, f"the upload ended before three requests were answered: {timings}"
    assert max(timings) < 1.0, timings
    head = requests.head(url, headers={"PRIVATE-TOKEN": account.token}, timeout=10)
    assert head.headers["X-Checksum-SHA256"] == digest.hexdigest()
    assert int(head.headers["Content-Length"]) == 200 * MIB


# -- gc racing uploads ----------------------------------------------------------------------------

UPLOADS = 50


def slowly(data: bytes, piece: int = 256 * 1024, pause: float = 0.004) -> Iterator[bytes]:
    """A body that trickles, so that uploads are under way while gc runs."""
    for offset in range(0, len(data), piece):
        time.sleep(pause)
        yield data[offset : offset + piece]


def test_gc_racing_50_concurrent_uploads_loses_no_file(account: Account, server: Server) -> None:
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    shared = payload(3 * MIB, seed=2)
    # The blob of a deleted package: gc wants it gone, and a third of the uploads bring its bytes.
    seed_url = generic(account, project, "seed", "1.0.0", "shared.bin")
    assert requests.put(seed_url, data=shared, headers=headers, timeout=60).status_code == 201
    [seeded] = requests.get(f"{server.api}/projects/{project}/packages", headers=headers, timeout=30).json()
    assert requests.delete(f"{server.api}/projects/{project}/packages/{seeded['id']}", headers=headers, timeout=30).status_code == 204

    def content(index: int) -> bytes:
        if index % 3 == 0:
            return shared
        if index % 3 == 1:
            return payload(MIB + 4096 * (index % 6), seed=100 + index % 6)  # pairs of identical uploads
        return payload(6 * MIB + index, seed=1000 + index)  # a multipart upload on S3

    expected = {index: content(index) for index in range(UPLOADS)}

    def url(index: int) -> str:
        return generic(account, project, "race", f"1.{index % 5}.0", f"file-{index:02d}.bin")

    app = local_app(server)
    stop_gc = threading.Event()
    runs: list[int] = []
    errors: list[BaseException] = []

    def gc_loop() -> None:
        while not stop_gc.is_set():
            try:
                with app.app_context():
                    GarbageCollector(db.session, app.extensions["modelshelf.storage"]).collect()
                runs.append(1)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
                return

    def upload(index: int) -> int:
        reply = requests.put(url(index), data=slowly(expected[index]), headers=headers, timeout=300)
        return reply.status_code

    collector = threading.Thread(target=gc_loop)
    collector.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(upload, range(UPLOADS)))
        during = len(runs)
    finally:
        stop_gc.set()
        collector.join()

    assert not errors, errors
    assert statuses == [201] * UPLOADS
    assert during >= 3, f"gc ran only {during} times during the uploads"

    final = cli(server, "gc")
    assert final.returncode == 0, final.stderr
    for index, data in expected.items():
        reply = requests.get(url(index), headers=headers, timeout=60)
        assert reply.status_code == 200, (index, reply.text)
        assert reply.headers["X-Checksum-SHA256"] == sha256(data)
        assert reply.content == data, index
    verified = cli(server, "verify")
    assert verified.returncode == 0, verified.stdout
    after = stored(app)
    with app.app_context():
        from package_api.packages.models import Blob

        blob_keys = sorted(db.session.scalars(db.select(Blob.storage_key)))
    assert after.objects == blob_keys  # nothing stray, nothing missing
    assert (after.remnants, after.leases, after.blobs) == ([], 0, len({sha256(d) for d in expected.values()}))


# -- verify ---------------------------------------------------------------------------------------


def test_verify_reports_corrupted_and_missing_blobs(account: Account, server: Server) -> None:
    project, full_path = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    files = {"good.bin": b"good bytes", "rotten.bin": payload(6 * MIB, seed=3), "lost.bin": b"lost bytes"}
    for path, data in files.items():
        assert requests.put(generic(account, project, "m", "1.0.0", path), data=data, headers=headers, timeout=60).status_code == 201

    clean = cli(server, "verify")
    assert clean.returncode == 0
    assert clean.stdout.strip() == f"verified 3 blobs ({sum(map(len, files.values()))} bytes): 0 corrupted, 0 missing, 0 unreadable"

    app = local_app(server)
    storage = app.extensions["modelshelf.storage"]
    with app.app_context():
        from package_api.packages.models import Blob

        keys = {b.sha256: b.storage_key for b in db.session.scalars(db.select(Blob))}
    rotten = bytearray(files["rotten.bin"])
    rotten[5 * MIB] ^= 0x01  # one bit, in the second part
    import io

    storage.put(keys[sha256(files["rotten.bin"])], io.BytesIO(bytes(rotten)))
    storage.delete(keys[sha256(files["lost.bin"])])

    result = cli(server, "verify")

    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == f"verified 3 blobs ({sum(map(len, files.values()))} bytes): 1 corrupted, 1 missing, 0 unreadable"
    [corrupted] = [line for line in lines if line.startswith("corrupted")]
    assert sha256(files["rotten.bin"]) in corrupted and sha256(bytes(rotten)) in corrupted
    assert f"{full_path}/m/1.0.0/rotten.bin" in corrupted
    [missing] = [line for line in lines if line.startswith("missing")]
    assert sha256(files["lost.bin"]) in missing and f"{full_path}/m/1.0.0/lost.bin" in missing


# -- faults ---------------------------------------------------------------------------------------


class Upload:
    """A raw HTTP upload whose body the test sends piece by piece."""

    def __init__(self, server: Server, account: Account, path: str, size: int) -> None:
        host, port = server.url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.conn.putrequest("PUT", path)
        self.conn.putheader("PRIVATE-TOKEN", account.token)
        self.conn.putheader("Content-Length", str(size))
        self.conn.endheaders()
        self.data = payload(size, seed=9)
        self.sent = 0

    def send(self, upto: int) -> None:
        while self.sent < upto:
            piece = self.data[self.sent : min(upto, self.sent + 256 * 1024)]
            self.conn.send(piece)
            self.sent += len(piece)

    def finish(self) -> http.client.HTTPResponse:
        try:
            self.send(len(self.data))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered already; its answer is still to be read
        return self.conn.getresponse()

    def cut(self) -> None:
        """Go away without a goodbye: a TCP reset, as a crashed client or a dropped link gives."""
        sock = self.conn.sock
        assert sock is not None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout}s")
        time.sleep(0.05)


def listed(server: Server, account: Account, project: int) -> list[object]:
    reply = requests.get(f"{server.api}/projects/{project}/packages", headers={"PRIVATE-TOKEN": account.token}, timeout=30)
    assert reply.status_code == 200
    return reply.json()  # type: ignore[no-any-return]


@pytest.mark.s3
def test_the_store_stopping_mid_upload_gives_503_and_no_row(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    weed = start_seaweedfs(tmp_path / "weed")
    try:
        server = serve({**weed.settings("doomed"), "S3_PART_SIZE": 5 * MIB, "MAX_FILE_SIZE": 256 * MIB})
        account = create_account(server)
        project, _ = account.create_project()
        path = f"/api/v4/projects/{project}/packages/generic/m/1.0.0/model.bin"
        upload = Upload(server, account, path, 40 * MIB)
        upload.send(12 * MIB)  # two parts handed to the store
        app = local_app(server)
        wait_for(lambda: stored(app).leases == 1, what="the upload's lease")
        stop(weed.process)

        response = upload.finish()

        assert response.status == 503
        assert b"503 Service Unavailable - storage" in response.read()
        assert listed(server, account, project) == []
        after = stored_rows(app)
        assert after == (0, 0, 0, 0)
    finally:
        stop(weed.process)


def stored_rows(app: Flask) -> tuple[int, int, int, int]:
    """Leases, blobs, files and packages, without asking the (maybe stopped) store."""
    from sqlalchemy import func, select

    from package_api.packages.models import Blob, Package, PackageFile
    from package_api.packages.models import Upload as Lease

    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Lease, Blob, PackageFile, Package))  # type: ignore[return-value]


def test_a_client_going_away_mid_upload_leaves_no_row_and_gc_reclaims_its_bytes(account: Account, server: Server) -> None:
    project, _ = account.create_project()
    path = f"/api/v4/projects/{project}/packages/generic/m/1.0.0/model.bin"
    upload = Upload(server, account, path, 40 * MIB)
    upload.send(12 * MIB)
    app = local_app(server)
    wait_for(lambda: bool(stored(app).remnants), what="bytes of the upload in the store")

    upload.cut()

    wait_for(lambda: stored(app).leases == 0, what="the server to give the upload up")
    assert listed(server, account, project) == []
    # The reset is the client's doing: a 400 nobody reads, not a server error with a traceback.
    log = b"".join(p.read_bytes() for p in server.data_dir.parent.glob("serve-*.log")).decode(errors="replace")
    answered = [line for line in log.splitlines() if f"PUT {path} " in line]
    assert answered and all(f"PUT {path} 400 " in line for line in answered), answered
    assert "ConnectionResetError" not in log and f"Exception on {path}" not in log
    reclaimed = cli(server, "gc")
    assert reclaimed.returncode == 0, reclaimed.stderr
    assert stored(app) == NOTHING


def test_a_server_killed_mid_upload_leaves_no_visible_file_and_gc_reclaims_its_bytes(
    serve, backend_settings: dict[str, object]  # type: ignore[no-untyped-def]
) -> None:
    lease = 25.0  # long enough to look before it expires on a loaded machine (restart and gc took 16 s at load 10)
    settings = {**backend_settings, "MAX_FILE_SIZE": 256 * MIB, "UPLOAD_LEASE_SECONDS": lease}
    server = serve(settings)
    account = create_account(server)
    project, _ = account.create_project()
    path = f"/api/v4/projects/{project}/packages/generic/m/1.0.0/model.bin"
    upload = Upload(server, account, path, 40 * MIB)
    upload.send(12 * MIB)
    app = local_app(server)
    wait_for(lambda: bool(stored(app).remnants), what="bytes of the upload in the store")

    os.killpg(server.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    server.process.wait()
    upload.cut()

    restarted = start_server(server.data_dir, settings)
    try:
        assert listed(restarted, account, project) == []
        got = requests.get(f"{restarted.url}{path}", headers={"PRIVATE-TOKEN": account.token}, timeout=30)
        assert got.status_code == 404
        left: Stored = stored(app)
        assert (left.leases, len(left.remnants), left.files) == (1, 1, 0)  # the dead upload's lease still stands

        # Until the lease expires gc cannot tell a dead upload from a slow one, and keeps its bytes.
        early = cli(restarted, "gc")
        assert time.monotonic() - killed_at < lease, "too slow to look before the lease expired"
        assert "0 abandoned uploads" in early.stdout
        assert len(stored(app).remnants) == 1

        time.sleep(max(0.0, lease + 0.5 - (time.monotonic() - killed_at)))
        reclaimed = cli(restarted, "gc")
        assert reclaimed.returncode == 0, reclaimed.stderr
        assert "1 abandoned uploads" in reclaimed.stdout
        assert stored(app) == NOTHING
    finally:
        stop_server(restarted)
