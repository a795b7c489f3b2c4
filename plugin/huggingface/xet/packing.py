"""Packing a file into xorbs on the server, as the client would upload it: the server's way of making
a file that arrived without Xet (curl, MLflow, LFS) readable through Xet. The file is cut by the
client's chunker (so its Xet hash is the one ``hf_xet`` computes and later uploads deduplicate
against it), chunks repeated within the file are stored once, and chunks are packed into xorbs of
at most 64 MiB serialized and 8192 chunks, each chunk compressed the better of LZ4 and
byte-grouping-4 LZ4 (or stored as is when neither helps)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from plugin.huggingface.xet.chunking import Chunker
from plugin.huggingface.xet.hashing import chunk_hash, file_hash, verification_range_hash, xorb_hash
from plugin.huggingface.xet.shard import ShardFile, ShardXorb, ShardXorbChunk, Term
from plugin.huggingface.xet.xorb import COMPRESSION_BG4_LZ4, COMPRESSION_LZ4, compress

#: The specification's limit on a serialized xorb, and the client's on its chunks.
XORB_LIMIT_BYTES = 64 * 1024 * 1024
XORB_LIMIT_CHUNKS = 8 * 1024


@dataclass(frozen=True)
class PackedXorb:
    hash: bytes
    #: The serialized xorb, without footer (as a client uploads it).
    data: bytes
    #: Its listing for a shard.
    entry: ShardXorb


def _record(chunk: bytes) -> bytes:
    best_scheme, best = compress(chunk, COMPRESSION_LZ4)
    scheme, payload = compress(chunk, COMPRESSION_BG4_LZ4)
    if len(payload) < len(best):
        best_scheme, best = scheme, payload
    header = bytes([0]) + len(best).to_bytes(3, "little") + bytes([best_scheme]) + len(chunk).to_bytes(3, "little")
    return header + best


class FilePacker:
    """Feed a file's bytes in pieces; collect the xorbs as they fill, and the file's shard entry at
    the end. Memory: one open xorb (64 MiB) and a hash per distinct chunk."""

    def __init__(self) -> None:
        self._chunker = Chunker()
        self._pending = bytearray()  # bytes fed and not yet cut
        self._sha256 = hashlib.sha256()
        self._records: list[bytes] = []
        self._open: list[tuple[bytes, int]] = []  # (hash, size) of the open xorb's chunks
        self._open_bytes = 0
        self._closed: list[bytes] = []  # the hashes of the xorbs closed so far, by ordinal
        self._seen: dict[bytes, tuple[int, int]] = {}  # chunk hash -> (xorb ordinal, chunk index)
        self._file_chunks: list[tuple[bytes, int]] = []
        self._terms: list[list[int]] = []  # [xorb ordinal, start, end, bytes]
        self._offset = 0  # the file offset of self._pending[0]

    def feed(self, data: bytes) -> list[PackedXorb]:
        """Take the next bytes of the file; return the xorbs that filled up."""
        self._sha256.update(data)
        self._pending += data
        return self._take(self._chunker.feed(data))

    def finish(self) -> tuple[list[PackedXorb], ShardFile]:
        """End the file; return the last xorb(s) and the file's shard entry (terms, verification
        hashes, SHA-256)."""
        packed = self._take(self._chunker.finish())
        if self._open:
            packed.append(self._close())
        terms = [Term(self._closed[ordinal], start, end, size) for ordinal, start, end, size in self._terms]
        verification = []
        hashes = [h for h, _ in self._file_chunks]
        pos = 0
        for term in terms:
            count = term.chunk_end - term.chunk_start
            verification.append(verification_range_hash(hashes[pos:pos + count]))
            pos += count
        entry = ShardFile(file_hash(self._file_chunks), terms, verification, self._sha256.digest())
        return packed, entry

    def _take(self, ends: list[int]) -> list[PackedXorb]:
        packed = []
        for end in ends:
            chunk = bytes(self._pending[:end - self._offset])
            del self._pending[:end - self._offset]
            self._offset = end
            closed = self._add(chunk)
            if closed is not None:
                packed.append(closed)
        return packed

    def _add(self, chunk: bytes) -> PackedXorb | None:
        h = chunk_hash(chunk)
        self._file_chunks.append((h, len(chunk)))
        closed = None
        if h not in self._seen:
            record = _record(chunk)
            if self._open and (len(self._open) >= XORB_LIMIT_CHUNKS
                               or self._open_bytes + len(record) > XORB_LIMIT_BYTES):
                closed = self._close()
            self._seen[h] = (len(self._closed), len(self._open))
            self._records.append(record)
            self._open.append((h, len(chunk)))
            self._open_bytes += len(record)
        ordinal, index = self._seen[h]
        last = self._terms[-1] if self._terms else None
        if last is not None and last[0] == ordinal and last[2] == index:
            last[2] += 1
            last[3] += len(chunk)
        else:
            self._terms.append([ordinal, index, index + 1, len(chunk)])
        return closed

    def _close(self) -> PackedXorb:
        data = b"".join(self._records)
        digest = xorb_hash(self._open)
        chunks, start = [], 0
        for h, size in self._open:
            chunks.append(ShardXorbChunk(h, start, size))
            start += size
        entry = ShardXorb(digest, chunks, start, len(data))
        self._closed.append(digest)
        self._records, self._open, self._open_bytes = [], [], 0
        return PackedXorb(digest, data, entry)

