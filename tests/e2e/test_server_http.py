"""``modelshelf serve`` at the HTTP level, where the schemathesis run (tests/e2e/test_schemathesis.py)
found two faults: a kept-alive connection whose next request arrived together with the unread body
of the previous one was left waiting until ``keepalive`` closed it, and the requests gunicorn
refuses itself were answered with an HTML page."""
from __future__ import annotations

import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.support.servers import Server

pytestmark = pytest.mark.server


def _response(sock: socket.socket, pending: bytearray) -> bytes:
    """Read one response with a ``Content-Length`` body; return its status line."""
    return _exchange(sock, pending)[0]


def _exchange(sock: socket.socket, pending: bytearray) -> tuple[bytes, list[bytes], bytes]:
    """Read one response with a ``Content-Length`` body: its status line, header lines and body."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without an answer; received {bytes(pending)!r}")
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    pending[:] = rest[length:]
    return lines[0], lines[1:], rest[:length]


def test_the_next_request_read_with_an_unread_body_is_answered(serve: Callable[..., Server]) -> None:
    server = serve()
    address = urlsplit(server.url)
    body = b'{"name": "never read"}'
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        pending = bytearray()
        # A route that answers without reading the body: the headers alone get the answer...
        sock.sendall(
            b"PATCH /api/v4/no/such/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        assert _response(sock, pending).startswith(b"HTTP/1.1 404")
        # ...then the body and the next request reach the server in one segment, so the server's
        # drain of the unread body reads the next request too.
        sock.sendall(body + b"GET /api/v4/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _response(sock, pending).startswith(b"HTTP/1.1 200")


def test_a_request_refused_before_the_app_gets_a_json_error(serve: Callable[..., Server]) -> None:
    server = serve()
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        # gunicorn refuses a request line over 4094 bytes before the app sees it.
        sock.sendall(b"GET /api/v4/projects/1/packages/generic/p/1.0.0/" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = _exchange(sock, bytearray())
    assert status.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in [h.lower() for h in headers]
    message = json.loads(body)["message"]
    assert message.startswith("400 Bad Request - ") and "4094" in message
