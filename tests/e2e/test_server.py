"""``modelshelf serve`` itself: metrics added up over its worker processes, its log lines (text
and JSON), TCP_NODELAY on client connections, uploads cut short by the client, a restart that
does not wait for idle kept-alive connections, and what a worker keeps out of garbage collection."""
from __future__ import annotations

import ctypes
import errno
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live_server import create_account
from tests.support.servers import Server

pytestmark = pytest.mark.server

HEALTH_RULE = "/-/health"


def log_of(server: Server) -> str:
    port = server.url.rsplit(":", 1)[1]
    return (server.data_dir.parent / f"serve-{port}.log").read_text()


def request(server: Server, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a connection of its own, closed afterwards."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def metric(server: Server, name: str, **labels: str) -> float:
    status, _headers, body = request(server, "GET", "/-/metrics")
    assert status == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def json_lines(server: Server) -> list[dict[str, object]]:
    return [json.loads(line) for line in log_of(server).splitlines()]  # every line is one object


def health_pids(server: Server) -> Counter[int]:
    """How many ``/-/health`` requests each worker process answered, from the access log."""
    return Counter(
        int(str(r["pid"])) for r in json_lines(server) if r["logger"] == "modelshelf.access" and r.get("path") == HEALTH_RULE
    )


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def worker_pids(server: Server) -> list[int]:
    """The gunicorn workers: the children of the ``modelshelf serve`` process."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == server.process.pid:
                found.append(int(entry))
    return sorted(found)


def test_metrics_add_up_every_worker(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"LOG_FORMAT": "json"}, workers=2, threads=2)
    wait_for(lambda: len(worker_pids(server)) == 2)

    # Connections are spread over the workers by the kernel; send until both have answered some.
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while len(health_pids(server)) < 2:
            assert sent < 2000, f"one worker answered every request: {health_pids(server)}"
            statuses = list(pool.map(lambda _: request(server, "GET", "/-/health")[0], range(40)))
            assert statuses == [200] * 40
            sent += 40
            # A request is logged (and counted) once its response is out: a moment after the client has it.
            wait_for(lambda sent=sent: sum(health_pids(server).values()) == sent)
    per_worker = health_pids(server)
    assert sum(per_worker.values()) == sent and min(per_worker.values()) < sent

    # Whichever worker answers /-/metrics, it counts every worker's requests.
    for _ in range(4):
        assert metric(server, "modelshelf_http_requests_total", route=HEALTH_RULE, method="GET", status="200") == sent
    assert metric(server, "modelshelf_http_request_duration_seconds_count", route=HEALTH_RULE, method="GET") == sent

    # A worker that exits is replaced; what it counted stays in the totals.
    gone = worker_pids(server)[0]
    os.kill(gone, signal.SIGTERM)
    wait_for(lambda: len(worker_pids(server)) == 2 and gone not in worker_pids(server))
    assert request(server, "GET", "/-/health")[0] == 200
    wait_for(lambda: sum(health_pids(server).values()) == sent + 1)
    assert metric(server, "modelshelf_http_requests_total", route=HEALTH_RULE, method="GET", status="200") == sent + 1

    # The JSON log: every line is an object (gunicorn's own lines too), each request's with its id.
    status, headers, _body = request(server, "GET", "/-/health", {"X-Request-Id": "json-log-1"})
    assert status == 200 and headers["x-request-id"] == "json-log-1"
    wait_for(lambda: any(r.get("request_id") == "json-log-1" for r in json_lines(server)))
    [line] = [r for r in json_lines(server) if r.get("request_id") == "json-log-1"]
    assert line["logger"] == "modelshelf.access" and line["status"] == 200 and line["method"] == "GET"
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in str(r["message"]) for r in json_lines(server))


@pytest.mark.slow
def test_an_upload_cut_short_stores_nothing(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve()  # text logs, the default
    account = create_account(server)
    project, _path = account.create_project()
    url = f"/api/v4/projects/{project}/packages/generic/model/1.0.0"
    host, port = server.url.removeprefix("http://").split(":")

    def cut_short(name: str, framing: bytes, partial: bytes) -> None:
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(
                f"PUT {url}/{name} HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {account.token}\r\n"
                f"X-Request-Id: cut-{name}\r\n".encode() + framing + b"\r\n" + partial
            )
            time.sleep(0.3)  # the server is reading the body now; then the client goes away

    cut_short("declared.bin", b"Content-Length: 100000\r\n", b"x" * 1000)
    cut_short("chunked.bin", b"Transfer-Encoding: chunked\r\n", b"3e8\r\n" + b"y" * 1000 + b"\r\n")

    wait_for(lambda: log_of(server).count("modelshelf.access [cut-") == 2)
    status, _headers, body = request(server, "GET", f"/api/v4/projects/{project}/packages", {"PRIVATE-TOKEN": account.token})
    assert (status, json.loads(body)) == (200, [])  # before, a body cut short was stored as the whole file
    assert metric(server, "modelshelf_upload_failures_total", reason="client_disconnect") == 2

    log = log_of(server)
    for name in ("declared.bin", "chunked.bin"):
        assert re.search(rf" INFO \[\d+\] modelshelf\.access \[cut-{name}\] PUT {url}/{name} 400 \d+ \d+\.\dms", log), log
    assert "Traceback" not in log

    # A whole upload still works, and its bytes are counted both ways.
    status, _headers, _body = request(server, "PUT", f"{url}/whole.bin", {"PRIVATE-TOKEN": account.token}, b"z" * 5000)
    assert status == 201
    status, _headers, body = request(server, "GET", f"{url}/whole.bin", {"PRIVATE-TOKEN": account.token})
    assert (status, body) == (200, b"z" * 5000)
    assert 5000 <= metric(server, "modelshelf_uploaded_bytes_total") <= 7000  # and what the cut ones delivered
    assert metric(server, "modelshelf_downloaded_bytes_total") == 5000


# -- the connection ---------------------------------------------------------------------------------

SYS_PIDFD_GETFD = 438  # Linux >= 5.6, the same number on every architecture


def peer_socket(pid: int, local_port: int, remote_port: int) -> socket.socket:
    """A duplicate of the socket that process ``pid`` holds for the TCP connection between
    127.0.0.1:``local_port`` (its side) and 127.0.0.1:``remote_port``, taken with pidfd_getfd."""
    wanted = f"0100007F:{local_port:04X} 0100007F:{remote_port:04X}"
    inode = next(
        line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if " ".join(line.split()[1:3]) == wanted
    )
    target = next(int(fd) for fd in os.listdir(f"/proc/{pid}/fd") if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]")
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, target, 0)
        if fd < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOSYS, errno.EPERM):
                pytest.skip(f"pidfd_getfd is not allowed here: {os.strerror(code)}")
            raise OSError(code, os.strerror(code))
    finally:
        os.close(pidfd)
    return socket.socket(fileno=fd)


def test_client_connections_have_tcp_nodelay(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(workers=1)
    wait_for(lambda: bool(worker_pids(server)))  # the port opens before the master forks its worker
    [worker] = worker_pids(server)
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", "/-/health")  # kept alive: the worker holds the socket afterwards
        assert connection.getresponse().read() == b'{"status":"ok"}\n'
        with peer_socket(worker, int(port), connection.sock.getsockname()[1]) as theirs:
            assert theirs.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        connection.close()


def data_segments_in(sock: socket.socket) -> int:
    """TCP segments with data that ``sock`` has received (Linux's ``tcpi_data_segs_in``, at byte 152
    of ``struct tcp_info`` since Linux 4.6)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, 152)[0])


def test_a_small_answer_arrives_in_one_segment(serve) -> None:  # type: ignore[no-untyped-def]
    """The status line, the headers and a small body leave in one ``send``: over loopback (and with
    TCP_NODELAY) that is one segment, so the client wakes once for the whole answer, not once for the
    head and again for the body."""
    server = serve(workers=1)
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", "/-/health")  # the connection and the worker are up
        assert connection.getresponse().read() == b'{"status":"ok"}\n'
        for path, status in (("/-/health", 200), ("/api/v4/projects/none", 404), ("/api/v4/user", 401)):
            before = data_segments_in(connection.sock)
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == status and response.read()
            assert data_segments_in(connection.sock) - before == 1, path
    finally:
        connection.close()


@pytest.mark.slow
def test_a_restart_does_not_wait_for_idle_connections(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(workers=2)
    host, port = server.url.removeprefix("http://").split(":")
    idle = []
    for _ in range(4):  # kept-alive connections a proxy would hold open
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("GET", "/-/health")
        connection.getresponse().read()
        idle.append(connection)
    try:
        started = time.monotonic()
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # seen once under a load of 10: say what the workers were doing
            raise AssertionError(f"still running 60 s after SIGTERM; its log ends:\n{log_of(server)[-4000:]}") from None
        # gunicorn 26's gthread worker alone waits out the whole graceful timeout (120 s) here;
        # ours closes idle connections after the keep-alive time (5 s).
        assert time.monotonic() - started < 30
        assert server.process.returncode == 0
    finally:
        for connection in idle:
            connection.close()


def test_a_worker_told_to_stop_while_it_boots_stops(serve) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM right after a worker is forked: the worker still had the master's handlers, which only
    queue the signal, so it ignored the stop and the master waited out the graceful timeout (120 s)
    before killing it (the restart test above, once, under load). Now it stops at once."""
    server = serve(workers=2)
    log = server.data_dir.parent / f"serve-{server.url.rsplit(':', 1)[1]}.log"
    deadline = time.monotonic() + 60
    while log.read_text().count("Booting worker") < 2:  # the second worker has just been forked
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.002)
    started = time.monotonic()
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running 60 s after SIGTERM; its log ends:\n{log.read_text()[-4000:]}") from None
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_a_worker_keeps_what_it_loaded_out_of_garbage_collection(serve, worker_class: str) -> None:  # type: ignore[no-untyped-def]
    """A full collection scanned every object the app holds (75-95 ms here) while the worker served
    nothing; once the app is loaded they are frozen (``gc.freeze``), and the worker says how many."""
    server = serve({"WORKER_CLASS": worker_class})
    found = re.compile(r"worker (\d+) ready: (\d+) objects kept out of garbage collection")
    wait_for(lambda: found.search(log_of(server)) is not None)
    match = found.search(log_of(server))
    assert match is not None
    # The app's modules, mappers and routes: over 100,000 objects (about 240,000); gunicorn alone is a fraction of it.
    assert int(match.group(1)) in worker_pids(server) and int(match.group(2)) > 100_000, match.group(0)
