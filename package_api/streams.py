"""Upload streams: hash and count bytes as they pass, and stop at the size limit."""
from __future__ import annotations

import hashlib
from typing import BinaryIO

from .errors import FileTooLarge
from .storage import CHUNK_SIZE


class HashingReader:
    """Wrap a request body; compute SHA-256 and size on the fly; raise ``FileTooLarge`` past ``limit``.

    This is the one place an upload is hashed (DESIGN: SHA-256 once per upload, on the stream).
    """

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size if size is not None and size > 0 else CHUNK_SIZE)
        if data:
            self.size += len(data)
            if self.size > self._limit:
                raise FileTooLarge()
            self._hash.update(data)
        return data

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()
