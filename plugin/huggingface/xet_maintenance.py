"""The Xet store's parts of ``modelshelf gc`` and ``modelshelf verify``.

gc, after the blob gc: a Xet file whose blob is gone (no version or staged upload holds its bytes any
more) loses its row and manifest, then a xorb no file is rebuilt from loses its row and object. What
is younger than ``GRACE`` stays: an upload in flight sends its xorbs, then its shard, then commits, and
until it commits its xorbs are used by no file (as the blob gc leaves leased uploads alone). Each row
goes in a statement that finds nothing using it, so a shard recorded meanwhile keeps its xorbs (or
fails, and the client uploads again). Objects under ``xet/`` that no row names (a server killed
between storing a xorb and recording it) are counted, not removed: no lease tells them from an upload
in progress.

verify: every xorb is read back and validated against its hash (format, chunk hashes, xorb hash) and
its recorded size; the files rebuilt from xorbs are checked by the blob verify itself, which reads
them through the blob source and compares their SHA-256.
"""
from __future__ import annotations

import datetime

from sqlalchemy import delete, exists, select

from package_api.plugin_api import (
    Blob,
    BlobNotFound,
    BlobStorage,
    DbSession,
    MaintenanceStep,
    StorageUnavailable,
    utcnow,
)
from plugin.huggingface.models import XetFile, XetFileXorb, XetXorb
from plugin.huggingface.xet.format import XetFormatError, hex_to_hash, validate_xorb
from plugin.huggingface.xet_files import KEY_PREFIX as FILES_PREFIX
from plugin.huggingface.xet_files import manifest_key
from plugin.huggingface.xorbs import KEY_PREFIX as XORBS_PREFIX

#: How old an unused xorb or file must be before gc removes it.
GRACE = datetime.timedelta(days=1)


def collect(session: DbSession, store: BlobStorage, dry_run: bool) -> list[str]:
    cutoff = utcnow() - GRACE
    files = xorbs = size = 0
    for row in session.scalars(select(XetFile).where(XetFile.created_at < cutoff)).all():
        key = manifest_key(row.hash)
        if session.scalar(select(Blob.id).where(Blob.storage_key == key)) is not None:
            continue
        if not dry_run:
            done = session.execute(
                delete(XetFile).where(XetFile.id == row.id, ~exists().where(Blob.storage_key == key))
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
            if done != 1:
                continue
            store.delete(key)
        files += 1
    session.commit()
    unused = select(XetXorb).where(XetXorb.created_at < cutoff, ~exists().where(XetFileXorb.xorb_id == XetXorb.id))
    if dry_run:  # the files above would go first: count the xorbs only they use
        unused = select(XetXorb).where(XetXorb.created_at < cutoff)
    for xorb in session.scalars(unused).all():
        if dry_run and _used(session, xorb, cutoff):
            continue
        if not dry_run:
            done = session.execute(
                delete(XetXorb).where(XetXorb.id == xorb.id, ~exists().where(XetFileXorb.xorb_id == xorb.id))
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
            if done != 1:
                continue
            store.delete(xorb.storage_key)
        xorbs += 1
        size += xorb.size
    session.commit()
    known = set(session.scalars(select(XetXorb.storage_key))) | {manifest_key(h) for h in session.scalars(select(XetFile.hash))}
    strays = [key for prefix in (XORBS_PREFIX, FILES_PREFIX) for key in store.keys(prefix) if key not in known]
    session.commit()
    verb = "would remove" if dry_run else "removed"
    lines = [f"xet: {verb} {files} files and {xorbs} xorbs ({size} bytes)"] if files or xorbs else []
    if strays:
        lines.append(f"xet: {len(strays)} objects under xet/ that no row names (left alone), such as {strays[0]}")
    return lines


def _used(session: DbSession, xorb: XetXorb, cutoff: datetime.datetime) -> bool:
    """Whether a file that stays (its blob is there, or it is young) is rebuilt from ``xorb``."""
    for row in session.scalars(
        select(XetFile).join(XetFileXorb, XetFileXorb.file_id == XetFile.id).where(XetFileXorb.xorb_id == xorb.id)
    ):
        if row.created_at >= cutoff or session.scalar(select(Blob.id).where(Blob.storage_key == manifest_key(row.hash))):
            return True
    return False


def verify(session: DbSession, store: BlobStorage) -> tuple[list[str], str]:
    problems: list[str] = []
    count = total = 0
    for xorb in session.scalars(select(XetXorb).order_by(XetXorb.id)).all():
        count += 1
        total += xorb.size
        try:
            reader = store.open(xorb.storage_key)
            try:
                data = b"".join(reader)
            finally:
                reader.close()
            if len(data) != xorb.size:
                raise XetFormatError(f"it has {len(data)} bytes, recorded {xorb.size}")
            validate_xorb(data, hex_to_hash(xorb.hash))
        except BlobNotFound:
            problems.append(f"missing xorb {xorb.hash} ({xorb.storage_key}): the store has no object under its key")
        except StorageUnavailable as exc:
            problems.append(f"unreadable xorb {xorb.hash} ({xorb.storage_key}): {exc}")
        except XetFormatError as exc:
            problems.append(f"corrupted xorb {xorb.hash} ({xorb.storage_key}): {exc}")
    session.commit()
    return problems, f"verified {count} xorbs ({total} bytes): {len(problems)} problems" if count else ""


STEP = MaintenanceStep("xet", collect, verify)
