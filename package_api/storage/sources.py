"""Blobs whose bytes a plugin rebuilds: a key under a registered prefix is read through the
plugin's ``BlobSource`` instead of the store (a file stored as chunks in other objects, for
example), so every surface that reads blobs (downloads with ``Range``, archives, verify) serves it
unchanged. ``register_source`` installs a ``RoutedStorage`` around the app's store the first time.

What the source rebuilds is the source's to delete: ``delete`` of such a key removes nothing (the
plugin's own gc decides), and such a key is never in ``keys`` (blob gc lists ``blobs/`` only).
"""
from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from typing import Protocol

from package_api.storage.base import BlobReader, BlobStorage, Readable, Remnant


class BlobSource(Protocol):
    """Rebuilds the bytes of the keys under its prefix, reading what it needs from ``store``."""

    def open(self, store: BlobStorage, key: str, start: int, length: int | None) -> BlobReader:
        """The bytes ``[start, start+length)`` of ``key``; raise ``BlobNotFound``."""
        ...

    def size(self, store: BlobStorage, key: str) -> int:
        """The size of the bytes ``key`` stands for; raise ``BlobNotFound``."""
        ...


class RoutedStorage:
    """A ``BlobStorage`` that sends the keys under each registered prefix to its source and the rest
    to ``base``."""

    def __init__(self, base: BlobStorage) -> None:
        self.base = base
        self.sources: dict[str, BlobSource] = {}

    def _source(self, key: str) -> BlobSource | None:
        for prefix, source in self.sources.items():
            if key.startswith(prefix):
                return source
        return None

    def put(self, key: str, stream: Readable) -> int:
        return self.base.put(key, stream)

    def open(self, key: str, start: int = 0, length: int | None = None) -> BlobReader:
        source = self._source(key)
        if source is not None:
            return source.open(self.base, key, start, length)
        return self.base.open(key, start, length)

    def size(self, key: str) -> int:
        source = self._source(key)
        return source.size(self.base, key) if source is not None else self.base.size(key)

    def modified(self, key: str) -> datetime.datetime:
        return self.base.modified(key)

    def delete(self, key: str) -> None:
        if self._source(key) is None:
            self.base.delete(key)

    def keys(self, prefix: str = "") -> Iterator[str]:
        return self.base.keys(prefix)

    def remnants(self, prefix: str = "") -> Iterator[Remnant]:
        return self.base.remnants(prefix)

    def discard(self, remnant: Remnant) -> None:
        self.base.discard(remnant)

    def download_url(self, key: str, *, filename: str) -> str | None:
        # Rebuilt bytes are no one object of the store: they stream through us.
        return None if self._source(key) is not None else self.base.download_url(key, filename=filename)

    def begin_parts(self, key: str, part_size: int) -> str | None:
        return self.base.begin_parts(key, part_size)

    def part_url(self, key: str, handle: str, number: int) -> str:
        return self.base.part_url(key, handle, number)

    def finish_parts(self, key: str, handle: str, etags: Sequence[tuple[int, str]] | None = None) -> None:
        self.base.finish_parts(key, handle, etags)

    def check(self) -> None:
        self.base.check()
