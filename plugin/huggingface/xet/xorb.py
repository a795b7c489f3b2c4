"""Xorbs (specification 1.1.0, "Xorb Formation & Serialization Format"): a xorb is a run of chunk
records, each an 8-byte header followed by the chunk's bytes, compressed or not::

    byte 0      version (0)
    bytes 1-3   compressed length, little-endian (the record's payload)
    byte 4      compression scheme: 0 none, 1 LZ4 frame, 2 byte-grouping-4 then LZ4 frame
    bytes 5-7   uncompressed length, little-endian

Clients upload the records alone; the reference implementation's storage form appends a footer
(starting with ``XETBLOB``, ending with its own length as a u32), which :func:`parse_xorb` accepts
and checks against the records. The xorb's hash is the merkle hash of its chunks (``hashing``);
nothing in the records names it, so a xorb is validated against the hash it was uploaded under.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import lz4.frame

from plugin.huggingface.xet.errors import XetFormatError
from plugin.huggingface.xet.hashing import HASH_LEN, chunk_hash, hash_to_hex, xorb_hash

CHUNK_HEADER_LEN = 8
#: The largest chunk the chunker makes (2 x the 64 KiB target); the reference refuses larger ones.
MAX_CHUNK_SIZE = 128 * 1024
#: A compressed chunk may exceed its uncompressed size (the reference bounds it at twice the maximum).
MAX_COMPRESSED_CHUNK_SIZE = 2 * MAX_CHUNK_SIZE
#: The specification's limit on a serialized xorb, plus room for chunk headers and a footer.
MAX_XORB_BYTES = 64 * 1024 * 1024 + 1024 * 1024
#: The client's limit on chunks per xorb (xet-core's MAX_XORB_CHUNKS), twice over.
MAX_XORB_CHUNKS = 16 * 1024

COMPRESSION_NONE = 0
COMPRESSION_LZ4 = 1
COMPRESSION_BG4_LZ4 = 2
COMPRESSION_NAMES = {COMPRESSION_NONE: "none", COMPRESSION_LZ4: "lz4", COMPRESSION_BG4_LZ4: "bg4-lz4"}

FOOTER_IDENT = b"XETBLOB"
_FOOTER_IDENT_HASHES = b"XBLBHSH"
_FOOTER_IDENT_BOUNDARIES = b"XBLBBND"
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class XorbChunk:
    """One chunk record: ``offset`` is where its header starts in the xorb, ``compressed_size`` the
    length of the payload after the header (the record is ``8 + compressed_size`` bytes)."""

    index: int
    offset: int
    compressed_size: int
    uncompressed_size: int
    compression: int
    #: The chunk's hash (``b""`` when the xorb was parsed with ``verify=False``).
    hash: bytes

    @property
    def end(self) -> int:
        """Where the record ends in the xorb (the next record's offset)."""
        return self.offset + CHUNK_HEADER_LEN + self.compressed_size


@dataclass(frozen=True)
class Xorb:
    chunks: list[XorbChunk]
    #: The merkle hash of the chunks (``b""`` when parsed with ``verify=False``).
    hash: bytes
    #: Bytes of chunk records; a footer, if any, follows them.
    records_size: int
    #: The serialized length, footer included.
    size: int

    @property
    def uncompressed_size(self) -> int:
        return sum(c.uncompressed_size for c in self.chunks)

    def byte_range(self, start: int, end: int) -> tuple[int, int]:
        """Return the bytes [first, last) of the xorb that hold chunks [start, end); raise
        XetFormatError when the range is empty or beyond the xorb."""
        if not 0 <= start < end <= len(self.chunks):
            raise XetFormatError(
                f"Chunk range [{start}, {end}) is not within the xorb's {len(self.chunks)} chunks")
        return self.chunks[start].offset, self.chunks[end - 1].end

    def chunk_hashes_and_sizes(self) -> list[tuple[bytes, int]]:
        return [(c.hash, c.uncompressed_size) for c in self.chunks]


def _bg4_regroup(grouped: bytes) -> bytes:
    """Undo byte grouping: the payload holds every 4th byte from offset 0, then from 1, 2 and 3."""
    n = len(grouped)
    split, rem = divmod(n, 4)
    out = bytearray(n)
    pos = 0
    for k in range(4):
        size = split + (1 if k < rem else 0)
        out[k::4] = grouped[pos:pos + size]
        pos += size
    return bytes(out)


def _bg4_split(data: bytes) -> bytes:
    return b"".join(data[k::4] for k in range(4))


def _lz4_decompress(payload: bytes | memoryview, size: int) -> bytes:
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        out = decompressor.decompress(payload, max_length=size)
        if not decompressor.eof and len(out) == size:
            # Either the frame's end mark is still to come, or the frame holds more than it said.
            if decompressor.decompress(b"", max_length=1):
                raise XetFormatError(f"An LZ4 chunk holds more than its header's {size} bytes")
    except RuntimeError as error:  # lz4 reports corrupt frames as RuntimeError
        raise XetFormatError(f"An LZ4 chunk does not decompress: {error}") from None
    if not decompressor.eof:
        raise XetFormatError("An LZ4 chunk ends before its frame does")
    if decompressor.unused_data:
        raise XetFormatError("An LZ4 chunk has bytes after its frame")
    if len(out) != size:
        raise XetFormatError(f"An LZ4 chunk holds {len(out)} bytes, its header says {size}")
    return bytes(out)


def decompress(payload: bytes | memoryview, compression: int, size: int) -> bytes:
    """Return a chunk's bytes from its record's payload; raise XetFormatError if it does not
    decompress to exactly ``size`` bytes."""
    if compression == COMPRESSION_NONE:
        if len(payload) != size:
            raise XetFormatError(f"An uncompressed chunk holds {len(payload)} bytes, its header says {size}")
        return bytes(payload)
    if compression == COMPRESSION_LZ4:
        return _lz4_decompress(payload, size)
    if compression == COMPRESSION_BG4_LZ4:
        return _bg4_regroup(_lz4_decompress(payload, size))
    raise XetFormatError(f"Unknown chunk compression scheme {compression}")


def compress(data: bytes, compression: int) -> tuple[int, bytes]:
    """Return (scheme, payload) for a chunk, falling back to no compression when it does not help
    (as the client does)."""
    if compression == COMPRESSION_NONE:
        return COMPRESSION_NONE, data
    if compression == COMPRESSION_LZ4:
        payload = lz4.frame.compress(data, store_size=False)
    elif compression == COMPRESSION_BG4_LZ4:
        payload = lz4.frame.compress(_bg4_split(data), store_size=False)
    else:
        raise XetFormatError(f"Unknown chunk compression scheme {compression}")
    if len(payload) >= len(data):
        return COMPRESSION_NONE, data
    return compression, payload


def _header(data: bytes | memoryview, pos: int, index: int) -> tuple[int, int, int]:
    if len(data) - pos < CHUNK_HEADER_LEN:
        raise XetFormatError(f"Chunk {index} at byte {pos}: the xorb ends inside its 8-byte header")
    version = data[pos]
    if version != 0:
        raise XetFormatError(f"Chunk {index} at byte {pos}: header version {version}, only 0 is known")
    compressed = int.from_bytes(data[pos + 1:pos + 4], "little")
    scheme = data[pos + 4]
    uncompressed = int.from_bytes(data[pos + 5:pos + 8], "little")
    if scheme not in COMPRESSION_NAMES:
        raise XetFormatError(f"Chunk {index} at byte {pos}: unknown compression scheme {scheme}")
    if uncompressed > MAX_CHUNK_SIZE or compressed > MAX_COMPRESSED_CHUNK_SIZE:
        raise XetFormatError(
            f"Chunk {index} at byte {pos}: {uncompressed} bytes ({compressed} compressed), "
            f"more than a chunk may hold ({MAX_CHUNK_SIZE})")
    if uncompressed == 0:
        raise XetFormatError(f"Chunk {index} at byte {pos}: a chunk is never empty")
    if scheme == COMPRESSION_NONE and compressed != uncompressed:
        raise XetFormatError(f"Chunk {index} at byte {pos}: an uncompressed chunk's two lengths differ")
    if pos + CHUNK_HEADER_LEN + compressed > len(data):
        raise XetFormatError(f"Chunk {index} at byte {pos}: the xorb ends inside its {compressed} bytes")
    return compressed, scheme, uncompressed


def parse_xorb(data: bytes | memoryview, *, verify: bool = True) -> Xorb:
    """Parse a serialized xorb: its chunk records and, if present, a footer.

    With ``verify`` (the default) every chunk is decompressed and hashed and the xorb's hash
    computed; without, only the headers are read (for xorbs already validated on upload).
    Raise XetFormatError on anything malformed, too large or empty.
    """
    if len(data) > MAX_XORB_BYTES:
        raise XetFormatError(f"A xorb is at most {MAX_XORB_BYTES} bytes, this one is {len(data)}")
    view = memoryview(data)
    chunks: list[XorbChunk] = []
    pos, n = 0, len(data)
    while pos < n:
        if data[pos:pos + len(FOOTER_IDENT)] == FOOTER_IDENT:
            break
        index = len(chunks)
        if index >= MAX_XORB_CHUNKS:
            raise XetFormatError(f"A xorb holds at most {MAX_XORB_CHUNKS} chunks")
        compressed, scheme, uncompressed = _header(data, pos, index)
        h = b""
        if verify:
            start = pos + CHUNK_HEADER_LEN
            payload = view[start:start + compressed]
            try:
                h = chunk_hash(payload if scheme == COMPRESSION_NONE else decompress(payload, scheme, uncompressed))
            except XetFormatError as error:
                raise XetFormatError(f"Chunk {index} at byte {pos}: {error}") from None
        chunks.append(XorbChunk(index, pos, compressed, uncompressed, scheme, h))
        pos += CHUNK_HEADER_LEN + compressed
    if not chunks:
        raise XetFormatError("A xorb holds at least one chunk")
    digest = xorb_hash([(c.hash, c.uncompressed_size) for c in chunks]) if verify else b""
    if pos < n:
        _check_footer(view[pos:], chunks, digest)
    return Xorb(chunks, digest, pos, n)


def validate_xorb(data: bytes | memoryview, expected_hash: bytes) -> Xorb:
    """Parse and verify a xorb uploaded under ``expected_hash``; raise XetFormatError if it is
    malformed or its chunks hash to another xorb hash."""
    xorb = parse_xorb(data)
    if xorb.hash != expected_hash:
        raise XetFormatError(
            f"The xorb's chunks hash to {hash_to_hex(xorb.hash)}, not {hash_to_hex(expected_hash)}")
    return xorb


def _check_footer(footer: memoryview, chunks: Sequence[XorbChunk], digest: bytes) -> None:
    """Check the reference's storage footer against the records (V1 layout: ident, version, xorb
    hash, then the hash section, the boundary section, three u32, a 16-byte buffer and the footer's
    length). Only the parts that restate the records are compared."""
    n = len(chunks)
    if len(footer) < 4 or _U32.unpack_from(footer, len(footer) - 4)[0] != len(footer) - 4:
        raise XetFormatError("The xorb's footer does not end with its own length")
    version = footer[7]
    if version != 1:
        raise XetFormatError(f"The xorb's footer has version {version}; only version 1 is read")
    pos = 8
    expected_len = 8 + HASH_LEN + 8 + 4 + n * HASH_LEN + 8 + 4 + 8 * n + 12 + 16
    if len(footer) - 4 != expected_len:
        raise XetFormatError(f"The xorb's footer is {len(footer) - 4} bytes; {n} chunks need {expected_len}")
    stated_hash = bytes(footer[pos:pos + HASH_LEN])
    pos += HASH_LEN
    if footer[pos:pos + 7] != _FOOTER_IDENT_HASHES or _U32.unpack_from(footer, pos + 8)[0] != n:
        raise XetFormatError("The xorb's footer hash section does not match its chunks")
    pos += 12
    hashes = [bytes(footer[pos + i * HASH_LEN:pos + (i + 1) * HASH_LEN]) for i in range(n)]
    pos += n * HASH_LEN
    if footer[pos:pos + 7] != _FOOTER_IDENT_BOUNDARIES or _U32.unpack_from(footer, pos + 8)[0] != n:
        raise XetFormatError("The xorb's footer boundary section does not match its chunks")
    pos += 12
    ends = struct.unpack_from(f"<{n}I", footer, pos)
    unpacked = struct.unpack_from(f"<{n}I", footer, pos + 4 * n)
    total = 0
    for c, end, upto in zip(chunks, ends, unpacked, strict=True):
        total += c.uncompressed_size
        if end != c.end or upto != total:
            raise XetFormatError(f"The xorb's footer disagrees with chunk {c.index}'s boundaries")
    if digest:
        if stated_hash != digest:
            raise XetFormatError("The xorb's footer names another xorb hash than its chunks give")
        if any(h != c.hash for h, c in zip(hashes, chunks, strict=True)):
            raise XetFormatError("The xorb's footer lists other chunk hashes than its chunks give")


def iter_records(data: bytes | memoryview, *, first_index: int = 0) -> Iterator[bytes]:
    """Yield the decompressed chunks of a run of chunk records (a whole xorb, or a byte range of one
    as :meth:`Xorb.byte_range` gives), stopping at a footer; raise XetFormatError if malformed."""
    for chunk in iter_record_views(data, first_index=first_index):
        yield chunk if isinstance(chunk, bytes) else bytes(chunk)


def iter_record_views(data: bytes | memoryview, *, first_index: int = 0) -> Iterator[bytes | memoryview]:
    """``iter_records``, giving an uncompressed chunk as a view of the records rather than a copy
    (for a reader that only hashes them: a copy of every chunk costs as much as the hash)."""
    raw = data if isinstance(data, bytes) else memoryview(data)  # no copy (of up to a whole xorb)
    view = memoryview(raw)
    pos, index = 0, first_index
    while pos < len(raw) and raw[pos:pos + len(FOOTER_IDENT)] != FOOTER_IDENT:
        compressed, scheme, uncompressed = _header(raw, pos, index)
        start = pos + CHUNK_HEADER_LEN
        payload = view[start:start + compressed]
        yield payload if scheme == COMPRESSION_NONE else decompress(payload, scheme, uncompressed)
        pos = start + compressed
        index += 1


def iter_chunks(data: bytes, xorb: Xorb, start: int, end: int) -> Iterator[bytes]:
    """Yield the decompressed bytes of chunks [start, end) of a parsed xorb."""
    xorb.byte_range(start, end)  # raises unless the range is within the xorb
    view = memoryview(data)
    for c in xorb.chunks[start:end]:
        payload_start = c.offset + CHUNK_HEADER_LEN
        yield decompress(view[payload_start:c.end], c.compression, c.uncompressed_size)


def build_xorb(chunks: Sequence[bytes], compression: int = COMPRESSION_LZ4) -> bytes:
    """Serialize chunks (as the chunker cut them) into a footer-less xorb, as the client uploads it."""
    if not chunks:
        raise XetFormatError("A xorb holds at least one chunk")
    out = bytearray()
    for data in chunks:
        if not 0 < len(data) <= MAX_CHUNK_SIZE:
            raise XetFormatError(f"A chunk holds 1 to {MAX_CHUNK_SIZE} bytes, not {len(data)}")
        scheme, payload = compress(data, compression)
        out += bytes([0]) + len(payload).to_bytes(3, "little") + bytes([scheme]) + len(data).to_bytes(3, "little")
        out += payload
    return bytes(out)
