"""Xet formats benchmark: the pure-Python library (plugin/huggingface/xet) on xorb-sized input.

Run by hand, not part of the test suite::

    python bench/xet_format.py            # 64 MiB, the specification's largest xorb
    python bench/xet_format.py --mib 16

Times, on one core, each as MB/s of uncompressed bytes (best of three):

- chunk_hash:      the chunk hashes of the input already cut into chunks
- chunker:         chunk_boundaries over the input (the content-defined chunker, numpy)
- xorb validate:   validate_xorb of the input serialized as the client does (random bytes stored as
                   they are; float32 weights byte-grouped then LZ4), i.e. parse, decompress,
                   hash every chunk, compute the xorb hash and compare
- xorb parse only: parse_xorb(verify=False), the headers alone (a stored, already validated xorb)
- read back:       iter_chunks of every chunk (decompressing, as a read path rebuilding a file does)
- file hash:       the merkle tree over the chunks (from their hashes), per file of that size
- hf_xet.hash_files of the same bytes, the client's native figure for chunking + hashing
"""
from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from plugin.huggingface.xet.format import (  # noqa: E402
    COMPRESSION_BG4_LZ4,
    build_xorb,
    chunk_boundaries,
    chunk_hash,
    file_hash,
    iter_chunks,
    iter_file_chunks,
    parse_xorb,
    validate_xorb,
    xorb_hash,
)


def best(fn: Callable[[], object], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name: str, size: int, seconds: float) -> None:
    print(f"{name:<18} {size / seconds / 1e6:9.1f} MB/s   ({seconds * 1000:8.1f} ms for {size / 2**20:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    size = args.mib * 2**20
    rng = random.Random(64)
    half = size // 2
    weights = struct.pack(f"<{half // 4}f", *(rng.gauss(0, 0.02) for _ in range(half // 4)))
    data = rng.randbytes(size - len(weights)) + weights
    chunks = list(iter_file_chunks(data))
    print(f"{len(chunks)} chunks, {size / len(chunks) / 1024:.1f} KiB mean")

    report("chunk_hash", size, best(lambda: [chunk_hash(c) for c in chunks]))
    report("chunker", size, best(lambda: list(chunk_boundaries(data))))
    serialized = build_xorb(chunks, COMPRESSION_BG4_LZ4)
    expected = xorb_hash([(chunk_hash(c), len(c)) for c in chunks])
    print(f"xorb: {len(serialized) / 2**20:.1f} MiB serialized")
    report("xorb validate", size, best(lambda: validate_xorb(serialized, expected)))
    report("xorb parse only", size, best(lambda: parse_xorb(serialized, verify=False)))
    xorb = parse_xorb(serialized, verify=False)
    report("read back", size, best(lambda: sum(len(c) for c in iter_chunks(serialized, xorb, 0, len(chunks)))))
    pairs = [(chunk_hash(c), len(c)) for c in chunks]
    report("file hash (tree)", size, best(lambda: file_hash(pairs)))
    try:
        import hf_xet
    except ImportError:
        return
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        report("hf_xet.hash_files", size, best(lambda: hf_xet.hash_files([f.name])))


if __name__ == "__main__":
    main()
