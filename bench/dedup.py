"""Deduplication benchmark: what re-publishing unchanged files costs, in time and in bytes.

Run by hand, not part of the test suite::

    python bench/dedup.py                      # filesystem store
    python bench/dedup.py --backend s3         # SeaweedFS

It starts a ``modelshelf serve`` (and a SeaweedFS for ``--backend s3``) on 127.0.0.1 with a user,
project and token made by the CLI, then:

1. **Ten versions sharing most files**: a model of ``--shards`` weight shards of ``--shard-size``
   bytes plus small config and tokenizer files; each new version changes one shard and the config.
   Every version is published twice as a client would: a naive client that uploads every file, and
   a digest-aware one (``PUT ?sha256=`` first, the bytes only on 404). It prints the bytes the
   versions hold, the bytes the store holds, and the bytes each client sent.
2. **Upload by digest vs full upload**: one file of ``--size`` bytes is uploaded with
   ``curl --upload-file``; then published again into another version with
   ``curl -X PUT ...?sha256=<hex>`` (no body). Both are timed, and so is ``sha256sum`` of the file,
   which a client that does not know the digest yet has to run first.

Everything started here is stopped by its own pid at the end, and the temp dir is removed.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sizes import MIB, parse_size  # noqa: E402
from tests.support.servers import Server, start_seaweedfs, start_server, stop  # noqa: E402


def write_random(path: Path, size: int, seed: int) -> str:
    """``size`` pseudo-random bytes (``seed`` decides them); return their SHA-256."""
    digest, block = hashlib.sha256(), hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    with open(path, "wb") as out:
        left, counter = size, 0
        while left:
            # Fast and distinct per seed and per MiB: a hashed counter keeps blocks from repeating.
            chunk = (hashlib.sha256(f"{seed}:{counter}".encode()).digest() + block)[: min(MIB, left)]
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
            counter += 1
    return digest.hexdigest()


def curl(*args: str) -> tuple[int, str]:
    """Run curl; return (HTTP status, what ``-w`` wrote after it)."""
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}",
         *args],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"curl failed ({result.returncode}): {result.stderr.strip()}")
    status, uploaded = result.stdout.split()
    return int(status), uploaded


@dataclass
class Client:
    server: Server
    token: str
    project: str
    sent: int = 0

    def url(self, name: str, version: str, path: str) -> str:
        return f"{self.server.api}/projects/{self.project}/packages/generic/{name}/{version}/{path}"

    def upload(self, path: Path, name: str, version: str, target: str) -> None:
        status, uploaded = curl("--header", f"PRIVATE-TOKEN: {self.token}", "--upload-file", str(path),
                                self.url(name, version, target))
        if status != 201:
            raise RuntimeError(f"upload of {target} answered {status}")
        self.sent += int(float(uploaded))

    def by_digest(self, sha256: str, name: str, version: str, target: str) -> bool:
        status, _ = curl("--request", "PUT", "--header", f"PRIVATE-TOKEN: {self.token}",
                         self.url(name, version, target) + f"?sha256={sha256}")
        if status not in (201, 404):
            raise RuntimeError(f"upload by digest of {target} answered {status}")
        return status == 201


def stored_bytes(server: Server) -> tuple[int, int]:
    """(bytes of every live file, bytes of every blob), from ``modelshelf`` itself."""
    code = (
        "from package_api import create_app; from package_api.db import db; "
        "from package_api.packages.models import Blob, PackageFile; from sqlalchemy import func, select; "
        "app = create_app({'PLUGINS': 'none'}); ctx = app.app_context(); ctx.push(); "
        "files = db.session.scalar(select(func.sum(Blob.size)).join(PackageFile, PackageFile.blob_id == Blob.id)); "
        "blobs = db.session.scalar(select(func.sum(Blob.size))); print(files or 0, blobs or 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=server.env, capture_output=True, text=True, check=True)
    files, blobs = out.stdout.split()
    return int(files), int(blobs)


def gib(size: int) -> str:
    return f"{size / 1024**3:.2f} GiB" if size >= 1024**3 else f"{size / MIB:.1f} MiB"


def bench_digest(client: Client, workdir: Path, size: int, rounds: int) -> None:
    path = workdir / "weights.bin"
    sha256 = write_random(path, size, seed=1)
    full, digest, hashing = [], [], []
    for round_ in range(rounds):
        started = time.perf_counter()
        client.upload(path, "single", f"1.0.{2 * round_}", "weights.bin")
        full.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(["sha256sum", str(path)], capture_output=True, check=True)
        hashing.append(time.perf_counter() - started)
        started = time.perf_counter()
        if not client.by_digest(sha256, "single", f"1.0.{2 * round_ + 1}", "weights.bin"):
            raise RuntimeError("upload by digest was refused")
        digest.append(time.perf_counter() - started)
    path.unlink()
    print(f"\n== upload by digest vs full upload: {gib(size)}, best of {rounds}")
    print(f"  full upload (curl --upload-file)        {min(full):8.3f} s  {size / MIB / min(full):8.1f} MiB/s")
    print(f"  upload by digest (curl -X PUT ?sha256=) {min(digest):8.3f} s  ({min(full) / min(digest):.0f}x faster)")
    print(f"  sha256sum of the file (client side)     {min(hashing):8.3f} s  (if the client must hash first)")


def bench_versions(client: Client, aware: Client, workdir: Path, shards: int, shard_size: int, versions: int) -> None:
    # Version v's shard i changed last in the newest version v' <= v with v' % shards == i (v' >= 1).
    files: dict[str, tuple[Path, str]] = {}

    def file_for(name: str, size: int, seed: int) -> tuple[Path, str]:
        key = f"{name}-{seed}"
        if key not in files:
            path = workdir / key
            files[key] = (path, write_random(path, size, seed))
        return files[key]

    logical = 0
    for v in range(versions):
        version = f"1.{v}.0"
        layout = {"config.json": file_for("config", 4096, 10_000 + v), "tokenizer.json": file_for("tokenizer", 2 * MIB, 7)}
        for shard in range(shards):
            changed = max((w for w in range(1, v + 1) if w % shards == shard), default=0)
            layout[f"model-{shard + 1:05d}-of-{shards:05d}.safetensors"] = file_for(f"shard{shard}", shard_size, 100 * shard + changed)
        for target, (path, sha256) in sorted(layout.items()):
            size = path.stat().st_size
            logical += size
            # The aware client first: it may save only what its own earlier versions stored.
            if not aware.by_digest(sha256, "aware", version, target):
                aware.upload(path, "aware", version, target)
            client.upload(path, "naive", version, target)
    files_bytes, blob_bytes = stored_bytes(client.server)
    print(f"\n== {versions} versions of a model: {shards} shards of {gib(shard_size)} + config + tokenizer; each version "
          "changes one shard and the config")
    print(f"  bytes in the versions (each client)          {gib(logical):>12}")
    print(f"  bytes the store holds (both clients' models) {gib(blob_bytes):>12}   (files of both: {gib(files_bytes)})")
    print(f"  not stored again (deduplicated)              {gib(files_bytes - blob_bytes):>12}   "
          f"({100 * (1 - blob_bytes / files_bytes):.1f}% of the files' bytes)")
    print(f"  sent by the naive client (every file)        {gib(client.sent):>12}")
    print(f"  sent by the digest-aware client              {gib(aware.sent):>12}   "
          f"({100 * (1 - aware.sent / client.sent):.1f}% less)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["filesystem", "s3"], default="filesystem")
    parser.add_argument("--size", default="1G", help="file size for the digest-vs-full upload (e.g. 1G)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--shard-size", default="64M")
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="modelshelf-dedup-", dir=args.tmpdir))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    s3 = server = None
    try:
        settings: dict[str, object] = {"STORAGE": "filesystem", "MAX_FILE_SIZE": 20 * 1024**3}
        if args.backend == "s3":
            s3 = start_seaweedfs(workdir / "s3")
            settings = {**s3.settings("modelshelf-dedup"), "MAX_FILE_SIZE": 20 * 1024**3}
        data_dir = workdir / "server" / "data"
        data_dir.mkdir(parents=True)
        server = start_server(data_dir, settings)
        server.cli("admin", "create-user", "bench", "--admin")
        project = server.cli("admin", "create-project", "bench/dedup", "--owner", "bench")
        token = server.cli("admin", "create-token", "--user", "bench", "--scopes", "api")
        print(f"modelshelf {server.url} ({args.backend} store), workdir {workdir}", flush=True)

        # The versions first: the store then holds only their bytes when they are counted.
        bench_versions(Client(server, token, project), Client(server, token, project), workdir,
                       args.shards, parse_size(args.shard_size), args.versions)
        bench_digest(Client(server, token, project), workdir, parse_size(args.size), args.rounds)
        return 0
    finally:
        if server is not None:
            stop(server.process)
        if s3 is not None:
            stop(s3.process)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
