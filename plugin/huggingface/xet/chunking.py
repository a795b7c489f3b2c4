"""Xet's content-defined chunker (specification 1.1.0, "Content-Defined Chunking"): a Gear rolling
hash over a 64-byte window cuts a stream where the hash's top 16 bits are zero (a 64 KiB mean), no
closer than 8 KiB to the previous cut (the hash restarts there) and no farther than 128 KiB.

The client cuts files itself; the server needs the chunker to make a file that arrived another way
(curl, MLflow, LFS) readable through Xet. Cutting byte by byte in Python would run at a few MB/s, so
the window hash is computed for a whole block at once with numpy: the hash at byte i is
``sum(GEAR[b[i - k]] << k for k < 64)`` (older bytes are shifted out of the 64 bits), which six
doubling steps give for every i; only the few positions where it matches are then walked in Python.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import numpy as np

TARGET_CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE = TARGET_CHUNK_SIZE // 8
MAX_CHUNK_SIZE = TARGET_CHUNK_SIZE * 2
_WINDOW = 64
#: A cut after byte i needs the hash's top 16 bits (log2 of the target) zero.
_MASK = np.uint64(0xFFFF000000000000)
#: Blocks of 64 KiB keep numpy's eight-fold (u64) working arrays in the CPU caches: 2-3x faster than 1 MiB.
_BLOCK = 64 * 1024
#: How much of a stream is read at a time.
_READ = 8 * 1024 * 1024

#: The Gear table of the ``gearhash`` crate the client uses (its DEFAULT_TABLE), 16 hex digits each.
_GEAR_HEX = (
    "b088d3a9e840f5595652c7f739ed20d645b28969898972ab6b0a89d5b68ec777368f573e8b7a31b71dc636dce936d94b207a4c4e5554d5b6"
    "a474b34628239acb3b06a83e1ca3b91290e78d6c2f02baf7e1c92df7150d9a8a8e95053a1086d3ad5a2ef4f1b83a0722a50fac949f807fae"
    "0e7303eb80d8d68199b07edc1570ad0f689d2fb555fd307600005082119ea468c4b08306a88fcc283eb0678af6374afdf19f87ab86ad7436"
    "f2129fbfbe6bc736481149575c98a4ed0000010695477bc51fba37801a9ceacc3bf06fd663a49b6d99687e9782e3874b79a10673aa50d8e3"
    "e4accf9e6211f4202520e71f875790712bd5d3fd781a8a9b00de4dcddd11c873eaa9311c5a87392fdb748eb617bc40ffaf579a8df620bf6f"
    "86a6e5da1b09c2b1cc2fc30ac322a12e355e2afec1f742672d99c8f4c021a47bbade4b4a9404cfc3f7b518721d707d693286b6587bf32c20"
    "0000b68886af270ca115d6e4db8a9079484f7e9c97b2e199ccca7bb75713e301bf2584a62bb0f160ade7e813625dbcc8000070940d87955a"
    "8ae69108139e626fbd776ad72fde38a2fb6b001fc2fcc0cfc7a474b8e67bc427baf6f11610eb5d5809cb1f5b6de770d1b0b219e6977d4c47"
    "00ccbc386ea7ad4acc849d0adf973f0173a3ef7d016af770c807d2d386bdbdfe7f2ac9966c791730d037a86bc6c504daf3f17c661eaa609d"
    "aca626b04daae687755a99374f4a5b0790837ee65b2caede6ee8ad93fd5607850000d9e11053edd89e063bb2d21cdbd707ab77f12a01d2b2"
    "ec550255e6641b4478fb94a8449c14c6c7510e1bc6c0f5f50000320b36e4cae3827c33262c8b1a2d14675f0b48ea4144267bd3a6498deceb"
    "f1916ff982f5035e86221b7ff434fb889dbecee7386f49d8ea58f8cac80f8f4a008d198692fc64d86d38704fbabf9a36e032cb07d1e7be4c"
    "228d21f6ad450890635cb1bfc02589a54620a1739ca2ce71a7e7dfe3aae5fb580c10ca932b3c0deb2727fee884afed7ba2df1c6df9e2ab1f"
    "4dcdd1ac0774f523000070ffad33e24ea2ace87bc59778169892275ab4286049c2861181ddf18959bb9972a042483e19ef70cd3766513078"
    "00000513abfc9864c058b61858c9408309e850859725e0de9197fb3bf83e7d947e1e626d12b64bce520c54507f7b57d1bee1797174e22416"
    "6fd9ac3222e955870023957c9adfbf3ea01c7d7e234bbe15aba2c758b8a38cbb0d1fa0ceec3e2b300bb6a58b7e60b9914333dd5b9fa26635"
    "c2fd3b7d4001c1a3fb4180245473112765a56185a50d18cbf67a02bd8784b54f696f11dd67e6506300002022fca814ab8cd6be912db9d852"
    "695189b6e9ae8a57ee9453b50ada0c28d8fc5ea91a78845eab86bf191a4aa7670000c6b5c86415e5267310178e08a22eed2d101b078bca25"
    "3b41ed84b226a8fb13e622120f28dc06a315f5ebfb706d268816c34e3301bacee9395b9cbb71fdae002ce9202e7216484283db1d2bb3c91c"
    "d77d461ad2b1a6a5e2ec17e46eeb866bb8e0be4039fbc47cdea160c4d5299d047eec86c8d28c36342119ad129f98a399a6ccf46b61a283ef"
    "2c52cedef658c6172db4871169acdd830000f0d6f39ecbe93dd5d8c98d2f94898a1872a22b01f584f282a4c40e7b3cf28020ec2ccb1ba196"
    "6693b6e09e59e3130000ce19cc7c83eb20cb5735f6479c3b762ebf3759d75a5b207bfe823d693975d77dc112339cd9d59ba7834284627d03"
    "217dc513e95f51e9b27b1a29fc5e781600d5cd9831bb662d71e39b806d75734c7e572af006fb1a23a2734f2f6ae91f85bf82c6b5022cddf2"
    "5c3beac60761a0decdc893bb474169986d1085615c187e0177f8ae30ac277c5d917c6b81122a2c915b75b699add169670000cf6ae79a069b"
    "f3c40afa60de11042063127aa59167c3621de62269d1894dd188ac1de62b4726107036e2154b673c0000b85f28553a1df2ef4e4c18236f3d"
    "d9d6de6611b9f602a1fc7955fb47911ceb85fd032f298dbdbe27502fb3befae1e3034251c4cd661e441364d3540718360082b36c75f2983e"
    "b145910316fa66f0021c069c9847caf72910dfc75a4b5221735b353e1c57a8b5ce44312ce98ed96cbc942e4506bdfa65f05086a71257941b"
    "fec3b215d351cead00ae1055e0144202f54b40846f42e45400007fd9c8bcbcc8bfbd9ef317de9bfea804302ff2854e1239ce4957a5e5d8d4"
    "ffb9e2a45637ba8455b9ad1d9ea0818b00008acbf319178a48e2bfc8d0fbfb388be39841e848b5e80e2712160696a08bd51096e84b44242a"
    "1101ba176792e13ac22e770f4531689d1689eff272bbc56c00a92a197f5650ecbc765990bda1784ec61441e392fcb8ae07e13a2ced31e4a0"
    "92cbe984234e9d4d8f4ff572bb7d8ac50b9670c00b963bd062955a581a03eb01645f83e5ea00025441fce516cd88f299bbda9748da7a98cf"
    "0000aab2fe4845fa19761b069bf565558b8f5e8343b6ad563e5d1cfd144821d9ec5c1e2ca2b0cd8ffaf7e0fea7fbb57f000000d3ba12961b"
    "da3f90178401b18e70ff906de33a5feb0527d5a7c06970e722d8e773607c13e9c9ab70df643c3baceda4c6dc8abe12e3ecef1f410033e78a"
    "0024c2b274ac72cb06740d954fa900b41d7a299b323d6304b3c37cb298cbead5c986e3c76178739b9fabea364b46f58a6da214c5af85cc56"
    "17a43ed8b7a38f846eccec511d9adbebf9cab30913335afb4a5e60c5f415eed200006967503672b49da51d121454bb8784321e13b9bbc816"
    "fb3d6fb6ab2fdd8d60305eed8e160a8dcbbf4b14e9946ce800004f63381b10c307d5b7816fcc4e10e5a536726a6a815557afb23447a07fdd"
    "18f346f7abc9d394636dc655d61ad33dcc8bab4939f7f3f663c7a906c1dd187b"
)
_GEAR = np.array([int(_GEAR_HEX[i:i + 16], 16) for i in range(0, len(_GEAR_HEX), 16)], dtype=np.uint64)
assert len(_GEAR) == 256


def _matches(window: bytes, skip: int, first: int) -> list[int]:
    """Return the stream positions of the bytes of ``window[skip:]`` whose window hash matches;
    ``window`` begins with the ``skip`` (up to 63) bytes before them, and ``first`` is the stream
    position of ``window[skip]``."""
    h = _GEAR[np.frombuffer(window, dtype=np.uint8)]
    for shift in (1, 2, 4, 8, 16, 32):
        h[shift:] += h[:-shift] << np.uint64(shift)
    found: list[int] = (np.flatnonzero((h[skip:] & _MASK) == 0) + first).tolist()
    return found


class Chunker:
    """Feed a stream's bytes in pieces of any size; collect the chunk ends (absolute offsets)."""

    def __init__(self) -> None:
        self._tail = b""  # the last 63 bytes fed, for the next block's windows
        self._seen = 0  # bytes fed so far
        self._start = 0  # where the current chunk starts
        self._candidates: list[int] = []  # matching positions at or after the current chunk's start

    def feed(self, data: bytes) -> list[int]:
        """Take the next bytes of the stream; return the chunk ends now known."""
        ends: list[int] = []
        view = memoryview(data)
        for pos in range(0, len(data), _BLOCK):
            block = bytes(view[pos:pos + _BLOCK])
            window = self._tail + block
            self._candidates += _matches(window, len(self._tail), self._seen)
            self._seen += len(block)
            self._tail = window[-(_WINDOW - 1):]
            ends += self._cut()
        return ends

    def finish(self) -> list[int]:
        """End the stream; return the last chunk end(s)."""
        ends = self._cut()
        if self._start < self._seen:
            ends.append(self._seen)
            self._start = self._seen
        return ends

    def _cut(self) -> list[int]:
        ends: list[int] = []
        candidates = self._candidates
        while True:
            # The hash restarts at a cut and only counts from MIN_CHUNK_SIZE bytes on.
            i = bisect.bisect_left(candidates, self._start + MIN_CHUNK_SIZE - 1)
            if i < len(candidates) and candidates[i] + 1 - self._start <= MAX_CHUNK_SIZE:
                end = candidates[i] + 1
            elif self._seen - self._start >= MAX_CHUNK_SIZE:
                end = self._start + MAX_CHUNK_SIZE
            else:
                del candidates[:i]
                return ends
            ends.append(end)
            self._start = end


def _pieces(stream: BinaryIO | bytes | Iterable[bytes]) -> Iterator[bytes]:
    if isinstance(stream, (bytes, bytearray, memoryview)):
        yield bytes(stream)
    elif isinstance(stream, Iterable) and not hasattr(stream, "read"):
        yield from stream
    else:
        while piece := stream.read(_READ):
            yield piece


def chunk_boundaries(stream: BinaryIO | bytes | Iterable[bytes]) -> Iterator[int]:
    """Yield the end offsets of the chunks the Xet client would cut the stream into (a file opened
    in binary mode, bytes, or an iterable of byte pieces); nothing for an empty stream."""
    chunker = Chunker()
    for piece in _pieces(stream):
        yield from chunker.feed(piece)
    yield from chunker.finish()


def iter_file_chunks(stream: BinaryIO | bytes | Iterable[bytes]) -> Iterator[bytes]:
    """Yield the chunks' bytes, as the client would cut them."""
    chunker = Chunker()
    buffered = bytearray()
    offset = 0  # the stream offset of buffered[0]
    pieces = _pieces(stream)
    while True:
        piece = next(pieces, None)
        if piece is None:
            ends = chunker.finish()
        else:
            buffered += piece
            ends = chunker.feed(piece)
        for end in ends:
            yield bytes(buffered[:end - offset])
            del buffered[:end - offset]
            offset = end
        if piece is None:
            return
