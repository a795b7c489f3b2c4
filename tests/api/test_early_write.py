"""A small body held in memory goes out through WSGI's ``write`` as its response starts, before Flask
tears the request down (``package_api.ops.monitoring.EARLY_LIMIT``): the client has its answer while
the database session closes. Streams, large bodies, ``HEAD`` and bodiless answers are returned to
the server as before. Either way the body is sent once, and counted and logged as sent."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, Response, stream_with_context
from werkzeug.test import EnvironBuilder

from package_api.ops.monitoring import EARLY_LIMIT, EARLY_WRITE_KEY


@pytest.fixture
def routes(app: Flask) -> Flask:
    @app.get("/-/test/small")
    def small() -> Response:
        return Response(b'{"ok":true}', mimetype="application/json")

    @app.get("/-/test/large")
    def large() -> Response:
        return Response(b"x" * (EARLY_LIMIT + 1))

    @app.get("/-/test/stream")
    def stream() -> Response:
        return Response(stream_with_context(iter([b"a", b"b"])))

    @app.get("/-/test/empty")
    def empty() -> Response:
        return Response(b"", status=200)

    return app


class Server:
    """What a WSGI server does with the app, recording in ``events`` each ``write``, each chunk of
    the returned body and each teardown of the app context (``teardown``), in order."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.events: list[str] = []
        app.teardown_appcontext(lambda _error: self.events.append("teardown"))

    def __call__(
        self, method: str, path: str, write: Callable[[bytes], None] | None = None, *, early: bool = True
    ) -> tuple[str, bytes]:
        environ = EnvironBuilder(path=path, method=method).get_environ()
        if early:
            environ[EARLY_WRITE_KEY] = True  # as gunicorn's workers say (package_api.ops.server)
        status: list[str] = []
        sent: list[bytes] = []

        def default_write(data: bytes) -> None:
            self.events.append(f"write {len(data)}")
            sent.append(data)

        def start_response(code: str, _headers: list[tuple[str, str]], _exc_info: Any = None) -> Callable[[bytes], None]:
            status.append(code)
            return write or default_write

        body = self.app.wsgi_app(environ, start_response)
        try:
            for chunk in body:
                self.events.append(f"chunk {len(chunk)}")
                sent.append(chunk)
        finally:
            getattr(body, "close", lambda: None)()
        return status[0], b"".join(sent)


def access_lines(caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    return (record.getMessage() for record in caplog.records if record.name == "modelshelf.access")


def test_a_small_body_is_written_before_the_request_is_torn_down(routes: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "modelshelf.access")
    server = Server(routes)
    assert server("GET", "/-/test/small") == ("200 OK", b'{"ok":true}')
    assert server.events == ["write 11", "teardown"]
    [line] = access_lines(caplog)
    assert line.startswith("GET /-/test/small 200 11 ") and "incomplete" not in line


@pytest.mark.parametrize(
    ("method", "path", "size"),
    [("GET", "/-/test/large", EARLY_LIMIT + 1), ("GET", "/-/test/stream", 2), ("HEAD", "/-/test/small", 0), ("GET", "/-/test/empty", 0)],
)
def test_other_bodies_are_returned_to_the_server(
    routes: Flask, caplog: pytest.LogCaptureFixture, method: str, path: str, size: int
) -> None:
    caplog.set_level(logging.INFO, "modelshelf.access")
    server = Server(routes)
    status, body = server(method, path)
    assert status == "200 OK" and len(body) == size
    assert not [event for event in server.events if event.startswith("write")]
    [line] = access_lines(caplog)
    assert line.startswith(f"{method} {path} 200 {size} ")


def test_a_client_gone_during_the_write_is_logged_as_an_incomplete_answer(routes: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "modelshelf.access")
    server = Server(routes)

    def gone(_data: bytes) -> None:
        raise BrokenPipeError()

    with pytest.raises(BrokenPipeError):
        server("GET", "/-/test/small", write=gone)
    assert server.events == ["teardown"]
    [line] = access_lines(caplog)
    assert line.startswith("GET /-/test/small 200 0 ") and line.endswith(" incomplete")


def test_a_server_that_does_not_say_it_writes_at_once_is_given_the_body(routes: Flask) -> None:
    """werkzeug's test client, buffered, drops what ``write`` is given: it is not given any."""
    server = Server(routes)
    assert server("GET", "/-/test/small", early=False) == ("200 OK", b'{"ok":true}')
    assert server.events == ["teardown", "chunk 11"]
    client = routes.test_client()
    for buffered in (True, False):
        response = client.get("/-/test/small", buffered=buffered)
        assert response.status_code == 200 and response.data == b'{"ok":true}'
        assert response.headers["Content-Length"] == "11" and response.headers["X-Request-Id"]
        response.close()
