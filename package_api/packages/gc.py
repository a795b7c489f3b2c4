"""Garbage collection: drop what deletion marked, then blobs no file references, then the bytes
uploads left behind when they never finished (a dropped connection, a crashed or killed server).

Never deletes bytes an upload is about to reference: a blob row goes only in a statement that
finds no file referencing it, and stored bytes no blob row names go only when no upload holds a
lease on their key (``package_api.packages.leases`` explains the lease).

Plugins' steps (``steps``: the ``expire`` parts of ``package_api.ops.maintenance``'s steps) run first
and mark their own expired rows for destruction (the Hugging Face API's staged uploads that no commit
took); the rest of the run then removes them like any deleted file.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.exc import IntegrityError

from package_api.db import DbSession
from package_api.packages.leases import KEY_PREFIX, UploadLeases
from package_api.packages.models import Blob, Package, PackageFile, PackageStatus
from package_api.storage import BlobNotFound, BlobStorage, StorageError

#: A gc step: mark what has expired ``PENDING_DESTRUCTION`` in the session and commit (with
#: ``dry_run``, only count it); return how many rows it marked (or would).
GcStep = Callable[[DbSession, bool], int]


@dataclass
class GcReport:
    packages: int = 0
    files: int = 0
    blobs: int = 0
    #: Objects and unfinished writes no blob row and no live upload names.
    abandoned: int = 0
    bytes: int = 0
    failed_keys: list[str] = field(default_factory=list)
    #: What each plugin step marked, by its label.
    expired: dict[str, int] = field(default_factory=dict)

    def summary(self, *, dry_run: bool) -> str:
        verb = "would remove" if dry_run else "removed"
        expired = "".join(f"; {count} {label}" for label, count in self.expired.items() if count)
        return (
            f"{verb} {self.packages} packages, {self.files} files, {self.blobs} blobs, "
            f"{self.abandoned} abandoned uploads ({self.bytes} bytes){expired}"
        )


class GarbageCollector:
    def __init__(
        self,
        session: DbSession,
        storage: BlobStorage,
        leases: UploadLeases | None = None,
        steps: Mapping[str, GcStep] | None = None,
    ) -> None:
        self.session = session
        self.storage = storage
        self.leases = leases or UploadLeases(session)
        self.steps = steps or {}

    def collect(self, *, dry_run: bool = False) -> GcReport:
        """Remove pending-destruction rows, unreferenced blobs and abandoned uploads; with
        ``dry_run`` only count them. Raise ``StorageUnavailable`` if the store cannot be listed."""
        report = GcReport()
        for label, step in self.steps.items():
            report.expired[label] = step(self.session, dry_run)
        self._collect_rows(report, dry_run)
        self._collect_blobs(report, dry_run)
        self._collect_abandoned(report, dry_run)
        return report

    def _doomed_files(self) -> tuple[Select[Any], Select[Any]]:
        pending_package_ids = select(Package.id).where(Package.status == PackageStatus.PENDING_DESTRUCTION)
        doomed_files = select(PackageFile.id).where(
            (PackageFile.status == PackageStatus.PENDING_DESTRUCTION) | PackageFile.package_id.in_(pending_package_ids)
        )
        return pending_package_ids, doomed_files

    def _collect_rows(self, report: GcReport, dry_run: bool) -> None:
        pending_package_ids, doomed_files = self._doomed_files()
        report.files = len(self.session.scalars(doomed_files).all())
        report.packages = len(self.session.scalars(pending_package_ids).all())
        if not dry_run:
            self.session.execute(delete(PackageFile).where(PackageFile.id.in_(doomed_files.scalar_subquery())))
            self.session.execute(delete(Package).where(Package.status == PackageStatus.PENDING_DESTRUCTION))
            self.session.commit()

    def _collect_blobs(self, report: GcReport, dry_run: bool) -> None:
        unreferenced = select(Blob).where(~exists().where(PackageFile.blob_id == Blob.id))
        if dry_run:
            # Blobs whose only files are about to go count as well.
            doomed_files = self._doomed_files()[1]
            unreferenced = select(Blob).where(
                ~exists().where(PackageFile.blob_id == Blob.id, ~PackageFile.id.in_(doomed_files.scalar_subquery()))
            )
        for blob in self.session.scalars(unreferenced).all():
            if dry_run:
                report.blobs += 1
                report.bytes += blob.size
                continue
            key, size = blob.storage_key, blob.size
            try:
                # One blob per transaction: an upload that references this blob meanwhile wins,
                # and the foreign key makes this delete fail instead of orphaning its file.
                result = self.session.execute(
                    delete(Blob).where(Blob.id == blob.id, ~exists().where(PackageFile.blob_id == blob.id))
                )
                self.session.commit()
                # Session.execute is typed to return Result; a DML statement's is a CursorResult.
                removed = result.rowcount == 1  # type: ignore[attr-defined]
            except IntegrityError:
                self.session.rollback()
                removed = False
            if not removed:
                continue
            report.blobs += 1
            report.bytes += size
            try:
                self.storage.delete(key)
            except StorageError:
                report.failed_keys.append(key)  # no row names it now: the next run's debris

    def _collect_abandoned(self, report: GcReport, dry_run: bool) -> None:
        expired = self.leases.expired()
        if not dry_run:
            expired = [upload for upload in expired if self.leases.take_over(upload)]
        expired_keys = {upload.storage_key for upload in expired}
        # The order is what makes this safe, even where each SELECT sees the latest commit (SQLite
        # runs them outside a transaction): list the store, then read the leases, then the blob
        # keys. Bytes that were listed had their lease committed before they were written; a lease
        # gone by the time it is read went with the commit that added its blob row, or with the
        # upload's failure; either way the blob keys, read after, tell.
        self.session.commit()
        objects = list(self.storage.keys(KEY_PREFIX))
        remnants = list(self.storage.remnants(KEY_PREFIX))
        leased = self.leases.leased_keys() - expired_keys
        known = leased | set(self.session.scalars(select(Blob.storage_key)))
        self.session.commit()
        for key in objects:
            if key in known:
                continue
            try:
                size = self.storage.size(key)
            except BlobNotFound:
                continue  # its upload discarded it meanwhile
            report.abandoned += 1
            report.bytes += size
            if dry_run:
                continue
            try:
                self.storage.delete(key)
            except StorageError:
                report.failed_keys.append(key)
        for remnant in remnants:
            if remnant.key in known:
                continue
            report.abandoned += 1
            report.bytes += remnant.size
            if dry_run:
                continue
            try:
                self.storage.discard(remnant)
            except StorageError:
                report.failed_keys.append(remnant.key)
