"""The ``BlobStorage`` protocol every backend implements."""
from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: Bytes per chunk when streaming out of a store.
CHUNK_SIZE = 1024 * 1024

_KEY_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*\Z")


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key; raise ``ValueError`` otherwise.

    Keys are made by the service, never by users, so a bad key is a programming error.
    """
    if not _KEY_RE.match(key) or ".." in key.split("/"):
        raise ValueError(f"unsafe storage key {key!r}")
    return key


class Readable(Protocol):
    """What a store reads bytes from: ``read(size)`` gives at most ``size`` bytes, ``b""`` at the end
    (a request body, an open file, a ``HashingReader`` around either)."""

    def read(self, size: int = -1, /) -> bytes: ...


def read_into(stream: Readable, view: memoryview) -> int:
    """Fill the start of ``view`` with what ``stream`` gives next; return how many bytes (0 at the
    end). Straight into it where the stream has ``readinto`` (a request body, a ``HashingReader``
    around one, a file), else through one ``read`` of at most ``CHUNK_SIZE`` (a WSGI server asked for
    16 MiB at once may hold several copies of them)."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(view))
    data = stream.read(min(CHUNK_SIZE, len(view)))
    view[: len(data)] = data
    return len(data)


class BlobReader(Protocol):
    """An iterable of byte chunks that must be closed (it may hold a connection or file)."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Remnant:
    """What a write that never finished left in the store (a temporary file, an S3 multipart
    upload): not readable under ``key``, but taking ``size`` bytes until discarded."""

    key: str  # the key the write was for
    size: int
    handle: str  # the backend's name for it (a path, an upload id)
    #: When the write began (naive UTC), where the store says (an S3 multipart upload's initiation).
    started: datetime.datetime | None = None


@runtime_checkable
class BlobStorage(Protocol):
    """Where file bytes live. Keys are ``check_key``-safe paths chosen by the caller."""

    def put(self, key: str, stream: Readable) -> int:
        """Store everything ``stream.read`` yields until EOF under ``key``; return the byte count.

        Streams: memory does not grow with the size of the data. Nothing is left under ``key`` when
        reading the stream or writing fails (the exception is re-raised; store failures become
        ``StorageUnavailable``).
        """
        ...

    def open(self, key: str, start: int = 0, length: int | None = None) -> BlobReader:
        """Return the bytes ``[start, start+length)`` of ``key`` in chunks; raise ``BlobNotFound``."""
        ...

    def size(self, key: str) -> int:
        """Return the stored size of ``key``; raise ``BlobNotFound``."""
        ...

    def modified(self, key: str) -> datetime.datetime:
        """When ``key`` was last written, in UTC without tzinfo (as ``utcnow``); raise ``BlobNotFound``.
        What a plugin's gc tells an object an upload is still about to record from debris by."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every stored key that starts with ``prefix``."""
        ...

    def remnants(self, prefix: str = "") -> Iterator[Remnant]:
        """Yield what unfinished writes to keys starting with ``prefix`` left behind, including
        writes still in progress (the caller decides which are abandoned)."""
        ...

    def discard(self, remnant: Remnant) -> None:
        """Free what ``remnant`` takes; one already gone is not an error."""
        ...

    def download_url(self, key: str, *, filename: str) -> str | None:
        """A short-lived URL that serves ``key`` (as an attachment called ``filename``) straight from
        the store, or ``None`` when downloads must stream through us (the default)."""
        ...

    def begin_parts(self, key: str, part_size: int) -> str | None:
        """Start a write of ``key`` whose parts (``part_size`` bytes each but the last) clients send
        straight to the store (``part_url``): return its handle, or ``None`` when this store takes no
        direct writes (the default; an S3 store does when it redirects downloads, so its endpoint is
        known to be reachable by clients, and the parts are at least S3's 5 MiB). What is written
        shows in ``remnants`` until ``finish_parts``."""
        ...

    def part_url(self, key: str, handle: str, number: int) -> str:
        """A short-lived URL a client PUTs part ``number`` (from 1) of the write ``handle`` to; the
        store answers with the part's ``ETag``."""
        ...

    def finish_parts(self, key: str, handle: str, etags: Sequence[tuple[int, str]] | None = None) -> None:
        """Join the parts (``(number, etag)``, in order) into ``key``; ``None``: the parts the store
        holds (for a client that does not report its ETags). Raise ``BlobNotFound`` for a write that
        is gone (or, with ``None``, holds no part) and ``StorageUnavailable``."""
        ...

    def check(self) -> None:
        """Raise ``StorageUnavailable`` unless the store answers."""
        ...
