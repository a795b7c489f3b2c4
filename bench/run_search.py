"""Run search benchmark: ``RunService.search`` (what ``search_runs`` and the experiment's runs table
call) over one experiment of ``--runs`` runs, each with 5 params, 5 tags and 5 metrics of
``--steps`` points, on SQLite in a temporary directory (or ``--database`` a PostgreSQL URL).

Run by hand, not part of the test suite::

    python bench/run_search.py --runs 10000

The runs are seeded with bulk inserts (and their latest metrics kept as ``log_batch`` keeps them),
then each search is timed (best of ``--repeat``): the first page and a page near the end, in the
default order and ordered by a metric, a param and a tag (missing values last), filters on a
metric, a param, a tag and the run name, and the LIKE of twenty ``%_`` pairs. Each line is the
search, the rows it returned and its time in milliseconds.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from package_api import create_app  # noqa: E402
from package_api.access.models import Project  # noqa: E402
from package_api.access.projects import ProjectService  # noqa: E402
from package_api.access.users import UserService  # noqa: E402
from package_api.db import db  # noqa: E402
from plugin.tracking.experiments import ExperimentService  # noqa: E402
from plugin.tracking.models import Experiment, Run, RunLatestMetric, RunMetric, RunParam, RunTag  # noqa: E402
from plugin.tracking.runs import RunService  # noqa: E402
from plugin.tracking.search import page_token  # noqa: E402

KEYS = ("a", "b", "c", "d", "e")
SEARCHES: list[tuple[str, str, list[str], bool]] = [  # (label, filter, order_by, last page)
    ("first page, default order", "", [], False),
    ("last page, default order", "", [], True),
    ("first page by metric", "", ["metrics.loss_a DESC"], False),
    ("last page by metric", "", ["metrics.loss_a ASC"], True),
    ("first page by param", "", ["params.p_b ASC"], False),
    ("last page by tag", "", ["tags.t_c DESC"], True),
    ("metric filter", "metrics.loss_a < 0.5 AND metrics.loss_b != 0.3", ["metrics.loss_c DESC"], False),
    ("param != (absent on half)", "params.p_sparse != 'x'", [], False),
    ("tag IS NULL", "tags.t_sparse IS NULL", ["start_time ASC"], False),
    ("run_name ILIKE", "run_name ILIKE '%-00012%'", [], False),
    ("LIKE of 20 %_ pairs", "attributes.run_name LIKE '" + "%_" * 20 + "!'", [], False),
    ("param LIKE of 20 %_ pairs", "params.p_a LIKE '" + "%_" * 20 + "!'", ["metrics.loss_a ASC"], False),
]


def seed(runs: int, steps: int) -> tuple[Project, Experiment]:
    owner = UserService(db.session).create("bench", password="bench-password-1234")
    project = ProjectService(db.session).create("bench/runs", owner)
    experiment = ExperimentService(db.session).create(project, "bench", creator=None)
    rows = [
        {"project_id": project.id, "experiment_id": experiment.id, "uuid": uuid.uuid4().hex,
         "name": f"bench-run-number-{i:06d}", "user_name": "bench", "status": "FINISHED", "start_time": i,
         "end_time": i + 10, "lifecycle_stage": "active"}
        for i in range(runs)
    ]  # fmt: skip
    db.session.execute(insert(Run), rows)
    ids = [i for (i,) in db.session.query(Run.id).filter(Run.experiment_id == experiment.id).order_by(Run.id)]
    params, tags, points, latest = [], [], [], []
    for n, run_id in enumerate(ids):
        for key in KEYS:
            params.append({"run_id": run_id, "key": f"p_{key}", "value": f"value-{(n * 7) % runs:06d}"})
            tags.append({"run_id": run_id, "key": f"t_{key}", "value": f"tag-{(n * 13) % runs:06d}"})
            for step in range(steps):
                value = ((n * 31 + step) % 1000) / 1000
                points.append({"run_id": run_id, "key": f"loss_{key}", "value": value, "is_nan": False,
                               "timestamp": step, "step": step})  # fmt: skip
            latest.append({**points[-1]})
        if n % 2:
            params.append({"run_id": run_id, "key": "p_sparse", "value": "y"})
            tags.append({"run_id": run_id, "key": "t_sparse", "value": "y"})
    for table, values in ((RunParam, params), (RunTag, tags), (RunMetric, points), (RunLatestMetric, latest)):
        for start in range(0, len(values), 20_000):
            db.session.execute(insert(table), values[start : start + 20_000])
    db.session.commit()
    return project, experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--page", type=int, default=100, help="max_results of each search")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite in a temporary directory)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        database = arguments.database or f"sqlite:///{directory}/bench.db"
        app = create_app({"DATA_DIR": directory, "STORAGE": "memory", "SECRET_KEY": "bench", "PLUGINS": "all",
                          "DATABASE_URL": database})  # fmt: skip
        with app.app_context():
            started = time.perf_counter()
            project, experiment = seed(arguments.runs, arguments.steps)
            print(f"seeded {arguments.runs} runs x {arguments.steps} steps in {time.perf_counter() - started:.1f} s")
            service = RunService(db.session)
            last_page = page_token(max(arguments.runs - arguments.page, 0))
            for label, filter_, order_by, at_end in SEARCHES:
                best, found = float("inf"), 0
                for _ in range(arguments.repeat):
                    db.session.expire_all()
                    started = time.perf_counter()
                    results = service.search(project, [experiment], filter_=filter_, order_by=order_by,
                                             max_results=arguments.page, page_token=last_page if at_end else None)
                    best = min(best, time.perf_counter() - started)
                    found = len(results.items)
                print(f"{label:34} {found:5d} rows {best * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
