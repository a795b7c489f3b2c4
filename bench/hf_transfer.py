"""Hugging Face transfer benchmark: ``upload_folder`` and ``snapshot_download`` through Modelshelf
against ``curl`` to presigned URLs of the same S3 server.

Run by hand, not part of the test suite::

    python bench/hf_transfer.py                      # 1 GiB, 3 rounds
    python bench/hf_transfer.py --size 256M --rounds 5

One run starts a SeaweedFS (``weed mini``) and a ``modelshelf serve`` with ``STORAGE=s3`` pointed at
it, both on 127.0.0.1 on free ports, and makes a user, project, token and model with the CLI and the
client. The folder holds one file of random bytes of ``--size`` (a model's weights) and a small
``config.json``. Each round, alternating the order of the two sides, times:

- hf upload:     ``HfApi.upload_folder`` with ``HF_HUB_DISABLE_XET=1`` (Git LFS: the weights go
  through the batch API's multipart transfer in ``HF_LFS_PART_SIZE`` parts), to a new version each
  round (the weights change every round, so every byte travels)
- curl upload:   ``curl --upload-file`` of the same file to a presigned PUT URL of the same bucket
- hf download:   ``snapshot_download`` of that version into an empty cache (downloads redirect to
  presigned URLs: ``S3_REDIRECT_DOWNLOADS``, which also sends the LFS parts straight to the store)
- curl download: ``curl -o`` of a presigned GET URL of the object curl uploaded, to a file in the
  same temp dir (``snapshot_download`` writes its cache there too)
- client download: ``huggingface_hub.file_download.http_get`` (the client's own code for a file's
  bytes, which ``hf_hub_download`` runs after its metadata HEAD) of that presigned URL, to a file
  there: the client without Modelshelf, so that the ratio of the two ``hf`` figures is ours

and prints each time, the medians and the ratio (Modelshelf's throughput over curl's). Everything
started here is stopped by its own pid at the end and the temp dir is removed.
"""
from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_DISABLE_XET"] = "1"  # before huggingface_hub is imported: Git LFS, not Xet
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from minio import Minio  # noqa: E402

from bench.sizes import MIB, parse_size  # noqa: E402
from tests.support.live_server import create_account  # noqa: E402
from tests.support.servers import start_seaweedfs, start_server, stop  # noqa: E402

BUCKET = "hf-bench"


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * MIB))
            out.write(chunk)
            left -= len(chunk)


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def curl(*args: str, output: str = "/dev/null") -> None:
    subprocess.run(["curl", "-sSf", "-o", output, *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="size of the weights file (1G, 256M, ...)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--part-size", default="64M", help="HF_LFS_PART_SIZE of the server")
    args = parser.parse_args()
    size, part = parse_size(args.size), parse_size(args.part_size)

    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.file_download import http_get

    work = Path(tempfile.mkdtemp(prefix="hf-bench-"))
    processes = []
    try:
        weed = start_seaweedfs(work / "weed")
        processes.append(weed.process)
        # Downloads answered with a redirect to a presigned URL, as a deployment on S3 would.
        settings = {
            **weed.settings(BUCKET), "HF_LFS_PART_SIZE": part, "MAX_FILE_SIZE": 4 * size, "S3_REDIRECT_DOWNLOADS": True,
        }
        (work / "data").mkdir()
        server = start_server(work / "data", settings, workers=1, threads=8)
        processes.append(server.process)
        account = create_account(server)
        project, _ = account.create_project()
        repo = f"{project}/bench"
        endpoint = f"{server.url}/hf"
        hub = HfApi(endpoint=endpoint, token=account.token)
        hub.create_repo(repo)
        s3 = Minio(weed.endpoint, access_key=weed.access_key, secret_key=weed.secret_key, secure=False)
        expiry = datetime.timedelta(hours=1)

        folder = work / "model"
        folder.mkdir()
        (folder / "config.json").write_text('{"model_type": "bench"}\n')
        weights = folder / "model.safetensors"
        kinds = ("hf upload", "curl upload", "hf download", "curl download", "client download")
        times: dict[str, list[float]] = {k: [] for k in kinds}
        print(f"size {size / MIB:.0f} MiB, LFS parts of {part / MIB:.0f} MiB, {args.rounds} rounds", flush=True)
        for round_ in range(args.rounds):
            write_random(weights, size)  # new bytes: nothing is deduplicated away
            version = f"1.0.{round_}"
            key = f"direct/{round_}.bin"

            def hf_up(message: str = f"round {round_}") -> None:
                hub.upload_folder(repo_id=repo, folder_path=folder, commit_message=message)

            def curl_up(key: str = key) -> None:
                curl("--upload-file", str(weights), s3.presigned_put_object(BUCKET, key, expires=expiry))

            def hf_down(version: str = version, cache: Path = work / f"cache-{round_}") -> None:
                snapshot_download(repo, revision=version, endpoint=endpoint, token=account.token, cache_dir=cache)
                shutil.rmtree(cache)

            def curl_down(key: str = key, target: Path = work / "curl-download.bin") -> None:
                # To a file on the same disk, as snapshot_download writes its cache.
                curl(s3.presigned_get_object(BUCKET, key, expires=expiry), output=str(target))
                target.unlink()

            def client_down(key: str = key, target: Path = work / "client-download.bin") -> None:
                # The client's own download code (what hf_hub_download runs for the bytes, after the
                # metadata HEAD) straight from the presigned URL: no Modelshelf on the way.
                with open(target, "wb") as out:
                    http_get(s3.presigned_get_object(BUCKET, key, expires=expiry), out, expected_size=size)
                target.unlink()

            downloads = (("hf download", hf_down), ("curl download", curl_down), ("client download", client_down))
            pairs = [(("hf upload", hf_up), ("curl upload", curl_up)), downloads]
            for pair in pairs:
                for name, action in pair if round_ % 2 == 0 else reversed(pair):
                    seconds = timed(action)
                    times[name].append(seconds)
                    print(f"round {round_ + 1} {name:13} {seconds:7.2f} s  {size / MIB / seconds:7.1f} MiB/s", flush=True)
        print()
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, seconds in medians.items():
            print(f"median {name:13} {seconds:7.2f} s  {size / MIB / seconds:7.1f} MiB/s")
        print(f"upload:   Modelshelf at {medians['curl upload'] / medians['hf upload']:.2f}x curl's throughput")
        print(f"download: Modelshelf at {medians['curl download'] / medians['hf download']:.2f}x curl's throughput")
        print(
            f"download: the client's own http_get from a presigned URL at {medians['curl download'] / medians['client download']:.2f}x"
            f" curl's; snapshot_download through Modelshelf at {medians['client download'] / medians['hf download']:.2f}x that"
        )
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
