"""``modelshelf serve``: gunicorn, tuned for long streamed transfers and for clients that are slow.

The default worker is gunicorn's gevent worker (``_GeventWorker``): each connection is a greenlet,
so a connection that trickles its headers or its body, or sits idle, holds only itself. Deadlines
bound the rest: ``HEADER_TIMEOUT`` for a request's line and headers, ``BODY_TIMEOUT`` for each read of
its body and each write of its answer, ``WORKER_CONNECTIONS`` connections per worker. The threaded
worker of earlier versions (``_ThreadWorker``) stays selectable (``WORKER_CLASS=gthread``)."""
from __future__ import annotations

import errno
import gc
import json
import os
import queue
import shutil
import signal
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import gevent
from gunicorn import http as gunicorn_http
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.errors import NoMoreData
from gunicorn.http.wsgi import Response
from gunicorn.workers.ggevent import GeventWorker
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import ClientDisconnected

from package_api.config import load_settings
from package_api.ops import metrics
from package_api.ops.logs import lean_records, logging_config
from package_api.ops.monitoring import EARLY_WRITE_KEY
from package_api.ops.response import QuietLogger, serve_request

#: Bytes gunicorn asks of the socket per ``recv`` (its default is 8 KiB).
RECV_SIZE = 64 * 1024
#: Bytes of a request body read between two turns given to the other greenlets of a gevent worker.
#: A socket read yields only when no bytes are waiting, and a fast client keeps bytes waiting: one
#: 1 GiB upload over loopback held ``/-/health`` for the whole upload (4.9 s) before this.
YIELD_EVERY = 1024 * 1024


def _no_yield() -> None:
    """``_cooperate`` under a threaded worker: the OS switches threads."""


def _next_loop_turn() -> None:
    """``_cooperate`` under the gevent worker: wait until the event loop has nothing else to do
    (``gevent.idle``, 3 µs when nothing waits), so the other greenlets' sockets are polled and served
    first. ``gevent.sleep(0)`` may run this greenlet again before the loop polls (a 1 GiB upload still
    held ``/-/health`` for 130-200 ms a request), and a timer (``sleep(0.0001)``) costs a millisecond
    a turn, a third of an upload's speed at 1 MiB a turn."""
    gevent.idle()


#: Gives the other greenlets a turn (``_next_loop_turn``) once a gevent worker has started.
_cooperate: Callable[[], None] = _no_yield

#: What reading a request body raises when its client is silent past ``BODY_TIMEOUT`` or has gone
#: (a reset connection, a broken pipe): the client's failure, answered as ``ClientDisconnected`` with
#: the connection closed, never as a server error with a traceback.
_CLIENT_GONE = (TimeoutError, ConnectionError)


class _LengthBody:
    """``wsgi.input`` of a request with a ``Content-Length``, read through gunicorn's length reader
    in the sizes asked for. gunicorn's ``Body.read`` pulls the body 1 KiB at a time through a buffer
    it copies on each pull, which caps uploads near 230 MiB/s on a 2-core machine; this reads the
    same bytes about twice as fast. It never buffers, so ``Body``'s own methods stay usable.

    A body that ends before its ``Content-Length`` raises werkzeug's ``ClientDisconnected`` (what
    werkzeug's own length-limited stream raises): gunicorn's reader returns what it got when the
    client goes away as if that were all, and an upload cut short would be stored cut short. So does a
    client silent for longer than the socket's timeout (``BODY_TIMEOUT``) or whose connection resets,
    and its connection is then closed after the answer (``close``), its body unread."""

    def __init__(self, body: Body, reader: LengthReader, close: Callable[[], None]) -> None:
        self._body = body
        self._reader = reader  # ``body.reader``, known to be a length reader
        self._close = close
        self._unyielded = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(RECV_SIZE), b""))
        wanted = min(size, self._reader.length)
        try:
            data = bytes(self._reader.read(size))
        except _CLIENT_GONE:
            self._close()
            raise ClientDisconnected() from None
        if len(data) < wanted:
            raise ClientDisconnected()
        self._unyielded += len(data)
        if self._unyielded >= YIELD_EVERY:
            self._unyielded = 0
            _cooperate()
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Receive the next bytes of the body straight into ``buffer`` (one ``recv_into`` on the
        socket: what has arrived, up to the buffer's length and the body's end), without gunicorn's
        reader and its copies; return how many, 0 at the end of the body. What gunicorn already
        holds of the body (read with the headers) comes first, through ``read``. Reports a short
        body and a silent client as ``read`` does, and gives the other greenlets a turn as often:
        a receive stops at the next ``YIELD_EVERY`` mark, whatever the buffer's length."""
        wanted = min(len(buffer), self._reader.length)
        if wanted <= 0:
            return 0
        unreader = self._reader.unreader
        sock = getattr(unreader, "sock", None)
        held = unreader.buf.getbuffer().nbytes
        if held or sock is None:
            data = self.read(min(wanted, held or RECV_SIZE))
            buffer[: len(data)] = data
            return len(data)
        # Up to the next turn at most: one ``recv_into`` goes on copying for as long as the client keeps
        # the socket fed (6 MB in one call was seen over a Unix socket on a loaded machine), so a buffer
        # of many MiB would otherwise hold the other greenlets for all of it.
        wanted = min(wanted, YIELD_EVERY - self._unyielded)
        try:
            got = int(sock.recv_into(buffer[:wanted] if wanted < len(buffer) else buffer))
        except _CLIENT_GONE:
            self._close()
            raise ClientDisconnected() from None
        if not got:
            raise ClientDisconnected()
        self._reader.length -= got
        self._unyielded += got
        if self._unyielded >= YIELD_EVERY:
            self._unyielded = 0
            _cooperate()
        return got

    def readline(self, size: int | None = None) -> bytes:
        try:
            return bytes(self._body.readline(size))
        except _CLIENT_GONE:
            self._close()
            raise ClientDisconnected() from None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class _ChunkedBody:
    """``wsgi.input`` of any other request (chunked): gunicorn's, with a client that goes away
    mid-body reported as ``ClientDisconnected`` rather than gunicorn's ``NoMoreData``, so that the
    app answers it as one (a 400 nobody reads, no traceback) instead of as a server error. A client
    silent for longer than ``BODY_TIMEOUT`` or whose connection resets too, and its connection is
    closed after the answer."""

    def __init__(self, body: Body, close: Callable[[], None]) -> None:
        self._body = body
        self._close = close
        self._unyielded = 0

    def read(self, size: int | None = None) -> bytes:
        try:
            data = bytes(self._body.read(size))
            self._unyielded += len(data)
            if self._unyielded >= YIELD_EVERY:
                self._unyielded = 0
                _cooperate()
            return data
        except NoMoreData:
            raise ClientDisconnected() from None
        except _CLIENT_GONE:
            self._close()
            raise ClientDisconnected() from None

    def readline(self, size: int | None = None) -> bytes:
        try:
            return bytes(self._body.readline(size))
        except NoMoreData:
            raise ClientDisconnected() from None
        except _CLIENT_GONE:
            self._close()
            raise ClientDisconnected() from None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def _fast_input(app: Callable[..., Any]) -> Callable[..., Any]:
    """The app, with gunicorn's ``wsgi.input`` replaced (``_LengthBody``, ``_ChunkedBody``), and the
    connection closed after a 413 or a body that timed out instead of kept alive: gunicorn would
    otherwise read the rest of the refused body to reach the next request, for as long as the client
    cares to send it."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        response = getattr(start_response, "__self__", None)  # gunicorn's Response
        close: Callable[[], None] = response.force_close if isinstance(response, Response) else _keep_open
        environ[EARLY_WRITE_KEY] = True  # gunicorn's ``write`` sends at once
        body = environ.get("wsgi.input")
        if isinstance(body, Body) and isinstance(body.reader, LengthReader) and not body.buf.tell():
            unreader = body.reader.unreader
            if hasattr(unreader, "mxchunk"):
                unreader.mxchunk = max(unreader.mxchunk, RECV_SIZE)
            environ["wsgi.input"] = _LengthBody(body, body.reader, close)
        elif isinstance(body, Body):
            environ["wsgi.input"] = _ChunkedBody(body, close)

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("413"):
                close()
            return start_response(status, headers, exc_info)

        return app(environ, respond)

    return wsgi


def _keep_open() -> None:
    """``close`` of a server that is not gunicorn (a test's WSGI server): nothing to do."""


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


class _GeventWorker(GeventWorker):
    """gunicorn's gevent worker: a greenlet per connection, with deadlines for slow clients.

    - A request's line and headers must arrive within ``HEADER_TIMEOUT`` seconds of the connection
      (gunicorn's own bound is ``keepalive``); on a kept-alive connection the next request must
      arrive whole within ``KEEPALIVE`` seconds of the previous answer (or ``HEADER_TIMEOUT`` if
      shorter). Past it, the connection is closed unanswered.
    - The connection's socket times out after ``BODY_TIMEOUT`` seconds without progress: a body that
      stops arriving for that long is given up (``ClientDisconnected``, so nothing is stored) and the
      connection closed; so is a download whose client stops reading for that long.
    - A connection closed after an answer (a 413, a body timeout, ``Connection: close``) is shut down
      for writing and read for ``LINGER`` seconds at most before it is closed, so that a client still
      sending a refused body reads the answer instead of a reset.
    - On SIGTERM, connections waiting for a request are closed at once; requests in flight get the
      graceful timeout. gunicorn's 500 and 400 pages are JSON (``_write_json_error``).

    This replaces ``AsyncWorker.handle`` rather than extending it: that one bounds every request's
    headers by ``keepalive`` alone, logs a timed-out socket as a server error with its traceback,
    closes without lingering, and speaks HTTP/2 (which ``modelshelf serve`` does not enable)."""

    header_timeout = 10.0
    body_timeout = 60.0

    def init_process(self) -> None:
        global _cooperate
        gunicorn_util.write_error = _write_json_error
        _cooperate = _next_loop_turn
        self._waiting: dict[Any, gevent.Timeout] = {}
        super().init_process()  # patches the standard library for gevent, then loads the app

    def patch(self) -> None:
        with warnings.catch_warnings():  # gevent's warning names the copies _rebind_unpatched_ssl fixes
            warnings.filterwarnings("ignore", message="Monkey-patching ssl after ssl has already been imported")
            super().patch()
        _rebind_unpatched_ssl()
        _cooperative_psycopg_waits()
        from gevent import socket as gevent_socket

        gevent_socket.socket.sendfile = _cooperative_sendfile

    def run(self) -> None:
        gevent.spawn(self._close_waiting_on_exit)
        super().run()

    def _close_waiting_on_exit(self) -> None:
        while self.alive:
            gevent.sleep(0.25)
        while True:  # until the worker exits; a request in flight ends its connection itself
            for greenlet, deadline in list(self._waiting.items()):
                greenlet.kill(deadline, block=False)
            gevent.sleep(0.25)

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        client.settimeout(self.body_timeout)
        req = None
        served = False
        try:
            parser = gunicorn_http.get_parser(self.cfg, client, addr)
            listener_name = listener.getsockname()
            while True:
                req = None
                limit = min(KEEPALIVE, self.header_timeout) if served else self.header_timeout
                with gevent.Timeout(limit, False) as deadline:
                    self._waiting[gevent.getcurrent()] = deadline
                    try:
                        req = next(parser)
                    finally:
                        del self._waiting[gevent.getcurrent()]
                if not req:
                    self.log.debug("Closing a connection whose request did not arrive within %s s", limit)
                    break
                served = True
                self.handle_request(listener_name, req, client, addr)
        except NoMoreData as exc:
            self.log.debug("Ignored premature client disconnection. %s", exc)
        except StopIteration:
            if served:
                _linger(client)
        except TimeoutError:
            self.log.info("Closed a connection silent for %s s (BODY_TIMEOUT)", self.body_timeout)
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.debug("Ignoring %s", exc)
            else:
                self.log.exception("Socket error processing request.")
        except Exception as exc:  # what gunicorn answers itself: 400 for a malformed request, else 500
            self.handle_error(req, client, addr, exc)
        finally:
            gunicorn_util.close(client)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
        """Serve one request (``package_api.ops.response.serve_request``: the head and a small body
        in one ``send``); a greenlet killed or a worker exiting ends it quietly, as in gunicorn's."""
        try:
            return serve_request(self, listener_name, req, sock, addr)
        except (gevent.GreenletExit, SystemExit):
            return False


def _cooperative_sendfile(sock: Any, file: Any, offset: int = 0, count: int | None = None) -> int:
    """``os.sendfile`` on a gevent socket, waiting for it to drain in gevent (``wait_write``, within the
    socket's timeout: ``BODY_TIMEOUT``) and giving the other greenlets a turn after each call.

    gevent's sockets give up on ``os.sendfile`` and send files 8 KiB at a time through ``send``:
    gunicorn answers every file download with ``socket.sendfile``, and downloads took half again as
    long, at half again the CPU, as under the threaded worker. This keeps the kernel's zero-copy path."""
    from gevent.socket import wait_write

    sock._check_sendfile_params(file, offset, count)
    sockno, fileno = sock.fileno(), file.fileno()
    total = 0
    try:
        while count is None or total < count:
            chunk = 1 << 30 if count is None else min(count - total, 1 << 30)
            try:
                sent = os.sendfile(sockno, fileno, offset, chunk)
            except BlockingIOError:
                wait_write(sockno, timeout=sock.gettimeout())
                continue
            if not sent:
                break  # end of file
            offset += sent
            total += sent
            _cooperate()
        return total
    finally:
        if total and hasattr(file, "seek"):
            file.seek(offset)


def _rebind_unpatched_ssl() -> None:
    """Point names that modules imported from ``ssl`` before gevent patched it at gevent's.

    The master imported the app (its schema check) before forking, and with it urllib3 (minio's
    HTTP client), which took ``SSLContext`` from ``ssl`` by name: gevent's patching, in the worker,
    cannot reach such copies (its MonkeyPatchWarning names them). With ``S3_SECURE`` every S3 call
    would then wait in the standard library's blocking TLS, holding every greenlet of the worker."""
    import ssl

    from gevent import monkey

    for name in ("SSLContext", "SSLSocket", "SSLObject"):
        original = monkey.get_original("ssl", name)
        patched = getattr(ssl, name, None)
        if original is patched or patched is None:
            continue
        for module in list(sys.modules.values()):
            if module is not None and module is not ssl and getattr(module, name, None) is original:
                setattr(module, name, patched)


def _cooperative_psycopg_waits() -> None:
    """Make psycopg wait for PostgreSQL in gevent's ``poll`` if it chose its C wait before patching.

    psycopg picks its wait function once, when ``psycopg.waiting`` is imported: its C one unless
    ``select`` is already patched. The master imports it (its schema check) before forking, so the
    worker inherited the C wait, which blocks the whole process: every greenlet of the worker stood
    still for each query's round trip, and a query waiting on a row lock that another greenlet of
    the same worker holds (and would release once it ran again) stalled the worker until the arbiter
    killed it. ``wait_poll`` calls ``select.poll`` when it runs, which is gevent's once patched."""
    waiting = sys.modules.get("psycopg.waiting")
    if waiting is not None and getattr(waiting, "wait", None) is getattr(waiting, "wait_c", object()):
        waiting.wait = waiting.wait_poll  # type: ignore[attr-defined]


def _linger(sock: socket.socket) -> None:
    """Shut ``sock`` for writing and read what the client still sends, for ``LINGER`` seconds at
    most, before it is closed: closing a socket with unread bytes sends a reset, and a client that is
    still sending a body it was refused would get the reset instead of the answer."""
    try:
        sock.shutdown(socket.SHUT_WR)
        end = time.monotonic() + LINGER
        while (left := end - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(RECV_SIZE):
                break
    except OSError:
        pass


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
#: Seconds a connection closed after an answer is still read before it is closed (``_linger``).
LINGER = 2.0
#: Default seconds in-flight requests get to finish on SIGTERM/SIGHUP before their worker is
#: killed: a restart waits for transfers this long (a 20 GiB upload at 200 MB/s takes 100 s).
GRACEFUL_TIMEOUT = 120


def run(
    *, host: str, port: int, workers: int, threads: int, graceful_timeout: int = GRACEFUL_TIMEOUT, worker_class: str | None = None
) -> None:
    """Serve until interrupted. gunicorn answers ``Expect: 100-continue`` itself, and both workers
    stream request bodies, so a multi-GB upload neither waits nor buffers. ``worker_class`` is
    ``gevent`` (the ``WORKER_CLASS`` setting's default) or ``gthread`` (``threads`` threads a worker).

    TCP_NODELAY: gunicorn sets it on its TCP listening socket, and Linux copies it to every socket
    ``accept`` returns (tests/e2e/test_server.py checks a live connection), so small responses are not
    held back by Nagle's algorithm waiting for the client's delayed ACK.

    Metrics: each worker counts in files under ``PROMETHEUS_MULTIPROC_DIR`` (the one given in the
    environment, emptied first, or a directory of our own removed at exit), and ``/-/metrics``
    adds up every worker's; a worker that exits is marked dead.
    """
    settings = load_settings()
    kind = worker_class or str(settings["WORKER_CLASS"])
    if kind not in WORKER_CLASSES:
        raise ValueError(f"WORKER_CLASS is {kind!r}; it must be one of {', '.join(sorted(WORKER_CLASSES))}")
    _GeventWorker.header_timeout = float(settings["HEADER_TIMEOUT"])
    _GeventWorker.body_timeout = float(settings["BODY_TIMEOUT"])
    lean_records()
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
                "worker_class": WORKER_CLASSES[kind],
                "worker_connections": int(settings["WORKER_CONNECTIONS"]),
                "timeout": WORKER_TIMEOUT,
                "graceful_timeout": graceful_timeout,
                "keepalive": KEEPALIVE,
                # One access line per request comes from package_api.ops.monitoring, with its request id.
                "accesslog": None,
                "errorlog": "-",
                "logger_class": QuietLogger,
                "logconfig_dict": logging_config(str(settings["LOG_FORMAT"])),
                "child_exit": _worker_exited,
                "post_fork": _worker_forked,
                "post_worker_init": _worker_ready,
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


#: ``WORKER_CLASS`` -> gunicorn worker.
WORKER_CLASSES: dict[str, type[Any]] = {"gevent": _GeventWorker, "gthread": _ThreadWorker}


def _worker_exited(_server: Any, worker: Any) -> None:
    metrics.mark_worker_dead(worker.pid)


def _worker_ready(worker: Any) -> None:
    """Once the worker has loaded the app, its objects (modules, mappers, compiled statements: about
    240,000) are moved out of the garbage collector's reach (``gc.freeze``): they live as long as the
    worker. A full collection scanned them all, 75-95 ms on a 2-core machine here, and a gevent
    worker serves nothing while it runs; it now scans what requests left alive since."""
    gc.collect()
    gc.freeze()
    worker.log.info("worker %s ready: %d objects kept out of garbage collection", worker.pid, gc.get_freeze_count())


#: The signals that stop a worker.
_STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _worker_forked(arbiter: Any, _worker: Any) -> None:
    """A new worker stops at once if told to while it boots.

    Until the worker installs its own handlers (after gevent's patching and more, which under load
    takes seconds), it has the master's: they only queue the signal in the worker's copy of the
    master's queue, which nobody reads. So a SIGTERM sent to a booting worker (``kill`` on the process
    group, or the master stopping) was lost, and the stop waited for the whole graceful timeout
    (120 s) before the master's SIGKILL. Here the default actions come back right after the fork, and
    a stop that arrived before that, found in the queue, ends the worker: it has no requests yet."""
    for number in _STOPPING:
        signal.signal(number, signal.SIG_DFL)
    if any(number in _STOPPING for number in _drained(arbiter.SIG_QUEUE)):
        sys.exit(0)


def _drained(signals: Any) -> list[Any]:
    """What the worker's copy of the master's signal queue (a ``queue.SimpleQueue``) holds."""
    found = []
    while True:
        try:
            found.append(signals.get_nowait())
        except queue.Empty:
            return found

