"""Uploads whose bytes the client sends straight to the store, in parts (the Hugging Face API's LFS
multipart transfer on S3): the same lease, hashing, rows and pipeline as ``PackageService.upload``,
except that the bytes reach the store without passing through the server. The server joins the
parts, then reads them back once to hash them: a file counts only once its bytes hash to what the
client declared.

The server sees none of the parts, so no heartbeat renews the lease while they flow: the lease starts
as long as the part URLs work (``urls_valid_for``) plus the lease time, and gc cannot reclaim the
parts while the client may still send one. A completion that comes after gc took over fails with
``UploadAbandoned`` (a 503 saying so); it never records bytes that are gone.
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence

from package_api import names
from package_api.access.models import Project, User
from package_api.packages.leases import new_key
from package_api.packages.models import PackageFile, PackageStatus
from package_api.packages.service import PackageService
from package_api.packages.streams import ChunkReader, ExpectedDigests, HashingReader
from package_api.storage import CHUNK_SIZE
from package_api.transactions import after_commit, committed


class DirectUploads:
    """``begin`` then ``finish`` an upload of parts sent to the store by the client. Reaches into
    ``packages`` for the steps ``upload`` takes (its lease, duplicate check and recording)."""

    def __init__(self, packages: PackageService) -> None:
        self.packages = packages

    def begin(self, part_size: int, *, urls_valid_for: datetime.timedelta = datetime.timedelta(0)) -> tuple[str, str] | None:
        """Start an upload whose parts (``part_size`` bytes) the client sends straight to the store,
        on URLs that work for ``urls_valid_for``: return its key, leased now for that long plus the
        lease time, and the store's handle; ``None`` when the store takes no direct writes. ``finish``
        records it; one never finished, gc reclaims once its lease has expired. Not inside a unit of
        work (the lease commits)."""
        key = new_key()
        self.packages.leases.begin(key, longer=urls_valid_for)
        try:
            handle = self.packages.storage.begin_parts(key, part_size)
        except BaseException:
            self.packages._abandon(key)
            raise
        if handle is None:
            self.packages.leases.release(key)
            return None
        return key, handle

    def finish(
        self,
        project: Project,
        name: str,
        version: str,
        path: str,
        key: str,
        handle: str,
        etags: Sequence[tuple[int, str]],
        *,
        creator: User | None,
        expected: ExpectedDigests,
        status: PackageStatus | None = None,
    ) -> PackageFile:
        """Join the parts the client sent to the store into ``key``, read them back hashing (the bytes
        count only once they hash to ``expected``), then record ``name/version/path`` as ``upload``
        does. Raises what ``upload`` raises, ``UploadAbandoned`` when the lease expired meanwhile and
        ``BlobNotFound`` for parts the store does not have (nothing recorded either way)."""
        name, version = names.package_name(name), names.package_version(version)
        path = names.file_path(path)
        self.packages.pipeline.check(project.id, name, version, self.packages.actor)
        self.packages._check_duplicate(project, name, version, [path])  # paths: a str would be its letters
        project_id, creator_id = project.id, creator.id if creator else None
        recorded: list[bool] = []
        try:
            self.packages.leases.renew(key)
            self.packages.session.commit()
            self.packages.storage.finish_parts(key, handle, etags)
            stored = self.packages.storage.open(key)
            try:
                # Reading 20 GiB back takes a while: the lease is renewed meanwhile.
                heartbeat = self.packages.leases.heartbeat(key)
                reader = HashingReader(ChunkReader(stored), self.packages.max_file_size, expected=expected, heartbeat=heartbeat)
                while reader.read(CHUNK_SIZE):
                    pass
            finally:
                stored.close()
            reader.check()

            def record() -> PackageFile:
                after_commit(self.packages.session, lambda: recorded.append(True))
                return self.packages._record(
                    project_id, name, version, path, creator_id, None, status, reader.sha256, key=key, size=reader.size
                )

            package_file = committed(self.packages.session, record)
        except BaseException:
            if not recorded:
                self.packages._abandon(key)
            raise
        if package_file.blob.storage_key != key:
            self.packages._discard(key)  # the same bytes were stored already: keep one copy
        return package_file

