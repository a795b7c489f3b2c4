"""Xet files: what a shard (``POST /v1/shards``) describes, rebuilt from xorbs for every client.

A shard lists files as terms (a xorb and a range of its chunks). Each file is checked before it counts
(``validate_file_terms``: every xorb is the project's, every chunk range exists and holds the term's
bytes, the chunks hash to the file's Xet hash, the verification hashes match), then rebuilt once to
check the SHA-256 the client gives (the digest it commits with, and the one every other client sees:
a wrong one is refused, so no upload can pass bytes off as others'). Its terms, with the byte ranges of
their chunks in each xorb, become the file's manifest, an object of the blob store under
``xet/files/``; the file is then a blob like any other, whose storage key is its manifest's: the
``XetSource`` registered for that prefix rebuilds its bytes on every read (``Range`` included),
decompressing the chunks as they stream. The file is staged (``plugin.huggingface.staging``) until a
commit adds it to a version by its SHA-256, as an LFS object is.

Stored once: ten versions of a file that differ in a few chunks share every other chunk.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from package_api.plugin_api import (
    LIVE_PACKAGE,
    Blob,
    BlobNotFound,
    BlobReader,
    BlobStorage,
    DbSession,
    InvalidInput,
    NotFound,
    Package,
    PackageFile,
    PackageService,
    PackageStatus,
    Project,
    RebuiltFiles,
    StorageUnavailable,
    User,
    committed,
    start_off_the_loop,
)
from plugin.huggingface import xet_direct
from plugin.huggingface.models import XetFile, XetFileXorb, XetXorb, XetXorbProject
from plugin.huggingface.staging import STAGING_NAME, STAGING_VERSION, Staging
from plugin.huggingface.xet.format import (
    ShardFile,
    XetFormatError,
    hash_to_hex,
    iter_record_views,
    parse_shard,
    validate_file_terms,
)
from plugin.huggingface.xet.xorb import MAX_XORB_BYTES
from plugin.huggingface.xet_direct import Pending, ShardPass, committed_upload
from plugin.huggingface.xet_holds import DOOMED, BeingCollected, confirm_stored, hold_file, hold_xorbs
from plugin.huggingface.xorbs import Layout, XorbStore, parse_hex

KEY_PREFIX = "xet/files/"
#: Bytes of chunk records read from a xorb at a time when rebuilding a file, and hashed at a time.
WINDOW = xet_direct.WINDOW
_HEX64 = re.compile(r"[0-9a-f]{64}")


def manifest_key(hex_hash: str) -> str:
    return f"{KEY_PREFIX}{hex_hash[:2]}/{hex_hash}"


def xet_hash_of(storage_key: str) -> str | None:
    """The Xet hash of a blob rebuilt from chunks (its storage key is its manifest's), else ``None``."""
    return storage_key.rsplit("/", 1)[-1] if storage_key.startswith(KEY_PREFIX) else None


@dataclass(frozen=True)
class ManifestTerm:
    xorb: str  # hex hash
    key: str  # the xorb's storage key
    start: int  # first chunk
    offsets: list[int]  # the byte offset in the xorb of each chunk of the term, then of the end
    sizes: list[int]  # each chunk's bytes, decompressed

    @property
    def end(self) -> int:
        return self.start + len(self.sizes)

    @property
    def size(self) -> int:
        return sum(self.sizes)


def manifest_json(size: int, sha256: str, terms: list[ManifestTerm]) -> bytes:
    return json.dumps(
        {"size": size, "sha256": sha256,
         "terms": [{"xorb": t.xorb, "key": t.key, "start": t.start, "offsets": t.offsets, "sizes": t.sizes} for t in terms]},
        separators=(",", ":"),
    ).encode()


def load_manifest(data: bytes) -> tuple[int, list[ManifestTerm]]:
    item = json.loads(data)
    terms = [ManifestTerm(t["xorb"], t["key"], t["start"], t["offsets"], t["sizes"]) for t in item["terms"]]
    return int(item["size"]), terms


def _read_all(store: BlobStorage, key: str, start: int = 0, length: int | None = None) -> bytes:
    reader = store.open(key, start, length)
    try:
        return b"".join(reader)
    finally:
        reader.close()


def rebuild(store: BlobStorage, terms: list[ManifestTerm], start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """The bytes ``[start, start+length)`` of the file ``terms`` describe, decompressed from the xorbs a
    window of records at a time. Raise ``StorageUnavailable`` for a xorb that does not decode."""
    for piece in _pieces(store, terms, start, length):
        yield piece if isinstance(piece, bytes) else bytes(piece)


def _pieces(store: BlobStorage, terms: list[ManifestTerm], start: int, length: int | None) -> Iterator[bytes | memoryview]:
    """``rebuild``, an uncompressed chunk given as a view of the records read (not copied)."""
    end = None if length is None else start + length
    pos = 0  # where the current chunk starts in the file
    for term in terms:
        if end is not None and pos >= end:
            return
        if pos + term.size <= start:
            pos += term.size
            continue
        i = 0
        while i < len(term.sizes):
            if end is not None and pos >= end:
                return
            if pos + term.sizes[i] <= start:  # a chunk before the range: not even read
                pos += term.sizes[i]
                i += 1
                continue
            j = i + 1  # a window of chunks [i, j) of at most WINDOW bytes of records (one chunk at least)
            while j < len(term.sizes) and term.offsets[j + 1] - term.offsets[i] <= WINDOW and (end is None or pos + sum(term.sizes[i:j]) < end):
                j += 1
            records = _read_all(store, term.key, term.offsets[i], term.offsets[j] - term.offsets[i])
            try:
                for chunk in iter_record_views(records, first_index=term.start + i):
                    lo, hi = max(start - pos, 0), len(chunk) if end is None else min(len(chunk), end - pos)
                    if lo < hi:
                        yield chunk[lo:hi] if (lo, hi) != (0, len(chunk)) else chunk
                    pos += len(chunk)
            except XetFormatError as exc:
                raise StorageUnavailable(f"Xorb {term.xorb} does not decode: {exc}") from None
            i = j


def _update(digest: Any, pieces: list[bytes | memoryview]) -> None:
    for piece in pieces:
        digest.update(piece)


def sha256_of(store: BlobStorage, terms: list[ManifestTerm]) -> str:
    """The SHA-256 of the file ``terms`` describe (``sha256_of_pieces``)."""
    return sha256_of_pieces(_pieces(store, terms, 0, None))


def sha256_of_pieces(pieces: Iterator[bytes | memoryview]) -> str:
    """The SHA-256 of the bytes ``pieces`` gives: a window of chunks is hashed off the event loop
    while the next one is read and decompressed (``hashlib`` lets go of the GIL), so the check costs
    about the longer of the two rather than their sum. An empty piece (``xet_direct.FLUSH``) has
    everything before it hashed before the next is asked for."""
    digest = hashlib.sha256()
    wait: Callable[[], None] | None = None
    batch: list[bytes | memoryview] = []
    size = 0
    for chunk in pieces:
        if not chunk:  # FLUSH: the pieces so far are views of a buffer about to be reused
            if wait is not None:
                wait()
            _update(digest, batch)
            wait, batch, size = None, [], 0
            continue
        batch.append(chunk)
        size += len(chunk)
        if size >= WINDOW:
            if wait is not None:
                wait()
            wait, batch, size = start_off_the_loop(_update, digest, batch), [], 0
    if wait is not None:
        wait()
    _update(digest, batch)
    return digest.hexdigest()


def _check_sha256(file: ShardFile, sha256: str) -> None:
    # hf_xet writes the digest as it writes hashes (``hash_to_hex`` order); the raw order is taken too.
    if file.sha256 is not None and sha256 not in (hash_to_hex(file.sha256), file.sha256.hex()):
        raise InvalidInput(f"Shard: file {hash_to_hex(file.hash)} has SHA-256 {sha256}, not {hash_to_hex(file.sha256)}.")


class _Reader:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class XetSource:
    """The blob source of ``xet/files/``: a file's bytes, rebuilt from its manifest's terms."""

    def open(self, store: BlobStorage, key: str, start: int, length: int | None) -> BlobReader:
        size, terms = load_manifest(_read_all(store, key))
        if start > size:
            raise BlobNotFound(key)
        return _Reader(rebuild(store, terms, start, length))

    def size(self, store: BlobStorage, key: str) -> int:
        return load_manifest(_read_all(store, key))[0]


class XetFiles:
    def __init__(self, session: DbSession, packages: PackageService, store: BlobStorage) -> None:
        self.session = session
        self.packages = packages
        self.store = store  # the blob store itself
        self.xorbs = XorbStore(session, store)
        self.staging = Staging(session, packages)
        #: Takes ``n`` bytes of the worker's upload budget for a block (``xet_budget``): what a shard's
        #: check of directly uploaded xorbs reads them into. The routes set it; nothing by default.
        self.reserve: Callable[[int], AbstractContextManager[None]] = lambda n: nullcontext()

    # -- shards ---------------------------------------------------------------------------------------

    def receive_shard(self, project: Project, data: bytes, *, creator: User | None) -> bool:
        """Check the files the shard describes and stage each (see the module docstring); return
        whether any was new. Raise ``InvalidInput`` for a malformed shard, an unknown xorb, a file that
        does not verify, a directly uploaded xorb that does not (``plugin.huggingface.xet_direct``)."""
        try:
            shard = parse_shard(data)
        except XetFormatError as exc:
            raise InvalidInput(f"Shard: {exc}") from None
        rows: dict[str, XetXorb] = {}
        layouts: dict[str, Layout] = {}
        chunk_lists: dict[str, list[tuple[bytes, int]]] = {}  # a xorb's, once: a file may have many terms in one xorb
        pending: dict[str, Pending] = {}  # uploaded straight to the store, not checked yet

        def chunks_of(raw: bytes) -> list[tuple[bytes, int]] | None:
            hex_hash = hash_to_hex(raw)
            if hex_hash not in chunk_lists:
                row = self.xorbs.find(project, hex_hash)
                if row is None:
                    return None
                rows[hex_hash], layouts[hex_hash] = row, Layout.load(row)
                chunk_lists[hex_hash] = layouts[hex_hash].chunks()
            return chunk_lists[hex_hash]

        for entry in shard.xorbs:  # the xorbs the client says it uploaded: each must be here
            if chunks_of(entry.hash) is None:
                name = hash_to_hex(entry.hash)
                key = committed_upload(self.store, project, name)
                if key is None:
                    raise InvalidInput(f"Shard: xorb {name} was not uploaded (upload xorbs before their shard).")
                pending[name] = Pending(key, entry)  # checked below, against what the shard says it holds
                chunk_lists[name] = [(c.hash, c.unpacked_size) for c in entry.chunks]
        new_files: list[ShardFile] = []
        for file in shard.files:
            try:
                validate_file_terms(file, chunks_of)
            except XetFormatError as exc:
                raise InvalidInput(f"Shard: {exc}") from None
            if self.session.scalar(select(XetFile.id).where(XetFile.hash == hash_to_hex(file.hash))) is None:
                new_files.append(file)
                for t in file.terms:
                    if hash_to_hex(t.xorb_hash) in pending:
                        pending[hash_to_hex(t.xorb_hash)].uses += 1
        # Held (young again) before they are read: gc leaves them for its grace period (xet_holds).
        self._hold(rows.values())
        # One read of every byte: each new file's SHA-256, the direct xorbs validated as they are read
        # into at most ``BUFFERS`` xorb buffers, taken from the upload budget while they are held.
        check = ShardPass(self.store, pending)
        with self.reserve(min(len(pending), xet_direct.BUFFERS) * (MAX_XORB_BYTES + 1)):
            digests = {hash_to_hex(f.hash): sha256_of_pieces(self._file_pieces(f, rows, layouts, check)) for f in new_files}
            for f in new_files:
                _check_sha256(f, digests[hash_to_hex(f.hash)])
            checked = check.finish()
        for name, (xorb, size) in checked.items():
            key = pending[name].key
            self.xorbs.record(project, name, xorb, size, key)
            row = self.xorbs.find(project, name)
            assert row is not None
            if row.storage_key != key:
                self.store.delete(key)  # another upload of the same xorb counts already
            rows[name], layouts[name] = row, Layout.load(row)
        new = False
        for file in shard.files:
            new = self._receive_file(project, file, rows, layouts, creator, digests.get(hash_to_hex(file.hash))) or new
        return new

    def _file_pieces(
        self, file: ShardFile, rows: Mapping[str, XetXorb], layouts: Mapping[str, Layout], check: ShardPass
    ) -> Iterator[bytes | memoryview]:
        for t in file.terms:
            name = hash_to_hex(t.xorb_hash)
            if name in check.pending:
                yield from check.pieces(name, t.chunk_start, t.chunk_end)
            else:
                yield from _pieces(self.store, [self._term(name, t.chunk_start, t.chunk_end, rows, layouts)], 0, None)

    @staticmethod
    def _term(name: str, start: int, end: int, rows: Mapping[str, XetXorb], layouts: Mapping[str, Layout]) -> ManifestTerm:
        layout = layouts[name]
        return ManifestTerm(name, rows[name].storage_key, start, layout.offsets[start:end + 1], layout.sizes[start:end])

    def _hold(self, rows: Iterable[XetXorb]) -> None:
        """``hold_xorbs`` in the caller's unit of work (committed here outside one); raise ``InvalidInput``
        for a xorb gc removed since the shard was checked."""
        names = {row.id: row.hash for row in rows}
        if not committed(self.session, lambda: hold_xorbs(self.session, names), keep_loaded=True):
            there = self.session.scalars(select(XetXorb.id).where(XetXorb.id.in_(sorted(names)), XetXorb.created_at != DOOMED))
            gone = sorted(names[i] for i in set(names) - set(there))
            raise InvalidInput(f"Shard: xorb {gone[0] if gone else '?'} was removed by gc (upload it again).")

    def _receive_file(
        self, project: Project, file: ShardFile, rows: Mapping[str, XetXorb], layouts: Mapping[str, Layout],
        creator: User | None, digest: str | None,
    ) -> bool:
        hex_hash = hash_to_hex(file.hash)
        known = self.session.scalar(select(XetFile).where(XetFile.hash == hex_hash))
        if known is not None:
            known_id = known.id
            if not committed(self.session, lambda: hold_file(self.session, known_id)):
                raise BeingCollected(f"File {hex_hash}")
            sha256, size = known.sha256, known.size
        else:
            terms = [self._term(hash_to_hex(t.xorb_hash), t.chunk_start, t.chunk_end, rows, layouts) for t in file.terms]
            sha256, size = digest or sha256_of(self.store, terms), file.size
            _check_sha256(file, sha256)
            manifest = manifest_json(size, sha256, terms)
            self.store.put(manifest_key(hex_hash), io.BytesIO(manifest))
            xorb_ids = sorted({rows[t.xorb].id for t in terms})
            first = rows[terms[0].xorb] if terms else None

            def work() -> None:
                there = self.session.scalar(select(XetFile).where(XetFile.hash == hex_hash))
                if there is not None:  # recorded meanwhile, by the same shard sent twice (or claimed by gc)
                    if not hold_file(self.session, there.id):
                        raise BeingCollected(f"File {hex_hash}")
                    return
                # The xorbs still there, in the transaction that makes the file count: a shard and gc's
                # removal of a xorb it names cannot both go through.
                if not hold_xorbs(self.session, xorb_ids):
                    raise InvalidInput(f"Shard: a xorb of file {hex_hash} was removed by gc (upload it again).")
                row = XetFile(hash=hex_hash, sha256=sha256, size=size)
                self.session.add(row)
                self.session.flush()
                self.session.add_all(XetFileXorb(file_id=row.id, xorb_id=xorb_id) for xorb_id in xorb_ids)
                if first is not None:
                    self.xorbs.index_chunk(first, terms[0].start)

            committed(self.session, work)
            confirm_stored(self.store, manifest_key(hex_hash), manifest)
        if self.staging.has(project, sha256, size):
            return known is None
        RebuiltFiles(self.packages).record(
            project, STAGING_NAME, STAGING_VERSION, f"{sha256}-xet-{secrets.token_hex(8)}",
            sha256=sha256, size=size, storage_key=manifest_key(hex_hash), creator=creator, status=PackageStatus.HIDDEN,
        )
        return True

    # -- server-side copies between projects -------------------------------------------------------------

    def duplicate(self, source: Project, target: Project, xet_hash: str, sha256: str, *, creator: User | None) -> str | None:
        """Make Xet file ``xet_hash`` (SHA-256 ``sha256``) of ``source`` available to ``target``'s
        commits, as the Hub's ``lfs-files/duplicate`` does: staged in ``target`` by its manifest, no byte
        copied, its xorbs reachable by ``target``'s deduplication queries. ``None`` when done (or
        ``target`` holds it already), else why not: ``source`` must hold a live file rebuilt from
        that very file (a hash names nothing the caller cannot read)."""
        hex_hash = xet_hash.lower()
        if not _HEX64.fullmatch(hex_hash) or not _HEX64.fullmatch(sha256):
            return "xetHash and sha256 must be 64 hexadecimal digits"
        row = self.session.scalar(select(XetFile).where(XetFile.hash == hex_hash))
        if row is None or row.sha256 != sha256.lower() or not self._holds(source, manifest_key(hex_hash)):
            return f"the source repository holds no Xet file {hex_hash} with SHA-256 {sha256}"
        if not self.staging.has(target, row.sha256, row.size):
            RebuiltFiles(self.packages).record(
                target, STAGING_NAME, STAGING_VERSION, f"{row.sha256}-xet-{secrets.token_hex(8)}",
                sha256=row.sha256, size=row.size, storage_key=manifest_key(hex_hash), creator=creator,
                status=PackageStatus.HIDDEN,
            )
        xorb_ids = self.session.scalars(select(XetFileXorb.xorb_id).where(XetFileXorb.file_id == row.id)).all()

        def work() -> None:
            for xorb_id in xorb_ids:
                if self.session.get(XetXorbProject, (xorb_id, target.id)) is None:
                    self.session.add(XetXorbProject(xorb_id=xorb_id, project_id=target.id))

        committed(self.session, work)
        return None

    def _holds(self, project: Project, storage_key: str) -> bool:
        """Whether a live file of ``project`` has the bytes stored at ``storage_key``."""
        found = self.session.scalar(
            select(PackageFile.id)
            .join(Blob, Blob.id == PackageFile.blob_id)
            .join(Package, Package.id == PackageFile.package_id)
            .where(
                Blob.storage_key == storage_key,
                Package.project_id == project.id,
                LIVE_PACKAGE,
                PackageFile.status == PackageStatus.DEFAULT,
            )
            .limit(1)
        )
        return found is not None

    # -- reconstruction -----------------------------------------------------------------------------------

    def reconstruction(
        self, project: Project, file_hex: str, first: int, last: int | None, url: Callable[[str, str], str]
    ) -> dict[str, Any] | None:
        """The terms that rebuild bytes ``[first, last]`` of file ``file_hex`` (the whole file without
        ``last``; its last ``-first`` bytes for a negative ``first``), and where to fetch each xorb's byte range (``url(xorb hash, storage key)``); ``None``
        when ``first`` is past the end. Raise ``NotFound`` for a file the project does not hold."""
        file_hex = parse_hex(file_hex, "file")
        row = self.session.scalar(select(XetFile).where(XetFile.hash == file_hex))
        if row is None or not self.staging.has(project, row.sha256, row.size):
            raise NotFound(f"File {file_hex}")
        if row.size == 0:
            return {"offset_into_first_range": 0, "terms": [], "fetch_info": {}}
        if first < 0:  # a suffix range (``bytes=-n``): the last ``n`` bytes
            first = max(row.size + first, 0)
        if first >= row.size:
            return None
        end = row.size if last is None else min(last + 1, row.size)
        _, terms = load_manifest(_read_all(self.store, manifest_key(file_hex)))
        answer: list[dict[str, Any]] = []
        fetch: dict[str, list[dict[str, Any]]] = {}
        pos, offset = 0, 0
        for term in terms:
            if pos >= end:
                break
            i, j = 0, len(term.sizes)
            if pos + term.size <= first:
                pos += term.size
                continue
            while pos + term.sizes[i] <= first:  # skip the term's chunks before the range
                pos += term.sizes[i]
                i += 1
            if not answer:
                offset = first - pos
            size, k = 0, i
            while k < j and pos + size < end:
                size += term.sizes[k]
                k += 1
            chunks = {"start": term.start + i, "end": term.start + k}
            answer.append({"hash": term.xorb, "unpacked_length": size, "range": chunks})
            fetch.setdefault(term.xorb, []).append(
                {"range": chunks, "url": url(term.xorb, term.key),
                 "url_range": {"start": term.offsets[i], "end": term.offsets[k] - 1}}
            )
            pos += size
        return {"offset_into_first_range": offset, "terms": answer, "fetch_info": fetch}
