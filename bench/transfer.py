"""Transfer benchmark: Modelshelf against its store used directly (the same S3 server, or ``cp``).

Run by hand, not part of the test suite::

    python bench/transfer.py --sizes 256M,2G                        # S3 (SeaweedFS)
    python bench/transfer.py --sizes 256M,2G --backend filesystem   # the filesystem store vs cp

With ``--backend filesystem`` no SeaweedFS is started; the server stores blobs in its data directory
and the direct operations are ``cp`` of the file beside it followed by ``sync`` of the copy (the
store fsyncs every blob), and ``cat`` of that copy to /dev/null. It also times ``sha256sum`` of the file (one core hashing
from the page cache: the work the server cannot avoid) and prints the registry upload's rate against
it (issue 15's goal: at least half).

One run starts a SeaweedFS (``weed mini``) and a ``modelshelf serve`` with ``STORAGE=s3`` pointed at
it, both on 127.0.0.1 on free ports, creates a user, project and token with the CLI, then for each
size writes one file of random bytes to a temp dir and times:

- registry upload:   ``curl --upload-file`` into the generic packages API (streams from disk)
- registry download: ``curl -o /dev/null`` from the generic packages API, the bytes proxied by the
  server (``S3_REDIRECT_DOWNLOADS`` off, the default)
- registry download redirected: ``curl -L`` from a second ``modelshelf serve`` on the same data
  directory with ``S3_REDIRECT_DOWNLOADS`` on (a 302 to a presigned URL, which curl follows)
- direct upload/download with curl against presigned URLs of the same S3: the baseline the registry's
  ratios are taken against (issue 15: curl, not the minio client, which is slower and flatters them)
- relayed download: the same presigned download through a TCP relay (``tests.support.servers.Relay``,
  threads of this process that receive into a buffer and send it on; ``curl --connect-to``), which
  adds the proxied download's second hop over loopback and no other work: the floor of any server
  that passes S3's bytes on, on this machine (``--no-relay`` skips it)
- direct upload:     minio ``put_object`` from the open file, 16 MiB parts (``--no-minio`` skips it)
- direct download:   minio ``get_object`` streamed in 1 MiB chunks and discarded (likewise)

For each size it also reports the server's peak RSS (VmHWM of the gunicorn master and of each
worker, reset before the size with ``/proc/<pid>/clear_refs`` when allowed, plus the largest VmRSS
seen by a sampler thread), and CPU seconds spent per operation by the server, by SeaweedFS and by
the client, read from ``/proc/<pid>/stat``.

After the sizes it prints the worker's peak RSS of the largest size's uploads against the smallest's
(issue 15: within 10%). ``--server-env NAME=VALUE`` passes variables to ``modelshelf serve`` (e.g.
``MALLOC_ARENA_MAX=2`` to compare the RSS left after the uploads); ``--py-spy FILE`` records the
worker with py-spy during the first round's registry upload of the first size.

Everything started here is stopped by its own pid at the end (also on error or Ctrl-C) and the
temp dir is removed.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minio import Minio  # noqa: E402

from bench.sizes import MIB, parse_size  # noqa: E402
from tests.support.servers import Relay, SeaweedFS, Server, start_seaweedfs, start_server, stop  # noqa: E402

REGISTRY_UPLOAD = "registry upload (curl)"
REGISTRY_DOWNLOAD = "registry download (curl)"
REDIRECTED_DOWNLOAD = "registry download (curl -L, 302)"
PRESIGNED_UPLOAD = "direct upload (curl presigned)"
PRESIGNED_DOWNLOAD = "direct download (curl presigned)"
RELAYED_DOWNLOAD = "relayed download (curl)"
PY_SPY = shutil.which("py-spy") or str(Path.home() / ".local/bin/py-spy")
PART_SIZE = 16 * MIB
CHUNK = 8 * MIB
#: The operation that hashes the payload on one core (``sha256sum``), filesystem backend.
SHA256SUM = "sha256sum (1 core)"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def human(size: int) -> str:
    for unit, factor in (("G", 1024**3), ("M", MIB), ("K", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size / MIB:.1f}M" if size >= MIB else f"{size}B"


# ---------------------------------------------------------------- /proc helpers (no psutil here)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid:  # fields[1] is ppid
                found.append(int(entry))
    return sorted(found)


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(children(current))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def status_kib(pid: int, name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_hwm(pid: int) -> bool:
    """Reset VmHWM of ``pid`` (``echo 5 > /proc/pid/clear_refs``, Linux >= 4.0, own processes)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Samples VmRSS of the server master and its workers every ``interval`` seconds."""

    def __init__(self, master: int, interval: float = 0.05) -> None:
        self.master = master
        self.interval = interval
        self.peak_kib: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        workers: list[int] = []
        ticks = 0
        while not self._stop.is_set():
            if ticks % 20 == 0:  # workers can be replaced; rediscover about once a second
                workers = children(self.master)
            ticks += 1
            for pid in [self.master, *workers]:
                rss = status_kib(pid, "VmRSS")
                if rss is not None and rss > self.peak_kib.get(pid, 0):
                    self.peak_kib[pid] = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- the measured operations


@dataclass
class Result:
    size: int
    operation: str
    seconds: float
    server_cpu: float | None = None
    s3_cpu: float = 0.0
    client_cpu: float = 0.0
    direct: str | None = None  # operation this one is compared against
    worker_rss_before: int = 0  # KiB, largest worker VmRSS just before the operation
    worker_hwm: int = 0  # KiB, largest worker VmHWM over the operation (reset just before it)
    master_hwm: int = 0  # KiB, gunicorn master VmHWM over the operation

    @property
    def mib_s(self) -> float:
        return self.size / MIB / self.seconds


@dataclass
class Rig:
    s3: SeaweedFS | None  # None: the filesystem backend
    server: Server
    token: str
    project: str
    client: Minio | None
    bucket: str | None
    direct_dir: Path | None = None  # filesystem backend: where ``cp`` puts its copy
    redirecting: Server | None = None  # S3: a second server on the same data, S3_REDIRECT_DOWNLOADS on
    relay: Relay | None = None  # S3: a TCP relay to the store, for the relayed download
    minio_ops: bool = True  # S3: time minio's put_object/get_object as well
    py_spy: Path | None = None  # record the worker during one extra upload of the first size
    results: list[Result] = field(default_factory=list)

    def measure(
        self, size: int, operation: str, run: Callable[[], None], *, via_server: bool, direct: str | None = None
    ) -> Result:
        server_pids = tree(self.server.process.pid)
        s3_pids = tree(self.s3.process.pid) if self.s3 is not None else []
        workers = children(self.server.process.pid)
        for pid in server_pids:
            reset_hwm(pid)
        rss_before = max((status_kib(pid, "VmRSS") or 0 for pid in workers), default=0)
        before = (
            cpu_seconds(server_pids),
            cpu_seconds(s3_pids),
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        after_self = resource.getrusage(resource.RUSAGE_SELF)
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (
            after_self.ru_utime + after_self.ru_stime - before[2].ru_utime - before[2].ru_stime
            + after_children.ru_utime + after_children.ru_stime - before[3].ru_utime - before[3].ru_stime
        )
        result = Result(
            size,
            operation,
            seconds,
            server_cpu=cpu_seconds(server_pids) - before[0] if via_server else None,
            s3_cpu=cpu_seconds(s3_pids) - before[1],
            client_cpu=client_cpu,
            direct=direct,
            worker_rss_before=rss_before,
            worker_hwm=max((status_kib(pid, "VmHWM") or 0 for pid in children(self.server.process.pid)), default=0),
            master_hwm=status_kib(self.server.process.pid, "VmHWM") or 0,
        )
        self.results.append(result)
        print(f"  {operation:<32} {seconds:8.2f} s {result.mib_s:8.1f} MiB/s   worker RSS"
              f" {rss_before / 1024:4.0f} -> peak {result.worker_hwm / 1024:4.0f} MiB", flush=True)
        return result

    def package_url(self, size: int, round_: int, server: Server | None = None) -> str:
        return (
            f"{(server or self.server).api}/projects/{self.project}/packages/generic/"
            f"bench/{human(size).lower()}-{round_}/payload.bin"
        )


def curl(*args: str) -> str:
    """Run curl quietly; fail on HTTP errors; return what ``-w`` wrote."""
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "--noproxy", "*", *args],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"curl {' '.join(args[:3])}... failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def write_random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes in ``CHUNK`` pieces; return their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def bench_size(
    rig: Rig, size: int, workdir: Path, rounds: int, direct_parallel: int, settle: float
) -> dict[str, object]:
    path = workdir / f"payload-{human(size)}.bin"
    started = time.perf_counter()
    sha256 = write_random_file(path, size)
    print(f"\n== {human(size)} ({size} bytes): file written in {time.perf_counter() - started:.1f} s", flush=True)

    master = rig.server.process.pid
    first_result = len(rig.results)
    reset_ok = all(reset_hwm(pid) for pid in [master, *children(master)])  # measure() resets before each op
    token_header = f"PRIVATE-TOKEN: {rig.token}"
    key = f"direct/{human(size)}.bin"

    with RssSampler(master) as sampler:
        for round_ in range(rounds):
            url = rig.package_url(size, round_)

            def registry_upload() -> None:
                out = curl("--header", token_header, "--upload-file", str(path), "-o", "/dev/null",
                           "-w", "%{http_code}", url)
                if out.strip() != "201":
                    raise RuntimeError(f"registry upload answered {out!r}")

            def registry_download() -> None:
                out = curl("--header", token_header, "-o", "/dev/null", "-w", "%{size_download}", url)
                if int(out) != size:
                    raise RuntimeError(f"registry download gave {out} bytes, expected {size}")

            def direct_upload() -> None:
                with open(path, "rb") as data:
                    rig.client.put_object(rig.bucket, key, data, length=size, part_size=PART_SIZE,
                                          num_parallel_uploads=direct_parallel)

            def direct_download() -> None:
                response = rig.client.get_object(rig.bucket, key)
                got = 0
                try:
                    for chunk in response.stream(MIB):
                        got += len(chunk)
                finally:
                    response.close()
                    response.release_conn()
                if got != size:
                    raise RuntimeError(f"direct download gave {got} bytes, expected {size}")

            def redirected_download() -> None:
                assert rig.redirecting is not None
                out = curl("--location", "--header", token_header, "-o", "/dev/null",
                           "-w", "%{size_download} %{num_redirects}", rig.package_url(size, round_, rig.redirecting))
                got, redirects = (int(v) for v in out.split())
                if got != size or redirects != 1:
                    raise RuntimeError(f"redirected download gave {got} bytes after {redirects} redirect(s)")

            presigned_key = f"direct/{human(size)}-presigned.bin"

            def presigned_upload() -> None:
                put_url = rig.client.presigned_put_object(rig.bucket, presigned_key, datetime.timedelta(hours=1))
                curl("--upload-file", str(path), "-o", "/dev/null", put_url)

            def presigned_download() -> None:
                get_url = rig.client.presigned_get_object(rig.bucket, presigned_key, datetime.timedelta(hours=1))
                out = curl("-o", "/dev/null", "-w", "%{size_download}", get_url)
                if int(out) != size:
                    raise RuntimeError(f"presigned download gave {out} bytes, expected {size}")

            def relayed_download() -> None:
                assert rig.relay is not None and rig.s3 is not None
                get_url = rig.client.presigned_get_object(rig.bucket, presigned_key, datetime.timedelta(hours=1))
                # The URL's own host (its signature covers it), reached through the relay.
                out = curl("--connect-to", f"{rig.s3.endpoint}:{rig.relay.endpoint}", "-o", "/dev/null",
                           "-w", "%{size_download}", get_url)
                if int(out) != size:
                    raise RuntimeError(f"relayed download gave {out} bytes, expected {size}")

            copy = rig.direct_dir / path.name if rig.direct_dir is not None else path

            def cp_upload() -> None:
                subprocess.run(["cp", str(path), str(copy)], check=True)
                subprocess.run(["sync", str(copy)], check=True)  # the store fsyncs what it writes

            def hash_file() -> None:
                out = subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True).stdout
                if out.split()[0] != sha256:
                    raise RuntimeError(f"sha256sum gave {out.split()[0]}, expected {sha256}")

            def cat_download() -> None:
                with open(os.devnull, "wb") as null:
                    subprocess.run(["cat", str(copy)], stdout=null, check=True)

            # Rotate the order every round: SeaweedFS is slower right after a big write (first read
            # of a fresh object, background flushing), which would otherwise always hit the same row.
            if rig.client is None:
                uploads = [
                    ("registry upload (curl)", registry_upload, True, "direct upload (cp+sync)"),
                    ("direct upload (cp+sync)", cp_upload, False, None),
                    (SHA256SUM, hash_file, False, None),
                ]
                downloads = [
                    ("registry download (curl)", registry_download, True, "direct download (cat)"),
                    ("direct download (cat)", cat_download, False, None),
                ]
            else:
                # The registry is compared with curl to presigned URLs of the same S3 (issue 15).
                uploads = [
                    (REGISTRY_UPLOAD, registry_upload, True, PRESIGNED_UPLOAD),
                    (PRESIGNED_UPLOAD, presigned_upload, False, None),
                ]
                downloads = [
                    (REGISTRY_DOWNLOAD, registry_download, True, PRESIGNED_DOWNLOAD),
                    (PRESIGNED_DOWNLOAD, presigned_download, False, None),
                ]
                if rig.redirecting is not None:
                    downloads.append((REDIRECTED_DOWNLOAD, redirected_download, False, PRESIGNED_DOWNLOAD))
                if rig.relay is not None:
                    downloads.append((RELAYED_DOWNLOAD, relayed_download, False, PRESIGNED_DOWNLOAD))
                if rig.minio_ops:
                    uploads.append(("direct upload (minio)", direct_upload, False, None))
                    downloads.append(("direct download (minio)", direct_download, False, None))
            print(f"  -- round {round_ + 1}/{rounds}", flush=True)
            for steps in (uploads, downloads):
                shift = round_ % len(steps)
                for operation, run, via_server, direct in steps[shift:] + steps[:shift]:
                    rig.measure(size, operation, run, via_server=via_server, direct=direct)
                time.sleep(settle)

            # The registry hashed what it stored: it must be what was written.
            headers = curl("--head", "--header", token_header, url)
            match = re.search(r"^x-checksum-sha256:\s*([0-9a-f]{64})", headers, re.IGNORECASE | re.MULTILINE)
            if not match or match.group(1) != sha256:
                raise RuntimeError(f"checksum mismatch: local {sha256}, registry {match and match.group(1)}")

        if rig.py_spy is not None and first_result == 0:
            profile_upload(rig, rig.package_url(size, rounds), path, token_header)

    ops = rig.results[first_result:]
    memory = {
        "master_hwm": max(r.master_hwm for r in ops),
        "worker_start": ops[0].worker_rss_before,
        "worker_hwm": max(r.worker_hwm for r in ops),
        "upload_hwms": [r.worker_hwm for r in ops if r.operation == REGISTRY_UPLOAD],
        "worker_end": max((status_kib(pid, "VmRSS") or 0 for pid in children(master)), default=0),
        "registry_ops": {r.operation: max(o.worker_hwm for o in ops if o.operation == r.operation)
                         for r in ops if r.direct},
        "sampled": dict(sampler.peak_kib),
        "size": size,
        "master": master,
        "reset": reset_ok,
    }
    path.unlink()
    if rig.client is not None:
        for name in (key, f"direct/{human(size)}-presigned.bin"):
            rig.client.remove_object(rig.bucket, name)
    elif rig.direct_dir is not None:
        (rig.direct_dir / path.name).unlink(missing_ok=True)
    return memory


def profile_upload(rig: Rig, url: str, path: Path, token_header: str) -> None:
    """One more registry upload (not counted in the figures) with py-spy recording the worker:
    collapsed stacks (``--format raw``) at 100 Hz, idle frames included, into ``rig.py_spy``."""
    assert rig.py_spy is not None
    worker = children(rig.server.process.pid)[0]
    spy = subprocess.Popen(
        [PY_SPY, "record", "--pid", str(worker), "--rate", "100", "--idle", "--format", "raw",
         "--output", str(rig.py_spy)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # py-spy attaches
    started = time.perf_counter()
    curl("--header", token_header, "--upload-file", str(path), "-o", "/dev/null", url)
    seconds = time.perf_counter() - started
    spy.send_signal(signal.SIGINT)
    _, err = spy.communicate(timeout=60)
    print(f"  profiled upload: {seconds:.2f} s; py-spy: {err.decode().strip().splitlines()[-1:]}", flush=True)


# ---------------------------------------------------------------- report


def print_report(rig: Rig, memory: list[dict[str, object]], rounds: int) -> None:
    print(f"\nseconds/MiB/s/CPU: best of {rounds} round(s) (CPU of that best run); med s: median seconds")
    print("ratio = registry seconds / direct seconds (the row named in the operation's pair), best and median times")
    header = (f"{'size':>6}  {'operation':<32} {'seconds':>8} {'MiB/s':>8} {'ratio':>6} {'med s':>7} {'ratio':>6}"
              f" {'srv CPU':>8} {'s3 CPU':>7} {'cli CPU':>8}")
    print(header)
    print("-" * len(header))
    for size in dict.fromkeys(r.size for r in rig.results):
        runs: dict[str, list[Result]] = {}
        for r in rig.results:
            if r.size == size:
                runs.setdefault(r.operation, []).append(r)
        best = {op: min(rs, key=lambda r: r.seconds) for op, rs in runs.items()}
        median = {op: statistics.median(r.seconds for r in rs) for op, rs in runs.items()}
        for op, r in best.items():
            ratio = f"{r.seconds / best[r.direct].seconds:6.2f}" if r.direct in best else f"{'':6}"
            mratio = f"{median[op] / median[r.direct]:6.2f}" if r.direct in median else f"{'':6}"
            server = f"{r.server_cpu:8.2f}" if r.server_cpu is not None else f"{'-':>8}"
            print(f"{human(size):>6}  {op:<32} {r.seconds:8.2f} {r.mib_s:8.1f} {ratio} {median[op]:7.2f} {mratio}"
                  f" {server} {r.s3_cpu:7.2f} {r.client_cpu:8.2f}")
    for size in dict.fromkeys(r.size for r in rig.results):
        median = {op: statistics.median(r.seconds for r in rig.results if r.size == size and r.operation == op)
                  for op in dict.fromkeys(r.operation for r in rig.results if r.size == size)}
        pairs = [(REGISTRY_UPLOAD, PRESIGNED_UPLOAD, 0.9), (REGISTRY_DOWNLOAD, PRESIGNED_DOWNLOAD, 0.95),
                 (REDIRECTED_DOWNLOAD, PRESIGNED_DOWNLOAD, 0.95)]
        rates = [f"{op.removeprefix('registry ')} {median[direct] / median[op]:.2f}x (goal {goal})"
                 for op, direct, goal in pairs if op in median and direct in median]
        if RELAYED_DOWNLOAD in median and PRESIGNED_DOWNLOAD in median:
            rates.append(f"download through a bare relay {median[PRESIGNED_DOWNLOAD] / median[RELAYED_DOWNLOAD]:.2f}x"
                         " (what a second hop alone leaves)")
        if rates:
            print(f"{human(size)}: rate of curl to presigned URLs (medians): " + "; ".join(rates))
    hashed = [r for r in rig.results if r.operation == SHA256SUM]
    for size in dict.fromkeys(r.size for r in hashed):
        uploads = [r.mib_s for r in rig.results if r.size == size and r.operation == REGISTRY_UPLOAD]
        rates = [r.mib_s for r in hashed if r.size == size]
        upload, rate = statistics.median(uploads), statistics.median(rates)
        # sha256sum is one process on one core: its CPU seconds are its rate on an idle core, which a
        # loaded machine's wall clock understates (it waits for a core as long as it hashes).
        cpu_rate = statistics.median(size / MIB / r.client_cpu for r in hashed if r.size == size and r.client_cpu)
        print(f"\n{human(size)}: registry upload {upload:.1f} MiB/s, sha256sum {rate:.1f} MiB/s (medians):"
              f" {upload / rate:.2f} of the single-core hashing rate (goal: 0.5); sha256sum per CPU second"
              f" {cpu_rate:.1f} MiB/s: {upload / cpu_rate:.2f} of it")
    if len(memory) > 1:
        small, large = memory[0], memory[-1]
        if small["upload_hwms"] and large["upload_hwms"]:
            a = statistics.median(small["upload_hwms"])  # type: ignore[arg-type]
            b = statistics.median(large["upload_hwms"])  # type: ignore[arg-type]
            print(f"\nworker peak RSS in the registry upload (median): {human(small['size'])} {a / 1024:.0f} MiB,"
                  f" {human(large['size'])} {b / 1024:.0f} MiB: {b / a:.3f}x (goal: within 10%)")
    if all(m["reset"] for m in memory):
        print("\nServer memory per size (MiB); VmHWM reset before each operation, peak = max over the size's operations")
    else:
        print("\nServer memory per size (MiB); VmHWM could NOT be reset: peaks are lifetime peaks")
    print(f"{'size':>6}  {'master peak':>11} {'worker RSS at start':>19} {'worker peak':>11} {'worker RSS at end':>17}"
          f" {'peak in upload':>14} {'peak in download':>16} {'sampled max':>11}")
    for m in memory:
        size, master = m["size"], m["master"]
        registry = m["registry_ops"]
        sampled = max((v for pid, v in m["sampled"].items() if pid != master), default=0)
        print(f"{human(size):>6}  {m['master_hwm'] / 1024:11.0f} {m['worker_start'] / 1024:19.0f}"
              f" {m['worker_hwm'] / 1024:11.0f} {m['worker_end'] / 1024:17.0f}"
              f" {registry.get(REGISTRY_UPLOAD, 0) / 1024:14.0f}"
              f" {registry.get(REGISTRY_DOWNLOAD, 0) / 1024:16.0f} {sampled / 1024:11.0f}")


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256M,2G", help="comma-separated sizes, e.g. 256M,2G (binary units)")
    parser.add_argument("--backend", choices=["s3", "filesystem"], default="s3",
                        help="the store behind the server, and what the direct operations use")
    parser.add_argument("--rounds", type=int, default=3,
                        help="repeat each operation (order rotated each round); report best and median")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to pause after the uploads and after the downloads of each round")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers for modelshelf serve")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--worker-class", choices=["gevent", "gthread"], default="gevent",
                        help="modelshelf serve's worker (WORKER_CLASS): compare the two by alternating runs")
    parser.add_argument("--direct-parallel", type=int, default=1,
                        help="minio num_parallel_uploads for the direct upload (the server uses 1)")
    parser.add_argument("--no-minio", action="store_true",
                        help="S3: skip minio's put_object/get_object (curl to presigned URLs is the baseline)")
    parser.add_argument("--no-redirect", action="store_true",
                        help="S3: skip the redirected download (a second server with S3_REDIRECT_DOWNLOADS)")
    parser.add_argument("--no-relay", action="store_true",
                        help="S3: skip the download through a TCP relay (the floor of a proxied download)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment variable for modelshelf serve (repeatable), e.g. MALLOC_ARENA_MAX=2")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="FILE",
                        help="record the worker with py-spy (collapsed stacks) during one extra upload of the first size")
    parser.add_argument("--tmpdir", default=None, help="where to put the payloads and the S3 data")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) after the run")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="modelshelf-bench-", dir=args.tmpdir))
    free = shutil.disk_usage(workdir).free
    # The payload, plus the uploads of each round, which SeaweedFS only reclaims on vacuum.
    per_round = 2 if args.no_minio else 3
    need = max(sizes) * 2 + sum(sizes) * (per_round * max(1, args.rounds) + 1)
    if free < need:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"not enough space in {workdir.parent}: {free / 1024**3:.1f} GiB free, ~{need / 1024**3:.1f} GiB needed",
              file=sys.stderr)
        return 2

    # A SIGTERM should clean up like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    s3 = server = redirecting = None
    relay: Relay | None = None
    try:
        data_dir = workdir / "server" / "data"
        data_dir.mkdir(parents=True)
        settings: dict[str, object] = {"STORAGE": "filesystem"}
        if args.backend == "s3":
            print(f"workdir {workdir}; starting SeaweedFS ...", flush=True)
            s3 = start_seaweedfs(workdir / "s3")
            settings = s3.settings("modelshelf-bench")
        settings["MAX_FILE_SIZE"] = max(max(sizes) * 2, 20 * 1024**3)
        settings["WORKER_CLASS"] = args.worker_class
        for pair in args.server_env:
            name, _, value = pair.partition("=")
            os.environ[name] = value  # start_server passes the environment on
        server = start_server(data_dir, settings, workers=args.workers, threads=args.threads)
        where = f"SeaweedFS {s3.endpoint} (pid {s3.process.pid})" if s3 is not None else f"filesystem {data_dir}"
        print(f"{where}; modelshelf {server.url} (pid {server.process.pid}, {args.worker_class} worker)", flush=True)

        server.cli("admin", "create-user", "bench", "--admin")
        project = server.cli("admin", "create-project", "bench/transfer", "--owner", "bench")
        token = server.cli("admin", "create-token", "--user", "bench", "--scopes", "api")
        if s3 is not None:
            client: Minio | None = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
            bucket: str | None = "bench-direct"
            if not client.bucket_exists(bucket):
                client.make_bucket(bucket)
            rig = Rig(s3=s3, server=server, token=token, project=project, client=client, bucket=bucket,
                      minio_ops=not args.no_minio, py_spy=args.py_spy)
            if not args.no_redirect:
                # Same database and store; its own log file beside the first server's.
                redirecting = start_server(data_dir, {**settings, "S3_REDIRECT_DOWNLOADS": True},
                                           workers=1, threads=args.threads)
                rig.redirecting = redirecting
            if not args.no_relay:
                relay = rig.relay = Relay(s3.endpoint)
        else:
            direct_dir = workdir / "direct"
            direct_dir.mkdir()
            rig = Rig(s3=None, server=server, token=token, project=project, client=None, bucket=None, direct_dir=direct_dir)

        memory = []
        for size in sizes:
            memory.append(bench_size(rig, size, workdir, max(1, args.rounds), args.direct_parallel, args.settle))
        print_report(rig, memory, max(1, args.rounds))
        store = (f"S3 part size {PART_SIZE // MIB} MiB; direct minio num_parallel_uploads={args.direct_parallel}"
                 if s3 is not None else "filesystem store (fsync per blob)")
        per_worker = f"{args.threads} threads" if args.worker_class == "gthread" else "a greenlet per connection"
        print(f"\nserver: gunicorn {args.worker_class}, {args.workers} worker(s) x {per_worker}; {store}; "
              f"{os.cpu_count()} CPUs")
        return 0
    finally:
        if server is not None:
            stop(server.process)
        if redirecting is not None:
            stop(redirecting.process)
        if relay is not None:
            relay.close()
        if s3 is not None:
            stop(s3.process)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
