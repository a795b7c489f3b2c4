"""Upload streams: hash and count bytes as they pass, and stop at the size limit."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .errors import ChecksumMismatch, FileTooLarge
from .storage import CHUNK_SIZE


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
    ``heartbeat`` is called after every read (it renews the upload's lease; it may raise to stop).
    """

    def __init__(
        self,
        source: BinaryIO,
        limit: int,
        *,
        expected: ExpectedDigests | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self._source = source
        self._limit = limit
        self._hash = hashlib.sha256()
        self._expected = expected or ExpectedDigests()
        self._md5 = hashlib.md5(usedforsecurity=False) if self._expected.md5 is not None else None
        self._heartbeat = heartbeat
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size if size is not None and size > 0 else CHUNK_SIZE)
        if data:
            self.size += len(data)
            if self.size > self._limit:
                raise FileTooLarge()
            self._hash.update(data)
            if self._md5 is not None:
                self._md5.update(data)
        if self._heartbeat is not None:
            self._heartbeat()
        return data

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def check(self) -> None:
        """Raise ``ChecksumMismatch`` unless the bytes read match every digest the client declared."""
        if self._expected.sha256 is not None and self._expected.sha256 != self.sha256:
            raise ChecksumMismatch("SHA-256", self._expected.sha256, self.sha256)
        if self._md5 is not None and self._expected.md5 != self._md5.hexdigest():
            raise ChecksumMismatch("MD5", str(self._expected.md5), self._md5.hexdigest())
