"""Shards (specification 1.1.0, "Shard Format"): how files are rebuilt from xorbs, and which chunks
each xorb holds. All integers little-endian; every entry in the two sections is 48 bytes::

    header      32-byte tag, u64 version (2), u64 footer size (0 in uploads, 200 otherwise)
    files       per file: hash(32) u32 flags u32 n u64 0; n terms: xorb hash(32) u32 flags
                u32 unpacked bytes u32 chunk start u32 chunk end (exclusive); n verification
                entries if flags has bit 31 (range hash(32) + 16 zero bytes); one metadata entry
                if flags has bit 30 (sha256(32) + 16 zero bytes); then a bookend (hash all 0xff)
    xorbs       per xorb: hash(32) u32 flags u32 n u32 unpacked bytes u32 serialized bytes;
                n chunks: hash(32) u32 offset of the chunk in the xorb's *uncompressed* bytes
                u32 unpacked bytes u32 flags u32 0; then a bookend (the client writes 0 for the
                serialized bytes: it does not know them when it writes the shard)
    lookups     (only with a footer) files, xorbs and chunks by their hashes' first u64
    footer      200 bytes: offsets of the sections and lookups, a chunk-hash HMAC key, creation
                and expiry times, byte totals, the footer's own offset

Clients upload shards without lookups and footer; the server answers global deduplication queries
with full shards whose chunk hashes are keyed with the footer's HMAC key (:func:`build_shard`).
"""
from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from plugin.huggingface.xet.errors import XetFormatError
from plugin.huggingface.xet.hashing import (
    HASH_LEN,
    ZERO_HASH,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    is_global_dedup_eligible,
    keyed_hash,
    verification_range_hash,
)
from plugin.huggingface.xet.xorb import Xorb

HEADER_TAG = b"HFRepoMetaData\x00" + bytes(
    [85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169])
HEADER_VERSION = 2
FOOTER_VERSION = 1
HEADER_LEN = 48
FOOTER_LEN = 200
ENTRY_LEN = 48
FILE_FLAG_VERIFICATION = 1 << 31
FILE_FLAG_METADATA_EXT = 1 << 30
#: A xorb chunk entry's flag: the chunk starts a file, so global deduplication may find it.
CHUNK_FLAG_GLOBAL_DEDUP = 1 << 31
#: Shards are at most 64 MiB in the client; accept a little more.
MAX_SHARD_BYTES = 128 * 1024 * 1024
_BOOKEND = b"\xff" * HASH_LEN
_ENTRY = struct.Struct("<32sIIII")  # hash, then four u32 (file header: flags, n, and a u64 0)
_HEADER = struct.Struct("<32sQQ")
_FOOTER = struct.Struct("<9Q32sQQ6QQQQQ")
_NO_EXPIRY = 2**64 - 1


class Term(NamedTuple):
    """One term of a file: chunks [chunk_start, chunk_end) of a xorb, ``unpacked_size`` bytes."""

    xorb_hash: bytes
    chunk_start: int
    chunk_end: int
    unpacked_size: int
    flags: int = 0


class ShardXorbChunk(NamedTuple):
    """A xorb's chunk as a shard lists it; ``byte_start`` is where the chunk starts in the xorb's
    uncompressed bytes (the sum of the sizes of the chunks before it), as the client writes it."""

    hash: bytes
    byte_start: int
    unpacked_size: int
    flags: int = 0


@dataclass
class ShardFile:
    hash: bytes
    terms: list[Term]
    #: One range hash per term (``verification_range_hash`` of the term's chunk hashes), if present.
    verification: list[bytes] | None = None
    #: The file's SHA-256 (the usual 32-byte digest), if the client sent the metadata extension. The
    #: shard stores it as a Xet hash (each 8-byte group reversed); parse and build convert.
    sha256: bytes | None = None

    @property
    def size(self) -> int:
        return sum(t.unpacked_size for t in self.terms)


@dataclass
class ShardXorb:
    hash: bytes
    chunks: list[ShardXorbChunk]
    #: Uncompressed bytes of all its chunks, and the serialized xorb's length (0 from the client).
    unpacked_size: int
    serialized_size: int
    flags: int = 0


@dataclass
class ShardFooter:
    chunk_hash_hmac_key: bytes
    created: int
    expiry: int
    stored_bytes_on_disk: int
    materialized_bytes: int
    stored_bytes: int


@dataclass
class Shard:
    files: list[ShardFile] = field(default_factory=list)
    xorbs: list[ShardXorb] = field(default_factory=list)
    #: Present when the shard carries lookups and a footer (uploads do not).
    footer: ShardFooter | None = None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def entry(self, what: str) -> tuple[bytes, int, int, int, int]:
        if len(self.data) - self.pos < ENTRY_LEN:
            raise XetFormatError(f"The shard ends inside {what} at byte {self.pos}")
        fields: tuple[bytes, int, int, int, int] = _ENTRY.unpack_from(self.data, self.pos)
        self.pos += ENTRY_LEN
        return fields

    def room_for(self, entries: int, what: str) -> None:
        if entries * ENTRY_LEN > len(self.data) - self.pos:
            raise XetFormatError(f"The shard claims {entries} entries for {what} at byte {self.pos}, "
                                 "more than it holds")


def _parse_file(r: _Reader, h: bytes, flags: int, n: int) -> ShardFile:
    where = f"file {hash_to_hex(h)}"
    extra = (n if flags & FILE_FLAG_VERIFICATION else 0) + (1 if flags & FILE_FLAG_METADATA_EXT else 0)
    r.room_for(n + extra, where)
    terms = []
    for _ in range(n):
        xh, xflags, size, start, end = r.entry(where)
        if not start < end:
            raise XetFormatError(f"{where}: a term's chunk range [{start}, {end}) is empty")
        terms.append(Term(xh, start, end, size, xflags))
    verification = None
    if flags & FILE_FLAG_VERIFICATION:
        verification = [r.entry(where)[0] for _ in range(n)]
    sha256 = bytes.fromhex(hash_to_hex(r.entry(where)[0])) if flags & FILE_FLAG_METADATA_EXT else None
    return ShardFile(h, terms, verification, sha256)


def _parse_xorb(r: _Reader, h: bytes, flags: int, n: int, unpacked: int, on_disk: int) -> ShardXorb:
    where = f"xorb {hash_to_hex(h)}"
    r.room_for(n, where)
    chunks = []
    total = 0
    for _ in range(n):
        ch, start, size, cflags, _unused = r.entry(where)
        chunks.append(ShardXorbChunk(ch, start, size, cflags))
        total += size
    if total != unpacked:
        raise XetFormatError(f"{where}: its chunks hold {total} bytes, its entry says {unpacked}")
    return ShardXorb(h, chunks, unpacked, on_disk, flags)


def parse_shard(data: bytes) -> Shard:
    """Parse a shard (an upload, or a full shard with lookups and footer); raise XetFormatError if
    it is malformed. Checks structure only: see :func:`validate_file_terms` and
    :func:`validate_shard_xorb` for what the shard claims."""
    if len(data) > MAX_SHARD_BYTES:
        raise XetFormatError(f"A shard is at most {MAX_SHARD_BYTES} bytes, this one is {len(data)}")
    if len(data) < HEADER_LEN:
        raise XetFormatError("A shard begins with a 48-byte header")
    tag, version, footer_size = _HEADER.unpack_from(data, 0)
    if tag != HEADER_TAG:
        raise XetFormatError("Not a Xet shard (its header tag is wrong)")
    if version != HEADER_VERSION:
        raise XetFormatError(f"Shard header version {version}; only {HEADER_VERSION} is read")
    if footer_size not in (0, FOOTER_LEN):
        raise XetFormatError(f"A shard's footer is 0 or {FOOTER_LEN} bytes, not {footer_size}")
    r = _Reader(data)
    r.pos = HEADER_LEN
    shard = Shard()
    while True:
        h, flags, n, _reserved, _reserved_high = r.entry("the file section")
        if h == _BOOKEND:
            break
        shard.files.append(_parse_file(r, h, flags, n))
    xorb_section = r.pos
    while True:
        h, flags, n, unpacked, on_disk = r.entry("the xorb section")
        if h == _BOOKEND:
            break
        shard.xorbs.append(_parse_xorb(r, h, flags, n, unpacked, on_disk))
    if footer_size == 0:
        if r.pos != len(data):
            raise XetFormatError(f"The shard has {len(data) - r.pos} bytes after its sections and no footer")
        return shard
    if len(data) - r.pos < FOOTER_LEN:
        raise XetFormatError("The shard ends before its footer")
    fields = _FOOTER.unpack_from(data, len(data) - FOOTER_LEN)
    (fversion, file_off, xorb_off, _fl_off, fl_n, _xl_off, xl_n, _cl_off, cl_n, key, created, expiry,
     *_buffer) = fields[:18]
    stored_on_disk, materialized, stored, footer_offset = fields[18:]
    if fversion != FOOTER_VERSION:
        raise XetFormatError(f"Shard footer version {fversion}; only {FOOTER_VERSION} is read")
    lookups = len(data) - FOOTER_LEN - r.pos
    if (file_off != HEADER_LEN or xorb_off != xorb_section or footer_offset != len(data) - FOOTER_LEN
            or 12 * fl_n + 12 * xl_n + 16 * cl_n != lookups):
        raise XetFormatError("The shard's footer does not describe its sections")
    shard.footer = ShardFooter(key, created, expiry, stored_on_disk, materialized, stored)
    return shard


def _entry(h: bytes, a: int, b: int, c: int, d: int) -> bytes:
    if len(h) != HASH_LEN:
        raise XetFormatError(f"A Xet hash is {HASH_LEN} bytes, not {len(h)}")
    try:
        return _ENTRY.pack(h, a, b, c, d)
    except struct.error:
        raise XetFormatError("A shard entry's number does not fit in 32 bits") from None


def _key(h: bytes) -> tuple[int, ...]:
    """The reference's order of hashes (four little-endian u64, compared in turn)."""
    return struct.unpack("<4Q", h)


def build_shard(files: Iterable[ShardFile], xorbs: Iterable[ShardXorb], *, hmac_key: bytes | None = None,
                expiry: int | None = None, with_footer: bool = True, created: int | None = None) -> bytes:
    """Serialize a shard the client reads: files and xorbs sorted by hash, with lookups and footer
    unless ``with_footer`` is false (the upload form). With ``hmac_key`` the xorbs' chunk hashes are
    keyed with it (how global deduplication answers hide chunk hashes); ``expiry`` is seconds since
    the epoch after which the client drops the shard."""
    out = bytearray(_HEADER.pack(HEADER_TAG, HEADER_VERSION, FOOTER_LEN if with_footer else 0))
    file_lookup: list[tuple[int, int]] = []
    index = 0
    materialized = 0
    for f in sorted(files, key=lambda f: _key(f.hash)):
        flags = ((FILE_FLAG_VERIFICATION if f.verification is not None else 0)
                 | (FILE_FLAG_METADATA_EXT if f.sha256 is not None else 0))
        file_lookup.append((_key(f.hash)[0], index))
        out += _entry(f.hash, flags, len(f.terms), 0, 0)
        for t in f.terms:
            out += _entry(t.xorb_hash, t.flags, t.unpacked_size, t.chunk_start, t.chunk_end)
            materialized += t.unpacked_size
        if f.verification is not None:
            if len(f.verification) != len(f.terms):
                raise XetFormatError("A file has one verification hash per term")
            out += b"".join(_entry(v, 0, 0, 0, 0) for v in f.verification)
        if f.sha256 is not None:
            if len(f.sha256) != HASH_LEN:
                raise XetFormatError("A SHA-256 digest is 32 bytes")
            out += _entry(hex_to_hash(f.sha256.hex()), 0, 0, 0, 0)
        index += 1 + len(f.terms) * (2 if f.verification is not None else 1) + (f.sha256 is not None)
    out += _BOOKEND + bytes(16)
    xorb_offset = len(out)
    xorb_lookup: list[tuple[int, int]] = []
    chunk_lookup: list[tuple[int, int, int]] = []
    index = 0
    stored_on_disk = stored = 0
    for x in sorted(xorbs, key=lambda x: _key(x.hash)):
        xorb_lookup.append((_key(x.hash)[0], index))
        out += _entry(x.hash, x.flags, len(x.chunks), x.unpacked_size, x.serialized_size)
        for i, c in enumerate(x.chunks):
            h = keyed_hash(hmac_key, c.hash) if hmac_key else c.hash
            out += _entry(h, c.byte_start, c.unpacked_size, c.flags, 0)
            chunk_lookup.append((_key(h)[0], index, i))
        stored_on_disk += x.serialized_size
        stored += x.unpacked_size
        index += 1 + len(x.chunks)
    out += _BOOKEND + bytes(16)
    if not with_footer:
        return bytes(out)
    offsets = []
    for table, fmt in ((file_lookup, "<QI"), (xorb_lookup, "<QI"), (sorted(chunk_lookup), "<QII")):
        offsets.append(len(out))
        for row in table:
            out += struct.pack(fmt, *row)
    out += _FOOTER.pack(
        FOOTER_VERSION, HEADER_LEN, xorb_offset, offsets[0], len(file_lookup), offsets[1], len(xorb_lookup),
        offsets[2], len(chunk_lookup), hmac_key or ZERO_HASH, int(time.time()) if created is None else created,
        _NO_EXPIRY if expiry is None else expiry, 0, 0, 0, 0, 0, 0, stored_on_disk, materialized, stored, len(out))
    return bytes(out)


def shard_xorb_from(xorb: Xorb, *, global_dedup_first_chunk: bool = False) -> ShardXorb:
    """Return the shard entry for a parsed (verified) xorb."""
    chunks = []
    start = 0
    for c in xorb.chunks:
        flags = CHUNK_FLAG_GLOBAL_DEDUP if global_dedup_first_chunk and c.index == 0 else 0
        chunks.append(ShardXorbChunk(c.hash, start, c.uncompressed_size, flags))
        start += c.uncompressed_size
    return ShardXorb(xorb.hash, chunks, xorb.uncompressed_size, xorb.size)


def validate_shard_xorb(entry: ShardXorb, xorb: Xorb) -> None:
    """Check a shard's xorb entry against the (verified) xorb it names; raise XetFormatError where
    they differ."""
    name = hash_to_hex(entry.hash)
    if entry.hash != xorb.hash:
        raise XetFormatError(f"Xorb {name}: the stored xorb has hash {hash_to_hex(xorb.hash)}")
    if len(entry.chunks) != len(xorb.chunks):
        raise XetFormatError(f"Xorb {name}: the shard lists {len(entry.chunks)} chunks, it holds {len(xorb.chunks)}")
    start = 0
    for listed, c in zip(entry.chunks, xorb.chunks, strict=True):
        if (listed.hash, listed.byte_start, listed.unpacked_size) != (c.hash, start, c.uncompressed_size):
            raise XetFormatError(f"Xorb {name}: the shard's chunk {c.index} is not the xorb's")
        start += c.uncompressed_size
    if entry.unpacked_size != xorb.uncompressed_size or entry.serialized_size not in (0, xorb.size, xorb.records_size):
        raise XetFormatError(f"Xorb {name}: the shard's sizes are not the xorb's")


def validate_file_terms(file: ShardFile, chunks_of: Callable[[bytes], Sequence[tuple[bytes, int]] | None]) -> None:
    """Check that a file can be rebuilt as its shard entry says: every term's xorb is known
    (``chunks_of(xorb hash)`` gives its (chunk hash, size) list, None if unknown), every chunk range
    exists and holds the term's bytes, the chunks hash to the file's hash and the verification
    hashes match. Raise XetFormatError naming the first problem."""
    name = hash_to_hex(file.hash)
    all_chunks: list[tuple[bytes, int]] = []
    if file.verification is not None and len(file.verification) != len(file.terms):
        raise XetFormatError(f"File {name}: one verification hash per term is needed")
    for i, term in enumerate(file.terms):
        chunks = chunks_of(term.xorb_hash)
        if chunks is None:
            raise XetFormatError(f"File {name}: term {i} names xorb {hash_to_hex(term.xorb_hash)}, which is unknown")
        if not 0 <= term.chunk_start < term.chunk_end <= len(chunks):
            raise XetFormatError(f"File {name}: term {i} asks for chunks [{term.chunk_start}, {term.chunk_end}) "
                                 f"of xorb {hash_to_hex(term.xorb_hash)}, which holds {len(chunks)}")
        part = list(chunks[term.chunk_start:term.chunk_end])
        size = sum(s for _, s in part)
        if size != term.unpacked_size:
            raise XetFormatError(f"File {name}: term {i} says {term.unpacked_size} bytes, its chunks hold {size}")
        if file.verification is not None and file.verification[i] != verification_range_hash([h for h, _ in part]):
            raise XetFormatError(f"File {name}: term {i}'s verification hash does not match its chunks")
        all_chunks.extend(part)
    if file_hash(all_chunks) != file.hash:
        raise XetFormatError(f"File {name}: its chunks hash to {hash_to_hex(file_hash(all_chunks))}")


def global_dedup_chunks(shard: Shard) -> list[bytes]:
    """Return the chunk hashes a server indexes for global deduplication: those flagged by the
    client and those whose hash makes them eligible."""
    return [c.hash for x in shard.xorbs for c in x.chunks
            if c.flags & CHUNK_FLAG_GLOBAL_DEDUP or is_global_dedup_eligible(c.hash)]
