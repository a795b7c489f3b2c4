"""Cleanup policy benchmark: evaluating one project's policy over 100,000 versions (the issue's goal:
under 60 s), and the rate of a real run's removals.

Run by hand, not part of the test suite::

    python bench/cleanup_policy.py                                  # SQLite in a temp dir
    python bench/cleanup_policy.py --database-url postgresql://...  # an empty PostgreSQL database

It makes the schema with ``db.create_all()`` (model registry included), seeds one project with
``--names`` package names of ``--versions`` versions each by batched inserts (ages spread over 200
days; 1 % sealed; a protection rule for delete on one name), enables a policy (``keep_n`` 10,
``older_than`` 30d, ``name_regex_keep`` ``.*-stable``) and times:

1. ``plan``: the dry run's evaluation of every version (the figure the goal is about), best of 3;
2. a real run of the same policy narrowed to ``--run-names`` names (``package_name_regex``), which
   removes each version through the delete service in batches: versions a second.

Everything lives in a temp dir, removed at the end.
"""
from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None, help="An empty database (default: SQLite in a temp dir).")
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--run-names", type=int, default=2)
    args = parser.parse_args()

    from sqlalchemy import insert

    from package_api import create_app, services
    from package_api.access.projects import ProjectService
    from package_api.access.users import UserService
    from package_api.db import db, utcnow
    from package_api.packages.models import Package, PackageProtectionRule

    tmp = Path(tempfile.mkdtemp(prefix="ms-bench-cleanup-"))
    try:
        config = {"DATA_DIR": str(tmp / "data"), "STORAGE": "memory", "PLUGINS": "all", "CREATE_SCHEMA": True}
        if args.database_url:
            config["DATABASE_URL"] = args.database_url
        app = create_app(config)
        with app.app_context():
            dialect = db.engine.dialect.name
            owner = UserService(db.session).create("owner")
            project = ProjectService(db.session).create("bench/cleanup", owner)
            now = utcnow()
            total = args.names * args.versions
            started = time.perf_counter()
            rows = []
            for n in range(args.names):
                for v in range(args.versions):
                    index = n * args.versions + v
                    rows.append({
                        "project_id": project.id, "name": f"model-{n:04d}",
                        "version": f"1.{v}.0" + ("-stable" if v % 97 == 0 else ""), "package_type": "generic",
                        "status": "default", "created_at": now - datetime.timedelta(days=200 * (args.versions - v) / args.versions),
                        "updated_at": now, "sealed_at": now if index % 100 == 7 else None,
                    })
                    if len(rows) == 5000:
                        db.session.execute(insert(Package), rows)
                        rows = []
            if rows:
                db.session.execute(insert(Package), rows)
            db.session.add(PackageProtectionRule(
                project_id=project.id, package_name_pattern="model-0003", package_type="generic",
                minimum_access_level_for_delete=40,
            ))
            db.session.commit()
            print(f"{dialect}: seeded {total} versions of {args.names} names in {time.perf_counter() - started:.1f} s")

            policies = services.cleanup_policy_service()
            policy = policies.update(project, {"enabled": True, "keep_n": 10, "older_than": "30d", "name_regex_keep": ".*-stable"})
            cleanup = services.cleanup_service(app)
            timings = []
            for _ in range(3):
                db.session.expire_all()
                started = time.perf_counter()
                plan = cleanup.plan(policy)
                timings.append(time.perf_counter() - started)
                db.session.rollback()
            print(
                f"{dialect}: evaluated {plan.evaluated} versions in {min(timings):.2f} s (best of 3; "
                f"{', '.join(f'{t:.2f}' for t in timings)}): would remove {len(plan.remove)}, kept {plan.kept}"
            )

            narrowed = "|".join(f"model-{n:04d}" for n in range(args.run_names))
            policy = policies.update(project, {"package_name_regex": narrowed})
            started = time.perf_counter()
            report = cleanup.run(policy)
            elapsed = time.perf_counter() - started
            print(
                f"{dialect}: a real run removed {len(report.removed)} versions in {elapsed:.1f} s "
                f"({len(report.removed) / elapsed:.0f} versions/s, plan of {report.plan.evaluated} included)"
            )
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
