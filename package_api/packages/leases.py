"""Upload leases: what keeps ``modelshelf gc`` off bytes an upload is still writing.

An upload writes to a fresh storage key and only then records a blob row naming it, so for a while
the store holds bytes no row knows. gc must reclaim such bytes when the upload died (a dropped
connection, a crashed or killed server) and must never take them from an upload that is about to
record them. The lease decides, through the database, which of the two owns them:

- before its first byte is stored, the upload commits a lease row naming its key;
- while bytes flow it renews the lease (at most every fifth of the lease time);
- the transaction that records the blob deletes the lease, and fails if it is gone;
- gc treats stored bytes as debris only when no blob row and no lease names their key, and it takes
  over a lease only once it has expired, by deleting the row before it touches the bytes.

Whichever deletes the lease row first wins; the other learns it from the row count. Keys are never
reused, so nothing else can race for them. An upload that stalls longer than the lease is given up
(``UploadAbandoned``, a 503) rather than trusted.
"""
from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable

from sqlalchemy import delete, select, update

from package_api.db import DbSession, utcnow
from package_api.packages.models import Upload
from package_api.storage import StorageUnavailable

#: Every upload's key starts with this; gc looks for debris only here.
KEY_PREFIX = "blobs/"
#: How long an upload may go without renewing its lease before gc may reclaim its bytes.
DEFAULT_LEASE = datetime.timedelta(minutes=10)


def new_key() -> str:
    """A storage key no upload has used: keys are never reused, so only gc can race for one."""
    token = uuid.uuid4().hex
    return f"{KEY_PREFIX}{token[:2]}/{token}"


class UploadAbandoned(StorageUnavailable):
    """The upload's lease expired and gc reclaimed its bytes; sending it again will work."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the upload stalled for longer than its lease and was abandoned ({key})")
        self.key = key


class UploadLeases:
    def __init__(
        self,
        session: DbSession,
        *,
        lease: datetime.timedelta = DEFAULT_LEASE,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.session = session
        self.lease = lease
        self.clock = clock

    def begin(self, key: str, *, longer: datetime.timedelta = datetime.timedelta(0)) -> Callable[[], None]:
        """Commit a lease on ``key``, ``longer`` than the lease time at first (an upload whose client
        sends the bytes elsewhere, where no heartbeat sees them flow); return the heartbeat that renews
        it while bytes flow."""
        now = self.clock()
        self.session.add(Upload(storage_key=key, started_at=now, expires_at=now + self.lease + longer))
        self.session.commit()
        return self.heartbeat(key)

    def heartbeat(self, key: str) -> Callable[[], None]:
        """A function to call as bytes of ``key`` flow: it renews the lease now and then (raising
        ``UploadAbandoned`` once gc has taken it over)."""
        interval = self.lease.total_seconds() / 5
        due = time.monotonic() + interval

        def heartbeat() -> None:
            nonlocal due
            if time.monotonic() >= due:
                self.renew(key)
                due = time.monotonic() + interval

        return heartbeat

    def renew(self, key: str) -> None:
        """Extend the lease on ``key``; raise ``UploadAbandoned`` if gc took it over."""
        result = self.session.execute(
            update(Upload)
            .where(Upload.storage_key == key)
            .values(expires_at=self.clock() + self.lease)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        # Session.execute is typed to return Result; a DML statement's is a CursorResult.
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise UploadAbandoned(key)

    def claim(self, key: str) -> None:
        """Delete the lease on ``key`` in the caller's transaction (the one that records the blob);
        raise ``UploadAbandoned`` if it is gone."""
        result = self.session.execute(delete(Upload).where(Upload.storage_key == key))
        # Session.execute is typed to return Result; a DML statement's is a CursorResult.
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise UploadAbandoned(key)

    def release(self, key: str) -> None:
        """Drop the lease of an upload that failed (its bytes are debris now)."""
        self.session.rollback()
        self.session.execute(delete(Upload).where(Upload.storage_key == key))
        self.session.commit()

    def leased_keys(self) -> set[str]:
        """Keys of every lease, expired or not (an expired one still stands until taken over)."""
        return set(self.session.scalars(select(Upload.storage_key)))

    def expired(self) -> list[Upload]:
        return list(self.session.scalars(select(Upload).where(Upload.expires_at < self.clock())))

    def take_over(self, upload: Upload) -> bool:
        """Delete an expired lease (committed) unless it was renewed meanwhile; return whether it was."""
        result = self.session.execute(
            delete(Upload).where(Upload.id == upload.id, Upload.expires_at < self.clock())
        )
        self.session.commit()
        # Session.execute is typed to return Result; a DML statement's is a CursorResult.
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
