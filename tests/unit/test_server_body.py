"""``modelshelf serve``'s request body with a ``Content-Length`` (``package_api.ops.server._LengthBody``)
over a real socket pair: ``readinto`` receives straight into the caller's buffer, after what gunicorn
already holds of the body, stops at the body's end, reports a body cut short, and gives the other
greenlets a turn every ``YIELD_EVERY`` bytes, as ``read`` does (a fast client always has bytes
waiting, so a read of its socket never waits on its own)."""
from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.exceptions import ClientDisconnected

from package_api.ops import server

MIB = 1024 * 1024


@pytest.fixture
def turns(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the turns given to other greenlets."""
    given: list[int] = []
    monkeypatch.setattr(server, "_cooperate", lambda: given.append(1))
    return given


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(10)
    yield ours, theirs
    ours.close()
    theirs.close()


def length_body(sock: socket.socket, length: int, held: bytes = b"") -> server._LengthBody:
    unreader = SocketUnreader(sock, max_chunk=server.RECV_SIZE)
    if held:
        unreader.unread(held)  # what gunicorn read past the headers
    reader = LengthReader(unreader, length)
    return server._LengthBody(Body(reader), reader, lambda: None)


def turned_about_every_yield(turns: list[int], size: int) -> bool:
    """A turn once ``YIELD_EVERY`` bytes have been read since the last: one per ``YIELD_EVERY`` at
    most, and at least one per two (a read may overshoot the mark by up to what it received)."""
    return size // (2 * server.YIELD_EVERY) <= len(turns) <= size // server.YIELD_EVERY


def send_later(sock: socket.socket, data: bytes, *, close: bool = False) -> threading.Thread:
    def send() -> None:
        sock.sendall(data)
        if close:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_readinto_gives_the_held_bytes_then_the_socket_up_to_the_body_end(
    pair: tuple[socket.socket, socket.socket], turns: list[int]
) -> None:
    ours, theirs = pair
    data = os.urandom(8 * MIB + 1234)
    held, rest = data[:1000], data[1000:]
    body = length_body(ours, len(data), held)
    sender = send_later(theirs, rest + b"GET /next HTTP/1.1\r\n")  # the next request must stay unread
    buffer = bytearray(16 * MIB)
    filled = 0
    with memoryview(buffer) as view:
        while got := body.readinto(view[filled:]):
            filled += got
    sender.join()
    assert bytes(buffer[:filled]) == data
    assert body.readinto(memoryview(bytearray(10))) == 0
    assert turned_about_every_yield(turns, len(rest))
    assert ours.recv(100) == b"GET /next HTTP/1.1\r\n"


def test_read_and_readinto_mix_and_give_turns_alike(pair: tuple[socket.socket, socket.socket], turns: list[int]) -> None:
    ours, theirs = pair
    data = os.urandom(8 * MIB)
    body = length_body(ours, len(data))
    sender = send_later(theirs, data)
    first = body.read(MIB)
    buffer = bytearray(len(data))
    buffer[:MIB] = first
    filled = MIB
    with memoryview(buffer) as view:
        while got := body.readinto(view[filled:]):
            filled += got
    sender.join()
    assert bytes(buffer) == data
    assert turned_about_every_yield(turns, len(data))


class Flood:
    """A socket whose every receive fills what it is given, as far as the data goes: what a Unix
    socket's ``recv_into`` does while its sender keeps it fed (one call returned 6 MB of an 8 MiB
    body on a loaded machine; a turn every 1 MiB became three for the body)."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.at = 0

    def recv_into(self, buffer: memoryview) -> int:
        count = min(len(buffer), len(self.data) - self.at)
        buffer[:count] = self.data[self.at : self.at + count]
        self.at += count
        return count

    def recv(self, size: int) -> bytes:
        chunk = bytes(self.data[self.at : self.at + size])
        self.at += len(chunk)
        return chunk


def test_a_receive_stops_at_the_next_turn_however_much_the_socket_would_give(turns: list[int]) -> None:
    data = os.urandom(8 * MIB + 5)
    body = length_body(cast(socket.socket, Flood(data)), len(data))
    first = body.read(100)
    buffer = bytearray(len(data))
    buffer[:100] = first
    filled, sizes = 100, []
    with memoryview(buffer) as view:
        while got := body.readinto(view[filled:]):
            filled += got
            sizes.append(got)
    assert bytes(buffer) == data
    # What gunicorn's reader held past the first read, then up to the mark, then a mark at a time.
    assert sizes[:2] == [server.RECV_SIZE - 100, server.YIELD_EVERY - server.RECV_SIZE]
    assert max(sizes) == server.YIELD_EVERY
    assert len(turns) == len(data) // server.YIELD_EVERY


def test_a_body_cut_short_is_a_client_disconnect(pair: tuple[socket.socket, socket.socket], turns: list[int]) -> None:
    ours, theirs = pair
    body = length_body(ours, 2 * MIB)
    sender = send_later(theirs, b"x" * MIB, close=True)
    buffer = bytearray(4 * MIB)
    filled = 0
    with memoryview(buffer) as view, pytest.raises(ClientDisconnected):
        while True:
            filled += body.readinto(view[filled:])
    sender.join()
    assert filled == MIB


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected TCP pair (a reset needs TCP: a Unix socket pair only ever ends cleanly)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    ours.settimeout(10)
    yield ours, theirs
    ours.close()
    theirs.close()


def reset(sock: socket.socket, sent: bytes) -> None:
    """Send ``sent``, then drop the connection with a reset (``SO_LINGER`` 0), as a killed client does."""
    sock.sendall(sent)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("how", ["readinto", "read", "chunked"])
def test_a_reset_connection_is_a_client_disconnect_and_closes_it(
    tcp_pair: tuple[socket.socket, socket.socket], turns: list[int], how: str
) -> None:
    """A client whose connection resets mid-body is answered as one that went away (``ClientDisconnected``:
    a 400 nobody reads), not as a server error with a traceback; its connection is closed."""
    ours, theirs = tcp_pair
    closed: list[int] = []
    unreader = SocketUnreader(ours, max_chunk=server.RECV_SIZE)
    body: server._LengthBody | server._ChunkedBody
    if how == "chunked":
        reset(theirs, b"%x\r\n" % (4 * MIB) + b"x" * MIB)
        body = server._ChunkedBody(Body(ChunkedReader(cast(Any, SimpleNamespace(trailers=[])), unreader)), lambda: closed.append(1))
    else:
        reset(theirs, b"x" * MIB)
        reader = LengthReader(unreader, 4 * MIB)
        body = server._LengthBody(Body(reader), reader, lambda: closed.append(1))
    buffer = bytearray(4 * MIB)
    with memoryview(buffer) as view, pytest.raises(ClientDisconnected):
        while True:
            if how == "readinto":
                assert isinstance(body, server._LengthBody)
                body.readinto(view)
            else:
                body.read(MIB)
    assert closed
