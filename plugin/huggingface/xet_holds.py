"""How the Xet store and ``modelshelf gc`` keep off each other's objects (``xet/xorbs/``, ``xet/files/``).

Xorb and manifest keys are content addresses: an upload may write bytes that are already stored, and
a client may name a xorb it sent last week (its shard cache, a deduplication answer). So gc cannot
rely on fresh keys, as the blob gc does; it relies on two rules instead.

- **A row that counts is fresh.** A row's ``created_at`` is when it was recorded or last held: a
  shard holds the xorbs it uses (``hold_xorbs``), a deduplication answer the xorb it names, a
  re-upload its xorb, a shard its known file (``hold_file``), each in the transaction that makes them
  count, with an ``UPDATE`` that also refuses a row gc has doomed. gc dooms a row (``created_at =
  DOOMED``) in one statement that finds it older than ``GRACE`` and unused, then deletes its object,
  then the row. The two ``UPDATE``\\ s of one row are serialised by the database (PostgreSQL rechecks
  the loser's condition on the winner's row), so either the holder wins (gc finds it young) or gc
  does (the holder finds it doomed and refuses: the client sends it again). A doomed row is nobody's
  (``find`` and the deduplication query skip it) until gc, or the next run, deletes it.
- **An object no row names is debris once older than ``GRACE``** (its modification time in the
  store: an upload in flight, to us or straight to the store, wrote it moments ago). gc claims it
  first, by inserting a doomed row for its hash (the hash is unique, so no upload can record it
  meanwhile), then deletes it and the claim. Whoever records a row for an object checks, once its row
  is committed, that the object is there (``confirm_stored``): a claim that ended before the row was
  committed may have deleted it, and the bytes are put again (or the upload refused); after that
  commit no claim can start.
"""
from __future__ import annotations

import datetime
import io
from collections.abc import Collection

from sqlalchemy import update

from package_api.plugin_api import BlobNotFound, BlobStorage, DbSession, StorageUnavailable, utcnow
from plugin.huggingface.models import XetFile, XetXorb

#: How old an unused xorb, file or row-less object must be before gc removes it.
GRACE = datetime.timedelta(days=1)
#: ``created_at`` of a row gc is removing (with its object).
DOOMED = datetime.datetime(1970, 1, 1)


class BeingCollected(StorageUnavailable):
    """gc is removing the xorb or file an upload names: a 503, and the client sends it again."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is being removed by gc; send it again")


def hold_xorbs(session: DbSession, ids: Collection[int]) -> bool:
    """Make xorbs ``ids`` young again, in the caller's transaction; whether none was doomed (or gone)."""
    if not ids:
        return True
    done = session.execute(
        update(XetXorb).where(XetXorb.id.in_(sorted(ids)), XetXorb.created_at != DOOMED)
        .values(created_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(done == len(set(ids)))


def hold_file(session: DbSession, file_id: int) -> bool:
    """``hold_xorbs`` for the Xet file row ``file_id``."""
    done = session.execute(
        update(XetFile).where(XetFile.id == file_id, XetFile.created_at != DOOMED)
        .values(created_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(done == 1)


def confirm_stored(store: BlobStorage, key: str, data: bytes | None) -> None:
    """After committing a row that names ``key``: put ``data`` again if a gc claim removed it
    meanwhile; without ``data`` (bytes the server never held) raise ``BlobNotFound``."""
    try:
        store.size(key)
    except BlobNotFound:
        if data is None:
            raise
        store.put(key, io.BytesIO(data))
