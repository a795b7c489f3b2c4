"""In-memory storage: a real, typed fake for unit tests (holds whole blobs, by design)."""
from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator, Sequence

from package_api.storage.base import CHUNK_SIZE, Readable, Remnant, check_key
from package_api.storage.errors import BlobNotFound


class _ChunkReader:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        for offset in range(0, len(self._data), CHUNK_SIZE):
            yield self._data[offset : offset + CHUNK_SIZE]

    def close(self) -> None:
        self._data = b""


class MemoryStorage:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._written: dict[str, datetime.datetime] = {}
        self._lock = threading.Lock()

    def put(self, key: str, stream: Readable) -> int:
        check_key(key)
        parts = []
        while chunk := stream.read(CHUNK_SIZE):
            parts.append(chunk)
        data = b"".join(parts)
        with self._lock:
            self._blobs[key] = data
            self._written[key] = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        return len(data)

    def _get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._blobs[check_key(key)]
            except KeyError:
                raise BlobNotFound(key) from None

    def open(self, key: str, start: int = 0, length: int | None = None) -> _ChunkReader:
        data = self._get(key)
        end = len(data) if length is None else start + length
        return _ChunkReader(data[start:end])

    def size(self, key: str) -> int:
        return len(self._get(key))

    def modified(self, key: str) -> datetime.datetime:
        self._get(key)
        with self._lock:
            return self._written[key]

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(check_key(key), None)
            self._written.pop(key, None)

    def keys(self, prefix: str = "") -> Iterator[str]:
        with self._lock:
            found = sorted(k for k in self._blobs if k.startswith(prefix))
        yield from found

    def remnants(self, prefix: str = "") -> Iterator[Remnant]:
        return iter(())  # a put stores all or nothing: it leaves no remnant

    def discard(self, remnant: Remnant) -> None:
        return None

    def download_url(self, key: str, *, filename: str) -> str | None:
        return None

    def begin_parts(self, key: str, part_size: int) -> str | None:
        return None  # clients write through the server only

    def part_url(self, key: str, handle: str, number: int) -> str:
        raise NotImplementedError("this store takes no direct writes")

    def finish_parts(self, key: str, handle: str, etags: Sequence[tuple[int, str]] | None = None) -> None:
        raise NotImplementedError("this store takes no direct writes")

    def check(self) -> None:
        return None
