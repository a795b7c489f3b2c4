"""The shard's one pass over directly uploaded xorbs (``plugin.huggingface.xet_direct.ShardPass``): each
xorb read once into a few reused buffers, its chunks hashed into the files' SHA-256 while it is
validated; the digest right however the terms interleave (a buffer is reused only once the pieces
given from it are hashed), an invalid xorb deleted and reported."""
from __future__ import annotations

import hashlib
import io
import random

import pytest

from package_api.plugin_api import InvalidInput
from package_api.storage.memory import MemoryStorage
from plugin.huggingface import xet_direct
from plugin.huggingface.xet.format import build_xorb, parse_xorb, shard_xorb_from
from plugin.huggingface.xet.xorb import COMPRESSION_NONE
from plugin.huggingface.xet_direct import Pending, ShardPass
from plugin.huggingface.xet_files import sha256_of_pieces
from tests.huggingface.test_xet_api import xorb


def stored(store: MemoryStorage, name: str, data: bytes) -> Pending:
    key = f"xet/xorbs/{name[:2]}/{name}.p1.0"
    store.put(key, io.BytesIO(data))
    return Pending(key, shard_xorb_from(parse_xorb(data)))


@pytest.mark.parametrize("buffers", [1, 2, 3])
def test_interleaved_terms_hash_right_with_few_buffers(monkeypatch: pytest.MonkeyPatch, buffers: int) -> None:
    monkeypatch.setattr(xet_direct, "BUFFERS", buffers)
    monkeypatch.setattr(xet_direct, "UNHASHED", 10**12)  # every reuse flushes
    rng = random.Random(3)
    store = MemoryStorage()
    xorbs: dict[str, list[bytes]] = {}
    pending: dict[str, Pending] = {}
    for seed in range(4):
        chunks = [rng.randbytes(rng.randint(1000, 9000)) for _ in range(8)]
        name, _ = xorb(chunks)
        xorbs[name] = chunks
        pending[name] = stored(store, name, build_xorb(chunks, COMPRESSION_NONE if seed % 2 else 1))
    names = list(xorbs)
    # Terms hopping between the xorbs, each a few chunks, some xorbs used again later.
    terms = [(names[i % 4], (i * 3) % 6, (i * 3) % 6 + 2) for i in range(10)]
    for name, _, _ in terms:
        pending[name].uses += 1
    check = ShardPass(store, pending)
    digest = sha256_of_pieces(piece for t in terms for piece in check.pieces(*t))
    expected = hashlib.sha256(b"".join(c for name, start, end in terms for c in xorbs[name][start:end])).hexdigest()
    assert digest == expected
    done = check.finish()
    assert sorted(done) == sorted(names)


def test_an_invalid_direct_xorb_is_deleted_and_named() -> None:
    store = MemoryStorage()
    chunks = [random.Random(5).randbytes(4000) for _ in range(3)]
    name, data = xorb(chunks)
    item = stored(store, name, data)
    tampered = bytearray(data)
    tampered[100] ^= 1
    store.put(item.key, io.BytesIO(bytes(tampered)))
    check = ShardPass(store, {name: item})
    with pytest.raises(InvalidInput, match=name):
        check.finish()
    assert list(store.keys("xet/")) == []
