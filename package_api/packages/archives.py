"""A whole package as one zip, streamed: never built in memory or on disk.

The archive holds ``<name>-<version>/<path>`` for the newest live file of each path (what a download
of that path returns), stored uncompressed (model weights do not compress, and stored entries stream
at the speed of the store), each with its CRC-32; and ``SHA256SUMS`` at the top, so that after
``unzip`` the command ``sha256sum -c SHA256SUMS`` checks every file against the digest the registry
computed when it was uploaded. Zip64 is used for entries that need it.

The bytes depend only on the files (names, contents, upload times), so the ETag is strong and
computed before streaming, from what the database says; so is the length (``Archive.size``): every
header's size follows from the names and file sizes, which the database knows.
"""
from __future__ import annotations

import datetime
import hashlib
import struct
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from package_api.db import DbSession
from package_api.packages.models import Package, PackageFile, PackageStatus
from package_api.storage import BlobStorage, StorageError

MANIFEST = "SHA256SUMS"
#: Bumped whenever the layout changes, so that ETags of old layouts stop matching.
LAYOUT = f"zip-1/py{sys.version_info[0]}.{sys.version_info[1]}"
#: Bytes of the records ``zipfile`` writes, fixed by the zip format (APPNOTE 4.3): a local file
#: header and a central directory header (without name and extra field), the Zip64 extra field of a
#: local header (sizes), a data descriptor (signature, CRC, sizes; 64-bit sizes after a Zip64
#: header), the end record, and the Zip64 end record and its locator.
_LOCAL_HEADER = 30
_CENTRAL_HEADER = 46
_ZIP64_LOCAL_EXTRA = struct.calcsize("<HHQQ")
_DESCRIPTOR = struct.calcsize("<LLLL")
_DESCRIPTOR_64 = struct.calcsize("<LLQQ")
_END_RECORD = 22
_END_RECORD_64 = 56
_END_LOCATOR_64 = 20
#: Zip cannot say 1979 or earlier.
EARLIEST = datetime.datetime(1980, 1, 1)


@dataclass(frozen=True)
class Entry:
    path: str  # inside the package
    size: int
    sha256: str
    key: str
    created_at: datetime.datetime


class _Pipe:
    """The unseekable file ``zipfile`` writes to; what it wrote is taken out between writes."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None  # never called: zipfile leaves a file it was handed open (typeshed asks for it)

    def take(self) -> bytes:
        data, self._pieces = b"".join(self._pieces), []
        return data


class Archive:
    """A package's files as a zip; iterate to stream it. Opens each file only when it is reached."""

    def __init__(self, storage: BlobStorage, package: Package, entries: list[Entry]) -> None:
        self.storage = storage
        self.package = package  # for the view; the stream reads only ``entries`` (no session then)
        self.root = f"{package.name}-{package.version}"
        self.entries = entries

    @property
    def filename(self) -> str:
        return f"{self.root}.zip"

    @property
    def manifest(self) -> bytes:
        return "".join(f"{e.sha256}  {self.root}/{e.path}\n" for e in self.entries).encode()

    @property
    def size(self) -> int:
        """The archive's length in bytes, before it is made (``Content-Length``): what ``_zip``
        writes, header by header, as ``zipfile`` lays out an archive on an unseekable file (a data
        descriptor after each entry) with its Zip64 rules read from the module, so the two cannot
        drift apart silently (tests/unit/test_archives.py compares them, Zip64 cases included)."""
        names = [MANIFEST, *(f"{self.root}/{e.path}" for e in self.entries)]
        sizes = [len(self.manifest), *(e.size for e in self.entries)]
        limit = zipfile.ZIP64_LIMIT
        offset = 0
        central = 0
        for name, size in zip(names, sizes, strict=True):
            encoded = len(name.encode("utf-8"))
            local_zip64 = size * 1.05 > limit  # zipfile decides before the bytes come, with a margin
            header_offset = offset
            offset += _LOCAL_HEADER + encoded + (_ZIP64_LOCAL_EXTRA if local_zip64 else 0) + size
            offset += _DESCRIPTOR_64 if local_zip64 else _DESCRIPTOR
            central_extra = (2 if size > limit else 0) + (1 if header_offset > limit else 0)
            central += _CENTRAL_HEADER + encoded + (4 + 8 * central_extra if central_extra else 0)
        end = _END_RECORD
        if len(names) > zipfile.ZIP_FILECOUNT_LIMIT or offset > limit or central > limit:
            end += _END_RECORD_64 + _END_LOCATOR_64
        return offset + central + end

    @property
    def etag(self) -> str:
        seed = "\n".join([LAYOUT, self.root, *(f"{e.path}\0{e.sha256}\0{e.size}\0{e.created_at.isoformat()}" for e in self.entries)])
        return hashlib.sha256(seed.encode()).hexdigest()

    def __iter__(self) -> Iterator[bytes]:
        """The zip's bytes. A file whose stored bytes are missing or of the wrong length ends the
        stream early, so the client sees a broken download rather than a wrong file."""
        return (data for data in self._zip() if data)  # an empty chunk would end a chunked body

    def _zip(self) -> Iterator[bytes]:
        pipe = _Pipe()
        with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:
            newest = max((e.created_at for e in self.entries), default=EARLIEST)
            archive.writestr(_info(MANIFEST, len(self.manifest), newest), self.manifest)
            yield pipe.take()
            for entry in self.entries:
                with archive.open(_info(f"{self.root}/{entry.path}", entry.size, entry.created_at), "w") as out:
                    yield pipe.take()
                    written = 0
                    reader = self.storage.open(entry.key)
                    try:
                        for chunk in reader:
                            out.write(chunk)
                            written += len(chunk)
                            yield pipe.take()
                    finally:
                        reader.close()
                    if written != entry.size:
                        raise StorageError(f"{entry.key} holds {written} bytes, not {entry.size}")
                yield pipe.take()
        yield pipe.take()


def _info(name: str, size: int, when: datetime.datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, max(when, EARLIEST).timetuple()[:6])
    info.file_size = size  # decides Zip64 up front: the pipe cannot be rewound to fix a header
    info.external_attr = 0o644 << 16
    return info


class ArchiveService:
    def __init__(self, session: DbSession, storage: BlobStorage) -> None:
        self.session = session
        self.storage = storage

    def archive(self, package: Package) -> Archive:
        """The archive of ``package``'s live files, the newest of each path, by path."""
        newest: dict[str, PackageFile] = {}
        files = self.session.scalars(
            select(PackageFile)
            .where(PackageFile.package_id == package.id, PackageFile.status == PackageStatus.DEFAULT)
            .order_by(PackageFile.created_at, PackageFile.id)
        )
        for package_file in files:
            newest[package_file.file_name] = package_file
        entries = [
            Entry(f.file_name, f.size, f.sha256, f.storage_key, f.created_at)
            for f in sorted(newest.values(), key=lambda f: f.file_name)
        ]
        return Archive(self.storage, package, entries)
