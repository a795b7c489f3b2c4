"""``modelshelf serve``: gunicorn with threaded workers, tuned for long streamed transfers."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.http.body import Body, LengthReader

#: Bytes gunicorn asks of the socket per ``recv`` (its default is 8 KiB).
RECV_SIZE = 64 * 1024


class _LengthBody:
    """``wsgi.input`` of a request with a ``Content-Length``, read through gunicorn's length reader
    in the sizes asked for. gunicorn's ``Body.read`` pulls the body 1 KiB at a time through a buffer
    it copies on each pull, which caps uploads near 230 MiB/s on a 2-core machine; this reads the
    same bytes about twice as fast. It never buffers, so ``Body``'s own methods stay usable."""

    def __init__(self, body: Body) -> None:
        self._body = body
        self._reader: LengthReader = body.reader

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._body.read()
        return bytes(self._reader.read(size))

    def readline(self, size: int | None = None) -> bytes:
        return bytes(self._body.readline(size))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)


def _fast_input(app: Callable[..., Any]) -> Callable[..., Any]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = environ.get("wsgi.input")
        if isinstance(body, Body) and isinstance(body.reader, LengthReader) and not body.buf.tell():
            unreader = body.reader.unreader
            if hasattr(unreader, "mxchunk"):
                unreader.mxchunk = max(unreader.mxchunk, RECV_SIZE)
            environ["wsgi.input"] = _LengthBody(body)
        return app(environ, start_response)

    return wsgi


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        return _fast_input(create_app())


def run(*, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until interrupted. gunicorn answers ``Expect: 100-continue`` itself, and the gthread
    worker streams request bodies, so a multi-GB upload neither waits nor buffers."""
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            # The worker heartbeat, not a request limit: transfers of many minutes are fine.
            "timeout": 120,
            "graceful_timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            # gunicorn 25+ opens a control socket at one fixed path per user; several nodes on
            # one machine would take it from each other, and we do not use it.
            "control_socket_disable": True,
        }
    ).run()
