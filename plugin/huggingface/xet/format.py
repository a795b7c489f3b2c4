"""The Xet formats and hashes (specification 1.1.0, huggingface.co/docs/xet), as one surface:
``chunking`` (the client's content-defined chunker), ``hashing`` (chunk, xorb, file and verification
hashes, the hex form), ``xorb`` (chunk records, compression, validation), ``shard`` (file
reconstructions and xorb listings, parsing and building) and ``packing`` (a file cut and packed into
xorbs on the server, for files that arrived without Xet). Everything malformed raises
:class:`XetFormatError` (a ValueError) with a message for the client.

Where the specification's prose and the real client differ, the client wins (checked against bytes
hf_xet 1.8.0 sends, tests/huggingface/test_xet_client_bytes.py): a shard's xorb chunk entries give each
chunk's offset in the xorb's *uncompressed* bytes, the client leaves a xorb's serialized size at 0 in
its shard, and the SHA-256 extension is stored in Xet hash order (see ``shard``).
"""
from __future__ import annotations

from plugin.huggingface.xet.chunking import chunk_boundaries, iter_file_chunks
from plugin.huggingface.xet.errors import XetFormatError
from plugin.huggingface.xet.hashing import (
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    is_global_dedup_eligible,
    keyed_hash,
    verification_range_hash,
    xorb_hash,
)
from plugin.huggingface.xet.packing import FilePacker, PackedXorb
from plugin.huggingface.xet.shard import (
    Shard,
    ShardFile,
    ShardFooter,
    ShardXorb,
    ShardXorbChunk,
    Term,
    build_shard,
    global_dedup_chunks,
    parse_shard,
    shard_xorb_from,
    validate_file_terms,
    validate_shard_xorb,
)
from plugin.huggingface.xet.xorb import (
    COMPRESSION_BG4_LZ4,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    Xorb,
    XorbChunk,
    build_xorb,
    iter_chunks,
    iter_record_views,
    iter_records,
    parse_xorb,
    validate_xorb,
)

__all__ = [
    "COMPRESSION_BG4_LZ4", "COMPRESSION_LZ4", "COMPRESSION_NONE", "FilePacker", "PackedXorb", "Shard", "ShardFile", "ShardFooter",
    "ShardXorb", "ShardXorbChunk", "Term", "XetFormatError", "Xorb", "XorbChunk", "build_shard", "build_xorb",
    "chunk_boundaries", "chunk_hash", "file_hash", "global_dedup_chunks", "hash_to_hex", "hex_to_hash",
    "is_global_dedup_eligible", "iter_chunks", "iter_file_chunks", "iter_record_views", "iter_records", "keyed_hash", "parse_shard",
    "parse_xorb", "shard_xorb_from", "validate_file_terms", "validate_shard_xorb", "validate_xorb",
    "verification_range_hash", "xorb_hash",
]
