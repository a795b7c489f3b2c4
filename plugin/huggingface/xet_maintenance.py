"""The Xet store's parts of ``modelshelf gc`` and ``modelshelf verify``.

gc, after the blob gc: a Xet file whose blob is gone (no version or staged upload holds its bytes any
more) loses its row and manifest, then a xorb no file is rebuilt from loses its row and object, then
an object under ``xet/`` that no row names (a server killed between storing a xorb and recording it,
a xorb sent straight to the store whose shard never came) is removed. What is younger than ``GRACE``
stays: an upload in flight sends its xorbs, then its shard, then commits, and until it commits its
xorbs are used by no file (as the blob gc leaves leased uploads alone); a row is young again whenever
a shard, a re-upload or a deduplication answer holds it. ``plugin.huggingface.xet_holds`` says how gc
and an upload naming the same xorb or file cannot both go through: a row is doomed in a statement that
finds it old and unused, and an object no row names is claimed by a doomed row for its hash, before
its bytes are deleted.

verify: every xorb is read back and validated against its hash (format, chunk hashes, xorb hash) and
its recorded size; the files rebuilt from xorbs are checked by the blob verify itself, which reads
them through the blob source and compares their SHA-256.
"""
from __future__ import annotations

import datetime
import re

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from package_api.plugin_api import (
    Blob,
    BlobNotFound,
    BlobStorage,
    DbModel,
    DbSession,
    MaintenanceStep,
    StorageUnavailable,
    utcnow,
)
from plugin.huggingface.models import XetFile, XetFileXorb, XetXorb
from plugin.huggingface.xet.format import XetFormatError, hex_to_hash, validate_xorb
from plugin.huggingface.xet_direct import direct_upload_hash
from plugin.huggingface.xet_files import KEY_PREFIX as FILES_PREFIX
from plugin.huggingface.xet_files import manifest_key
from plugin.huggingface.xet_holds import DOOMED, GRACE
from plugin.huggingface.xorbs import KEY_PREFIX as XORBS_PREFIX
from plugin.huggingface.xorbs import xorb_key

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _changed(session: DbSession, statement: object) -> bool:
    """Run ``statement`` (an UPDATE or DELETE of one row) and commit; whether it changed the row."""
    done = session.execute(statement).rowcount  # type: ignore[call-overload]
    session.commit()
    return bool(done == 1)


def collect(session: DbSession, store: BlobStorage, dry_run: bool) -> list[str]:
    cutoff = utcnow() - GRACE
    files = xorbs = size = 0
    for row in session.scalars(select(XetFile).where(XetFile.created_at < cutoff)).all():
        key = manifest_key(row.hash)
        unused = ~exists().where(Blob.storage_key == key)
        if session.scalar(select(Blob.id).where(Blob.storage_key == key)) is not None:
            continue
        if not dry_run:
            doom = update(XetFile).where(XetFile.id == row.id, XetFile.created_at < cutoff, unused).values(created_at=DOOMED)
            if not _changed(session, doom.execution_options(synchronize_session=False)):
                continue  # held meanwhile (a shard or commit names it again)
            store.delete(key)
            _changed(session, delete(XetFile).where(XetFile.id == row.id, XetFile.created_at == DOOMED))
        files += 1
    session.commit()
    unused = ~exists().where(XetFileXorb.xorb_id == XetXorb.id)
    candidates = select(XetXorb).where(XetXorb.created_at < cutoff, unused)
    if dry_run:  # the files above would go first: count the xorbs only they use
        candidates = select(XetXorb).where(XetXorb.created_at < cutoff)
    for xorb in session.scalars(candidates).all():
        if dry_run and _used(session, xorb, cutoff):
            continue
        if not dry_run:
            doom = update(XetXorb).where(XetXorb.id == xorb.id, XetXorb.created_at < cutoff, unused).values(created_at=DOOMED)
            if not _changed(session, doom.execution_options(synchronize_session=False)):
                continue  # held meanwhile (a shard names it, or a client was told it is here)
            store.delete(xorb.storage_key)
            _changed(session, delete(XetXorb).where(XetXorb.id == xorb.id, XetXorb.created_at == DOOMED))
        xorbs += 1
        size += xorb.size
    session.commit()
    verb = "would remove" if dry_run else "removed"
    lines = [f"xet: {verb} {files} files and {xorbs} xorbs ({size} bytes)"] if files or xorbs else []
    return lines + _collect_strays(session, store, cutoff, dry_run)


def _collect_strays(session: DbSession, store: BlobStorage, cutoff: datetime.datetime, dry_run: bool) -> list[str]:
    """Objects under ``xet/`` no row names: removed once older than ``GRACE``, each under a claim."""
    # The store is listed before the rows are read: an object recorded after the listing is known by
    # then, and one written after it is not listed (as the blob gc orders it).
    objects = [(key, XetXorb) for key in store.keys(XORBS_PREFIX)] + [(key, XetFile) for key in store.keys(FILES_PREFIX)]
    session.commit()
    known = set(session.scalars(select(XetXorb.storage_key))) | {manifest_key(h) for h in session.scalars(select(XetFile.hash))}
    session.commit()
    removed = size = young = 0
    foreign: list[str] = []
    for key, table in objects:
        if key in known:
            continue
        name = key.rsplit("/", 1)[-1]
        if direct_upload_hash(key) is not None:  # a xorb put straight into the store whose shard never came
            try:
                written, stored = store.modified(key), store.size(key)
            except BlobNotFound:
                continue
            if written >= cutoff:
                young += 1
                continue
            if not dry_run:  # its own key, named by no row, and past the age a shard may take it (xet_direct.USABLE)
                store.delete(key)
            removed += 1
            size += stored
            continue
        if not _HEX64.fullmatch(name) or key != (xorb_key(name) if table is XetXorb else manifest_key(name)):
            foreign.append(key)  # no name the Xet store writes: not ours to judge
            continue
        try:
            written, stored = store.modified(key), store.size(key)
        except BlobNotFound:
            continue  # removed meanwhile
        if written >= cutoff:
            young += 1  # an upload in flight, or its shard still to come
            continue
        if not dry_run and not _remove_stray(session, store, key, name, table, cutoff):
            continue
        removed += 1
        size += stored
    aborted = _abort_stale_grants(store, cutoff, dry_run)
    verb = "would remove" if dry_run else "removed"
    lines = [f"xet: {verb} {removed} objects no row names ({size} bytes)"] if removed else []
    if aborted:
        verb = "would abort" if dry_run else "aborted"
        lines.append(f"xet: {verb} {aborted} upload grants never committed, older than {GRACE}")
    if young:
        lines.append(f"xet: {young} objects no row names yet, younger than {GRACE} (left for their uploads)")
    if foreign:
        lines.append(f"xet: {len(foreign)} objects under xet/ with names the store does not write (left alone), such as {foreign[0]}")
    return lines


def _abort_stale_grants(store: BlobStorage, cutoff: datetime.datetime, dry_run: bool) -> int:
    """Abort the multipart uploads of upload grants (``xet_direct``) begun before ``cutoff``, long past
    the time their commit could come (``UPLOAD_URL_EXPIRY`` + ``COMMIT_SLACK``): a caller with a write
    token may ask for any number of grants, and a bucket without a lifecycle rule would keep each for
    ever. A store that gives no start time (none but S3 has such uploads) is left alone."""
    aborted = 0
    for remnant in store.remnants(XORBS_PREFIX):
        if direct_upload_hash(remnant.key) is None or remnant.started is None or remnant.started >= cutoff:
            continue
        if not dry_run:
            store.discard(remnant)
        aborted += 1
    return aborted


def _remove_stray(session: DbSession, store: BlobStorage, key: str, name: str, table: type[DbModel], cutoff: datetime.datetime) -> bool:
    """Claim ``key`` with a doomed row for its hash, delete it unless written since it was listed,
    drop the claim; whether it went. The hash is unique: an upload recording it meanwhile wins."""
    claim: XetXorb | XetFile
    if table is XetXorb:
        claim = XetXorb(hash=name, storage_key=key, size=0, unpacked=0, chunks=0, layout="{}", created_at=DOOMED)
    else:
        claim = XetFile(hash=name, sha256="", size=0, created_at=DOOMED)
    try:
        session.add(claim)
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    claim_id = claim.id
    try:
        if store.modified(key) >= cutoff:
            return False  # written again since it was listed: an upload is about to record it
        store.delete(key)
        return True
    except BlobNotFound:
        return False
    finally:
        column = XetXorb.id if table is XetXorb else XetFile.id
        _changed(session, delete(table).where(column == claim_id))


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
    for xorb in session.scalars(select(XetXorb).where(XetXorb.created_at != DOOMED).order_by(XetXorb.id)).all():
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
