"""How much a model or a version takes: its logical size (the bytes of its files, each file counted)
and its stored size (what they take in the store: each blob once however many files carry it, and a
file uploaded through Xet as the xorbs it is rebuilt from, each once however many files share their
chunks). Ten versions of a file that differ in a few chunks have ten times the logical size and a
little more than one of stored size. The model and version pages show both."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from package_api.plugin_api import Blob, DbSession, PackageFile, PackageStatus
from plugin.huggingface.models import XetFile, XetFileXorb, XetXorb
from plugin.huggingface.xet_files import KEY_PREFIX, xet_hash_of
from plugin.registry.models import Model, ModelVersion


@dataclass(frozen=True)
class StorageUse:
    logical: int
    stored: int

    @property
    def saved(self) -> int:
        return max(self.logical - self.stored, 0)


def storage_use(session: DbSession, package_ids: list[int]) -> StorageUse:
    if not package_ids:
        return StorageUse(0, 0)
    files = (
        select(Blob.id, Blob.size, Blob.storage_key)
        .join(PackageFile, PackageFile.blob_id == Blob.id)
        .where(PackageFile.package_id.in_(package_ids), PackageFile.status == PackageStatus.DEFAULT)
    )
    rows = session.execute(files).all()
    logical = sum(size for _, size, _ in rows)
    blobs = {blob_id: (size, key) for blob_id, size, key in rows}
    stored = sum(size for size, key in blobs.values() if not key.startswith(KEY_PREFIX))
    hashes = [h for _, key in blobs.values() if (h := xet_hash_of(key)) is not None]
    if hashes:
        xorbs = (
            select(XetXorb.id, XetXorb.size)
            .join(XetFileXorb, XetFileXorb.xorb_id == XetXorb.id)
            .join(XetFile, XetFile.id == XetFileXorb.file_id)
            .where(XetFile.hash.in_(hashes))
            .distinct()
        )
        stored += int(session.scalar(select(func.coalesce(func.sum(xorbs.subquery().c.size), 0))) or 0)
    return StorageUse(logical, stored)


def model_storage(session: DbSession, model: Model) -> StorageUse:
    ids = list(session.scalars(select(ModelVersion.package_id).where(ModelVersion.model_id == model.id)))
    return storage_use(session, ids)


def version_storage(session: DbSession, version: ModelVersion) -> StorageUse:
    return storage_use(session, [version.package_id])
