"""In-process cost of MLflow's ``model-versions/create`` (the registration path): Flask's test client,
no HTTP, so the figures are the server's own work. A project with a model and a run whose ``model/``
holds ``--files`` small files, on SQLite in a temporary directory; then ``--versions`` registrations
from ``runs:/<run>/model`` (the workload of ``bench/mlflow_workflow.py``), each timed in CPU and wall
time.

Run by hand, not part of the test suite::

    python bench/mlflow_create.py                     # CPU median, wall median and minimum, in ms

To compare two checkouts, run each with ``PYTHONPATH`` set to it, alternating.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: a checkout named there wins

from bench.inprocess import seeded_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=300, help="registrations to time (default 300)")
    parser.add_argument("--files", type=int, default=3, help="files in the run's model/ (default 3)")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-create-"))
    try:
        measure(directory, args)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def measure(directory: Path, args: argparse.Namespace) -> None:
    seeded = seeded_app(directory)
    client, headers, prefix = seeded.client, seeded.headers, seeded.mlflow

    def call(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(f"{prefix}/api/2.0/mlflow/{endpoint}", json=body, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        answer: dict[str, Any] = response.get_json()
        return answer

    experiment = call("experiments/create", {"name": "bench"})["experiment_id"]
    call("registered-models/create", {"name": "m"})
    run = call("runs/create", {"experiment_id": experiment, "start_time": 1})["run"]["info"]["run_id"]
    for number in range(args.files):
        url = f"{prefix}/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/model/f{number}.bin"
        assert client.put(url, data=b"x%d" % number, headers=headers).status_code == 200
    body = {"name": "m", "source": f"runs:/{run}/model", "run_id": run}
    cpu, wall = [], []
    for _ in range(args.versions):
        started, started_cpu = time.perf_counter(), time.process_time()
        call("model-versions/create", body)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    print(
        f"model-versions/create in-process ({args.versions} versions, {args.files} files): CPU median "
        f"{statistics.median(cpu) * 1e3:.2f} ms, wall median {statistics.median(wall) * 1e3:.2f} ms, "
        f"wall min {min(wall) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
