"""The Xet formats library (plugin/huggingface/xet): hashes, xorbs, shards and the chunker, against the
bytes the real client (hf_xet) produced (tests/huggingface/xet_fixtures, captured by
tests/support/xet_capture.py), round trips, and garbage that must be refused with XetFormatError."""
from __future__ import annotations

import hashlib
import json
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.huggingface.xet.chunking import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE
from plugin.huggingface.xet.format import (
    COMPRESSION_BG4_LZ4,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    FilePacker,
    PackedXorb,
    ShardFile,
    Term,
    XetFormatError,
    build_shard,
    build_xorb,
    chunk_boundaries,
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    iter_chunks,
    iter_file_chunks,
    iter_record_views,
    iter_records,
    keyed_hash,
    parse_shard,
    parse_xorb,
    shard_xorb_from,
    validate_file_terms,
    validate_shard_xorb,
    validate_xorb,
    verification_range_hash,
    xorb_hash,
)
from tests.support.xet_capture import sample_files

FIXTURES = Path(__file__).parent.parent / "huggingface" / "xet_fixtures"
XORB_NAME = "70fce4a9c0a808818a81af6ed14f5c172236b0bab41f9323620e0d7aa0c21639"


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    directory = tmp_path_factory.mktemp("xet")
    return {
        "xorb": (FIXTURES / f"{XORB_NAME}.xorb").read_bytes(),
        "shard": (FIXTURES / "upload.shard").read_bytes(),
        "files": json.loads((FIXTURES / "files.json").read_text()),
        "contents": {p.name: p.read_bytes() for p in sample_files(directory)},
    }


def _chunks(data: bytes) -> list[bytes]:
    return list(iter_file_chunks(data))


# --- hashes ---------------------------------------------------------------------------------------

def test_hex_form_reverses_each_eight_byte_group() -> None:
    h = bytes(range(32))
    assert hash_to_hex(h) == "0706050403020100" "0f0e0d0c0b0a0908" "1716151413121110" "1f1e1d1c1b1a1918"
    assert hex_to_hash(hash_to_hex(h)) == h
    assert hex_to_hash(hash_to_hex(h).upper()) == h


@pytest.mark.parametrize("text", ["", "00" * 31, "zz" * 32, "0" * 65, " " + "0" * 63, "０" * 64])
def test_hex_form_refuses_what_is_not_a_hash(text: str) -> None:
    with pytest.raises(XetFormatError, match="Not a Xet hash"):
        hex_to_hash(text)


def test_file_hashes_equal_the_real_clients(captured: dict[str, object]) -> None:
    # hf_xet 1.8.0 gave these for its own chunking; ours must cut and hash the same.
    files = captured["files"]
    assert isinstance(files, dict)
    for name, data in captured["contents"].items():  # type: ignore[attr-defined]
        chunks = _chunks(data)
        assert hash_to_hex(file_hash([(chunk_hash(c), len(c)) for c in chunks])) == files[name]["xet_hash"]
        assert hashlib.sha256(data).hexdigest() == files[name]["sha256"]
    hello = b"hello world"  # one chunk: hf_xet.hash_files gives this
    assert hash_to_hex(file_hash([(chunk_hash(hello), len(hello))])) == (
        "f15edd43b7e85cfd25e2758ffe13b99fdd09dfa817e8d9f6548722a7a126db7f")


def test_empty_file_and_xorb_hash_to_zero() -> None:
    assert file_hash([]) == bytes(32) == xorb_hash([])


def test_merkle_tree_depends_on_order_and_sizes() -> None:
    leaves = [(chunk_hash(bytes([i])), 1) for i in range(50)]
    root = xorb_hash(leaves)
    assert xorb_hash(leaves[::-1]) != root
    assert xorb_hash([(h, 2) for h, _ in leaves]) != root
    assert file_hash(leaves) == keyed_hash(bytes(32), root)
    assert xorb_hash(leaves[:1]) == leaves[0][0]  # a single chunk is its own root


# --- xorbs ----------------------------------------------------------------------------------------

def test_captured_xorb_validates_in_every_scheme(captured: dict[str, object]) -> None:
    data = captured["xorb"]
    assert isinstance(data, bytes)
    xorb = validate_xorb(data, hex_to_hash(XORB_NAME))
    assert {c.compression for c in xorb.chunks} == {COMPRESSION_NONE, COMPRESSION_LZ4, COMPRESSION_BG4_LZ4}
    assert xorb.size == xorb.records_size == len(data)
    contents = b"".join(captured["contents"].values())  # type: ignore[attr-defined]
    assert b"".join(iter_chunks(data, xorb, 0, len(xorb.chunks))) == contents
    first, last = xorb.byte_range(1, len(xorb.chunks))
    assert b"".join(iter_records(data[first:last])) == contents[xorb.chunks[0].uncompressed_size:]
    with pytest.raises(XetFormatError, match="hash to"):
        validate_xorb(data, bytes(32))


@pytest.mark.parametrize("scheme", [COMPRESSION_NONE, COMPRESSION_LZ4, COMPRESSION_BG4_LZ4])
def test_xorb_round_trip(scheme: int) -> None:
    rng = random.Random(scheme)
    chunks = [rng.randbytes(5), bytes(70_000), b"".join(struct.pack("<f", rng.random()) for _ in range(3001)),
              bytes([7]) * MAX_CHUNK_SIZE]
    data = build_xorb(chunks, scheme)
    expected = xorb_hash([(chunk_hash(c), len(c)) for c in chunks])
    xorb = validate_xorb(data, expected)
    assert [c.uncompressed_size for c in xorb.chunks] == [len(c) for c in chunks]
    assert list(iter_chunks(data, xorb, 1, 3)) == chunks[1:3]
    assert parse_xorb(data, verify=False).chunks[2].offset == xorb.chunks[2].offset
    # Views and copies give the same bytes; an uncompressed chunk is a view of the records, not a copy.
    views = list(iter_record_views(data))
    assert [bytes(v) for v in views] == list(iter_records(data)) == chunks
    assert all(isinstance(v, memoryview) == (c.compression == COMPRESSION_NONE) for v, c in zip(views, xorb.chunks, strict=True))


def _reference_footer(data: bytes) -> bytes:
    """The reference implementation's storage footer (XorbObjectInfoV1), written from its layout."""
    xorb = parse_xorb(data)
    n = len(xorb.chunks)
    ends, unpacked, total = [], [], 0
    for c in xorb.chunks:
        total += c.uncompressed_size
        ends.append(c.end)
        unpacked.append(total)
    body = b"XETBLOB" + bytes([1]) + xorb.hash
    body += b"XBLBHSH" + bytes([0]) + struct.pack("<I", n) + b"".join(c.hash for c in xorb.chunks)
    body += b"XBLBBND" + bytes([1]) + struct.pack("<I", n) + struct.pack(f"<{n}I", *ends)
    body += struct.pack(f"<{n}I", *unpacked) + struct.pack("<III", n, 0, 0) + bytes(16)
    return body + struct.pack("<I", len(body))


def test_xorb_with_the_reference_storage_footer(captured: dict[str, object]) -> None:
    data = captured["xorb"]
    assert isinstance(data, bytes)
    stored = data + _reference_footer(data)
    xorb = validate_xorb(stored, hex_to_hash(XORB_NAME))
    assert (xorb.records_size, xorb.size) == (len(data), len(stored))
    wrong_hash = bytearray(stored)
    wrong_hash[len(data) + 8] ^= 1
    with pytest.raises(XetFormatError, match="footer names another xorb hash"):
        parse_xorb(bytes(wrong_hash))
    with pytest.raises(XetFormatError, match="footer"):
        parse_xorb(stored[:-1])


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d[:5], "ends inside its 8-byte header"),
    (lambda d: d[:-1], "ends inside its"),
    (lambda d: b"\x01" + d[1:], "header version 1"),
    (lambda d: d[:4] + b"\x09" + d[5:], "unknown compression scheme 9"),
    (lambda d: d[:5] + (MAX_CHUNK_SIZE + 1).to_bytes(3, "little") + d[8:], "more than a chunk may hold"),
    (lambda d: b"", "at least one chunk"),
])
def test_malformed_xorbs_are_refused(mutate: object, message: str) -> None:
    data = build_xorb([b"x" * 1000, b"y" * 2000], COMPRESSION_LZ4)
    with pytest.raises(XetFormatError, match=message):
        parse_xorb(mutate(data))  # type: ignore[operator]


def test_lz4_chunk_that_lies_about_its_size_is_refused() -> None:
    data = bytearray(build_xorb([b"z" * 5000], COMPRESSION_LZ4))
    data[5:8] = (4000).to_bytes(3, "little")
    with pytest.raises(XetFormatError, match="more than its header's 4000 bytes"):
        parse_xorb(bytes(data))
    data[5:8] = (6000).to_bytes(3, "little")
    with pytest.raises(XetFormatError, match="holds 5000 bytes, its header says 6000"):
        parse_xorb(bytes(data))


def test_absurd_sizes_are_refused_before_work() -> None:
    with pytest.raises(XetFormatError, match="at most"):
        parse_xorb(bytes(70 * 1024 * 1024))
    with pytest.raises(XetFormatError, match="at most"):
        parse_shard(bytes(129 * 1024 * 1024))


# --- shards ---------------------------------------------------------------------------------------

def test_captured_shard_validates_and_rebuilds_byte_for_byte(captured: dict[str, object]) -> None:
    data, raw = captured["xorb"], captured["shard"]
    assert isinstance(data, bytes) and isinstance(raw, bytes)
    xorb = parse_xorb(data)
    shard = parse_shard(raw)
    assert shard.footer is None and len(shard.xorbs) == 1
    validate_shard_xorb(shard.xorbs[0], xorb)
    files = captured["files"]
    assert isinstance(files, dict)
    by_hash = {hex_to_hash(f["xet_hash"]): f for f in files.values()}
    for f in shard.files:
        validate_file_terms(f, {xorb.hash: xorb.chunk_hashes_and_sizes()}.get)
        assert f.sha256 == bytes.fromhex(by_hash[f.hash]["sha256"])
        assert f.size == by_hash[f.hash]["size"]
    assert build_shard(shard.files, shard.xorbs, with_footer=False) == raw


def test_file_terms_that_do_not_rebuild_the_file_are_refused(captured: dict[str, object]) -> None:
    xorb = parse_xorb(captured["xorb"])  # type: ignore[arg-type]
    chunks = {xorb.hash: xorb.chunk_hashes_and_sizes()}
    f = parse_shard(captured["shard"]).files[0]  # type: ignore[arg-type]
    term = f.terms[0]
    cases = [
        (ShardFile(f.hash, [term._replace(xorb_hash=bytes(32))], f.verification), "which is unknown"),
        (ShardFile(f.hash, [term._replace(chunk_end=99)], f.verification), "which holds"),
        (ShardFile(f.hash, [term._replace(unpacked_size=term.unpacked_size + 1)], f.verification), "says"),
        (ShardFile(f.hash, f.terms, [bytes(32)] * len(f.terms)), "verification hash does not match"),
        (ShardFile(bytes(32), f.terms, f.verification), "its chunks hash to"),
    ]
    for bad, message in cases:
        with pytest.raises(XetFormatError, match=message):
            validate_file_terms(bad, chunks.get)


def test_full_shard_with_keyed_chunk_hashes_round_trips() -> None:
    chunks = [b"a" * 9000, b"b" * 9000, b"c" * 100]
    xorb = parse_xorb(build_xorb(chunks))
    pairs = xorb.chunk_hashes_and_sizes()
    file = ShardFile(file_hash(pairs), [Term(xorb.hash, 0, 3, 18_100)],
                     [verification_range_hash([h for h, _ in pairs])], hashlib.sha256(b"".join(chunks)).digest())
    key = bytes(range(32))
    raw = build_shard([file], [shard_xorb_from(xorb)], hmac_key=key, expiry=2_000_000_000, created=1)
    shard = parse_shard(raw)
    assert shard.files == [file]
    assert shard.footer is not None
    assert (shard.footer.chunk_hash_hmac_key, shard.footer.expiry, shard.footer.created) == (key, 2_000_000_000, 1)
    assert [c.hash for c in shard.xorbs[0].chunks] == [keyed_hash(key, h) for h, _ in pairs]
    assert [c.byte_start for c in shard.xorbs[0].chunks] == [0, 9000, 18_000]
    plain = parse_shard(build_shard([file], [shard_xorb_from(xorb)]))
    validate_shard_xorb(plain.xorbs[0], xorb)


def test_malformed_shards_are_refused() -> None:
    good = build_shard([], [shard_xorb_from(parse_xorb(build_xorb([b"q" * 100])))], with_footer=False)
    for bad, message in [
        (b"x" * 100, "header tag"),
        (good[:32] + struct.pack("<Q", 3) + good[40:], "version 3"),
        (good[:-1], "ends inside"),
        (good + b"\0", "after its sections"),
        (good[:40] + struct.pack("<Q", 200) + good[48:], "before its footer"),
        (good[:48 + 48 + 36] + struct.pack("<I", 10**9) + good[48 + 48 + 40:], "more than it holds"),
    ]:
        with pytest.raises(XetFormatError, match=message):
            parse_shard(bad)


# --- garbage never raises anything else -------------------------------------------------------------

@settings(max_examples=300)
@given(st.binary(max_size=4096))
def test_garbage_xorbs_raise_only_format_errors(data: bytes) -> None:
    try:
        parse_xorb(data)
    except XetFormatError:
        pass


_VALID_XORB = build_xorb([b"w" * 3000, bytes(range(256)) * 40, b"tail"], COMPRESSION_BG4_LZ4)
_VALID_SHARD = build_shard(
    [ShardFile(bytes(32), [Term(b"\1" * 32, 0, 2, 10)], [b"\2" * 32], b"\3" * 32)],
    [shard_xorb_from(parse_xorb(_VALID_XORB))])


@settings(max_examples=300)
@given(st.data())
def test_mutated_xorbs_and_shards_raise_only_format_errors(data: st.DataObject) -> None:
    for valid, parse in ((_VALID_XORB, parse_xorb), (_VALID_SHARD, parse_shard)):
        blob = bytearray(valid)
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(blob)))
        try:
            parse(bytes(blob[:cut]))  # type: ignore[operator]
        except XetFormatError:
            pass


@settings(max_examples=200)
@given(st.binary(max_size=2048))
def test_garbage_shards_raise_only_format_errors(data: bytes) -> None:
    try:
        parse_shard(b"HFRepoMetaData\x00" + bytes([85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92,
                                                     205, 209, 74, 169]) + data)
    except XetFormatError:
        pass


# --- the chunker ----------------------------------------------------------------------------------

def test_chunks_respect_the_size_bounds_and_streaming_does_not_change_them() -> None:
    data = random.Random(7).randbytes(3_000_000) + bytes(500_000)  # zeros never match: forced cuts
    ends = list(chunk_boundaries(data))
    sizes = [b - a for a, b in zip([0, *ends], ends, strict=False)]
    assert ends[-1] == len(data)
    assert all(MIN_CHUNK_SIZE <= s <= MAX_CHUNK_SIZE for s in sizes[:-1])
    assert sizes[-5:-1] == [MAX_CHUNK_SIZE] * 4
    assert list(chunk_boundaries([data[i:i + 1000] for i in range(0, len(data), 1000)])) == ends
    assert list(chunk_boundaries(b"")) == [] and list(chunk_boundaries(b"abc")) == [3]


def test_an_edit_moves_only_nearby_boundaries() -> None:
    data = random.Random(8).randbytes(2_000_000)
    edited = data[:1_000_000] + b"inserted" + data[1_000_000:]
    before = set(chunk_boundaries(data))
    after = {e if e <= 1_000_000 else e - 8 for e in chunk_boundaries(edited)}
    assert len(before) > 20 and len(before - after) <= 2


# --- packing a file on the server -----------------------------------------------------------------

def _pack(data: bytes, piece: int = 300_001) -> tuple[list[PackedXorb], ShardFile]:
    packer = FilePacker()
    xorbs = []
    for i in range(0, len(data), piece):
        xorbs += packer.feed(data[i:i + piece])
    more, file = packer.finish()
    return xorbs + more, file


def _rebuild(xorbs: list[PackedXorb], file: ShardFile) -> bytes:
    parsed = {x.hash: (x.data, validate_xorb(x.data, x.hash)) for x in xorbs}
    for x in xorbs:
        validate_shard_xorb(x.entry, parsed[x.hash][1])
    validate_file_terms(file, {h: xorb.chunk_hashes_and_sizes() for h, (_, xorb) in parsed.items()}.get)
    return b"".join(b"".join(iter_chunks(*parsed[t.xorb_hash], t.chunk_start, t.chunk_end)) for t in file.terms)


def test_packed_file_rebuilds_and_hashes_as_the_client_would(captured: dict[str, object]) -> None:
    files = captured["files"]
    assert isinstance(files, dict)
    for name, data in captured["contents"].items():  # type: ignore[attr-defined]
        xorbs, file = _pack(data, piece=7_777)
        assert hash_to_hex(file.hash) == files[name]["xet_hash"]
        assert file.sha256 == hashlib.sha256(data).digest()
        assert _rebuild(xorbs, file) == data


def test_packing_stores_repeated_chunks_once_and_splits_xorbs_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("plugin.huggingface.xet.packing.XORB_LIMIT_BYTES", 400_000)
    block = random.Random(3).randbytes(600_000)
    data = block + random.Random(4).randbytes(500_000) + block  # the block again: all but its edges deduplicate
    xorbs, file = _pack(data)
    assert len(xorbs) >= 3 and all(len(x.data) <= 400_000 for x in xorbs)
    assert sum(x.entry.unpacked_size for x in xorbs) < len(data) - 300_000
    assert _rebuild(xorbs, file) == data
    empty_xorbs, empty = _pack(b"")
    assert (empty_xorbs, empty.hash, empty.terms) == ([], bytes(32), [])
