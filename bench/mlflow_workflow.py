"""MLflow workflow benchmark: the stock ``mlflow`` client against Modelshelf and against
``mlflow server`` (gunicorn mode), on this machine, in one run.

Run by hand, not part of the test suite::

    python bench/mlflow_workflow.py --versions 300

One scripted workflow runs against each server in turn (the workload of issue 15):

- setup (not timed): a registered model, an experiment, a run with a small ``model/`` directory
- ``--versions`` times: ``create_model_version(runs:/<run>/model)`` and ``log_metric``
- ``--rounds`` times: ``search_model_versions`` (all versions), ``get_latest_versions``,
  ``get_registered_model`` twice, ``get_model_version``

Each call's round trip is timed as the client sees it (the client's own work included), and the
table gives the median per call and the whole workflow's time, with the ratio MLflow / Modelshelf
(above 1: Modelshelf is faster). Against Modelshelf alone it then times two small requests of the
REST and generic APIs on one kept-alive connection: a 16 KiB ``PUT`` into a model version and a
version ``GET``.

Each server's own time per call (the ``server`` columns): the median time each server spent in the
call's requests, read from its access log, which times a request from the WSGI app's call to the end
of the response's body (Modelshelf's ``modelshelf.access`` line; gunicorn's ``%(D)s`` for MLflow's,
whose access log the script turns on). A call may make more than one request: the client's
``get_latest_versions`` asks for the registered model first (``registered-models/get``: it refuses
prompts), then for its latest versions, so its server time is the sum of both medians. Client time
minus server time is the client's own work and the wire, the same for both servers.

The client's floor (``--floor``, on by default): what each call costs with a server that does no work.
While the workflow runs against Modelshelf, the last response to each request (method, path and query)
is kept; a replay server (a WSGI app answering those bytes from a dict, in gunicorn with
``modelshelf serve``'s own gevent worker) then answers the same workflow. Its medians are the client's
own work plus the HTTP round trip: no server can be faster per call as this client sees it, so
``MLflow / floor`` is the best ratio any server could reach against MLflow's in that run.

Modelshelf is ``modelshelf serve`` (SQLite, filesystem store; a user, project and token made with
the CLI); MLflow is ``mlflow server --backend-store-uri sqlite:// --serve-artifacts --gunicorn-opts``
with the same number of workers. Both listen on 127.0.0.1 on free ports and are stopped by their
own process group at the end. Without ``mlflow`` installed nothing can run (the client is the
workload); without the ``mlflow`` server command only Modelshelf is measured.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", message=".*stages.*", category=FutureWarning)  # get_latest_versions
logging.getLogger("mlflow.store.model_registry.abstract_store").setLevel(logging.WARNING)  # "Waiting up to 300 seconds"

from tests.support.live_server import create_account  # noqa: E402
from tests.support.servers import free_port, start_server, stop, wait_for_port  # noqa: E402

MODEL = "bench-model"
T = TypeVar("T")


CALLS = (
    "model-versions/create",
    "runs/log-metric",
    "model-versions/search",
    "registered-models/get",
    "get-latest-versions",
    "model-versions/get",
    "health (HTTP floor)",
)

#: The requests each call makes, as the servers' access logs name them: the method and the path after
#: MLflow's ``/api/2.0/mlflow/`` (``health`` for the health check).
REQUESTS: dict[str, tuple[tuple[str, str], ...]] = {
    "model-versions/create": (("POST", "model-versions/create"),),
    "runs/log-metric": (("POST", "runs/log-metric"),),
    "model-versions/search": (("GET", "model-versions/search"),),
    "registered-models/get": (("GET", "registered-models/get"),),
    "get-latest-versions": (("GET", "registered-models/get"), ("POST", "registered-models/get-latest-versions")),
    "model-versions/get": (("GET", "model-versions/get"),),
    "health (HTTP floor)": (("GET", "health"),),
}
#: Modelshelf's access line: method, path (no query), status, bytes, milliseconds.
_MODELSHELF_ACCESS = re.compile(r"modelshelf\.access \[[^\]]*\] (\w+) (\S+) \d{3} \d+ ([\d.]+)ms$")
#: gunicorn's access line for MLflow (``--access-logformat`` below): method, path, status, microseconds.
_GUNICORN_ACCESS = re.compile(r"^(\w+) (\S+) \d{3} (\d+)$")

#: (method, path with query) -> (status line, content type, body): the responses the replay server answers.
Recording = dict[tuple[str, str], tuple[str, str, bytes]]


@dataclass
class Timings:
    name: str
    calls: dict[str, list[float]] = field(default_factory=dict)
    total: float = 0.0

    def call(self, name: str, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        start = time.perf_counter()
        result = function(*args, **kwargs)
        self.calls.setdefault(name, []).append(time.perf_counter() - start)
        return result

    def median(self, name: str) -> float:
        return statistics.median(self.calls[name])


def server_times(log: Path, pattern: re.Pattern[str], unit: float) -> dict[str, float]:
    """Each call's server time in seconds from an access log (``pattern``: method, path, time in
    ``unit`` seconds): the sum of the medians of the requests it makes (``REQUESTS``); calls whose
    requests the log does not hold are left out."""
    seen: dict[tuple[str, str], list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = pattern.search(line)
        if match is None:
            continue
        method, path, amount = match.groups()
        endpoint = "health" if path.endswith("/health") else path.partition("/api/2.0/mlflow/")[2]
        seen.setdefault((method, endpoint), []).append(float(amount) * unit)
    return {
        call: sum(statistics.median(seen[request]) for request in requests)
        for call, requests in REQUESTS.items()
        if all(request in seen for request in requests)
    }


def workflow(name: str, uri: str, versions: int, rounds: int, workdir: Path) -> Timings:
    """Run the workflow against the tracking server at ``uri``; return each call's round trips."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    timings = Timings(name)
    client.search_experiments()  # a first request outside the timings: servers start lazily
    model_dir = workdir / f"{name}-model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    (model_dir / "weights.bin").write_bytes(os.urandom(64 * 1024))
    (model_dir / "conf").mkdir()
    (model_dir / "conf" / "params.json").write_text('{"lr": 0.1}')

    client.create_registered_model(MODEL, description="benchmark")
    experiment_id = client.create_experiment("bench")
    run_id = client.create_run(experiment_id).info.run_id
    client.log_artifacts(run_id, str(model_dir), "model")

    start = time.perf_counter()
    for step in range(versions):
        timings.call("model-versions/create", client.create_model_version, MODEL, f"runs:/{run_id}/model", run_id=run_id)
        timings.call("runs/log-metric", client.log_metric, run_id, "loss", 1.0 / (step + 1), step=step)
    for _ in range(rounds):
        found = timings.call("model-versions/search", client.search_model_versions, f"name='{MODEL}'")
        assert len(found) == versions, len(found)
        [latest] = timings.call("get-latest-versions", client.get_latest_versions, MODEL)
        assert latest.version == str(versions), latest.version
        timings.call("registered-models/get", client.get_registered_model, MODEL)
        timings.call("registered-models/get", client.get_registered_model, MODEL)
        timings.call("model-versions/get", client.get_model_version, MODEL, str(versions))
    timings.total = time.perf_counter() - start
    # What a request costs with no work behind it: the server's HTTP and WSGI layers, and the client's
    # ``requests`` session (not the mlflow client's own work), kept alive as the client's are.
    import requests

    with requests.Session() as session:
        health = uri.split("/api/v4/")[0] + ("/-/health" if "/api/v4/" in uri else "/health")
        for _ in range(200):
            timings.call("health (HTTP floor)", session.get, health).raise_for_status()
    return timings


def small_requests(api: str, project: int, token: str, count: int) -> dict[str, float]:
    """Median round trips of a 16 KiB generic ``PUT`` into a model version and a REST version ``GET``."""
    import requests

    session = requests.Session()
    session.headers["PRIVATE-TOKEN"] = token
    base = f"{api}/projects/{project}"
    session.post(f"{base}/ml/models", json={"name": "small"}).raise_for_status()
    body = os.urandom(16 * 1024)
    puts: list[float] = []
    gets: list[float] = []
    for number in range(count):
        start = time.perf_counter()
        session.put(f"{base}/packages/generic/small/1.0.{number}/weights.bin", data=body).raise_for_status()
        puts.append(time.perf_counter() - start)
    versions = session.get(f"{base}/ml/models", params={"search": "small"}).json()
    model_id = versions[0]["id"]
    for _ in range(count):
        start = time.perf_counter()
        session.get(f"{base}/ml/models/{model_id}/versions/1.0.0").raise_for_status()
        gets.append(time.perf_counter() - start)
    session.close()
    return {"generic PUT 16 KiB": statistics.median(puts), "REST version GET": statistics.median(gets)}


class _Recorder:
    """Keep the last response to each request the client sends (``requests``' adapter), for the replay server."""

    def __init__(self) -> None:
        from requests.adapters import HTTPAdapter

        self.responses: Recording = {}
        self._send = HTTPAdapter.send

    def __enter__(self) -> _Recorder:
        from requests import PreparedRequest, Response
        from requests.adapters import HTTPAdapter

        send, responses = self._send, self.responses

        def recording(adapter: HTTPAdapter, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
            response = send(adapter, request, *args, **kwargs)
            status = f"{response.status_code} {response.reason}"
            kind = response.headers.get("Content-Type", "application/json")
            responses[(str(request.method), str(request.path_url))] = (status, kind, response.content)
            return response

        setattr(HTTPAdapter, "send", recording)  # noqa: B010 - mypy refuses a method replaced by assignment
        return self

    def __exit__(self, *_: object) -> None:
        from requests.adapters import HTTPAdapter

        setattr(HTTPAdapter, "send", self._send)  # noqa: B010


def replay_app(responses: Recording) -> Callable[..., list[bytes]]:
    """A WSGI app that answers each recorded request with its recorded response, doing nothing else."""

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        query = str(environ.get("QUERY_STRING") or "")
        path = str(environ["RAW_URI"]) if "RAW_URI" in environ else str(environ["PATH_INFO"]) + (f"?{query}" if query else "")
        body = environ["wsgi.input"]
        while body.read(65536):  # type: ignore[attr-defined]
            pass
        status, kind, content = responses.get((str(environ["REQUEST_METHOD"]), path), ("404 Not Found", "application/json", b"{}"))
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(content)))])
        return [content]

    return app


def serve_replay(recording: Path, port: int) -> None:
    """The replay server's process: ``replay_app`` in gunicorn with ``modelshelf serve``'s gevent worker."""
    import pickle

    from gunicorn.app.base import BaseApplication

    from package_api.ops.server import KEEPALIVE, _GeventWorker

    responses: Recording = pickle.loads(recording.read_bytes())

    class Replay(BaseApplication):
        def load_config(self) -> None:
            options = {"bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": _GeventWorker, "keepalive": KEEPALIVE,
                       "accesslog": None, "control_socket_disable": True}
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Callable[..., list[bytes]]:
            return replay_app(responses)

    Replay().run()


def start_replay_server(workdir: Path, responses: Recording) -> tuple[subprocess.Popen[bytes], str]:
    import pickle

    recording = workdir / "replay.pickle"
    recording.write_bytes(pickle.dumps(responses))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-replay", str(recording), "--port", str(port)],
        stdout=open(workdir / "replay-server.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for_port(port, process, timeout=60)
    except BaseException:
        stop(process)
        raise
    return process, f"http://127.0.0.1:{port}"


def start_mlflow_server(workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow server`` in gunicorn mode (the Flask app, sync workers), SQLite and local artifacts."""
    port = free_port()
    log = open(workdir / "mlflow-server.log", "wb")
    process = subprocess.Popen(
        [
            shutil.which("mlflow") or "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination", str(workdir / "mlflow-artifacts"),
            "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(port),
            "--gunicorn-opts", f"--workers {workers} --timeout 120 --access-logfile {workdir / 'mlflow-access.log'}"
                               " --access-logformat '%(m)s %(U)s %(s)s %(D)s'",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(port, process, timeout=120)
    except BaseException:
        stop(process)
        raise
    return process, f"http://127.0.0.1:{port}"


def _measure(name: str, start: Callable[[], str], run: Callable[[str], Timings]) -> Timings:
    uri = start()
    print(f"{name}: {uri}", flush=True)
    return run(uri)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=300, help="versions to register (default 300)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of search and gets (default 20)")
    parser.add_argument("--small", type=int, default=200, help="small REST/generic requests of each kind (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes, both servers (default 1)")
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="skip the client's floor (replay server)")
    parser.add_argument("--serve-replay", type=Path, help=argparse.SUPPRESS)  # the replay server's own process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_replay:
        serve_replay(args.serve_replay, args.port)
        return
    try:
        import mlflow  # noqa: F401
    except ImportError:
        sys.exit("the mlflow client is the workload: pip install 'mlflow==3.17.2'")

    workdir = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    processes: list[subprocess.Popen[bytes]] = []
    results: list[Timings] = []
    small: dict[str, float] = {}
    served: dict[str, dict[str, float]] = {}  # server -> call -> its own seconds
    try:
        (workdir / "modelshelf").mkdir()
        server = start_server(workdir / "modelshelf", workers=args.workers)
        processes.append(server.process)
        account = create_account(server, "bench")
        project, _ = account.create_project()
        os.environ["MLFLOW_TRACKING_TOKEN"] = account.token
        uri = f"{server.url}/api/v4/projects/{project}/ml/mlflow"
        print(f"modelshelf: {uri}", flush=True)
        with _Recorder() as recorder:
            results.append(workflow("modelshelf", uri, args.versions, args.rounds, workdir))
        _close_client_connections()
        if args.small:
            small = small_requests(server.api, project, account.token, args.small)
        stop(server.process)
        served["modelshelf"] = server_times(workdir / f"serve-{server.url.rsplit(':', 1)[1]}.log", _MODELSHELF_ACCESS, 1e-3)
        floor: Timings | None = None
        if args.floor:
            process, replay_url = start_replay_server(workdir, recorder.responses)
            processes.append(process)
            print(f"replay server (client floor): {replay_url}", flush=True)
            floor = workflow("floor", uri.replace(server.url, replay_url), args.versions, args.rounds, workdir)
            _close_client_connections()
            stop(process)

        if shutil.which("mlflow") is None:
            print("no `mlflow` command: MLflow's own server is not measured")
        else:
            process, mlflow_uri = start_mlflow_server(workdir, args.workers)
            processes.append(process)
            print(f"mlflow server (gunicorn): {mlflow_uri}", flush=True)
            results.append(workflow("mlflow", mlflow_uri, args.versions, args.rounds, workdir))
            _close_client_connections()
            stop(process)
            served["mlflow"] = server_times(workdir / "mlflow-access.log", _GUNICORN_ACCESS, 1e-6)
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    both = len(results) == 2
    columns = [*results, floor] if floor is not None else results
    best = both and floor is not None
    print(f"| call | {' | '.join(t.name for t in columns)} |" + (" ratio |" if both else "") + (" best possible |" if best else ""))
    print("|---" * (len(columns) + 1 + both + best) + "|")
    for call in CALLS:
        row = f"| {call} | " + " | ".join(f"{t.median(call) * 1000:.1f} ms" for t in columns) + " |"
        if both:
            row += f" {results[1].median(call) / results[0].median(call):.2f}x |"
        if best:
            row += f" {results[1].median(call) / floor.median(call):.2f}x |"  # type: ignore[union-attr]
        print(row)
    row = "| whole workflow | " + " | ".join(f"{t.total:.2f} s" for t in columns) + " |"
    if both:
        row += f" {results[1].total / results[0].total:.2f}x |"
    if best:
        row += f" {results[1].total / floor.total:.2f}x |"  # type: ignore[union-attr]
    print(row)
    if both:
        print("ratio = MLflow time / Modelshelf time (above 1: Modelshelf is faster)")
    if best:
        print("floor = the same client against a server that replays recorded answers (no work);"
              " best possible = MLflow time / floor time")
    if len(served) == 2:
        print("\nEach server's own time per call (its access log; medians), the ratio MLflow / Modelshelf:\n")
        print("| call | modelshelf server | mlflow server | ratio |\n|---|---|---|---|")
        for call in CALLS:
            if call in served["modelshelf"] and call in served["mlflow"]:
                ours, theirs = served["modelshelf"][call], served["mlflow"][call]
                print(f"| {call} | {ours * 1000:.2f} ms | {theirs * 1000:.2f} ms | {theirs / ours:.2f}x |")
    for call, seconds in small.items():
        print(f"modelshelf {call}: {seconds * 1000:.1f} ms (median of {args.small})")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, cores: {os.cpu_count()}")


def _close_client_connections() -> None:
    """Drop the client's kept-alive connections (gunicorn waits for them when it stops)."""
    import gc

    from mlflow.utils import request_utils

    request_utils._cached_get_request_session.cache_clear()
    # The client caches each run's artifact repository (its URL included) by run id; the replay
    # server answers the run ids the Modelshelf run made.
    from mlflow.tracking._tracking_service import utils

    utils._artifact_repos_cache.clear()
    gc.collect()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
