"""Xorbs the client puts straight into the store: ``hf_xet``'s upload grants, where the blob store
takes direct writes (S3 with redirected downloads), so that no xorb body passes through the server.

1. ``POST /v1/xorb-grants/default/<hash>`` (``{"length": n, "checksum": {...}}``, write token): 201
   with a grant, ``{"id", "method": "PUT", "url", "headers"}``: the URL (presigned, working
   ``UPLOAD_URL_EXPIRY`` seconds) writes the only part of a multipart upload of
   ``xet/xorbs/<hh>/<hash>.p<project>.<nonce>``, an object of its own per grant (never the key of a
   xorb that counts). 200 when the project has the xorb already; 404 where the store takes no direct
   writes (the filesystem): the client then uploads the xorb through ``POST /v1/xorbs``.
2. The client PUTs the xorb to the URL, without our credentials.
3. ``POST /v1/xorb-commits/default/<hash>/grant/<id>``: the multipart upload is completed (after which
   the URL writes nothing any more: a xorb cannot be changed once it is checked) and its size must be
   the granted length, at most ``MAX_XORB_BYTES``. 404 when nothing was uploaded for the grant (the
   client asks for a new one).

A committed direct upload does not count yet: no row names it, no deduplication answer or other
project sees it. It is validated (format, chunk hashes, xorb hash) when a shard of the same project
references it (``ShardPass``): read once from the store, its chunks feed the SHA-256 of the shard's
files in the same pass while its hashes are checked on another thread. An invalid one is deleted and
the shard refused; a valid one then gets its row (or, if another upload of the same xorb counts
already, is deleted and the project given that one). A committed direct upload no shard named is
removed by ``modelshelf gc`` once older than ``GRACE`` (its key is its own: ``direct_upload_hash``); a
shard takes only one younger than ``USABLE``, so the two never race. A grant never committed leaves
an incomplete multipart upload: gc aborts it once begun before ``GRACE`` (S3 gives the upload's start;
its commit could come only for ``UPLOAD_URL_EXPIRY`` + ``COMMIT_SLACK``).
"""
from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from package_api.plugin_api import (
    BlobNotFound,
    BlobStorage,
    DbSession,
    InvalidInput,
    NotFound,
    Project,
    start_off_the_loop,
    utcnow,
)
from plugin.huggingface.cas_tokens import CasTokens
from plugin.huggingface.xet.format import (
    ShardXorb,
    XetFormatError,
    Xorb,
    hex_to_hash,
    iter_record_views,
    parse_xorb,
    validate_xorb,
)
from plugin.huggingface.xet.xorb import MAX_CHUNK_SIZE, MAX_XORB_BYTES
from plugin.huggingface.xet_holds import GRACE
from plugin.huggingface.xorbs import XorbStore, parse_hex, xorb_key

#: Directly uploaded xorbs a shard's check keeps in memory at once (one being read while the previous
#: one's chunks are hashed; a xorb evicted before its last term is read again, for its bytes only: a
#: fresh file's terms use each xorb once, in order).
BUFFERS = 3
#: Bytes the file hasher may hold unhashed (``xet_files.sha256_of_pieces``: the window it fills and the
#: one hashed meanwhile, each at most ``WINDOW`` plus a chunk).
WINDOW = 8 * 1024 * 1024
UNHASHED = 2 * (WINDOW + MAX_CHUNK_SIZE)
#: Seconds a grant id stays good beyond its URL: the commit follows the upload.
COMMIT_SLACK = 300


#: How long a committed direct upload may still be named by a shard (gc removes it after ``GRACE``).
USABLE = GRACE / 2
_DIRECT_KEY = re.compile(r"xet/xorbs/([0-9a-f]{2})/([0-9a-f]{64})\.p[0-9]+\.[0-9a-f]{16}")


def direct_prefix(hex_hash: str, project_id: int) -> str:
    return f"{xorb_key(hex_hash)}.p{project_id}."


def direct_upload_hash(key: str) -> str | None:
    """The xorb hash of ``key`` if it is the object of a direct upload (``direct_prefix`` + nonce)."""
    found = _DIRECT_KEY.fullmatch(key)
    return found.group(2) if found is not None and found.group(1) == found.group(2)[:2] else None


def committed_upload(store: BlobStorage, project: Project, hex_hash: str) -> str | None:
    """The key of a committed direct upload of xorb ``hex_hash`` by ``project``, if any written within
    ``USABLE`` (an older one is left to gc, which removes it once older than ``GRACE``: a shard and gc
    never both have it)."""
    since = utcnow() - USABLE
    for key in store.keys(direct_prefix(hex_hash, project.id)):
        try:
            if store.modified(key) >= since:
                return key
        except BlobNotFound:
            continue
    return None


class DirectXorbs:
    def __init__(self, session: DbSession, store: BlobStorage, tokens: CasTokens, expiry: int) -> None:
        self.store = store  # the blob store itself
        self.xorbs = XorbStore(session, store)
        self.tokens = tokens
        self.expiry = expiry

    def grant(self, project: Project, xorb: str, length: Any) -> dict[str, Any] | None:
        """A grant to upload xorb ``xorb`` of ``length`` bytes, ``None`` when the project has it; raise
        ``NotFound`` where the store takes no direct writes, ``InvalidInput`` for a bad length."""
        hex_hash = parse_hex(xorb, "xorb")
        if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= MAX_XORB_BYTES:
            raise InvalidInput(f"A xorb upload grant needs the xorb's length, 1 to {MAX_XORB_BYTES} bytes.")
        if self.xorbs.find(project, hex_hash) is not None:
            return None
        nonce = secrets.token_hex(8)
        key = direct_prefix(hex_hash, project.id) + nonce
        handle = self.store.begin_parts(key, MAX_XORB_BYTES)
        if handle is None:
            raise NotFound("This server's store takes no direct uploads: upload xorbs through POST /v1/xorbs.")
        return {
            "id": self.tokens.sign_grant(project.id, hex_hash, length, nonce, handle),
            "method": "PUT",
            "url": self.store.part_url(key, handle, 1),
            "headers": {},
        }

    def commit(self, project: Project, xorb: str, grant_id: str) -> tuple[int, bool]:
        """Complete the upload of grant ``grant_id``; return its size and whether this call completed
        it (``False`` for a retried commit). Raise ``NotFound`` when nothing was uploaded for it (or
        the grant is bad), ``InvalidInput`` (after deleting it) for an upload that is not the granted
        length."""
        hex_hash = parse_hex(xorb, "xorb")
        project_id, granted, length, nonce, handle = self.tokens.check_grant(grant_id, self.expiry + COMMIT_SLACK)
        if project_id != project.id or granted != hex_hash:
            raise NotFound("This xorb upload grant is for another xorb or repository.")
        key = direct_prefix(hex_hash, project_id) + nonce
        completed = True
        try:
            self.store.finish_parts(key, handle)
        except BlobNotFound:
            completed = False  # committed before (a retry), or nothing uploaded: the object tells
        try:
            size = self.store.size(key)
        except BlobNotFound:
            raise NotFound(f"Nothing was uploaded for this grant of xorb {hex_hash}.") from None
        if size != length:
            self.store.delete(key)
            raise InvalidInput(f"Xorb {hex_hash}: {size} bytes were uploaded for a grant of {length}; they were deleted.")
        return size, completed



@dataclass
class Pending:
    """A directly uploaded xorb a shard references: where it is, the chunks the shard says it holds
    and, once read, what it holds."""

    key: str
    entry: ShardXorb
    uses: int = 0  # terms of the shard's new files still to read it
    xorb: Xorb | None = None  # its records' offsets (not yet checked)
    size: int = 0
    checked: Callable[[], Xorb | str] | None = field(default=None, repr=False)
    result: Xorb | str | None = None

    def outcome(self) -> Xorb | str:
        """The validated xorb or what is wrong with it (waiting for its check)."""
        if self.result is None:
            assert self.checked is not None
            self.result = self.checked()
        return self.result


#: What ``ShardPass.pieces`` gives to say: hash every piece given so far before asking for the next
#: (the buffer they are views of is about to be reused).
FLUSH = b""


class ShardPass:
    """The directly uploaded xorbs of one shard, each read once: ``pieces`` gives a term's chunks (views
    of the bytes read) while the xorb's validation runs on another thread; ``finish`` reads those no
    term used, waits for every validation and deletes the invalid ones (raising ``InvalidInput``).

    A xorb is read into one of ``BUFFERS`` buffers reused from xorb to xorb: a fresh buffer of 64 MiB
    costs as much again as reading into it (the kernel maps and zeroes its pages), as would a copy."""

    def __init__(self, store: BlobStorage, pending: dict[str, Pending]) -> None:
        self.store = store
        self.pending = pending
        self.cache: OrderedDict[str, bytearray] = OrderedDict()  # xorbs read, with their buffer
        self.released: OrderedDict[str, bytearray] = OrderedDict()  # read and used by every term
        self.free: list[bytearray] = []
        self.given = 0  # bytes of pieces given so far
        self.last_given: dict[str, int] = {}  # ``given`` after a xorb's last piece

    def _take(self) -> tuple[str, bytearray]:
        """A buffer that holds a xorb, to be reused: a released one, else the oldest read."""
        return self.released.popitem(last=False) if self.released else self.cache.popitem(last=False)

    def _reuse(self) -> Iterator[bytes]:
        """Free a buffer for the next read; ``FLUSH`` first unless its pieces are surely hashed (more
        than the hasher's two windows were given since)."""
        name, buffer = self._take()
        if self.given - self.last_given.get(name, 0) <= UNHASHED:
            yield FLUSH
        self.pending[name].outcome()  # its check let go of it
        self.free.append(buffer)

    def _read(self, name: str) -> memoryview:
        item = self.pending[name]
        buffer = self.cache.get(name)
        if buffer is None:
            if self.free:
                buffer = self.free.pop()
            elif len(self.cache) + len(self.released) < BUFFERS:
                buffer = bytearray(MAX_XORB_BYTES + 1)
            else:  # only once every piece was hashed (``finish``)
                old, buffer = self._take()
                self.pending[old].outcome()
            size = 0
            reader = self.store.open(item.key, 0, len(buffer))
            try:
                for piece in reader:
                    buffer[size:size + len(piece)] = piece
                    size += len(piece)
            finally:
                reader.close()
            data = memoryview(buffer)[:size]
            if item.checked is None:
                item.size = size
                item.checked = start_off_the_loop(_validate, data, name)
                try:
                    item.xorb = parse_xorb(data, verify=False)  # offsets only; the hashes are checked meanwhile
                except XetFormatError:
                    item.xorb = None  # reported by the validation
            self.cache[name] = buffer
        return memoryview(buffer)[:item.size]

    def pieces(self, name: str, start: int, end: int) -> Iterator[bytes | memoryview]:
        """The decompressed chunks ``[start, end)`` of directly uploaded xorb ``name`` (``FLUSH`` first
        when the pieces given before may be views of a buffer this read reuses)."""
        if name not in self.cache and not self.free and len(self.cache) + len(self.released) >= BUFFERS:
            yield from self._reuse()
        data = self._read(name)
        item = self.pending[name]
        item.uses -= 1
        if item.xorb is None or end > len(item.xorb.chunks):
            self.finish()  # raises: the xorb does not parse
            raise InvalidInput(f"Xorb {name} holds no chunks [{start}, {end}).")
        first, last = item.xorb.chunks[start].offset, item.xorb.chunks[end - 1].end
        try:
            for chunk in iter_record_views(data[first:last], first_index=start):
                self.given += len(chunk)
                yield chunk
        except XetFormatError:
            self.finish()
            raise
        self.last_given[name] = self.given
        if item.uses <= 0:
            self.released[name] = self.cache.pop(name)

    def finish(self) -> dict[str, tuple[Xorb, int]]:
        """Every pending xorb validated, with its size; raise ``InvalidInput`` (the invalid ones deleted)."""
        for name, item in self.pending.items():
            if item.checked is None:
                self._read(name)
                self.released[name] = self.cache.pop(name)
        bad: list[str] = []
        done: dict[str, tuple[Xorb, int]] = {}
        for name, item in self.pending.items():
            xorb = item.outcome()
            if isinstance(xorb, str):
                self.store.delete(item.key)
                bad.append(f"{name}: {xorb}")
                continue
            if xorb.chunk_hashes_and_sizes() != [(c.hash, c.unpacked_size) for c in item.entry.chunks]:
                bad.append(f"{name}: the shard lists other chunks than the xorb holds")
                continue
            done[name] = (xorb, item.size)
        self.cache.clear()
        self.released.clear()
        self.free.clear()
        if bad:
            raise InvalidInput("Shard: directly uploaded xorbs that do not verify (invalid ones were deleted: upload "
                               "them again): " + "; ".join(bad))
        return done


def _validate(data: memoryview, name: str) -> Xorb | str:
    """The xorb, or what is wrong with it (returned, not raised: this may run on another thread)."""
    try:
        if len(data) > MAX_XORB_BYTES:
            return f"A xorb is at most {MAX_XORB_BYTES} bytes"
        return validate_xorb(data, hex_to_hash(name))
    except XetFormatError as exc:
        return str(exc)
