"""Packing files uploaded without Xet into xorbs (``modelshelf gc`` with ``HF_XET_PACK_MIN_SIZE``): a file
uploaded with curl, MLflow or Git LFS is one stored object, which ``hf_xet`` cannot read through Xet
and a later Xet upload cannot deduplicate against. Packing cuts it as the client would
(``plugin.huggingface.xet.packing.FilePacker``: the same chunks, so the same Xet hash), stores its
xorbs as if the client had sent them (validated, the projects whose files carry it as their owners),
records the file from a shard of its own (checked as any shard: it is rebuilt and must hash to the
blob's SHA-256), and then points the blob at the file's manifest, in the transaction that holds the
file, and deletes the whole copy: storage is not doubled, every reader (curl, MLflow, the archive, the
client over HTTP) reads the same bytes rebuilt from the chunks, the client reads them through Xet, and
a fine-tune uploaded through Xet sends only what it changed.

A blob that changes meanwhile (its last file deleted, so gc removed it) is left as it is: the swap
names the key it read, and the xorbs and file it made go with the next gc's grace period.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import distinct, select, update

from package_api.plugin_api import (
    COMMAND_LINE,
    LIVE_PACKAGE,
    Blob,
    BlobStorage,
    DbSession,
    MaintenanceStep,
    ModelshelfError,
    Package,
    PackageFile,
    PackageStatus,
    Project,
    committed,
    package_services,
)
from plugin.huggingface.models import XetFile, XetXorb, XetXorbProject
from plugin.huggingface.xet.format import FilePacker, build_shard, hash_to_hex
from plugin.huggingface.xet_files import KEY_PREFIX as FILES_PREFIX
from plugin.huggingface.xet_files import XetFiles, manifest_key
from plugin.huggingface.xet_holds import hold_file
from plugin.huggingface.xorbs import KEY_PREFIX as XORBS_PREFIX

#: The setting: files of at least this many bytes are packed by ``modelshelf gc``; 0, never.
SETTING = "HF_XET_PACK_MIN_SIZE"


def candidates(session: DbSession, min_size: int) -> list[Blob]:
    """Blobs of at least ``min_size`` bytes stored whole that a live file carries."""
    live = (
        select(PackageFile.blob_id)
        .join(Package, Package.id == PackageFile.package_id)
        .where(LIVE_PACKAGE, PackageFile.status == PackageStatus.DEFAULT)
    )
    return list(session.scalars(
        select(Blob).where(
            Blob.size >= min_size, Blob.id.in_(live),
            ~Blob.storage_key.startswith(FILES_PREFIX), ~Blob.storage_key.startswith(XORBS_PREFIX),
        ).order_by(Blob.id)
    ))


def _owners(session: DbSession, blob_id: int) -> list[int]:
    return list(session.scalars(
        select(distinct(Package.project_id))
        .join(PackageFile, PackageFile.package_id == Package.id)
        .where(PackageFile.blob_id == blob_id, LIVE_PACKAGE, PackageFile.status == PackageStatus.DEFAULT)
        .order_by(Package.project_id)
    ))


def pack(session: DbSession, store: BlobStorage, blob: Blob) -> bool:
    """Pack ``blob`` (see the module docstring); whether the blob now reads from its xorbs."""
    blob_id, old_key, sha256 = blob.id, blob.storage_key, blob.sha256
    owners = [session.get(Project, project_id) for project_id in _owners(session, blob_id)]
    projects = [project for project in owners if project is not None]
    if not projects:
        return False
    files = XetFiles(session, package_services(actor=COMMAND_LINE), store)
    packer, xorbs = FilePacker(), []
    reader = store.open(old_key)
    try:
        for piece in reader:
            for packed in packer.feed(piece):
                files.xorbs.receive(projects[0], hash_to_hex(packed.hash), packed.data)
                xorbs.append(hash_to_hex(packed.hash))
    finally:
        reader.close()
    last, entry = packer.finish()
    for packed in last:
        files.xorbs.receive(projects[0], hash_to_hex(packed.hash), packed.data)
        xorbs.append(hash_to_hex(packed.hash))
    if entry.sha256 is None or entry.sha256.hex() != sha256:
        return False  # the stored bytes are not the blob's any more: verify reports it
    files.receive_shard(projects[0], build_shard([entry], [], with_footer=False), creator=None)
    file_hex = hash_to_hex(entry.hash)

    def swap() -> bool:
        row = session.scalar(select(XetFile).where(XetFile.hash == file_hex))
        if row is None or not hold_file(session, row.id):
            return False
        for xorb_id in session.scalars(select(XetXorb.id).where(XetXorb.hash.in_(xorbs))):
            for project in projects[1:]:  # every project holding the file may deduplicate against it
                if session.get(XetXorbProject, (xorb_id, project.id)) is None:
                    session.add(XetXorbProject(xorb_id=xorb_id, project_id=project.id))
        done = session.execute(
            update(Blob).where(Blob.id == blob_id, Blob.storage_key == old_key)
            .values(storage_key=manifest_key(file_hex)).execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        return bool(done == 1)

    if not committed(session, swap):
        return False
    store.delete(old_key)  # no row names it now
    return True


def collect(session: DbSession, store: BlobStorage, dry_run: bool) -> list[str]:
    min_size = int(current_app.config["MODELSHELF"].get(SETTING) or 0)
    if min_size <= 0:
        return []
    found = candidates(session, min_size)
    session.commit()
    if dry_run:
        return [f"xet: would pack {len(found)} files ({sum(b.size for b in found)} bytes) into xorbs"] if found else []
    packed = size = 0
    failed: list[str] = []
    for blob in found:
        blob_size, sha256 = blob.size, blob.sha256
        try:
            done = pack(session, store, blob)
        except ModelshelfError as exc:  # the store failing, a file that does not verify: the next run tries again
            session.rollback()
            failed.append(f"{sha256}: {exc}")
            continue
        if done:
            packed += 1
            size += blob_size
    lines = [f"xet: packed {packed} files ({size} bytes) into xorbs"] if found else []
    if failed:
        lines.append(f"xet: could not pack {len(failed)} files (left whole), such as {failed[0]}")
    return lines


STEP = MaintenanceStep("xet packing", collect)
