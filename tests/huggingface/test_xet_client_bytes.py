"""The real Xet client (hf_xet) against our reading and writing of its formats: what it uploads to a
capturing CAS (tests/support/xet_capture.py) parses and verifies with plugin/huggingface/xet, our chunker
cuts its files where it does, and a global deduplication shard built by ``build_shard`` is one it
accepts (it then uploads no xorb and references ours)."""
from __future__ import annotations

import hashlib
import random
import struct
from pathlib import Path

import hf_xet
import pytest

from plugin.huggingface.xet.format import (
    FilePacker,
    build_shard,
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    iter_chunks,
    iter_file_chunks,
    parse_shard,
    shard_xorb_from,
    validate_file_terms,
    validate_shard_xorb,
    validate_xorb,
)
from tests.support.xet_capture import capturing_cas, sample_files, upload


@pytest.fixture(autouse=True)
def _own_xet_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's client keeps its shard cache in the test's directory, not in ~/.cache."""
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))


def _files(directory: Path) -> list[Path]:
    rng = random.Random(1818)
    big = rng.randbytes(3_000_000)
    contents = {
        "empty.bin": b"",
        "small.txt": b"hello xet\n",
        "big.bin": big,
        # The same bytes with a block changed in the middle: most chunks are shared.
        "big-edited.bin": big[:1_400_000] + rng.randbytes(50_000) + big[1_450_000:],
        "floats.bin": b"".join(struct.pack("<f", rng.gauss(0, 1)) for _ in range(400_000)),
    }
    for name, data in contents.items():
        (directory / name).write_bytes(data)
    return [directory / name for name in contents] + sample_files(directory)


def test_our_chunker_and_hashes_agree_with_hash_files(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    for path, info in zip(paths, hf_xet.hash_files([str(p) for p in paths]), strict=True):
        with path.open("rb") as f:
            chunks = [(chunk_hash(c), len(c)) for c in iter_file_chunks(f)]
        assert hash_to_hex(file_hash(chunks)) == info.hash, path.name
        assert sum(s for _, s in chunks) == info.file_size == path.stat().st_size


def test_what_the_client_uploads_verifies(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    edited = paths.pop(paths.index(tmp_path / "big-edited.bin"))
    with capturing_cas() as cas:
        infos = upload(cas, paths)
        sent_before = sum(len(x) for x in cas.xorbs.values())
        # A second commit, of the copy with a 50 KB block changed: the client sends the chunks that
        # hold it and those cut differently around it (at most 128 KiB each), not the 3 MB.
        infos += upload(cas, [edited])
        assert sum(len(x) for x in cas.xorbs.values()) - sent_before < 50_000 + 3 * 128 * 1024
    paths.append(edited)
    assert cas.xorbs and len(cas.shards) == 2
    xorbs = {}
    for name, data in cas.xorbs.items():
        xorb = validate_xorb(data, hex_to_hash(name))
        xorbs[xorb.hash] = (data, xorb)
    listed = {}
    files = {}
    for raw in cas.shards:
        shard = parse_shard(raw)
        assert build_shard(shard.files, shard.xorbs, with_footer=False) == raw
        for entry in shard.xorbs:
            validate_shard_xorb(entry, xorbs[entry.hash][1])
            listed[entry.hash] = entry
        files.update({f.hash: f for f in shard.files})
    assert set(listed) == set(xorbs)
    chunks_of = {h: x.chunk_hashes_and_sizes() for h, (_, x) in xorbs.items()}.get
    for path, info in zip(paths, infos, strict=True):
        content = path.read_bytes()
        if not content:  # the empty file has the zero hash and needs no shard entry
            assert info.hash == "0" * 64
            continue
        f = files[hex_to_hash(info.hash)]
        validate_file_terms(f, chunks_of)
        assert f.sha256 == hashlib.sha256(content).digest() == bytes.fromhex(info.sha256)
        rebuilt = b"".join(b"".join(iter_chunks(xorbs[t.xorb_hash][0], xorbs[t.xorb_hash][1], t.chunk_start,
                                                t.chunk_end)) for t in f.terms)
        assert rebuilt == content, path.name


def test_the_client_accepts_our_global_dedup_shard(tmp_path: Path) -> None:
    rng = random.Random(99)
    path = tmp_path / "model.bin"
    path.write_bytes(rng.randbytes(1_500_000))
    with capturing_cas() as first:
        [info] = upload(first, [path])
    with capturing_cas() as control:  # another CAS, knowing nothing: the client sends the xorb again
        upload(control, [path])
    assert len(control.xorbs) == 1
    [(name, data)] = first.xorbs.items()
    xorb = validate_xorb(data, hex_to_hash(name))
    # Answer the query for the file's first chunk with a shard naming the xorb, chunk hashes keyed.
    answer = build_shard([], [shard_xorb_from(xorb, global_dedup_first_chunk=True)], hmac_key=rng.randbytes(32))
    with capturing_cas() as second:
        second.dedup[hash_to_hex(xorb.chunks[0].hash)] = answer
        [again] = upload(second, [path])
    assert again.hash == info.hash
    assert ("GET", f"/v1/chunks/default/{hash_to_hex(xorb.chunks[0].hash)}") in second.requests
    assert second.xorbs == {}  # nothing new to send
    [f] = parse_shard(second.shards[0]).files
    assert {t.xorb_hash for t in f.terms} == {xorb.hash}
    validate_file_terms(f, {xorb.hash: xorb.chunk_hashes_and_sizes()}.get)


def test_the_client_deduplicates_against_a_file_we_packed(tmp_path: Path) -> None:
    # A file that reached the server without Xet, packed there; then the client uploads it.
    path = tmp_path / "from-curl.bin"
    path.write_bytes(random.Random(7).randbytes(2_000_000))
    packer = FilePacker()
    packed = packer.feed(path.read_bytes())
    more, file = packer.finish()
    packed += more
    [xorb] = packed
    first = validate_xorb(xorb.data, xorb.hash).chunks[0].hash
    with capturing_cas() as cas:
        cas.dedup[hash_to_hex(first)] = build_shard([], [xorb.entry], hmac_key=random.Random(8).randbytes(32))
        [info] = upload(cas, [path])
    assert info.hash == hash_to_hex(file.hash)
    assert cas.xorbs == {}
    [uploaded] = parse_shard(cas.shards[0]).files
    assert uploaded.terms == file.terms
