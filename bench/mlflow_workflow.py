"""MLflow workflow benchmark: the stock ``mlflow`` client against Modelshelf and against
``mlflow server`` (gunicorn mode), on this machine, in one run.

Run by hand, not part of the test suite::

    python bench/mlflow_workflow.py --versions 1000

One scripted workflow runs against each server in turn and each phase is timed:

- setup:    create a registered model, a run with a small ``model/`` directory of artifacts
- metrics:  log ``--steps`` points of 5 metrics on the run (``log_batch``, 1,000 per call) and
            read one metric's history back
- versions: register ``--versions`` versions from ``runs:/<run>/model`` (one call each)
- tag:      set a tag on every tenth version
- search:   ``search_model_versions`` by name, by tag, ordered; ``search_registered_models``
- latest:   ``get_latest_versions`` and ``get_registered_model``, 20 times each
- load:     download ``models:/<name>/<last>`` (list and fetch its files)

Modelshelf is ``modelshelf serve`` (SQLite, filesystem store; a user, project and token made with
the CLI); MLflow is ``mlflow server --backend-store-uri sqlite:// --serve-artifacts --gunicorn-opts``
with the same number of workers. Both listen on 127.0.0.1 on free ports and are stopped by their
own process group at the end. Without ``mlflow`` installed nothing can run (the client is the
workload); without the ``mlflow`` server command only Modelshelf is measured.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", message=".*stages.*", category=FutureWarning)  # get_latest_versions

from tests.support.live_server import create_account  # noqa: E402
from tests.support.servers import free_port, start_server, stop, wait_for_port  # noqa: E402

MODEL = "bench-model"
METRIC_KEYS = ("loss", "accuracy", "precision", "recall", "f1")


@dataclass
class Timings:
    name: str
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.phases.values())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.phases[name] = time.perf_counter() - start
        print(f"  {self.name:<10} {name:<9} {self.phases[name]:8.2f} s", flush=True)


def workflow(name: str, uri: str, versions: int, steps: int, workdir: Path) -> Timings:
    """Run the workflow against the tracking server at ``uri``; return the time of each phase."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

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

    with timings.phase("setup"):
        client.create_registered_model(MODEL, description="benchmark")
        experiment_id = client.create_experiment("bench")
        run = client.create_run(experiment_id)
        run_id = run.info.run_id
        client.log_artifacts(run_id, str(model_dir), "model")
    with timings.phase("metrics"):
        now = int(time.time() * 1000)
        points = [Metric(key, 1.0 / (step + 1), now + step, step) for step in range(steps) for key in METRIC_KEYS]
        for start in range(0, len(points), 1000):
            client.log_batch(run_id, metrics=points[start : start + 1000])
        history = client.get_metric_history(run_id, "loss")
        assert len(history) == steps, len(history)
    with timings.phase("versions"):
        for _ in range(versions):
            client.create_model_version(MODEL, f"runs:/{run_id}/model", run_id=run_id)
    with timings.phase("tag"):
        for number in range(1, versions + 1, 10):
            client.set_model_version_tag(MODEL, str(number), "validated", "true")
    with timings.phase("search"):
        found = client.search_model_versions(f"name='{MODEL}'")
        assert len(found) == versions, len(found)
        tagged = client.search_model_versions(
            f"name='{MODEL}' and tags.validated='true'", order_by=["version_number DESC"]
        )
        assert len(tagged) == len(range(1, versions + 1, 10)), len(tagged)
        assert [m.name for m in client.search_registered_models(f"name LIKE '{MODEL[:5]}%'")] == [MODEL]
    with timings.phase("latest"):
        for _ in range(20):
            [latest] = client.get_latest_versions(MODEL)
            assert latest.version == str(versions)
            client.get_registered_model(MODEL)
    with timings.phase("load"):
        path = mlflow.artifacts.download_artifacts(
            f"models:/{MODEL}/{versions}", dst_path=str(workdir / f"{name}-download")
        )
        assert (Path(path) / "conf" / "params.json").exists()
    return timings


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
            "--gunicorn-opts", f"--workers {workers} --timeout 120",
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
    parser.add_argument("--versions", type=int, default=1000, help="versions to register (default 1000)")
    parser.add_argument("--steps", type=int, default=1000, help="steps of each of 5 metrics (default 1000)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes, both servers (default 1)")
    args = parser.parse_args()
    try:
        import mlflow  # noqa: F401
    except ImportError:
        sys.exit("the mlflow client is the workload: pip install 'mlflow==3.17.2'")

    workdir = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    processes: list[subprocess.Popen[bytes]] = []
    results: list[Timings] = []
    try:
        (workdir / "modelshelf").mkdir()
        server = start_server(workdir / "modelshelf", workers=args.workers)
        processes.append(server.process)
        account = create_account(server, "bench")
        project, _ = account.create_project()
        os.environ["MLFLOW_TRACKING_TOKEN"] = account.token
        uri = f"{server.url}/api/v4/projects/{project}/ml/mlflow"
        print(f"modelshelf: {uri}", flush=True)
        results.append(workflow("modelshelf", uri, args.versions, args.steps, workdir))
        _close_client_connections()
        stop(server.process)

        if shutil.which("mlflow") is None:
            print("no `mlflow` command: MLflow's own server is not measured")
        else:
            process, mlflow_uri = start_mlflow_server(workdir, args.workers)
            processes.append(process)
            print(f"mlflow server (gunicorn): {mlflow_uri}", flush=True)
            results.append(workflow("mlflow", mlflow_uri, args.versions, args.steps, workdir))
            _close_client_connections()
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'phase':<10}" + "".join(f"{t.name:>12}" for t in results) + ("       ratio" if len(results) == 2 else ""))
    for phase in results[0].phases:
        row = f"{phase:<10}" + "".join(f"{t.phases[phase]:11.2f}s" for t in results)
        if len(results) == 2 and results[1].phases[phase] > 0:
            row += f"{results[0].phases[phase] / results[1].phases[phase]:11.2f}x"
        print(row)
    total = f"{'total':<10}" + "".join(f"{t.total:11.2f}s" for t in results)
    if len(results) == 2:
        total += f"{results[0].total / results[1].total:11.2f}x"
    print(total)
    if len(results) == 2:
        print("ratio = Modelshelf time / MLflow time (below 1: Modelshelf is faster)")


def _close_client_connections() -> None:
    """Drop the client's kept-alive connections (gunicorn waits for them when it stops)."""
    import gc

    from mlflow.utils import request_utils

    request_utils._cached_get_request_session.cache_clear()
    gc.collect()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
