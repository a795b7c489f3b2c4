"""Xet's hashes (specification 1.1.0, "Hashing"): all are BLAKE3 in keyed mode, each with its own key.

- a chunk's hash is the keyed BLAKE3 of its bytes (``DATA_KEY``);
- a xorb's hash is the root of an aggregated merkle tree over its chunks' (hash, size) pairs: each
  internal node hashes (``INTERNAL_NODE_KEY``) the text ``"{hex(hash)} : {size}\\n"`` of its children,
  and a node closes after at least 3 children when a child's hash is 0 mod 4 (at most 9);
- a file's hash is the same tree over the file's chunks, re-keyed with a zero key (the empty file's
  hash is all zeros, as is the empty xorb's);
- a shard's verification entry for a term is the keyed BLAKE3 (``VERIFICATION_KEY``) of the term's
  chunk hashes, concatenated.

Hashes are 32 raw bytes here. Their string form (URLs, JSON, shard names) reads the 32 bytes as four
little-endian u64 and prints each as 16 hex digits: the bytes of every 8-byte group reversed.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence

from blake3 import blake3

from plugin.huggingface.xet.errors import XetFormatError

#: The keys, as the reference implementation (xet-core) defines them.
DATA_KEY = bytes([
    102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
    157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41,
])
INTERNAL_NODE_KEY = bytes([
    1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
    93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63,
])
VERIFICATION_KEY = bytes([
    127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
    164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195,
])
ZERO_HASH = bytes(32)
HASH_LEN = 32

#: The merkle tree's mean branching factor; a node holds 3 to 2 * 4 + 1 children (fewer at the end).
_BRANCHING = 4
_MAX_GROUP = 2 * _BRANCHING + 1
#: A chunk is a candidate for global deduplication when its hash is 0 mod this.
GLOBAL_DEDUP_MODULUS = 1024

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_FOUR_U64 = struct.Struct("<4Q")


def chunk_hash(data: bytes | bytearray | memoryview) -> bytes:
    """Return the hash of a chunk's (uncompressed) bytes."""
    return blake3(data, key=DATA_KEY).digest()


def keyed_hash(key: bytes, h: bytes) -> bytes:
    """Return ``h`` re-keyed with ``key`` (the file hash's salt, a shard's chunk-hash HMAC key)."""
    return blake3(h, key=key).digest()


def hash_to_hex(h: bytes) -> str:
    """Return Xet's string form of a hash (each 8-byte group reversed, lower-case hex)."""
    if len(h) != HASH_LEN:
        raise XetFormatError(f"A Xet hash is {HASH_LEN} bytes, not {len(h)}")
    a, b, c, d = _FOUR_U64.unpack(h)
    return f"{a:016x}{b:016x}{c:016x}{d:016x}"


def hex_to_hash(s: str) -> bytes:
    """Parse Xet's string form of a hash; raise XetFormatError unless it is 64 hex digits."""
    if len(s) != 2 * HASH_LEN or not _HEX_DIGITS.issuperset(s):
        raise XetFormatError(f"Not a Xet hash (64 hexadecimal digits): {s[:80]!r}")
    return _FOUR_U64.pack(*(int(s[i:i + 16], 16) for i in range(0, 64, 16)))


def hash_mod(h: bytes, modulus: int) -> int:
    """Return the hash modulo ``modulus`` as the reference does it (its last u64, little-endian)."""
    return int.from_bytes(h[24:32], "little") % modulus


def is_global_dedup_eligible(h: bytes) -> bool:
    """Say whether a chunk hash is one the client asks the global deduplication query about."""
    return hash_mod(h, GLOBAL_DEDUP_MODULUS) == 0


def _node(children: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(f"{hash_to_hex(h)} : {size}\n" for h, size in children)
    return blake3(text.encode("ascii"), key=INTERNAL_NODE_KEY).digest(), sum(size for _, size in children)


def _merkle_root(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    level = list(chunks)
    for h, size in level:
        if len(h) != HASH_LEN or size < 0:
            raise XetFormatError("A merkle leaf is a 32-byte hash and a size >= 0")
    while len(level) > 1:
        merged: list[tuple[bytes, int]] = []
        i, n = 0, len(level)
        while i < n:
            if n - i <= 2:
                cut = n - i
            else:
                end = min(_MAX_GROUP, n - i)
                cut = end
                for j in range(2, end):
                    # hash % 4 == 0 on the last little-endian u64: its lowest byte decides.
                    if level[i + j][0][24] & 3 == 0:
                        cut = j + 1
                        break
            merged.append(_node(level[i:i + cut]))
            i += cut
        level = merged
    return level[0][0]


def xorb_hash(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    """Return the hash of a xorb made of these (chunk hash, uncompressed size) pairs, in order."""
    if not chunks:
        return ZERO_HASH
    return _merkle_root(chunks)


def file_hash(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    """Return the hash of a file made of these (chunk hash, size) pairs, in order."""
    if not chunks:
        return ZERO_HASH
    return keyed_hash(ZERO_HASH, _merkle_root(chunks))


def verification_range_hash(chunk_hashes: Sequence[bytes]) -> bytes:
    """Return the verification hash a shard holds for a term covering these chunks."""
    return blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()
