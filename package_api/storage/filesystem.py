"""Filesystem storage: the embedded default. Writes go to a temporary file beside the target,
are fsynced, then renamed into place, so a reader never sees a partial blob. The temporary file is
named after its target (``.tmp-<name>.<random>``), so what a killed writer left can be traced back
to the key it was for."""
from __future__ import annotations

import datetime
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from package_api.cpu import off_the_loop
from package_api.private_files import make_private_dirs
from package_api.storage.base import CHUNK_SIZE, Readable, Remnant, check_key
from package_api.storage.errors import BlobNotFound, StorageUnavailable

_TMP_PREFIX = ".tmp-"
#: What the OS says when a key names no file: nothing there, a directory made for longer keys
#: (``a`` when ``a/b`` is stored), or a path through a file (``a/b/c`` when ``a/b`` is stored).
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class _FileReader:
    def __init__(self, handle: BinaryIO, length: int) -> None:
        self._handle = handle
        self._remaining = length

    def __iter__(self) -> Iterator[bytes]:
        try:
            while self._remaining > 0:
                chunk = self._handle.read(min(CHUNK_SIZE, self._remaining))
                if not chunk:
                    break
                self._remaining -= len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._handle.close()


class FilesystemStorage:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *check_key(key).split("/"))

    def put(self, key: str, stream: Readable) -> int:
        path = self._path(key)
        directory = os.path.dirname(path)
        try:
            make_private_dirs(directory)  # 0700; mkstemp makes the file 0600
            fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.path.basename(path)}.", dir=directory)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write to {directory}: {exc.strerror}") from exc
        written = 0
        reading = False  # an OSError while reading is the client's (a dropped socket), not the disk's
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    reading = True
                    chunk = stream.read(CHUNK_SIZE)
                    reading = False
                    if not chunk:
                        break
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                off_the_loop(os.fsync, out.fileno())  # seconds for a large blob: not on the event loop
            os.replace(tmp, path)
        except BaseException as exc:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            if isinstance(exc, OSError) and not reading:
                raise StorageUnavailable(f"cannot write blob: {exc.strerror}") from exc
            raise
        return written

    def open(self, key: str, start: int = 0, length: int | None = None) -> _FileReader:
        path = self._path(key)
        try:
            handle = open(path, "rb")
        except _MISSING:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read blob: {exc.strerror}") from exc
        size = os.fstat(handle.fileno()).st_size
        handle.seek(start)
        remaining = max(0, size - start) if length is None else min(length, max(0, size - start))
        return _FileReader(handle, remaining)

    def _stat(self, key: str) -> os.stat_result:
        """The blob's file status; ``BlobNotFound`` unless it is a regular file."""
        try:
            status = os.stat(self._path(key))
        except _MISSING:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read blob: {exc.strerror}") from exc
        if not stat.S_ISREG(status.st_mode):
            raise BlobNotFound(key)
        return status

    def size(self, key: str) -> int:
        return self._stat(key).st_size

    def modified(self, key: str) -> datetime.datetime:
        mtime = self._stat(key).st_mtime
        return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).replace(tzinfo=None)

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except _MISSING:
            pass
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete blob: {exc.strerror}") from exc

    def keys(self, prefix: str = "") -> Iterator[str]:
        found = []
        for directory, _dirs, files in os.walk(self.root):
            rel = os.path.relpath(directory, self.root)
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}"
                if key.startswith(prefix):
                    found.append(key)
        yield from sorted(found)

    def remnants(self, prefix: str = "") -> Iterator[Remnant]:
        found = []
        for directory, _dirs, files in os.walk(self.root):
            rel = os.path.relpath(directory, self.root)
            for name in files:
                if not name.startswith(_TMP_PREFIX):
                    continue
                target = name[len(_TMP_PREFIX) :].rpartition(".")[0]
                key = target if rel == "." else f"{rel.replace(os.sep, '/')}/{target}"
                if not key.startswith(prefix):
                    continue
                try:
                    size = os.stat(os.path.join(directory, name)).st_size
                except FileNotFoundError:
                    continue  # renamed into place or removed since the walk listed it
                handle = name if rel == "." else os.path.join(rel, name)
                found.append(Remnant(key, size, handle))
        yield from sorted(found, key=lambda r: r.handle)

    def discard(self, remnant: Remnant) -> None:
        path = os.path.join(self.root, remnant.handle)
        if os.path.commonpath([self.root, os.path.abspath(path)]) != self.root:
            raise ValueError(f"unsafe remnant {remnant.handle!r}")
        try:
            os.unlink(path)
        except _MISSING:
            pass
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete {remnant.handle}: {exc.strerror}") from exc

    def download_url(self, key: str, *, filename: str) -> str | None:
        return None

    def begin_parts(self, key: str, part_size: int) -> str | None:
        return None  # clients write through the server only

    def part_url(self, key: str, handle: str, number: int) -> str:
        raise NotImplementedError("this store takes no direct writes")

    def finish_parts(self, key: str, handle: str, etags: Sequence[tuple[int, str]] | None = None) -> None:
        raise NotImplementedError("this store takes no direct writes")

    #: ``check`` waits in system calls (a hung NFS mount): ``/-/readiness`` bounds it from a thread.
    check_blocks = True

    def check(self) -> None:
        # Write, rather than ask os.access: root may write anywhere by permissions, yet not to a
        # read-only mount, a full disk or a root that is not a directory.
        try:
            make_private_dirs(self.root)
            # Named like an unfinished write, should the file system not do anonymous files.
            with tempfile.TemporaryFile(prefix=f"{_TMP_PREFIX}readiness.", dir=self.root) as probe:
                probe.write(b"ok")
        except OSError as exc:
            raise StorageUnavailable(f"cannot write to {self.root}: {exc.strerror or exc}") from exc
