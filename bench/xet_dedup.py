"""Xet deduplication benchmark: versions of one large file, each changing a few percent of its bytes
in different places, published with the default ``huggingface_hub`` (``hf_xet``) to Modelshelf on S3
(SeaweedFS); then a fresh file up and down through Xet against ``curl`` to presigned URLs of the same
bucket.

Run by hand, not part of the test suite::

    python bench/xet_dedup.py                        # ten versions of 1 GiB (the issue's figure)
    python bench/xet_dedup.py --size 128M --versions 4

One run starts a SeaweedFS (``weed mini``) and a ``modelshelf serve`` with ``STORAGE=s3`` and
``S3_REDIRECT_DOWNLOADS`` (reconstructions point at presigned URLs), both on 127.0.0.1. The file is
safetensors-like: a JSON header, then random bytes (weights barely compress). Version ``n + 1`` changes
2-5% of version ``n`` (one to three blocks, at random places). For each version it prints the bytes
the server received (``modelshelf_uploaded_bytes_total``: xorbs and shards) as a fraction of the file,
against the changed fraction plus 3% (the issue's bound); then the bytes stored for all versions (the
xorbs) against the size of one (bound: 1.3x). Then, for a fresh file of the same size, the upload
(``upload_folder``) and download (``snapshot_download`` into an empty cache, and an empty Xet cache)
throughput through Xet over curl's to presigned URLs (bound: 0.8x). Everything started here is
stopped by its own pid and the temp dir removed.
"""
from __future__ import annotations

import argparse
import datetime
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from bench.sizes import MIB, parse_size  # noqa: E402
from tests.support.live_server import create_account  # noqa: E402
from tests.support.servers import start_seaweedfs, start_server, stop  # noqa: E402

BUCKET = "xet-bench"


def safetensors_like(size: int, rng: random.Random) -> bytearray:
    header = b'{"weight":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}}' % (size // 4, size)
    data = bytearray(len(header).to_bytes(8, "little") + header)
    while len(data) < size:  # in blocks: randbytes of 256 MiB or more overflows (n * 8 bits in a C int)
        data += rng.randbytes(min(64 * MIB, size - len(data)))
    return data


def fine_tune(data: bytearray, rng: random.Random) -> float:
    """Change 2-5% of ``data`` in one to three blocks at random places; the fraction changed."""
    fraction = rng.uniform(0.02, 0.05)
    blocks = rng.randint(1, 3)
    each = int(len(data) * fraction / blocks)
    for _ in range(blocks):
        at = rng.randrange(1024, len(data) - each)
        data[at:at + each] = rng.randbytes(each)
    return each * blocks / len(data)


def uploaded(url: str) -> float:
    with urllib.request.urlopen(f"{url}/-/metrics") as response:
        match = re.search(r"^modelshelf_uploaded_bytes_total ([0-9.e+]+)$", response.read().decode(), re.MULTILINE)
    assert match
    return float(match.group(1))


def stored(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "modelshelf.db") as connection:
        return int(connection.execute("SELECT coalesce(sum(size), 0) FROM ml_xet_xorbs").fetchone()[0])


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


UPLOAD = """
import sys, time
from huggingface_hub import HfApi
hub = HfApi(endpoint=sys.argv[1], token=sys.argv[2])
start = time.perf_counter()
hub.upload_folder(repo_id=sys.argv[3], folder_path=sys.argv[4], revision=sys.argv[5])
print(time.perf_counter() - start)
"""


def xet_upload(endpoint: str, token: str, repo: str, folder: Path, revision: str, legacy: bool, server: int,
               profile: Path | None) -> float:
    """Seconds of ``upload_folder`` in a process of its own (``hf_xet`` reads its configuration once),
    with every xorb through the server when ``legacy``; ``profile``: py-spy the server meanwhile."""
    env = {k: v for k, v in os.environ.items() if k != "HF_XET_CLIENT_LEGACY_DIRECT_XORB_UPLOAD"}
    if legacy:
        env["HF_XET_CLIENT_LEGACY_DIRECT_XORB_UPLOAD"] = "1"
    spy = None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(server), "--subprocesses", "--rate", "50",
                                "--format", "raw", "--output", str(profile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
    try:
        out = subprocess.run([sys.executable, "-c", UPLOAD, endpoint, token, repo, str(folder), revision],
                             env=env, check=True, capture_output=True, text=True).stdout
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="size of the file (1G, 256M, ...)")
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="fresh-file runs of each kind, alternated (medians)")
    parser.add_argument("--legacy", action="store_true",
                        help="also time fresh uploads with HF_XET_CLIENT_LEGACY_DIRECT_XORB_UPLOAD=1 (every xorb through the server)")
    parser.add_argument("--profile", type=Path, help="py-spy the server's workers during the first round's Xet uploads (raw stacks here)")
    parser.add_argument("--only-fresh", action="store_true", help="skip the versions, time fresh files only")
    args = parser.parse_args()
    size, rng = parse_size(args.size), random.Random(args.seed)

    from huggingface_hub import HfApi, snapshot_download
    from minio import Minio

    work = Path(tempfile.mkdtemp(prefix="xet-bench-"))
    os.environ["HF_HOME"] = str(work / "hf-home")
    os.environ["HF_XET_CACHE"] = str(work / "xet-cache")
    processes = []
    try:
        weed = start_seaweedfs(work / "weed")
        processes.append(weed.process)
        settings = {**weed.settings(BUCKET), "MAX_FILE_SIZE": 4 * size, "S3_REDIRECT_DOWNLOADS": True}
        (work / "data").mkdir()
        server = start_server(work / "data", settings, workers=2, threads=8)
        processes.append(server.process)
        account = create_account(server)
        project, _ = account.create_project()
        endpoint = f"{server.url}/hf"
        hub = HfApi(endpoint=endpoint, token=account.token)
        repo = f"{project}/dedup"
        hub.create_repo(repo)
        folder = work / "model"
        folder.mkdir()
        weights = folder / "model.safetensors"
        data = safetensors_like(size, rng)
        print(f"{args.versions} versions of {size / MIB:.0f} MiB, each changing 2-5%", flush=True)
        worst, new_bytes = 0.0, 1.0  # new_bytes: the file, then each version's changed fraction
        for n in range(0 if args.only_fresh else args.versions):
            changed = fine_tune(data, rng) if n else 1.0
            weights.write_bytes(data)
            before = uploaded(server.url)
            seconds = timed(lambda n=n: hub.upload_folder(repo_id=repo, folder_path=folder, commit_message=f"v{n}"))
            sent = (uploaded(server.url) - before) / size
            if n:
                worst = max(worst, sent - changed)
                new_bytes += changed
            print(f"version {n + 1:2}: changed {changed:6.1%}, sent {sent:6.1%} of the file"
                  f" (bound {min(changed + 0.03, 1.0):6.1%}), {seconds:6.1f} s", flush=True)
        ratio = stored(work / "data") / size
        if not args.only_fresh:
            print(f"stored for {args.versions} versions: {ratio:.2f}x one version (bound 1.3x; the changes"
                  f" themselves add up to {new_bytes:.2f}x, the least any store of incompressible bytes can hold);"
                  f" worst excess sent over the change: {worst:+.1%} of the file (bound +3%)")

        # A fresh file through Xet, against curl to presigned URLs of the same bucket: --rounds rounds,
        # the runs alternated, a new file each time (nothing to deduplicate), medians.
        fresh = work / "fresh"
        fresh.mkdir()
        s3 = Minio(weed.endpoint, access_key=weed.access_key, secret_key=weed.secret_key, secure=False)
        expiry = datetime.timedelta(hours=1)
        runs: dict[str, list[float]] = {}
        for r in range(args.rounds):
            print(f"round {r + 1}: {os.getloadavg()[0]:.2f} load", flush=True)
            modes = [("xet upload", False)] + ([("xet upload (legacy)", True)] if args.legacy else [])
            for name, legacy in modes if r % 2 == 0 else modes[::-1]:
                (fresh / "model.safetensors").write_bytes(safetensors_like(size, random.Random(args.seed + 99 + 2 * r + legacy)))
                revision = f"{8 + legacy}.{r}.0"
                profile = args.profile / f"{'legacy' if legacy else 'grants'}-{r}.txt" if args.profile and r == 0 else None
                runs.setdefault(name, []).append(xet_upload(endpoint, account.token, repo, fresh, revision, legacy, server.process.pid, profile))
                if not legacy:
                    up = revision
            runs.setdefault("curl upload", []).append(timed(lambda r=r: subprocess.run(
                ["curl", "-sSf", "-o", "/dev/null", "--upload-file", str(fresh / "model.safetensors"),
                 s3.presigned_put_object(BUCKET, f"direct/fresh-{r}.bin", expires=expiry)], check=True)))
            shutil.rmtree(work / "xet-cache", ignore_errors=True)
            runs.setdefault("xet download", []).append(timed(lambda r=r, up=up: snapshot_download(
                repo, revision=up, endpoint=endpoint, token=account.token, cache_dir=work / f"c{r}")))
            shutil.rmtree(work / f"c{r}", ignore_errors=True)
            runs.setdefault("curl download", []).append(timed(lambda r=r: subprocess.run(
                ["curl", "-sSf", "-o", str(work / "curl.bin"),
                 s3.presigned_get_object(BUCKET, f"direct/fresh-{r}.bin", expires=expiry)], check=True)))
        medians = {name: statistics.median(seconds) for name, seconds in runs.items()}
        for name, seconds in runs.items():
            print(f"{name:20} median {medians[name]:7.2f} s  {size / MIB / medians[name]:7.1f} MiB/s"
                  f"  (runs: {', '.join(f'{s:.2f}' for s in seconds)} s)")
        print(f"upload:   Xet at {medians['curl upload'] / medians['xet upload']:.2f}x curl's throughput (bound 0.8x)")
        if args.legacy:
            print(f"          through the server (no grants): {medians['curl upload'] / medians['xet upload (legacy)']:.2f}x")
        print(f"download: Xet at {medians['curl download'] / medians['xet download']:.2f}x curl's throughput (bound 0.8x)")
        print(f"load after: {os.getloadavg()}")
        weed.remove_bucket(BUCKET)
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
