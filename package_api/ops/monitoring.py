"""Operations: ``/-/health``, ``/-/readiness`` and ``/-/metrics``, and what every request passes
through on its way in and out: an id, one access log line, and its metrics.

- ``/-/health``: the process answers (a liveness probe); nothing else is looked at.
- ``/-/readiness``: the database answers ``SELECT 1`` and the store its ``check()``, each within
  ``READINESS_TIMEOUT`` seconds; 503 otherwise, naming each failing check and its error class (the
  message goes to the log, not to the caller). A stuck PostgreSQL or NFS mount makes the probe fail
  in time instead of hanging it.
- ``/-/metrics``: Prometheus text, for the networks in ``METRICS_ALLOWED_CIDRS`` only; anyone else
  gets the 404 of a page that does not exist.
"""
from __future__ import annotations

import ipaddress
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from sqlalchemy import text

from package_api.db import db
from package_api.ops.logs import REQUEST_ID_HEADER, bind_request_id, request_id_for
from package_api.ops.metrics import Metrics

log = logging.getLogger(__name__)
#: One line per request, written when its response has been sent.
access_log = logging.getLogger("modelshelf.access")

bp = Blueprint("ops", __name__, url_prefix="/-")

#: WSGI environ keys: the request's id, and the URL rule that answered it (the route label).
REQUEST_ID_KEY = "modelshelf.request_id"
ROUTE_KEY = "modelshelf.route"
#: WSGI environ key: the Flask response being answered, as the last after-request hook saw it.
RESPONSE_KEY = "modelshelf.response"
#: WSGI environ key, true when the server sends what ``write`` is given at once, before the body it
#: is returned (gunicorn does, ``package_api.ops.server`` says so). werkzeug's test client keeps
#: ``write``'s bytes only when it does not buffer the body.
EARLY_WRITE_KEY = "modelshelf.early_write"
#: A body held in memory up to this size is written (WSGI's ``write``) as soon as the response
#: starts, before Flask tears the request down, rather than returned for the server to send after
#: it: closing the database session and popping the contexts (70-100 µs of an MLflow read) then
#: happen while the client reads the answer. Small enough for any socket's send buffer to take at
#: once, so that a slow client cannot hold the request's database connection.
EARLY_LIMIT = 16 * 1024

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@bp.get("/health")
def health() -> Response:
    return jsonify(status="ok")


@bp.get("/readiness")
def readiness() -> tuple[Response, int]:
    engine = db.engine
    storage = current_app.extensions["modelshelf.storage"]
    checks = run_checks(
        {"database": lambda: _check_database(engine), "storage": storage.check},
        # A backstop past the S3 store's own bound (READINESS_TIMEOUT for connecting, again for reading),
        # which fails with the store's own error first.
        timeout=2 * float(current_app.config["MODELSHELF"].get("READINESS_TIMEOUT") or 2) + 0.5,
        blocking={"storage"} if getattr(storage, "check_blocks", False) else set(),
        stuck=current_app.extensions.setdefault(STUCK_CHECKS, {}),
    )
    ready = all(result["status"] == "ok" for result in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    if not address_allowed(request.remote_addr, current_app.extensions["modelshelf.metrics_networks"]):
        abort(404)
    body, content_type = current_app.extensions["modelshelf.metrics"].exposition(request.headers.get("Accept"))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def _check_database(engine: Any) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


class CheckTimedOut(Exception):
    """A readiness check that did not answer within ``READINESS_TIMEOUT``."""


#: ``app.extensions`` key: the app's checks still running on a thread of their own after they timed
#: out (a hung mount), so the next probe fails at once instead of starting another thread to hang.
#: Kept per app: one app's hung database says nothing about another's (tests make many apps).
STUCK_CHECKS = "modelshelf.readiness_stuck"


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


class _CheckThread(threading.Thread):
    def __init__(self, check: Callable[[], None]) -> None:
        super().__init__(name="readiness-check", daemon=True)
        self._check = check
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self._check()
        except Exception as exc:  # noqa: BLE001 - handed to the caller, which reports any failure
            self.error = exc

    def ready(self) -> bool:
        return not self.is_alive()


def run_checks(
    checks: Mapping[str, Callable[[], None]],
    *,
    timeout: float | None = None,
    blocking: Iterable[str] = (),
    stuck: dict[str, Any] | None = None,
) -> dict[str, dict[str, str]]:
    """Run each check; one that raises is ``{"status": "error", "error": <its class>}``.

    With a ``timeout``, the checks run at once and each is given up after it (``CheckTimedOut``).
    Under the gevent worker a check that waits on sockets (the database, S3) is bounded by a gevent
    timeout, and one that waits in system calls (``blocking``: the filesystem store) runs on a thread
    of gevent's pool; under threads each runs on a thread of its own. A check still hanging from an
    earlier probe (kept in ``stuck``) is not started again: it fails at once."""
    errors: dict[str, Exception | None] = {}
    if timeout is None:
        for name, check in checks.items():
            errors[name] = _error_of(check)
        return _results(errors)
    stuck = {} if stuck is None else stuck
    deadline = time.monotonic() + timeout
    cooperative = _gevent_patched()
    blocking = set(blocking)
    running: dict[str, Any] = {}
    for name, check in checks.items():
        previous = stuck.get(name)
        if previous is not None and not previous.ready():
            errors[name] = CheckTimedOut(f"the check of an earlier probe has not answered ({timeout} s)")
        elif not cooperative:
            running[name] = _CheckThread(check)
            running[name].start()
        elif name in blocking:
            import gevent

            running[name] = gevent.get_hub().threadpool.spawn(_error_of, check)
    for name, check in checks.items():
        if name in errors or name in running:
            continue
        import gevent

        errors[name] = _error_of(check, gevent.Timeout(max(0.0, deadline - time.monotonic()), CheckTimedOut(f"no answer within {timeout} s")))
    for name, work in running.items():
        left = max(0.0, deadline - time.monotonic())
        if isinstance(work, _CheckThread):
            work.join(left)
            done, error = work.ready(), work.error
        else:
            done = work.wait(left) is not None or work.ready()
            error = work.get() if done else None
        if done:
            errors[name] = error
        else:
            stuck[name] = work
            errors[name] = CheckTimedOut(f"no answer within {timeout} s")
    return _results({name: errors[name] for name in checks})


def _error_of(check: Callable[[], None], bound: Any = None) -> Exception | None:
    """What ``check()`` raised (``None``: it passed), within the gevent timeout ``bound`` if given."""
    try:
        if bound is None:
            check()
        else:
            with bound:
                check()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", whatever raised it
        return exc
    return None


def _results(errors: Mapping[str, Exception | None]) -> dict[str, dict[str, str]]:
    results: dict[str, dict[str, str]] = {}
    for name, error in errors.items():
        if error is not None:
            log.warning("readiness check %s failed: %s: %s", name, type(error).__name__, error)
            results[name] = {"status": "error", "error": type(error).__name__}
        else:
            results[name] = {"status": "ok"}
    return results


def parse_networks(setting: str) -> tuple[Network, ...]:
    """``127.0.0.0/8,::1`` -> networks; raise ``ValueError`` for a malformed one (at start-up)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())


def address_allowed(address: str | None, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False  # a Unix socket's peer, or no address: not known to be allowed
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
    return any(ip in network for network in networks)


# -- every request --------------------------------------------------------------------------------


class RequestObserver:
    """WSGI middleware around the Flask app: give the request an id (the client's sane
    ``X-Request-Id``, or a new one), bind it for the log records of the request, answer it in
    ``X-Request-Id``, and once the response has been sent (or abandoned), count the request in the
    metrics and write its access line: method, path (never the query: it may hold a token), status,
    body bytes sent, duration and id."""

    def __init__(self, app: WSGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        exchange = _Exchange(environ, self.metrics, request_id_for(environ.get("HTTP_X_REQUEST_ID")))
        environ[REQUEST_ID_KEY] = exchange.request_id
        bind_request_id(exchange.request_id)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            exchange.status = int(status.split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, exchange.request_id))
            write = start_response(status, headers, exc_info)
            response = environ.pop(RESPONSE_KEY, None)
            early = _early_body(response, environ, status) if environ.get(EARLY_WRITE_KEY) else None
            if early is not None:
                exchange.written = True  # the body returned is this one: it is not sent again
                write(early)
                exchange.sent += len(early)
            return write

        try:
            body = self.app(environ, start)
        except BaseException:
            exchange.status = exchange.status if exchange.written else 500
            exchange.finish(complete=False)
            raise
        return _ObservedBody(body, exchange)


def _early_body(response: Any, environ: dict[str, Any], status: str) -> bytes | None:
    """The body to write at once (``EARLY_LIMIT``) of ``response`` as it starts with ``status``:
    bytes held in memory (not a stream, not passed through), some and at most ``EARLY_LIMIT`` of
    them, on an answer that has a body (not a ``HEAD``, 1xx, 204 or 304); else ``None``. A response
    noted by the hook that is not the one starting (an error answered after the hooks ran) has
    another status and is not taken."""
    if response is None or response.direct_passthrough or not response.is_sequence or response.status != status:
        return None
    code = response.status_code
    if environ.get("REQUEST_METHOD") == "HEAD" or code < 200 or code in (204, 304):
        return None
    chunks = response.response
    if not all(isinstance(chunk, bytes) for chunk in chunks):
        return None
    size = sum(map(len, chunks))
    if not 0 < size <= EARLY_LIMIT:
        return None
    return bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks)


class _Exchange:
    def __init__(self, environ: dict[str, Any], metrics: Metrics, request_id: str) -> None:
        self.environ = environ
        self.metrics = metrics
        self.request_id = request_id
        self.started = time.perf_counter()
        self.status = 0
        self.sent = 0
        self.written = False  # the body went out through ``write`` as the response started
        self.finished = False

    def finish(self, *, complete: bool) -> None:
        if self.finished:
            return
        self.finished = True
        seconds = time.perf_counter() - self.started
        method = str(self.environ.get("REQUEST_METHOD", ""))
        path = _printable(str(self.environ.get("SCRIPT_NAME", "")) + str(self.environ.get("PATH_INFO", "")))
        try:
            self.metrics.observe_request(self.environ.get(ROUTE_KEY), method, self.status, seconds)
            access_log.info(
                "%s %s %s %d %.1fms%s",
                method,
                path,
                self.status,
                self.sent,
                seconds * 1000,
                "" if complete else " incomplete",
                extra={
                    "request_id": self.request_id,
                    "http": {
                        "method": method,
                        "path": path,
                        "route": self.environ.get(ROUTE_KEY),
                        "status": self.status,
                        "bytes": self.sent,
                        "duration_ms": round(seconds * 1000, 3),
                        "complete": complete,
                        "remote_addr": self.environ.get("REMOTE_ADDR"),
                    },
                },
            )
        finally:
            bind_request_id(None)


class _ObservedBody:
    """The response body as the server takes it; ``close`` (which every WSGI server calls, also
    when the client went away) finishes the exchange."""

    def __init__(self, body: Iterable[bytes], exchange: _Exchange) -> None:
        self._body = body
        self._exchange = exchange
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        if self._exchange.written:
            self._complete = True
            return
        for chunk in self._body:
            self._exchange.sent += len(chunk)
            yield chunk
        self._complete = True

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._exchange.finish(complete=self._complete)


def _printable(path: str) -> str:
    """``path`` with control characters escaped: a decoded ``%0A`` must not start a log line."""
    if path.isprintable():
        return path
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)


def _note_route() -> None:
    rule = request.url_rule
    request.environ[ROUTE_KEY] = rule.rule if rule is not None else None


def _note_response(response: Response) -> Response:
    request.environ[RESPONSE_KEY] = response
    return response


def register(app: Flask) -> None:
    """Add the ``/-/`` endpoints, the metrics and the request observer to ``app``."""
    settings = app.config["MODELSHELF"]
    metrics = Metrics()
    app.extensions["modelshelf.metrics"] = metrics
    app.extensions["modelshelf.metrics_networks"] = parse_networks(str(settings["METRICS_ALLOWED_CIDRS"]))
    app.register_blueprint(bp)
    # Routing is done before any before_request function runs; this one is registered first.
    app.before_request_funcs.setdefault(None, []).insert(0, _note_route)
    # After-request functions run last first: this one sees the response as it will be answered.
    app.after_request_funcs.setdefault(None, []).insert(0, _note_response)
    # Wrapping ``wsgi_app`` is Flask's way to add WSGI middleware; mypy sees a method replaced.
    app.wsgi_app = RequestObserver(app.wsgi_app, metrics)  # type: ignore[method-assign]
