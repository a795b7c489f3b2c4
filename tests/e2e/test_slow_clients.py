"""Slow clients against ``modelshelf serve`` (its gevent worker): connections that trickle their
headers or their bodies hold only themselves while ``/-/health`` and a download answer at once; the
header deadline and the body timeout close such connections (an upload cut there stores nothing); a
413 closes its connection instead of reading the refused body; and SQLite writers of one worker,
one of them holding its transaction across I/O, do not stall each other (the write gate)."""
from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.databases import require_postgres
from tests.support.live_server import blobs_on_disk, create_account
from tests.support.servers import Server

pytestmark = pytest.mark.server

MIB = 1024 * 1024


def address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def timed_get(server: Server, path: str, headers: dict[str, str] | None = None) -> tuple[float, int, bytes]:
    """Seconds a GET takes on a new connection, its status and body."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(*address(server), timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return time.monotonic() - started, response.status, body


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends on ``sock`` until it closes it; fails if it is still open after ``timeout``."""
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


class Tricklers:
    """Connections that each send one byte of their request every ``pause`` seconds, from one thread,
    until ``stop()``."""

    def __init__(self, server: Server, heads: list[bytes], pause: float = 0.5) -> None:
        self.sockets: list[tuple[socket.socket, bytes]] = []
        for head in heads:
            sock = socket.create_connection(address(server))
            self.sockets.append((sock, head))
        self.pause = pause
        self.sent = 0
        self.closed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        position = 0
        while not self._stop.is_set():
            for sock, head in self.sockets:
                try:
                    sock.sendall(head[position : position + 1] or b"x")
                    self.sent += 1
                except OSError:
                    self.closed += 1
            position += 1
            self._stop.wait(self.pause)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock, _head in self.sockets:
            sock.close()


@pytest.mark.slow
def test_trickling_clients_hold_only_their_own_connections(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    account = create_account(server)
    project, _path = account.create_project()
    files = f"/api/v4/projects/{project}/packages/generic/model/1.0.0"
    token = {"PRIVATE-TOKEN": account.token}
    connection = http.client.HTTPConnection(*address(server), timeout=30)
    connection.request("PUT", f"{files}/weights.bin", body=b"w" * MIB, headers=token)
    assert connection.getresponse().status == 201
    connection.close()

    host = address(server)[0]
    heads = [b"GET /-/health HTTP/1.1\r\nHost: %s\r\nX-Padding: %s\r\n\r\n" % (host.encode(), b"p" * 200)] * 100
    upload = (
        f"PUT {files}/slow-{{}}.bin HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {account.token}\r\n"
        f"Content-Length: {10 * MIB}\r\n\r\n"
    )
    json_route = f"POST /api/v4/projects HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {account.token}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    bodies = [upload.format(n).encode() for n in range(50)] + [json_route.encode()] * 50
    tricklers = Tricklers(server, heads + bodies)
    try:
        time.sleep(1.0)  # every trickler has started, the body ones past their headers
        timings = []
        for _ in range(5):
            seconds, status, body = timed_get(server, "/-/health")
            assert (status, body) == (200, b'{"status":"ok"}\n')
            timings.append(seconds)
            seconds, status, body = timed_get(server, f"{files}/weights.bin", token)
            assert (status, len(body)) == (200, MIB)
            timings.append(seconds)
            time.sleep(0.2)
        assert max(timings) < 1.0, timings
        assert tricklers.closed == 0  # all 200 still connected, none answered: each holds only itself
    finally:
        tricklers.stop()
    # The cut uploads stored nothing: one package file, the whole one.
    status, _headers, body = _request(server, "GET", f"/api/v4/projects/{project}/packages", token)
    [package] = json.loads(body)
    status, _headers, body = _request(server, "GET", f"/api/v4/projects/{project}/packages/{package['id']}/package_files", token)
    assert [f["file_name"] for f in json.loads(body)] == ["weights.bin"]


def _request(server: Server, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*address(server), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_the_header_deadline_and_the_body_timeout_close_slow_connections(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HEADER_TIMEOUT": 1, "BODY_TIMEOUT": 1})
    account = create_account(server)
    project, _path = account.create_project()
    host = address(server)[0]

    # Headers trickled (a byte every 0.3 s, so the socket never times out): closed at the deadline.
    head = b"GET /-/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100 + b"\r\n\r\n"
    with socket.create_connection(address(server)) as sock:
        started = time.monotonic()
        sock.settimeout(0.3)
        closed_after = None
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(100) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
        assert closed_after is not None and 0.9 < closed_after < 3.0, closed_after

    # A body that stops for longer than BODY_TIMEOUT: a 400, the connection closed, nothing stored.
    url = f"/api/v4/projects/{project}/packages/generic/model/1.0.0/stalled.bin"
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            f"PUT {url} HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {account.token}\r\nContent-Length: 100000\r\n\r\n".encode()
            + b"z" * 1000
        )
        started = time.monotonic()
        answer = read_until_closed(sock, timeout=10)
        assert 0.9 < time.monotonic() - started < 5.0
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer, answer
    status, _headers, body = _request(server, "GET", f"/api/v4/projects/{project}/packages", {"PRIVATE-TOKEN": account.token})
    assert (status, json.loads(body)) == (200, [])
    assert blobs_on_disk(server) == []

    # A kept-alive connection that is idle is closed too, and a healthy one still works meanwhile.
    connection = http.client.HTTPConnection(*address(server), timeout=10)
    connection.request("GET", "/-/health")
    assert connection.getresponse().read() == b'{"status":"ok"}\n'
    time.sleep(1.5)
    assert connection.sock is not None and connection.sock.recv(1) == b""  # closed by the server
    connection.close()
    assert "Traceback" not in (server.data_dir.parent / f"serve-{address(server)[1]}.log").read_text()


def test_a_413_closes_the_connection_instead_of_reading_the_body(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"MAX_REQUEST_BODY": 1000})
    host = address(server)[0]
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            f"POST /api/v4/projects HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {1000 * MIB}\r\n\r\n".encode() + b"[" * 65536
        )
        sock.settimeout(5)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in answer, answer
        # The client goes on sending its GiB: the server does not read it (gunicorn would, to reach
        # the next request), but closes the connection after a short linger.
        started = time.monotonic()
        with pytest.raises(OSError):
            while time.monotonic() - started < 20:
                sock.sendall(b"[" * 65536)
        assert time.monotonic() - started < 10


GATE_PROBE = """
from gevent import monkey
monkey.patch_all()
import sys, time
import gevent
from sqlalchemy import text
from package_api.app import create_app
from package_api.db import db

app = create_app({"DATA_DIR": sys.argv[1], "STORAGE": "memory"})
with app.app_context():
    db.session.execute(text("CREATE TABLE gate_probe (n INTEGER)"))
    db.session.commit()

def writer(n, io_seconds):
    with app.app_context():
        db.session.execute(text("INSERT INTO gate_probe VALUES (:n)"), {"n": n})
        gevent.sleep(io_seconds)  # I/O inside the write transaction: other greenlets run
        db.session.commit()

started = time.monotonic()
gevent.joinall([gevent.spawn(writer, 1, 0.5), gevent.spawn(writer, 2, 0), gevent.spawn(writer, 3, 0.2)], raise_error=True)
elapsed = time.monotonic() - started
with app.app_context():
    rows = sorted(n for (n,) in db.session.execute(text("SELECT n FROM gate_probe")))
print(f"{elapsed:.3f} {rows}")
"""


def test_sqlite_writers_of_one_gevent_process_do_not_stall_each_other(tmp_path: Path) -> None:
    """Without the write gate, the second writer waits in SQLite's busy handler, in C, blocking the
    hub: the first cannot commit, and both wait the whole busy timeout (30 s) before one fails."""
    result = subprocess.run(
        [sys.executable, "-c", GATE_PROBE, str(tmp_path / "data")], capture_output=True, text=True, timeout=120, check=True
    )
    elapsed, rows = result.stdout.strip().split(" ", 1)
    assert rows == "[1, 2, 3]"
    assert float(elapsed) < 3.0, result.stdout


SSL_PROBE = """
import package_api.app  # as the master does: urllib3 takes SSLContext from ssl before gevent patches it
from package_api.ops.server import _GeventWorker
import urllib3.util.ssl_
worker = object.__new__(_GeventWorker)
worker.sockets = []
_GeventWorker.patch(worker)
import gevent.ssl
print(urllib3.util.ssl_.SSLContext is gevent.ssl.SSLContext)
"""


def test_the_worker_rebinds_what_the_master_imported_from_ssl_before_patching() -> None:
    """Otherwise minio's TLS to an ``S3_SECURE`` store would block every greenlet of the worker."""
    result = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", SSL_PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.postgres
def test_a_query_waiting_on_a_postgresql_lock_holds_only_its_own_request(serve) -> None:  # type: ignore[no-untyped-def]
    """psycopg chose its C wait in the master (the schema check imports it before gevent patches
    anything): each query then blocked the whole worker, and one waiting on a lock held every other
    request of the worker with it. Here a request waits on a locked table while ``/-/health`` and a
    read that needs no such lock answer at once; the waiting request answers once the lock goes."""
    import psycopg
    from sqlalchemy.engine import make_url

    require_postgres()
    server = serve(threads=8)
    account = create_account(server)
    project_id, _path = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    url = make_url(server.env["MODELSHELF_DATABASE_URL"]).set(drivername="postgresql")
    assert timed_get(server, f"/api/v4/projects/{project_id}", headers)[1] == 200
    with psycopg.connect(url.render_as_string(hide_password=False)) as locker:
        locker.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        waiting: list[tuple[float, int, bytes]] = []
        blocked = threading.Thread(target=lambda: waiting.append(timed_get(server, f"/api/v4/projects/{project_id}", headers)))
        blocked.start()
        time.sleep(0.5)  # the request is waiting on the lock
        assert not waiting
        seconds, status, _ = timed_get(server, "/-/health")
        assert status == 200 and seconds < 1, (status, seconds)
        seconds, status, _ = timed_get(server, "/api/v4/user", headers)
        assert status == 200 and seconds < 1, (status, seconds)
        assert not waiting
    blocked.join(10)
    assert waiting and waiting[0][1] == 200
