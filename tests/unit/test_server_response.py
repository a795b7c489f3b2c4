"""``modelshelf serve``'s response (``package_api.ops.response.CoalescingResponse``) over a real
socket pair, parsed by the standard library's HTTP client: a small body goes out with the status
line and headers in one ``send``; a response without a body, a large first write, a body past its
``Content-Length`` and the later chunks of a chunked body go as gunicorn sends them; each is still a
well-formed HTTP/1.1 answer."""
from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from gunicorn import http as gunicorn_http
from gunicorn.config import Config
from gunicorn.http import wsgi as gunicorn_wsgi

from package_api.ops.response import COALESCE_LIMIT, CoalescingResponse, QuietLogger, http_date


class CountingSocket:
    """The server's side of the pair, recording the bytes of each ``send`` and ``sendall``; a
    ``send`` takes at most ``short`` bytes when given (a full socket buffer)."""

    def __init__(self, sock: socket.socket, short: int | None = None) -> None:
        self._sock = sock
        self._short = short
        self.sends: list[bytes] = []

    def send(self, data: bytes) -> int:
        data = bytes(data[: self._short])
        self.sends.append(data)
        return self._sock.send(data)

    def sendall(self, data: bytes) -> None:
        self.sends.append(bytes(data))
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(10)
    theirs.settimeout(10)
    yield ours, theirs
    ours.close()
    theirs.close()


def answer(
    pair: tuple[socket.socket, socket.socket],
    method: str,
    status: str,
    headers: list[tuple[str, str]],
    writes: list[bytes],
    short: int | None = None,
) -> tuple[list[bytes], http.client.HTTPResponse, bytes]:
    """Receive a ``method`` request on the server's side, answer it with ``writes`` through
    ``CoalescingResponse``; return the sends and the response as the client reads it."""
    ours, theirs = pair
    theirs.sendall(f"{method} /x HTTP/1.1\r\nHost: example\r\n\r\n".encode())
    cfg = Config()
    req = next(gunicorn_http.get_parser(cfg, ours, ("127.0.0.1", 1)))
    counting = CountingSocket(ours, short)
    resp, _environ = gunicorn_wsgi.create(req, counting, ("127.0.0.1", 1), "127.0.0.1:2", cfg, response_class=CoalescingResponse)
    resp.start_response(status, headers)
    for data in writes:
        resp.write(data)
    resp.close()
    response = http.client.HTTPResponse(theirs, method=method)
    response.begin()
    return counting.sends, response, response.read()


def test_a_small_body_goes_with_the_head_in_one_send(pair: tuple[socket.socket, socket.socket]) -> None:
    body = b'{"registered_model": {"name": "m"}}'
    sends, response, received = answer(
        pair, "GET", "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], [body]
    )
    assert len(sends) == 1
    assert sends[0].startswith(b"HTTP/1.1 200 OK\r\n") and sends[0].endswith(b"\r\n\r\n" + body)
    assert response.status == 200 and received == body
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("Connection") == "keep-alive"
    assert response.getheader("Date") == http_date()


def test_what_one_send_leaves_goes_in_the_next(pair: tuple[socket.socket, socket.socket]) -> None:
    body = b"y" * 5000
    sends, response, received = answer(pair, "GET", "200 OK", [("Content-Length", str(len(body)))], [body], short=100)
    assert len(sends[0]) == 100 and len(sends) == 2
    assert response.status == 200 and received == body


def test_a_chunked_body_starts_with_the_head_and_ends_well_formed(pair: tuple[socket.socket, socket.socket]) -> None:
    sends, response, received = answer(pair, "GET", "200 OK", [("Content-Type", "text/plain")], [b"first ", b"second"])
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert received == b"first second"
    assert sends[0].endswith(b"\r\n\r\n6\r\nfirst \r\n")
    assert sends[1:] == [b"6\r\nsecond\r\n", b"0\r\n\r\n"]


def test_a_large_first_write_is_not_copied_behind_the_head(pair: tuple[socket.socket, socket.socket]) -> None:
    body = b"x" * (COALESCE_LIMIT + 1)
    ours, _theirs = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * COALESCE_LIMIT)
    sends, _response, received = answer(pair, "GET", "200 OK", [("Content-Length", str(len(body)))], [body])
    assert [len(sent) for sent in sends[1:]] == [len(body)] and sends[0].endswith(b"\r\n\r\n")
    assert received == body


@pytest.mark.parametrize(("method", "status"), [("HEAD", "200 OK"), ("GET", "204 No Content"), ("GET", "304 Not Modified")])
def test_an_answer_without_a_body_is_its_head_alone(pair: tuple[socket.socket, socket.socket], method: str, status: str) -> None:
    sends, response, received = answer(pair, method, status, [("Content-Length", "3")], [b"abc"])
    assert len(sends) == 1 and sends[0].endswith(b"\r\n\r\n")
    assert response.status == int(status.split()[0]) and received == b""


def test_a_body_past_its_content_length_is_cut_there(pair: tuple[socket.socket, socket.socket]) -> None:
    sends, _response, received = answer(pair, "GET", "200 OK", [("Content-Length", "3")], [b"abcdef", b"more"])
    assert received == b"abc"
    assert b"".join(sends).endswith(b"\r\n\r\nabc")


def test_an_empty_body_sends_the_head(pair: tuple[socket.socket, socket.socket]) -> None:
    sends, response, received = answer(pair, "GET", "200 OK", [("Content-Length", "0")], [b""])
    assert len(sends) == 1 and response.status == 200 and received == b""


def test_the_quiet_logger_writes_no_access_line_of_gunicorns() -> None:
    cfg = Config()
    cfg.set("logconfig_dict", {"version": 1, "disable_existing_loggers": False})
    logger = QuietLogger(cfg)
    assert logger.access_log_enabled  # gunicorn would build its atoms for every request
    seen: list[object] = []
    logger.atoms = lambda *args: seen.append(args)  # type: ignore[method-assign]
    logger.access(None, None, {}, None)
    assert seen == []
