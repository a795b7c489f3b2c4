"""Xorbs: the compressed chunks the Xet client uploads (``POST /v1/xorbs/default/<hash>``), kept in
the instance's blob store (filesystem or S3, so backups hold them) under ``xet/xorbs/``, one object
per xorb however many files and projects use it.

A xorb counts once it is validated (``validate_xorb``: its records, each chunk's hash, the xorb hash
it is uploaded under) and stored: its row names the object, its chunk layout (offsets, sizes, hashes)
and the projects that uploaded it. A project sees only its own xorbs: the deduplication query and a
shard's terms reach no other project's chunks (knowing a chunk hash opens nothing). Uploading a xorb
again is idempotent (``was_inserted: false``) and, for another project, gives it the xorb once its
bytes proved it has them.

The deduplication query (``GET /v1/chunks/default-merkledb/<chunk hash>``) answers with a shard that
lists the whole xorb holding the chunk, so the client skips all of its chunks it has.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from package_api.plugin_api import BlobStorage, DbSession, InvalidInput, NotFound, Project, committed, off_the_loop
from plugin.huggingface.models import XetChunk, XetXorb, XetXorbProject
from plugin.huggingface.xet.format import (
    ShardXorb,
    ShardXorbChunk,
    XetFormatError,
    Xorb,
    build_shard,
    hash_to_hex,
    hex_to_hash,
    is_global_dedup_eligible,
    validate_xorb,
)
from plugin.huggingface.xet_holds import DOOMED, BeingCollected, confirm_stored, hold_xorbs

KEY_PREFIX = "xet/xorbs/"
#: How long a client may keep a deduplication answer (the xorbs it names are held: they stay for at
#: least the gc grace period).
DEDUP_SHARD_SECONDS = 3600


def xorb_key(hex_hash: str) -> str:
    return f"{KEY_PREFIX}{hex_hash[:2]}/{hex_hash}"


def parse_hex(value: str, what: str) -> str:
    """``value`` as a Xet hash in its hex form; raise ``InvalidInput``."""
    try:
        return hash_to_hex(hex_to_hash(value))
    except (XetFormatError, ValueError):
        raise InvalidInput(f"'{value}' is not a {what} hash (64 hexadecimal digits).") from None


@dataclass(frozen=True)
class Layout:
    """Where each chunk of a xorb is: ``offsets[i]`` its record's first byte, ``offsets[-1]`` the end
    of the records; ``sizes[i]`` its bytes decompressed, ``hashes[i]`` its hash (hex)."""

    offsets: list[int]
    sizes: list[int]
    hashes: list[str]

    @staticmethod
    def of(xorb: Xorb) -> Layout:
        return Layout([c.offset for c in xorb.chunks] + [xorb.chunks[-1].end], [c.uncompressed_size for c in xorb.chunks],
                      [hash_to_hex(c.hash) for c in xorb.chunks])

    @staticmethod
    def load(row: XetXorb) -> Layout:
        data = json.loads(row.layout)
        return Layout(data["offsets"], data["sizes"], data["hashes"])

    def dump(self) -> str:
        return json.dumps({"offsets": self.offsets, "sizes": self.sizes, "hashes": self.hashes}, separators=(",", ":"))

    def chunks(self) -> list[tuple[bytes, int]]:
        return [(hex_to_hash(h), s) for h, s in zip(self.hashes, self.sizes, strict=True)]


class XorbStore:
    def __init__(self, session: DbSession, store: BlobStorage) -> None:
        self.session = session
        self.store = store  # the blob store itself (not the blob sources)

    def find(self, project: Project | int, hex_hash: str) -> XetXorb | None:
        """The xorb ``hex_hash`` if ``project`` may use it."""
        project_id = project if isinstance(project, int) else project.id
        return self.session.scalar(
            select(XetXorb)
            .join(XetXorbProject, XetXorbProject.xorb_id == XetXorb.id)
            .where(XetXorb.hash == hex_hash, XetXorbProject.project_id == project_id, XetXorb.created_at != DOOMED)
        )

    def receive(self, project: Project, hex_hash: str, data: bytes) -> bool:
        """Validate the xorb uploaded under ``hex_hash`` and store it; return whether it is new. Raise
        ``InvalidInput`` for a malformed xorb or one whose chunks hash to another xorb hash."""
        hex_hash = parse_hex(hex_hash, "xorb")
        try:
            # Off the event loop: the other uploads of a gevent worker (the client sends xorbs in parallel) go on.
            xorb = off_the_loop(validate_xorb, data, hex_to_hash(hex_hash))
        except XetFormatError as exc:
            raise InvalidInput(f"Xorb {hex_hash}: {exc}") from None
        existing = self.session.scalar(select(XetXorb).where(XetXorb.hash == hex_hash))
        if existing is None:
            # Stored before its row: a row always names bytes. A race stores the same bytes twice, under one key.
            self.store.put(xorb_key(hex_hash), io.BytesIO(data))
        return self.record(project, hex_hash, xorb, len(data), xorb_key(hex_hash), data)

    def record(self, project: Project, hex_hash: str, xorb: Xorb, size: int, key: str, data: bytes | None = None) -> bool:
        """Count the validated xorb ``hex_hash`` stored under ``key`` for ``project``: its row (unless
        there is one, maybe under another key) and the project's use of it; return whether it is new
        to the project. ``data``: its bytes, put again if gc took the object meanwhile (without them,
        a xorb the client put straight into the store, ``BlobNotFound``)."""
        layout = Layout.of(xorb)
        project_id = project.id

        recorded = False

        def work() -> bool:
            nonlocal recorded
            row = self.session.scalar(select(XetXorb).where(XetXorb.hash == hex_hash))
            inserted = recorded = row is None
            if row is not None and not hold_xorbs(self.session, [row.id]):  # young again: its shard is coming
                raise BeingCollected(f"Xorb {hex_hash}")
            if row is None:
                row = XetXorb(
                    hash=hex_hash, storage_key=key, size=size, unpacked=xorb.uncompressed_size,
                    chunks=len(xorb.chunks), layout=layout.dump(),
                )
                self.session.add(row)
                self.session.flush()
                eligible = {h for h in layout.hashes if is_global_dedup_eligible(hex_to_hash(h))}
                eligible.add(layout.hashes[0])
                self.session.add_all(XetChunk(hash=h, xorb_id=row.id) for h in sorted(eligible))
            if self.session.get(XetXorbProject, (row.id, project_id)) is None:
                self.session.add(XetXorbProject(xorb_id=row.id, project_id=project_id))
                inserted = True
            return inserted

        inserted = committed(self.session, work)
        if recorded:  # a gc claim may have taken the object between its put and the row (xet_holds)
            confirm_stored(self.store, key, data)
        return inserted

    def index_chunk(self, row: XetXorb, position: int) -> None:
        """Index chunk ``position`` of ``row`` for the deduplication query (a file's first chunk), in
        the caller's unit of work."""
        chunk = Layout.load(row).hashes[position]
        if self.session.get(XetChunk, (chunk, row.id)) is None:
            try:
                with self.session.begin_nested():
                    self.session.add(XetChunk(hash=chunk, xorb_id=row.id))
            except IntegrityError:
                pass  # indexed meanwhile

    def dedup_shard(self, project: Project, chunk_hex: str) -> bytes:
        """A shard listing the xorb of ``project`` that holds chunk ``chunk_hex``; raise ``NotFound``."""
        chunk_hex = parse_hex(chunk_hex, "chunk")
        row = self.session.scalar(
            select(XetXorb)
            .join(XetChunk, XetChunk.xorb_id == XetXorb.id)
            .join(XetXorbProject, XetXorbProject.xorb_id == XetXorb.id)
            .where(XetChunk.hash == chunk_hex, XetXorbProject.project_id == project.id, XetXorb.created_at != DOOMED)
            .order_by(XetXorb.id)
            .limit(1)
        )
        xorb_id = row.id if row is not None else 0
        # The answer promises the xorb for the gc grace period: held, so that a shard naming it is not
        # refused because gc found it old and unused meanwhile.
        if row is None or not committed(self.session, lambda: hold_xorbs(self.session, [xorb_id])):
            raise NotFound(f"Chunk {chunk_hex}")
        layout = Layout.load(row)
        chunks, start = [], 0
        for h, size in zip(layout.hashes, layout.sizes, strict=True):
            chunks.append(ShardXorbChunk(hex_to_hash(h), start, size))  # where it starts, uncompressed
            start += size
        entry = ShardXorb(hex_to_hash(row.hash), chunks, row.unpacked, row.size)
        return build_shard([], [entry], expiry=int(time.time()) + DEDUP_SHARD_SECONDS)
