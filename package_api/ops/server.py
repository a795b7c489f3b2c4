"""``modelshelf serve``: gunicorn with threaded workers, tuned for long streamed transfers."""
from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import ClientDisconnected

from package_api.config import load_settings
from package_api.ops import metrics
from package_api.ops.logs import logging_config

#: Bytes gunicorn asks of the socket per ``recv`` (its default is 8 KiB).
RECV_SIZE = 64 * 1024


class _LengthBody:
    """``wsgi.input`` of a request with a ``Content-Length``, read through gunicorn's length reader
    in the sizes asked for. gunicorn's ``Body.read`` pulls the body 1 KiB at a time through a buffer
    it copies on each pull, which caps uploads near 230 MiB/s on a 2-core machine; this reads the
    same bytes about twice as fast. It never buffers, so ``Body``'s own methods stay usable.

    A body that ends before its ``Content-Length`` raises werkzeug's ``ClientDisconnected`` (what
    werkzeug's own length-limited stream raises): gunicorn's reader returns what it got when the
    client goes away as if that were all, and an upload cut short would be stored cut short."""

    def __init__(self, body: Body, reader: LengthReader) -> None:
        self._body = body
        self._reader = reader  # ``body.reader``, known to be a length reader

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(RECV_SIZE), b""))
        wanted = min(size, self._reader.length)
        data = bytes(self._reader.read(size))
        if len(data) < wanted:
            raise ClientDisconnected()
        return data

    def readline(self, size: int | None = None) -> bytes:
        return bytes(self._body.readline(size))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)


class _ChunkedBody:
    """``wsgi.input`` of any other request (chunked): gunicorn's, with a client that goes away
    mid-body reported as ``ClientDisconnected`` rather than gunicorn's ``NoMoreData``, so that the
    app answers it as one (a 400 nobody reads, no traceback) instead of as a server error."""

    def __init__(self, body: Body) -> None:
        self._body = body

    def read(self, size: int | None = None) -> bytes:
        try:
            return bytes(self._body.read(size))
        except NoMoreData:
            raise ClientDisconnected() from None

    def readline(self, size: int | None = None) -> bytes:
        try:
            return bytes(self._body.readline(size))
        except NoMoreData:
            raise ClientDisconnected() from None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def _fast_input(app: Callable[..., Any]) -> Callable[..., Any]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = environ.get("wsgi.input")
        if isinstance(body, Body) and isinstance(body.reader, LengthReader) and not body.buf.tell():
            unreader = body.reader.unreader
            if hasattr(unreader, "mxchunk"):
                unreader.mxchunk = max(unreader.mxchunk, RECV_SIZE)
            environ["wsgi.input"] = _LengthBody(body, body.reader)
        elif isinstance(body, Body):
            environ["wsgi.input"] = _ChunkedBody(body)
        return app(environ, start_response)

    return wsgi


def _write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it refuses before the app sees it (a request line over 4094
    bytes, a malformed header...), as JSON in GitLab's error shape instead of an HTML page: the
    clients of an API read JSON (the OpenAPI document says so, and the schemathesis run checks it).
    The URL is unknown at this point, so every surface gets this one shape. The parameters are named
    as gunicorn names those of the ``write_error`` this replaces."""
    body = json.dumps({"message": f"{status_int} {reason} - {mesg}" if mesg else f"{status_int} {reason}"}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class _ThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, made to look at its connections at least once a second. On
    SIGTERM it waits for its connections to close, idle kept-alive ones included, but sleeps in its
    poller for the rest of the graceful timeout instead of closing those once ``keepalive`` has
    passed (gunicorn 26): a restart behind a proxy that keeps connections open took the whole
    graceful timeout. Now it takes ``keepalive`` seconds more than the requests in flight.

    It also answers the requests gunicorn refuses in JSON (``_write_json_error``), and serves a
    kept-alive connection's next request that is already read (``finish_request``)."""

    def init_process(self) -> None:
        gunicorn_util.write_error = _write_json_error  # what gunicorn's handle_error writes with
        super().init_process()

    def wait_for_and_dispatch_events(self, timeout: float | None) -> None:
        # gunicorn 26 always passes a number; ``None`` (no limit, as the base class allows) is a second too.
        super().wait_for_and_dispatch_events(1.0 if timeout is None else min(timeout, 1.0))

    def finish_request(self, conn: Any, fs: Any) -> None:
        """Serve a kept-alive connection's next request at once when it is already read.

        After a response that did not read the request body, gunicorn drains the body before it puts
        the connection back in its poller. A client that sent the body after the headers (urllib3
        does) and its next request as soon as the answer came may have both arrive in the drain's
        ``recv``: the next request then waits in the parser's buffer while the poller waits for the
        socket to become readable, until ``keepalive`` runs out and the connection is closed
        unanswered (gunicorn 26.2). Found by the schemathesis run (tests/e2e/test_schemathesis.py).
        """
        if self.alive and not fs.cancelled() and fs.exception() is None and fs.result() is True:
            unreader = getattr(conn.parser, "unreader", None)
            if unreader is not None and unreader.buf.getbuffer().nbytes:
                self.enqueue_req(conn)
                return
        super().finish_request(conn, fs)


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> Any:
        from package_api.app import create_app

        return _fast_input(create_app())


#: gunicorn's ``timeout`` is not a limit on a request. A gthread worker's main thread tells the
#: master it is alive on every turn of its event loop (at least once a second) while other threads
#: stream requests, so a transfer of an hour is fine; the master kills a worker that has been silent
#: this long, i.e. one whose main loop is stuck (or that takes this long to start: loading the app
#: and reaching the database). Long enough not to shoot a worker that is slow to boot.
WORKER_TIMEOUT = 120
#: Seconds an idle kept-alive connection is held (in the worker's poller, not on a thread). Short,
#: because on SIGTERM a worker waits for its idle kept-alive connections to time out too (see
#: ``_ThreadWorker``). A proxy must close its idle upstream connections sooner than this (nginx:
#: ``keepalive_timeout 4s`` in the upstream block, docs/deploy.md), or it may send a request on a
#: connection we are closing.
KEEPALIVE = 5
#: Default seconds in-flight requests get to finish on SIGTERM/SIGHUP before their worker is
#: killed: a restart waits for transfers this long (a 20 GiB upload at 200 MB/s takes 100 s).
GRACEFUL_TIMEOUT = 120


def run(*, host: str, port: int, workers: int, threads: int, graceful_timeout: int = GRACEFUL_TIMEOUT) -> None:
    """Serve until interrupted. gunicorn answers ``Expect: 100-continue`` itself, and the gthread
    worker streams request bodies, so a multi-GB upload neither waits nor buffers.

    TCP_NODELAY: gunicorn sets it on its TCP listening socket, and Linux copies it to every socket
    ``accept`` returns (tests/e2e/test_server.py checks a live connection), so small responses are not
    held back by Nagle's algorithm waiting for the client's delayed ACK.

    Metrics: each worker counts in files under ``PROMETHEUS_MULTIPROC_DIR`` (the one given in the
    environment, emptied first, or a directory of our own removed at exit), and ``/-/metrics``
    adds up every worker's; a worker that exits is marked dead.
    """
    settings = load_settings()
    given = os.environ.get(metrics.MULTIPROCESS_ENV)
    directory = given or tempfile.mkdtemp(prefix="modelshelf-metrics-")
    metrics.use_multiprocess_dir(directory)
    master = os.getpid()
    try:
        _Gunicorn(
            {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": _ThreadWorker,
                "timeout": WORKER_TIMEOUT,
                "graceful_timeout": graceful_timeout,
                "keepalive": KEEPALIVE,
                # One access line per request comes from package_api.ops.monitoring, with its request id.
                "accesslog": None,
                "errorlog": "-",
                "logconfig_dict": logging_config(str(settings["LOG_FORMAT"])),
                "child_exit": _worker_exited,
                # gunicorn 25+ opens a control socket at one fixed path per user; several nodes on
                # one machine would take it from each other, and we do not use it.
                "control_socket_disable": True,
            }
        ).run()
    finally:
        # Workers are forked inside run() and leave it through here too, but the directory is the
        # master's to remove, when it stops.
        if not given and os.getpid() == master:
            shutil.rmtree(directory, ignore_errors=True)


def _worker_exited(_server: Any, worker: Any) -> None:
    metrics.mark_worker_dead(worker.pid)
