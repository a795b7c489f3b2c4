"""Load benchmark: a mixed read and write load against one ``modelshelf serve`` node, then two.

Run by hand, not part of the test suite::

    python bench/load.py                                   # 20 s per phase, 16 clients
    python bench/load.py --duration 60 --clients 32 --workers 2
    python bench/load.py --database-url postgresql+psycopg://user:pw@host:5432/db   # a PostgreSQL of yours
    python bench/load.py --database sqlite                 # one SQLite file shared by both nodes

One run starts a SeaweedFS (``weed mini``) and a PostgreSQL cluster (``.ci/postgres``: Debian's
server binaries, initdb as the postgres user, 127.0.0.1 on a free port), upgrades the schema with
``modelshelf db upgrade``, and starts node A; it creates a user, a project and a token with the CLI
and uploads ``--seed-files`` files to read. Then, for ``--duration`` seconds per phase (after
``--warmup`` seconds not counted), ``--clients`` threads send requests as fast as they are answered,
each on kept-alive ``http.client`` connections:

- 40% ``download``: GET of a seeded file (``--file-size`` bytes), read to the end
- 20% ``list``:     GET /api/v4/projects/:id/packages (20 per page)
- 20% ``metadata``: GET /api/v4/projects/:id/packages/:package_id
- 20% ``upload``:   PUT of ``--upload-size`` bytes into a new version of its own

Phase one sends everything to node A. Then node B starts on the same database and bucket (the same
secret key, a data directory of its own), and phase two sends each request to the next node in turn
(round robin). The report gives, per phase and operation, requests per second, p50 and p99
latency and errors, then the two-node/one-node ratio of requests per second, and what each node's
``/-/metrics`` counted (which must match what the clients sent).

Every process started here is stopped by its own pid at the end (also on error or Ctrl-C), and the
temp dir is removed. The numbers depend on the machine: on a 2-core machine the clients, both
nodes, PostgreSQL and SeaweedFS share the same two cores, so a second node cannot double anything;
read the ratio as "what a second node adds here", not as the scaling of a cluster.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import resource
import shutil
import signal
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

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tests.support.servers import SeaweedFS, Server, start_seaweedfs, start_server, stop  # noqa: E402

KIB = 1024
#: Operation -> share of the requests.
MIX = {"download": 0.4, "list": 0.2, "metadata": 0.2, "upload": 0.2}


# ---------------------------------------------------------------- PostgreSQL (.ci/postgres)


@dataclass
class Postgres:
    directory: Path
    url: str

    @classmethod
    def start(cls, directory: Path) -> Postgres:
        result = subprocess.run(
            ["bash", str(ROOT / ".ci" / "postgres"), "start", str(directory)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f".ci/postgres start failed: {result.stderr.strip()}")
        return cls(directory, result.stdout.strip())

    def stop(self) -> None:
        # Stops the postmaster by the pid in its pid file, then removes the cluster.
        subprocess.run(["bash", str(ROOT / ".ci" / "postgres"), "stop", str(self.directory)], check=False)


# ---------------------------------------------------------------- the load


@dataclass
class Target:
    """What the clients read and write: the project, its token, the seeded packages."""

    project: str
    token: str
    files: list[str]  # generic-package URLs (paths) of the seeded files
    package_ids: list[int]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in MIX})
    errors: dict[str, int] = field(default_factory=lambda: {op: 0 for op in MIX})
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: {op: {} for op in MIX})

    def add(self, other: Tally) -> None:
        for op in MIX:
            self.latencies[op].extend(other.latencies[op])
            self.errors[op] += other.errors[op]
            for status, count in other.statuses[op].items():
                self.statuses[op][status] = self.statuses[op].get(status, 0) + count


class Client(threading.Thread):
    """One simulated user: picks operations by ``MIX``, sends each to the next node in turn over a
    kept-alive connection per node, and records the latency of those that start after
    ``record_from`` and before ``stop_at``."""

    def __init__(
        self, number: int, nodes: list[Server], target: Target, args: argparse.Namespace,
        turn: Callable[[], int], record_from: float, stop_at: float, phase: str,
    ) -> None:
        super().__init__(daemon=True)
        self.number, self.nodes, self.target, self.args = number, nodes, target, args
        self.turn, self.record_from, self.stop_at, self.phase = turn, record_from, stop_at, phase
        self.random = random.Random(args.seed * 1000 + number)
        self.connections: dict[int, http.client.HTTPConnection] = {}
        self.tally = Tally()
        self.uploads = 0
        self.payload = self.random.randbytes(args.upload_size)

    def connection(self, node: int) -> http.client.HTTPConnection:
        if node not in self.connections:
            host, port = self.nodes[node].url.removeprefix("http://").split(":")
            self.connections[node] = http.client.HTTPConnection(host, int(port), timeout=60)
        return self.connections[node]

    def request(self, node: int, method: str, path: str, body: bytes | None = None) -> int:
        headers = {"PRIVATE-TOKEN": self.target.token}
        for attempt in (1, 2):
            connection = self.connection(node)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                while response.read(256 * KIB):
                    pass
                if response.will_close:
                    connection.close()
                    del self.connections[node]
                return response.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The node closed a kept-alive connection as we reused it: reconnect, once.
                connection.close()
                del self.connections[node]
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def run(self) -> None:
        ops, weights = list(MIX), list(MIX.values())
        api = f"/api/v4/projects/{self.target.project}"
        while True:
            started = time.monotonic()
            if started >= self.stop_at:
                break
            op = self.random.choices(ops, weights)[0]
            node = self.turn() % len(self.nodes)
            if op == "download":
                status = self.request(node, "GET", self.random.choice(self.target.files))
            elif op == "list":
                status = self.request(node, "GET", f"{api}/packages?per_page=20&order_by=created_at&sort=desc")
            elif op == "metadata":
                status = self.request(node, "GET", f"{api}/packages/{self.random.choice(self.target.package_ids)}")
            else:
                self.uploads += 1
                version = f"{self.number}.{self.uploads}.0"
                path = f"{api}/packages/generic/load-{self.phase}/{version}/model.bin"
                status = self.request(node, "PUT", path, self.payload)
            seconds = time.monotonic() - started
            if started < self.record_from:
                continue
            self.tally.statuses[op][status] = self.tally.statuses[op].get(status, 0) + 1
            if 200 <= status < 300:
                self.tally.latencies[op].append(seconds)
            else:
                self.tally.errors[op] += 1
        for connection in self.connections.values():
            connection.close()


def run_phase(name: str, nodes: list[Server], target: Target, args: argparse.Namespace) -> tuple[Tally, float]:
    counter = itertools.count()
    lock = threading.Lock()

    def turn() -> int:
        with lock:
            return next(counter)

    now = time.monotonic()
    record_from = now + args.warmup
    stop_at = record_from + args.duration
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    clients = [Client(i, nodes, target, args, turn, record_from, stop_at, name) for i in range(args.clients)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    tally = Tally()
    for client in clients:
        tally.add(client.tally)
    client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return tally, client_cpu


# ---------------------------------------------------------------- setup


def http_call(server: Server, method: str, path: str, token: str, body: bytes | None = None) -> tuple[int, bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers={"PRIVATE-TOKEN": token})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def seed(server: Server, args: argparse.Namespace) -> Target:
    server.cli("admin", "create-user", "bench", "--admin")
    project = server.cli("admin", "create-project", "bench/load", "--owner", "bench")
    token = server.cli("admin", "create-token", "--user", "bench", "--scopes", "api")
    rng = random.Random(args.seed)
    files = []
    for i in range(args.seed_files):
        path = f"/api/v4/projects/{project}/packages/generic/seeded/1.{i}.0/weights.bin"
        status, body = http_call(server, "PUT", path, token, rng.randbytes(args.file_size))
        if status != 201:
            raise RuntimeError(f"seeding {path} answered {status}: {body[:200]!r}")
        files.append(path)
    _status, body = http_call(server, "GET", f"/api/v4/projects/{project}/packages?per_page=100", token)
    package_ids = [int(p["id"]) for p in json.loads(body)]
    return Target(project=project, token=token, files=files, package_ids=package_ids)


def server_counts(nodes: list[Server]) -> list[float]:
    """Requests each node's /-/metrics counted (every route), read before any phase and after."""
    counts = []
    for node in nodes:
        status, body = http_call(node, "GET", "/-/metrics", "")
        total = 0.0
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == "modelshelf_http_requests_total" and sample.labels.get("route") != "/-/metrics":
                    total += sample.value
        counts.append(total)
    return counts


# ---------------------------------------------------------------- report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def print_phase(name: str, tally: Tally, duration: float, client_cpu: float) -> float:
    print(f"\n{name}")
    header = f"{'operation':<10} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header)
    print("-" * len(header))
    total = 0
    for op in MIX:
        done = tally.latencies[op]
        total += len(done)
        errors = f"{tally.errors[op]:7d}"
        print(f"{op:<10} {len(done):9d} {len(done) / duration:8.1f} {percentile(done, 0.5) * 1000:8.1f}"
              f" {percentile(done, 0.99) * 1000:8.1f} {errors}")
        if tally.errors[op]:
            print(f"{'':10} statuses: {dict(sorted(tally.statuses[op].items()))}")
    everything = [s for op in MIX for s in tally.latencies[op]]
    print(f"{'all':<10} {total:9d} {total / duration:8.1f} {percentile(everything, 0.5) * 1000:8.1f}"
          f" {percentile(everything, 0.99) * 1000:8.1f} {sum(tally.errors.values()):7d}")
    print(f"client CPU: {client_cpu:.1f} s over {duration:.0f} s (+ warmup)")
    return total / duration


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring, per phase")
    parser.add_argument("--clients", type=int, default=16, help="client threads")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per node")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--file-size", type=int, default=256 * KIB, help="bytes of each seeded file (downloads)")
    parser.add_argument("--upload-size", type=int, default=16 * KIB, help="bytes of each upload")
    parser.add_argument("--seed-files", type=int, default=20, help="files seeded for downloads and metadata")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the request mix")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres",
                        help="postgres: a throwaway cluster (.ci/postgres); sqlite: one file both nodes share")
    parser.add_argument("--database-url", default=None, help="use this database instead (it must be empty)")
    parser.add_argument("--tmpdir", default=None, help="where to put the data")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) after the run")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="modelshelf-load-", dir=args.tmpdir))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    s3: SeaweedFS | None = None
    postgres: Postgres | None = None
    nodes: list[Server] = []
    try:
        print(f"workdir {workdir}; starting SeaweedFS ...", flush=True)
        s3 = start_seaweedfs(workdir / "s3")
        settings: dict[str, object] = {**s3.settings("modelshelf-load"), "SECRET_KEY": "load-bench"}
        if args.database_url:
            settings["DATABASE_URL"], database = args.database_url, "the given database"
        elif args.database == "postgres":
            os.chmod(workdir, 0o755)  # the cluster's directory below belongs to the postgres user
            postgres = Postgres.start(workdir / "postgres")
            settings["DATABASE_URL"], database = postgres.url, f"PostgreSQL {postgres.url}"
        else:
            settings["DATABASE_URL"] = f"sqlite:///{workdir / 'shared.db'}"
            database = "one SQLite file shared by both nodes"
        print(f"database: {database}", flush=True)

        data_dirs = [workdir / f"node-{name}" / "data" for name in ("a", "b")]
        for data_dir in data_dirs:
            data_dir.mkdir(parents=True)
        # The schema first, as an operator would (serve refuses an unmigrated PostgreSQL).
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
        env.update({f"MODELSHELF_{k}": str(v) for k, v in settings.items()}, MODELSHELF_DATA_DIR=str(data_dirs[0]))
        subprocess.run([sys.executable, "-m", "package_api.ops.cli", "db", "upgrade"], env=env, check=True,
                       capture_output=True, cwd=ROOT)

        nodes.append(start_server(data_dirs[0], settings, workers=args.workers, threads=args.threads))
        print(f"node A {nodes[0].url} (pid {nodes[0].process.pid}); seeding ...", flush=True)
        target = seed(nodes[0], args)

        before = server_counts(nodes)
        one, one_cpu = run_phase("one", nodes, target, args)
        counted_one = [after - b for after, b in zip(server_counts(nodes), before, strict=True)]

        nodes.append(start_server(data_dirs[1], settings, workers=args.workers, threads=args.threads))
        print(f"node B {nodes[1].url} (pid {nodes[1].process.pid})", flush=True)
        before = server_counts(nodes)
        two, two_cpu = run_phase("two", nodes, target, args)
        counted_two = [after - b for after, b in zip(server_counts(nodes), before, strict=True)]

        print(f"\n{args.clients} clients; each node: gunicorn gthread {args.workers} worker(s) x {args.threads} threads; "
              f"{os.cpu_count()} CPUs; {database}; SeaweedFS; downloads of {args.file_size // KIB} KiB, "
              f"uploads of {args.upload_size // KIB} KiB; {args.duration:.0f} s measured per phase after "
              f"{args.warmup:.0f} s of warmup")
        rps_one = print_phase("one node", one, args.duration, one_cpu)
        rps_two = print_phase("two nodes, round robin", two, args.duration, two_cpu)
        print(f"\ntwo nodes / one node: {rps_two / rps_one:.2f}x requests per second")
        for phase, counted in (("one node", counted_one), ("two nodes", counted_two)):
            print(f"/-/metrics, {phase}: " + ", ".join(f"node {'AB'[i]} {c:.0f}" for i, c in enumerate(counted))
                  + " requests (warmup included)")
        return 0
    finally:
        for node in nodes:
            stop(node.process)
        if s3 is not None:
            stop(s3.process)
        if postgres is not None:
            postgres.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
