"""Where the Hugging Face commit protocol keeps bytes between their upload and their commit.

The Hub's client sends a commit's bytes before the commit itself (LFS objects through the batch API,
before the NDJSON ``commit`` request) or inside it (regular files, base64 in the commit body, read one
line at a time). Either way they go through the one upload pipeline (``PackageService.upload``:
streamed, hashed, leased, audited) into the project's hidden staging package ``ml_hf_uploads/staged``,
a file per object. The commit then adds the bytes to the version by digest (no byte copied) and drops
the staging files it used, in the version's transaction; ``modelshelf gc`` reclaims bytes no file
references any more. An object uploaded and never committed (a client that died between its uploads
and its commit, parts of a multipart upload never completed) stays staged (listed with
``status=hidden``) for ``HF_STAGING_LEASE_SECONDS`` (a day by default); then ``modelshelf gc``
removes it (``expire``). A commit that names an object gc took meanwhile fails; the client uploads it
again.

``ml_hf_uploads`` is never a model's name (``plugin.registry.model_service.model_name``), so the
staging package is a plain hidden package, outside every model.
"""
from __future__ import annotations

import datetime
import secrets
from collections.abc import Sequence

from sqlalchemy import func, select, update

from package_api.plugin_api import (
    LIVE_PACKAGE,
    Blob,
    DbSession,
    DirectUploads,
    ExpectedDigests,
    NotFound,
    Package,
    PackageFile,
    PackageService,
    PackageStatus,
    Project,
    Readable,
    User,
    utcnow,
)
from plugin.registry.projection import HF_STAGING_PACKAGE_NAME

#: The hidden package of each project that holds uploaded, not yet committed objects.
STAGING_NAME, STAGING_VERSION = HF_STAGING_PACKAGE_NAME, "staged"
#: What ``modelshelf gc`` calls the staged files it removes.
GC_LABEL = "Hugging Face uploads never committed"


def expire(session: DbSession, dry_run: bool, *, lease: datetime.timedelta) -> int:
    """Mark the staging files of every project older than ``lease`` for destruction (the rest of
    the gc run removes them, and their bytes unless a version holds them); return how many (with
    ``dry_run``, how many it would)."""
    staging = select(Package.id).where(
        Package.name == STAGING_NAME, Package.version == STAGING_VERSION, LIVE_PACKAGE
    )
    expired = (
        PackageFile.package_id.in_(staging.scalar_subquery()),
        PackageFile.status == PackageStatus.DEFAULT,
        PackageFile.created_at < utcnow() - lease,
    )
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(PackageFile).where(*expired)) or 0)
    result = session.execute(
        update(PackageFile)
        .where(*expired)
        .values(status=PackageStatus.PENDING_DESTRUCTION)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    # Session.execute is typed to return Result; a DML statement's is a CursorResult.
    return int(result.rowcount)  # type: ignore[attr-defined]


class Staging:
    def __init__(self, session: DbSession, packages: PackageService) -> None:
        self.session = session
        self.packages = packages

    def stage(
        self,
        project: Project,
        body: Readable,
        *,
        creator: User | None,
        sha256: str | None = None,
        size: int | None = None,
        name: str | None = None,
    ) -> PackageFile:
        """Stream ``body`` into the staging package (as ``name``, a fresh name by default); when the
        client declared ``sha256`` the bytes must hash to it (``ChecksumMismatch``, nothing kept).
        Raises what ``PackageService.upload`` raises."""
        path = name or f"{sha256 or 'object'}-{secrets.token_hex(8)}"
        return self.packages.upload(
            project,
            STAGING_NAME,
            STAGING_VERSION,
            path,
            body,
            creator=creator,
            status=PackageStatus.HIDDEN,
            content_length=size,
            expected=ExpectedDigests(sha256=sha256) if sha256 else None,
        )

    def stage_direct(
        self, project: Project, key: str, handle: str, etags: Sequence[tuple[int, str]], *, creator: User | None, sha256: str
    ) -> PackageFile:
        """Record the parts the client sent straight to the store (``DirectUploads``) as a staging
        file, once they hash to ``sha256``."""
        return DirectUploads(self.packages).finish(
            project,
            STAGING_NAME,
            STAGING_VERSION,
            f"{sha256}-{secrets.token_hex(8)}",
            key,
            handle,
            etags,
            creator=creator,
            expected=ExpectedDigests(sha256=sha256),
            status=PackageStatus.HIDDEN,
        )

    def blob(self, project: Project, sha256: str, size: int | None = None) -> Blob:
        """The stored bytes ``sha256`` if a live file of ``project`` carries them (staged or part of a
        version: a digest says nothing about other projects); raise ``NotFound("Blob")``."""
        blob = self.packages.project_blob(project, sha256)
        if size is not None and blob.size != size:
            raise NotFound("Blob")
        return blob

    def has(self, project: Project, sha256: str, size: int) -> bool:
        try:
            self.blob(project, sha256, size)
        except NotFound:
            return False
        return True

    def staged_files(self, project: Project, blob_ids: set[int]) -> list[PackageFile]:
        """The staging files of ``project`` that hold one of ``blob_ids`` (to drop once committed)."""
        if not blob_ids:
            return []
        return list(
            self.session.scalars(
                select(PackageFile)
                .join(Package, Package.id == PackageFile.package_id)
                .where(
                    Package.project_id == project.id,
                    Package.name == STAGING_NAME,
                    Package.version == STAGING_VERSION,
                    LIVE_PACKAGE,
                    PackageFile.status == PackageStatus.DEFAULT,
                    PackageFile.blob_id.in_(blob_ids),
                )
            )
        )

    def staged_file(self, project: Project, name: str) -> PackageFile:
        """The staging file ``name`` (a multipart upload's part); raise ``NotFound``."""
        package = self.packages.find_live(project, STAGING_NAME, STAGING_VERSION)
        if package is None:
            raise NotFound("Package file")
        return self.packages.newest_file(package, name)
