"""Upload and download streams: hash and count bytes as they pass, stop at the size limit, and
report the bytes moved to a ``TransferMeter`` (the app's metrics)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from package_api.errors import ChecksumMismatch, FileTooLarge
from package_api.storage import CHUNK_SIZE, Readable, read_into


class TransferMeter(Protocol):
    """Told about file bytes as they move (``package_api.ops.metrics.Metrics`` is the real one)."""

    def received(self, size: int) -> None:
        """``size`` more bytes of an upload arrived."""

    def sent(self, size: int) -> None:
        """``size`` more bytes of a download went out."""

    def upload_failed(self, error: BaseException) -> None:
        """An upload ended in ``error`` instead of a stored file."""


class NoMeter:
    """A meter that counts nothing (services built outside an app: the CLI, tests)."""

    def received(self, size: int) -> None:
        return None

    def sent(self, size: int) -> None:
        return None

    def upload_failed(self, error: BaseException) -> None:
        return None


NO_METER: TransferMeter = NoMeter()


class MeteredBody:
    """A response body that passes ``chunks`` on and tells ``meter`` of each once the server has
    taken it (asked for the next), so a download cut short counts what went, not what was meant to.
    ``close`` closes ``chunks`` (a store reader, an archive being made)."""

    def __init__(self, chunks: Iterable[bytes], meter: TransferMeter) -> None:
        self._chunks = chunks
        self._meter = meter

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            yield chunk
            self._meter.sent(len(chunk))

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class ChunkReader:
    """``chunks`` (a store reader, a generator of several) as a ``Readable``: what a store holds read
    again as an upload's body (bytes a client wrote to the store itself, the parts of an upload)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def read(self, size: int = -1, /) -> bytes:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = chunk
        if size is None or size < 0:
            size = len(self._pending)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data


@dataclass(frozen=True)
class ExpectedDigests:
    """What the client said its bytes hash to (lower-case hex), from ``X-Checksum-SHA256`` and
    ``Content-MD5``; ``None`` where it said nothing."""

    sha256: str | None = None
    md5: str | None = None


class HashingReader:
    """Wrap a request body; compute SHA-256 and size on the fly; raise ``FileTooLarge`` past ``limit``.

    This is the one place an upload is hashed (DESIGN: SHA-256 once per upload, on the stream). MD5
    costs twice as much as SHA-256, so it is computed only for a client that sent ``Content-MD5``.
    ``heartbeat`` is called after every read (it renews the upload's lease; it may raise to stop);
    ``meter`` is told of every chunk read.
    """

    def __init__(
        self,
        source: Readable,
        limit: int,
        *,
        expected: ExpectedDigests | None = None,
        heartbeat: Callable[[], None] | None = None,
        meter: TransferMeter = NO_METER,
    ) -> None:
        self._source = source
        self._limit = limit
        self._hash = hashlib.sha256()
        self._expected = expected or ExpectedDigests()
        self._md5 = hashlib.md5(usedforsecurity=False) if self._expected.md5 is not None else None
        self._heartbeat = heartbeat
        self._meter = meter
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size if size is not None and size > 0 else CHUNK_SIZE)
        self._take(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Fill the start of ``buffer`` with the next bytes, hashed and counted like ``read``'s;
        return how many (0 at the end). Straight from the source where it has ``readinto`` (the
        request's socket, a file), so the bytes are copied once on their way to the store."""
        got = read_into(self._source, buffer)
        with buffer[:got] as view:
            self._take(view)
        return got

    def _take(self, data: bytes | memoryview) -> None:
        if data:
            self._meter.received(len(data))
            self.size += len(data)
            if self.size > self._limit:
                raise FileTooLarge()
            self._hash.update(data)
            if self._md5 is not None:
                self._md5.update(data)
        if self._heartbeat is not None:
            self._heartbeat()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def check(self) -> None:
        """Raise ``ChecksumMismatch`` unless the bytes read match every digest the client declared."""
        if self._expected.sha256 is not None and self._expected.sha256 != self.sha256:
            raise ChecksumMismatch("SHA-256", self._expected.sha256, self.sha256)
        if self._md5 is not None and self._expected.md5 != self._md5.hexdigest():
            raise ChecksumMismatch("MD5", str(self._expected.md5), self._md5.hexdigest())
