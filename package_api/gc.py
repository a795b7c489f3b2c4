"""Garbage collection: drop what deletion marked, then blobs no file references, then their bytes."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import Blob, Package, PackageFile, PackageStatus
from .storage import BlobStorage, StorageError


@dataclass
class GcReport:
    packages: int = 0
    files: int = 0
    blobs: int = 0
    bytes: int = 0
    failed_keys: list[str] = field(default_factory=list)


class GarbageCollector:
    def __init__(self, session: Session, storage: BlobStorage) -> None:
        self.session = session
        self.storage = storage

    def collect(self, *, dry_run: bool = False) -> GcReport:
        """Remove pending-destruction rows and unreferenced blobs; with ``dry_run`` only count them."""
        report = GcReport()
        pending_package_ids = select(Package.id).where(Package.status == PackageStatus.PENDING_DESTRUCTION)
        doomed_files = select(PackageFile.id).where(
            (PackageFile.status == PackageStatus.PENDING_DESTRUCTION) | PackageFile.package_id.in_(pending_package_ids)
        )
        report.files = len(self.session.scalars(doomed_files).all())
        report.packages = len(self.session.scalars(pending_package_ids).all())
        if not dry_run:
            self.session.execute(delete(PackageFile).where(PackageFile.id.in_(doomed_files.scalar_subquery())))
            self.session.execute(delete(Package).where(Package.status == PackageStatus.PENDING_DESTRUCTION))
            self.session.commit()

        unreferenced = select(Blob).where(~exists().where(PackageFile.blob_id == Blob.id))
        if dry_run:
            # Blobs whose only files are about to go count as well.
            unreferenced = select(Blob).where(
                ~exists().where(PackageFile.blob_id == Blob.id, ~PackageFile.id.in_(doomed_files.scalar_subquery()))
            )
        for blob in self.session.scalars(unreferenced).all():
            report.blobs += 1
            report.bytes += blob.size
            if dry_run:
                continue
            key = blob.storage_key
            try:
                # One blob per transaction: an upload that references this blob meanwhile wins,
                # and the foreign key makes this delete fail instead of orphaning its file.
                result = self.session.execute(
                    delete(Blob).where(Blob.id == blob.id, ~exists().where(PackageFile.blob_id == blob.id))
                )
                self.session.commit()
                removed = result.rowcount == 1  # type: ignore[attr-defined]
            except IntegrityError:
                self.session.rollback()
                removed = False
            if not removed:
                report.blobs -= 1
                report.bytes -= blob.size
                continue
            try:
                self.storage.delete(key)
            except StorageError:
                report.failed_keys.append(key)
        return report
