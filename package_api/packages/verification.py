"""``modelshelf verify``: re-read stored blobs and report any whose bytes no longer match the
SHA-256 and size recorded when they were uploaded (bit rot, a truncated copy, a hand-edited object)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from package_api.db import DbSession
from package_api.packages.models import Blob, Package, PackageFile
from package_api.storage import BlobNotFound, BlobStorage, StorageUnavailable


@dataclass(frozen=True)
class Problem:
    blob: Blob
    kind: str  # "corrupted", "missing" or "unreadable"
    detail: str
    files: list[str]  # ``project/name/version/path`` of every file carrying the blob

    def __str__(self) -> str:
        where = ", ".join(self.files) if self.files else "no file"
        return f"{self.kind} blob {self.blob.sha256} ({self.blob.storage_key}): {self.detail}; carried by {where}"


@dataclass
class VerifyReport:
    blobs: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        kinds = {kind: sum(1 for p in self.problems if p.kind == kind) for kind in ("corrupted", "missing", "unreadable")}
        found = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        return f"verified {self.blobs} blobs ({self.bytes} bytes): {found}"


class Verifier:
    def __init__(self, session: DbSession, storage: BlobStorage) -> None:
        self.session = session
        self.storage = storage

    def run(self, *, sha256_prefix: str = "", on_problem: Callable[[Problem], None] | None = None) -> VerifyReport:
        """Check every blob whose digest starts with ``sha256_prefix``, one at a time; call
        ``on_problem`` for each problem as it is found."""
        report = VerifyReport()
        query = select(Blob).where(Blob.sha256.startswith(sha256_prefix.lower())).order_by(Blob.id)
        for blob in self.session.scalars(query).all():
            report.blobs += 1
            report.bytes += blob.size
            found = self._check(blob)
            if found is None:
                continue
            problem = Problem(blob, found[0], found[1], self._files(blob))
            report.problems.append(problem)
            if on_problem is not None:
                on_problem(problem)
        return report

    def _check(self, blob: Blob) -> tuple[str, str] | None:
        digest, size = hashlib.sha256(), 0
        try:
            reader = self.storage.open(blob.storage_key)
            try:
                for chunk in reader:
                    digest.update(chunk)
                    size += len(chunk)
            finally:
                reader.close()
        except BlobNotFound:
            return "missing", "the store has no object under its key"
        except StorageUnavailable as exc:
            return "unreadable", str(exc)
        if size != blob.size or digest.hexdigest() != blob.sha256:
            return "corrupted", f"stored bytes are {size} bytes with SHA-256 {digest.hexdigest()}, recorded {blob.size} bytes"
        return None

    def _files(self, blob: Blob) -> list[str]:
        rows = self.session.execute(
            select(Package, PackageFile.file_name)
            .join(PackageFile, PackageFile.package_id == Package.id)
            .where(PackageFile.blob_id == blob.id)
            .order_by(PackageFile.id)
        )
        return [f"{package.project.full_path}/{package.name}/{package.version}/{path}" for package, path in rows]
