"""``Archive.size``, the ``Content-Length`` of a version archive known before the zip is made, is the
length ``zipfile`` then writes: for any names and sizes (hypothesis), Zip64 cases included (made
reachable with small files by lowering zipfile's limits, which both read from the module), and for
a real entry past 4 GiB, written as a sparse file and read back by ``zipfile``."""
from __future__ import annotations

import datetime
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from package_api.packages.archives import Archive, Entry

WHEN = datetime.datetime(2026, 12, 1, 10, 0, 0)


class ZeroStore:
    """A blob store whose every blob is zeros of the size its key says (``zeros/<size>``)."""

    CHUNK = 8 * 1024 * 1024

    def open(self, key: str) -> Iterator[bytes]:
        size = int(key.rsplit("/", 1)[1])
        return _Zeros(size, self.CHUNK)


class _Zeros:
    def __init__(self, size: int, chunk: int) -> None:
        self._size, self._chunk = size, chunk

    def __iter__(self) -> Iterator[bytes]:
        block = bytes(self._chunk)
        left = self._size
        while left:
            step = min(left, self._chunk)
            yield block if step == self._chunk else bytes(step)
            left -= step

    def close(self) -> None:
        return None


def archive_of(files: list[tuple[str, int]], name: str = "fraud-detector", version: str = "1.4.0") -> Archive:
    entries = [Entry(path, size, "0" * 64, f"zeros/{size}", WHEN) for path, size in files]
    package: Any = SimpleNamespace(name=name, version=version)
    return Archive(ZeroStore(), package, entries)  # type: ignore[arg-type]


paths = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.dictionaries(paths, st.integers(0, 3000), max_size=8), limits=st.sampled_from(["real", "tiny", "count"]))
def test_the_announced_size_is_the_size_of_the_zip(monkeypatch, files, limits):
    with monkeypatch.context() as patched:
        if limits == "tiny":  # every Zip64 rule fires on files of a few KiB: headers, offsets, directory
            patched.setattr(zipfile, "ZIP64_LIMIT", 1500)
        elif limits == "count":  # more entries than the end record can count
            patched.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 3)
        archive = archive_of(sorted(files.items()))
        data = b"".join(archive)
        assert archive.size == len(data)
        with zipfile.ZipFile(__import__("io").BytesIO(data)) as unpacked:
            assert [info.file_size for info in unpacked.infolist()[1:]] == [size for _, size in sorted(files.items())]


@pytest.mark.slow
def test_an_entry_past_4_gib_is_zip64_and_the_announced_size_holds(tmp_path: Path):
    big = 4 * 1024**3 + 17
    archive = archive_of([("weights/model.safetensors", big), ("config.json", 12)])
    path = tmp_path / "archive.zip"
    written = 0
    with path.open("wb") as out:
        for chunk in archive:  # zeros become holes: the file on disk is sparse
            if len(chunk) >= ZeroStore.CHUNK // 2 and not chunk.strip(b"\0"):
                out.seek(len(chunk), 1)
            else:
                out.write(chunk)
            written += len(chunk)
        out.truncate(written)
    assert archive.size == written == path.stat().st_size
    with zipfile.ZipFile(path) as unpacked:
        info = unpacked.getinfo("fraud-detector-1.4.0/weights/model.safetensors")
        assert info.file_size == big
        assert unpacked.getinfo("fraud-detector-1.4.0/config.json").header_offset > 2**32  # a Zip64 offset
        assert unpacked.read("fraud-detector-1.4.0/config.json") == bytes(12)
