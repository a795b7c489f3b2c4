"""In-process cost of the MLflow read calls and the REST version GET: Flask's test client, no HTTP,
so the figures are the server's own work (what ``bench/mlflow_workflow.py`` cannot separate from the
client and the round trip). A project with one model of ``--versions`` versions is registered through
the MLflow API (a run and a metric each, a few tags, a staged version, an alias), on SQLite in a
temporary directory; then each call is timed ``--requests`` times (the searches a tenth as often).

Run by hand, not part of the test suite::

    python bench/mlflow_reads.py                      # median and minimum per call, in ms
    python bench/mlflow_reads.py --profile model-versions/get   # cProfile of that call

To compare two checkouts, run each with ``PYTHONPATH`` set to it, alternating.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: a checkout named there wins

from bench.inprocess import seeded_app  # noqa: E402


def build(directory: Path, versions: int) -> dict[str, Callable[[], Any]]:
    """The seeded app's calls, by name."""
    seeded = seeded_app(directory)
    client, headers, prefix = seeded.client, seeded.headers, seeded.mlflow + "/api/2.0/mlflow/"
    project_id, token = seeded.project_id, seeded.token

    def call(method: str, endpoint: str, body: dict[str, Any] | None = None, **query: Any) -> Any:
        response = client.open(prefix + endpoint, method=method, json=body, query_string=query or None, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    experiment = call("POST", "experiments/create", {"name": "bench"}).get_json()["experiment_id"]
    call("POST", "registered-models/create", {"name": "m", "tags": [{"key": "team", "value": "bench"}]})
    for number in range(1, versions + 1):
        run = call("POST", "runs/create", {"experiment_id": experiment, "start_time": 1}).get_json()["run"]["info"]["run_id"]
        call("POST", "runs/log-metric", {"run_id": run, "key": "loss", "value": 0.5, "timestamp": 1})
        call("POST", "model-versions/create", {"name": "m", "source": f"runs:/{run}/model", "run_id": run})
        if number % 50 == 1:
            call("POST", "model-versions/set-tag", {"name": "m", "version": str(number), "key": "k", "value": "v"})
    call("POST", "model-versions/transition-stage", {"name": "m", "version": "4", "stage": "Production"})
    call("POST", "registered-models/alias", {"name": "m", "alias": "champion", "version": "6"})
    rest = f"/api/v4/projects/{project_id}/ml/models/m/versions/1.0.5"
    return {
        "model-versions/search": lambda: call("GET", "model-versions/search", filter="name='m'", max_results=1000),
        "registered-models/get": lambda: call("GET", "registered-models/get", name="m"),
        "get-latest-versions": lambda: call("POST", "registered-models/get-latest-versions", {"name": "m"}),
        "model-versions/get": lambda: call("GET", "model-versions/get", name="m", version="6"),
        "registered-models/search": lambda: call("GET", "registered-models/search"),
        "REST version GET": lambda: client.get(rest, headers={"PRIVATE-TOKEN": token}),
        "/-/health": lambda: client.get("/-/health"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=300, help="versions of the model (default 300)")
    parser.add_argument("--requests", type=int, default=300, help="requests per call (default 300)")
    parser.add_argument("--profile", help="profile this call (cProfile, cumulative) instead of timing")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    try:
        measure(build(directory, args.versions), args)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def measure(calls: dict[str, Callable[[], Any]], args: argparse.Namespace) -> None:
    if args.profile:
        profile = cProfile.Profile()
        for _ in range(5):
            calls[args.profile]()
        profile.enable()
        for _ in range(args.requests):
            calls[args.profile]()
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
        return
    print("| call | median | min |")
    print("|---|---|---|")
    for name, request in calls.items():
        count = max(args.requests // 10, 5) if "search" in name else args.requests
        for _ in range(5):
            request()
        times = []
        for _ in range(count):
            start = time.perf_counter()
            request()
            times.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(times) * 1000:.2f} ms | {min(times) * 1000:.2f} ms |")


if __name__ == "__main__":
    main()
