"""Scale benchmark: the registry's lists, searches, gets and the model page over a large registry.

Run by hand, not part of the test suite::

    python bench/scale.py --database postgresql                      # 1,000,000 versions (issue 15)
    python bench/scale.py --database sqlite --versions 100000 --models 1000

One run starts its own database (PostgreSQL: a throwaway cluster made by ``.ci/postgres``; SQLite:
a file in a temp dir), upgrades it with ``modelshelf db upgrade``, makes a user, project and token
with the CLI, starts ``modelshelf serve`` on 127.0.0.1 on a free port, and makes one model with one
version through the API and the MLflow API (a file, a tag): the template. Then it seeds in SQL,
copying the template's rows (``INSERT ... SELECT`` over a sequence table, so the same statements run
on both databases):

- ``--models`` models of ``--versions / --models`` versions each, plus one model of ``--big``
  versions (the model page's case); every version is a package with one file (the template's blob,
  so the store holds one file), a run in the model's experiment, and ``--tags`` tags
  (``stage``, ``team``, ``dataset``, ``eval``, ``owner``, ... with values of varied selectivity).

Then it times each call over HTTP with one kept-alive session (``--samples`` rounds, the calls
interleaved round-robin so that the machine's noise falls on all of them alike) and prints p50 and
p95 per call, against the goals of issue 15 (lists and searches 50 ms, gets 10 ms, the page 300 ms).
Last, it runs the slowest call once more in-process, records its SQL statements with their times, and
prints the ``EXPLAIN`` of the slowest statement (``EXPLAIN ANALYZE`` on PostgreSQL).

Everything started here is stopped by its own pid at the end and the temp dir is removed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from plugin.registry import semver  # noqa: E402
from tests.support.servers import Server, start_server, stop_server  # noqa: E402

TAG_KEYS = ["stage", "team", "dataset", "eval", "owner", "region", "framework", "license"]
#: Each tag's value as SQL of the version's number ``n``: a few values (stage) to many (dataset).
TAG_VALUES = {
    "stage": "CASE n % 4 WHEN 0 THEN 'prod' WHEN 1 THEN 'staging' WHEN 2 THEN 'dev' ELSE 'archived' END",
    "team": "'team-' || (n % 50)",
    "dataset": "'ds-' || (n % 1000)",
    "eval": "CASE n % 2 WHEN 0 THEN 'passed' ELSE 'failed' END",
    "owner": "'user-' || (n % 200)",
    "region": "'region-' || (n % 7)",
    "framework": "CASE n % 3 WHEN 0 THEN 'torch' WHEN 1 THEN 'onnx' ELSE 'sklearn' END",
    "license": "'apache-2.0'",
}
GOALS_MS = {"list": 50.0, "search": 50.0, "get": 10.0, "page": 300.0}
PASSWORD = "bench-passw0rd"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the database ---------------------------------------------------------------------------------


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'data' / 'modelshelf.db'}"
        return
    cluster = workdir / "pg"
    script = ROOT / ".ci" / "postgres"
    os.chmod(workdir, 0o755)  # the cluster belongs to the postgres user when run as root
    url = subprocess.run([str(script), "start", str(cluster)], check=True, capture_output=True, text=True).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([str(script), "stop", str(cluster)], check=False)


class Seeder:
    """Copies of the template's rows, made with ``INSERT ... SELECT`` over ``bench_seq(n)``."""

    def __init__(self, engine: sa.Engine, project_id: int, template_model: str) -> None:
        self.engine = engine
        self.project_id = project_id
        self.postgres = engine.dialect.name == "postgresql"
        with engine.connect() as conn:
            row = lambda sql, **kw: conn.execute(sa.text(sql), kw).mappings().one()  # noqa: E731
            self.model = dict(row("SELECT * FROM ml_models WHERE project_id = :p AND name = :n", p=project_id, n=template_model))
            self.version = dict(row("SELECT * FROM ml_model_versions WHERE model_id = :m", m=self.model["id"]))
            self.package = dict(row("SELECT * FROM packages WHERE id = :i", i=self.version["package_id"]))
            self.file = dict(row("SELECT * FROM package_files WHERE package_id = :i", i=self.package["id"]))
            self.experiment = dict(row("SELECT * FROM ml_experiments WHERE model_id = :m", m=self.model["id"]))
            self.run = dict(row("SELECT * FROM ml_runs WHERE model_version_id = :v", v=self.version["id"]))
            registration = conn.execute(
                sa.text("SELECT * FROM ml_model_version_registrations WHERE version_id = :v"), {"v": self.version["id"]}
            ).mappings().first()
            self.registration = dict(registration) if registration else None

    @property
    def _bytes(self) -> str:
        return "BYTEA" if self.postgres else "BLOB"

    def _max(self, conn: sa.Connection, table: str, column: str = "id") -> int:
        return int(conn.execute(sa.text(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")).scalar_one())

    def _sequence(self, conn: sa.Connection, count: int) -> None:
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_seq"))
        conn.execute(sa.text("CREATE TABLE bench_seq (n INTEGER PRIMARY KEY)"))
        if self.postgres:
            conn.execute(sa.text("INSERT INTO bench_seq SELECT generate_series(1, :c)"), {"c": count})
        else:
            conn.execute(sa.text(
                "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :c) INSERT INTO bench_seq SELECT n FROM s"
            ), {"c": count})

    def seed(self, *, prefix: str, models: int, per_model: int, tags: int) -> None:
        """``models`` models named ``<prefix><i>`` of ``per_model`` versions ``1.<j // 100>.<j % 100>``."""
        total = models * per_model
        started = time.perf_counter()
        with self.engine.begin() as conn:
            self._sequence(conn, total)
            m0, e0, p0, f0 = (self._max(conn, t) for t in ("ml_models", "ml_experiments", "packages", "package_files"))
            v0, r0, t0 = (self._max(conn, t) for t in ("ml_model_versions", "ml_runs", "ml_model_version_tags"))
            iid0 = self._max(conn, "ml_experiments", "iid")
            model_of = f"((n - 1) / {per_model} + 1)"  # 1-based model number of version n
            seq_of = f"((n - 1) % {per_model} + 1)"  # 1-based sequence of version n in its model
            version = f"'1.' || (({seq_of} - 1) / 100) || '.' || (({seq_of} - 1) % 100)"
            name = f"'{prefix}' || {model_of}"
            values = {"project": self.project_id}
            common = {k: self.model[k] for k in ("description", "author_id", "origin", "created_at", "updated_at")}
            conn.execute(sa.text(
                "INSERT INTO ml_models (id, project_id, name, description, author_id, last_sequence, origin, created_at, updated_at) "
                f"SELECT {m0} + n, :project, '{prefix}' || n, :description, :author_id, {per_model}, :origin, :created_at, :updated_at "
                f"FROM bench_seq WHERE n <= {models}"
            ), {**values, **common})
            experiment_name = self.experiment["name"].replace(self.model["name"], "'||'" + prefix + "'|| n ||'")
            conn.execute(sa.text(
                "INSERT INTO ml_experiments (id, project_id, iid, name, model_id, lifecycle_stage, creator_id, created_at, updated_at) "
                f"SELECT {e0} + n, :project, {iid0} + n, '{experiment_name}', {m0} + n, :stage, :creator, :created_at, :updated_at "
                f"FROM bench_seq WHERE n <= {models}"
            ), {**values, "stage": self.experiment["lifecycle_stage"], "creator": self.experiment["creator_id"],
                "created_at": self.experiment["created_at"], "updated_at": self.experiment["updated_at"]})
            conn.execute(sa.text(
                "INSERT INTO packages (id, project_id, name, version, package_type, status, creator_id, created_at, updated_at) "
                f"SELECT {p0} + n, :project, {name}, {version}, :type, :status, :creator, :created_at, :updated_at FROM bench_seq"
            ), {**values, "type": self.package["package_type"], "status": self.package["status"],
                "creator": self.package["creator_id"], "created_at": self.package["created_at"], "updated_at": self.package["updated_at"]})
            conn.execute(sa.text(
                "INSERT INTO package_files (id, package_id, blob_id, file_name, status, created_at, updated_at) "
                f"SELECT {f0} + n, {p0} + n, :blob, :file_name, :status, :created_at, :updated_at FROM bench_seq"
            ), {"blob": self.file["blob_id"], "file_name": self.file["file_name"], "status": self.file["status"],
                "created_at": self.file["created_at"], "updated_at": self.file["updated_at"]})
            # Each version's SemVer precedence (``semver.precedence``), computed once per sequence number.
            conn.execute(sa.text("DROP TABLE IF EXISTS bench_precedence"))
            conn.execute(sa.text(f"CREATE TABLE bench_precedence (seq INTEGER PRIMARY KEY, precedence {self._bytes})"))
            conn.execute(sa.text("INSERT INTO bench_precedence (seq, precedence) VALUES (:seq, :precedence)"), [
                {"seq": j, "precedence": semver.precedence(f"1.{(j - 1) // 100}.{(j - 1) % 100}")} for j in range(1, per_model + 1)
            ])
            conn.execute(sa.text(
                "INSERT INTO ml_model_versions (id, model_id, package_id, version, sequence, precedence, release, description, "
                "author_id, created_at, updated_at, tag_index) "
                f"SELECT {v0} + n, {m0} + {model_of}, {p0} + n, {version}, {seq_of}, bench_precedence.precedence, :release, '', "
                f":author, :created_at, :updated_at, {self._tag_object(tags)} "
                f"FROM bench_seq JOIN bench_precedence ON bench_precedence.seq = {seq_of}"
            ), {"author": self.version["author_id"], "created_at": self.version["created_at"], "updated_at": self.version["updated_at"],
                "release": True})
            conn.execute(sa.text("DROP TABLE bench_precedence"))
            run_uuid = "md5('bench' || n || '-' || :prefix)" if self.postgres else "lower(hex(randomblob(16)))"
            conn.execute(sa.text(
                "INSERT INTO ml_runs (id, project_id, experiment_id, uuid, name, user_name, creator_id, status, start_time, end_time, "
                "lifecycle_stage, model_version_id, ci_job_id, created_at) "
                f"SELECT {r0} + n, :project, {e0} + {model_of}, {run_uuid}, 'run-' || n, :user_name, :creator, :status, :start, :end, "
                f":stage, {v0} + n, NULL, :created_at FROM bench_seq"
            ), {**values, "prefix": prefix, "user_name": self.run["user_name"], "creator": self.run["creator_id"],
                "status": self.run["status"], "start": self.run["start_time"], "end": self.run["end_time"],
                "stage": self.run["lifecycle_stage"], "created_at": self.run["created_at"]})
            if self.registration is not None:
                conn.execute(sa.text(
                    "INSERT INTO ml_model_version_registrations (version_id, stage, source, run_id, logged_model_id, run_link) "
                    f"SELECT {v0} + n, :stage, :source, {r0} + n, NULL, '' FROM bench_seq"
                ), {"stage": self.registration["stage"], "source": self.registration["source"]})
            for index, key in enumerate(TAG_KEYS[:tags]):
                conn.execute(sa.text(
                    "INSERT INTO ml_model_version_tags (id, version_id, key, value) "
                    f"SELECT {t0} + (n - 1) * {tags} + {index + 1}, {v0} + n, '{key}', {TAG_VALUES[key]} FROM bench_seq"
                ))
            conn.execute(sa.text("DROP TABLE bench_seq"))
        log(f"seeded {models:,} models x {per_model:,} versions ({prefix}*) in {time.perf_counter() - started:.0f} s")

    def _tag_object(self, tags: int) -> str:
        """The version's tags as its ``tag_index`` object (``plugin.mlflow_registry.tag_index``), SQL of ``n``."""
        pairs = ", ".join(f"'{key}', {TAG_VALUES[key]}" for key in TAG_KEYS[:tags])
        if not pairs:
            return "NULL"
        return f"jsonb_build_object({pairs})" if self.postgres else f"json_object({pairs})"

    def finish(self) -> None:
        with self.engine.begin() as conn:
            if self.postgres:
                for table in ("ml_models", "ml_experiments", "packages", "package_files", "ml_model_versions", "ml_runs",
                              "ml_model_version_tags"):
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"))
        self.at_rest(self.engine)

    @staticmethod
    def at_rest(engine: sa.Engine) -> None:
        """As autovacuum leaves a registry at rest: statistics, and on PostgreSQL the visibility map
        that lets index-only scans skip the heap."""
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))


# -- the calls ------------------------------------------------------------------------------------


@dataclass
class Call:
    name: str
    kind: str  # list | search | get | page
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None


def calls(project: int, prefix: str, models: int, per_model: int, big: str) -> list[Call]:
    middle = f"{prefix}{models // 2}"
    version = f"1.0.{min(per_model, 100) // 2}"
    api = f"/api/v4/projects/{project}"
    mlflow = f"{api}/ml/mlflow/api/2.0/mlflow"
    tags = "tags.stage = 'prod' AND tags.team = 'team-4' AND tags.eval = 'passed'"
    return [
        Call("REST models list (page 1)", "list", f"{api}/ml/models", {"per_page": 20}),
        Call("REST models search", "search", f"{api}/ml/models", {"search": f"{prefix}77", "per_page": 20}),
        Call("REST versions list", "list", f"{api}/ml/models/{middle}/versions", {"per_page": 20}),
        Call("REST versions list, big model", "list", f"{api}/ml/models/{big}/versions", {"per_page": 20}),
        Call("REST get model by name", "get", f"{api}/ml/models/{middle}"),
        Call("REST get version", "get", f"{api}/ml/models/{middle}/versions/{version}"),
        # A CI job's download: judging the package asks whether its name is a model's (one name, not every model's).
        Call("generic GET of a version's file", "get", f"{api}/packages/generic/{middle}/{version}/model.onnx"),
        Call("MLflow registered-models/search", "search", f"{mlflow}/registered-models/search", {"max_results": 100}),
        Call("MLflow model-versions/search, name + 3 tags", "search", f"{mlflow}/model-versions/search",
             {"filter": f"name = '{middle}' AND {tags}", "max_results": 100}),
        Call("MLflow model-versions/search, 3 tags", "search", f"{mlflow}/model-versions/search",
             {"filter": tags, "max_results": 100}),
        Call("MLflow model-versions/search, big model + 3 tags", "search", f"{mlflow}/model-versions/search",
             {"filter": f"name = '{big}' AND {tags}", "max_results": 100}),
        Call("MLflow registered-models/get", "get", f"{mlflow}/registered-models/get", {"name": middle}),
        Call("MLflow model-versions/get", "get", f"{mlflow}/model-versions/get", {"name": middle, "version": "1"}),
        Call("MLflow get-latest-versions", "get", f"{mlflow}/registered-models/get-latest-versions", {"name": middle}),
        Call("model page, big model (versions tab)", "page", ""),
    ]


def sign_in(server: Server, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{server.url}/users/sign_in", timeout=30).text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    form = {"username": username, "password": PASSWORD, "redirect_to": "/"}
    if csrf:
        form["authenticity_token"] = csrf.group(1)
    signed = browser.post(f"{server.url}/users/sign_in", data=form, headers={"X-CSRF-Token": csrf.group(1) if csrf else ""},
                          timeout=30, allow_redirects=False)
    assert signed.status_code in (302, 303), f"sign-in answered {signed.status_code}"
    return browser


#: Requests of each call before it is timed.
WARM_UP = 40


def measure(server: Server, token: str, browser: requests.Session, page_path: str, todo: list[Call],
            samples: int) -> dict[str, list[float]]:
    api = requests.Session()
    api.headers["PRIVATE-TOKEN"] = token
    times: dict[str, list[float]] = {c.name: [] for c in todo}

    def once(call: Call) -> float:
        session = browser if call.kind == "page" else api
        url = server.url + (page_path if call.kind == "page" else call.path)
        started = time.perf_counter()
        response = session.get(url, params=call.params, timeout=120)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, f"{call.name}: {response.status_code} {response.text[:300]}"
        return elapsed

    # Warm up (and check each answers): a long-running server has run each statement many times on each
    # connection of its pool. On PostgreSQL a lookup is prepared at its first run on a connection, and
    # planned five times before PostgreSQL may keep one plan for it (package_api.db.prepared); the
    # server uses two or three connections here (the page's requests come on a connection of their own,
    # and an answer is sent before its request gives its connection back).
    for call in todo:
        for _ in range(WARM_UP):
            once(call)
    for _ in range(samples):
        for call in todo:
            times[call.name].append(once(call))
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def report(todo: list[Call], times: dict[str, list[float]]) -> Call:
    print()
    print("| call | p50 ms | p95 ms | goal (p95) |")
    print("|---|---:|---:|---:|")
    slowest, worst = todo[0], 0.0
    for call in todo:
        p50, p95 = percentile(times[call.name], 0.5) * 1000, percentile(times[call.name], 0.95) * 1000
        goal = GOALS_MS[call.kind]
        mark = "" if p95 <= goal else "  (over)"
        print(f"| {call.name} | {p50:.1f} | {p95:.1f} | {goal:.0f}{mark} |")
        if p95 / goal > worst:
            slowest, worst = call, p95 / goal
    print()
    return slowest


# -- the slowest call's SQL -----------------------------------------------------------------------


def explain_slowest(database_url: str, data_dir: Path, call: Call, token: str, page_path: str, username: str) -> None:
    os.environ["MODELSHELF_DATA_DIR"] = str(data_dir)
    from package_api import create_app
    from package_api.db import db

    app = create_app({"DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "CREATE_SCHEMA": False, "PLUGINS": "all"})
    statements: list[tuple[float, str, Any]] = []
    with app.app_context():
        engine = db.engine

        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            conn.info["bench_started"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            statements.append((time.perf_counter() - conn.info.pop("bench_started"), statement, parameters))

        sa.event.listen(engine, "before_cursor_execute", before)
        sa.event.listen(engine, "after_cursor_execute", after)
        client = app.test_client()
        if call.kind == "page":
            from tests.support.pages import signed_in

            signed_in(app, client, username)
            client.get(page_path)
        else:
            client.get(call.path, query_string=call.params, headers={"PRIVATE-TOKEN": token})
        statements.clear()
        started = time.perf_counter()
        if call.kind == "page":
            client.get(page_path)
        else:
            client.get(call.path, query_string=call.params, headers={"PRIVATE-TOKEN": token})
        total = time.perf_counter() - started
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        print(f"Slowest against its goal: {call.name}: {total * 1000:.1f} ms in-process, {len(statements)} statements, "
              f"{sum(s[0] for s in statements) * 1000:.1f} ms in SQL")
        if not statements:
            return
        seconds, statement, parameters = max(statements, key=lambda s: s[0])
        shown = re.sub(r"(\?, ){8,}|(%\(\w+\)s, ){8,}", "..., ", statement)
        print(f"Its slowest statement ({seconds * 1000:.1f} ms):\n{shown[:3000]}\nparameters: {str(parameters)[:300]}\n")
        prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        with engine.connect() as conn:
            plan = conn.exec_driver_sql(prefix + statement, parameters).fetchall()
        print("\n".join(" | ".join(str(c) for c in row) for row in plan))
        db.session.remove()
        engine.dispose()


# -- the run --------------------------------------------------------------------------------------


def cli(server: Server, *args: str, stdin: str | None = None) -> str:
    return server.cli(*args, input=stdin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=10_000, help="versions of the one big model (the model page's case)")
    parser.add_argument("--tags", type=int, default=5, help=f"tags per version (at most {len(TAG_KEYS)})")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the data directory (and the SQLite database) in DIR and reuse it: a later run with the "
                             "same DIR upgrades the schema and measures without seeding again")
    parser.add_argument("--database-url", metavar="URL",
                        help="use this PostgreSQL database (e.g. from `.ci/postgres start DIR`) instead of a throwaway "
                             "cluster; with --keep, seeded once and reused")
    parser.add_argument("--only", metavar="REGEX", help="measure only the calls whose name matches")
    args = parser.parse_args()
    per_model = max(1, args.versions // args.models)

    workdir = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="modelshelf-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    state_file = workdir / "bench-state.json"
    state = json.loads(state_file.read_text()) if args.keep and state_file.exists() else None
    server: Server | None = None
    try:
        with (given(args.database_url) if args.database_url else database(args.database, workdir)) as url:
            data_dir = workdir / "data"
            data_dir.mkdir(exist_ok=True)
            settings = {"DATABASE_URL": url, "PLUGINS": "all"}
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")},
                   "MODELSHELF_DATA_DIR": str(data_dir), "MODELSHELF_DATABASE_URL": url}
            subprocess.run([sys.executable, "-m", "package_api.ops.cli", "db", "upgrade"], env=env, check=True,
                           capture_output=True)
            server = start_server(data_dir, settings, workers=args.workers)
            engine = sa.create_engine(url)
            if state is None:
                cli(server, "admin", "create-user", "alice", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
                project = int(cli(server, "admin", "create-project", "bench/models", "--owner", "alice"))
                token = cli(server, "admin", "create-token", "--user", "alice", "--scopes", "api")
                template(server, project, token)
                seeder = Seeder(engine, project, "template")
                seeder.seed(prefix="model-", models=args.models, per_model=per_model, tags=args.tags)
                seeder.seed(prefix="big-", models=1, per_model=args.big, tags=args.tags)
                seeder.finish()
                if args.keep:
                    state_file.write_text(json.dumps({"project": project}))
            else:
                project = int(state["project"])
                token = cli(server, "admin", "create-token", "--user", "alice", "--scopes", "api")
                log(f"reusing the registry seeded in {workdir}")
                Seeder.at_rest(engine)  # after the upgrade's new columns and indexes
            with engine.connect() as conn:
                counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                          for t in ("ml_models", "ml_model_versions", "ml_model_version_tags", "ml_runs", "package_files")}
            engine.dispose()
            log("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
            browser = sign_in(server, "alice")
            big = "big-1"
            big_id = requests.get(f"{server.url}/api/v4/projects/{project}/ml/models/{big}", headers={"PRIVATE-TOKEN": token},
                                  timeout=30).json()["id"]
            page_path = f"/bench/models/-/ml/models/{big_id}?tab=versions"
            todo = [c for c in calls(project, "model-", args.models, per_model, big)
                    if not args.only or re.search(args.only, c.name)]
            log(f"measuring {len(todo)} calls x {args.samples} rounds ({args.database}, {args.workers} worker(s))")
            times = measure(server, token, browser, page_path, todo, args.samples)
            slowest = report(todo, times)
            stop_server(server)
            server = None
            explain_slowest(url, data_dir, slowest, token, page_path, "alice")
    finally:
        if server is not None:
            stop_server(server)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def given(url: str) -> Iterator[str]:
    yield url


def template(server: Server, project: int, token: str) -> None:
    """One model with one version made through the APIs: the rows the seeder copies."""
    headers = {"PRIVATE-TOKEN": token}
    api = f"{server.url}/api/v4/projects/{project}"
    created = requests.post(f"{api}/ml/models", data={"name": "template"}, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    uploaded = requests.put(f"{api}/packages/generic/template/1.0.0/model.onnx", data=b"weights" * 1000, headers=headers, timeout=30)
    assert uploaded.status_code == 201, uploaded.text
    mlflow = f"{api}/ml/mlflow/api/2.0/mlflow"
    bearer = {"Authorization": f"Bearer {token}"}
    tagged = requests.post(f"{mlflow}/model-versions/set-tag", json={"name": "template", "version": "1", "key": "stage",
                                                                     "value": "prod"}, headers=bearer, timeout=30)
    assert tagged.status_code == 200, tagged.text
    ensure_run(server, project, token)


def ensure_run(server: Server, project: int, token: str) -> None:
    """The template version's run: MLflow makes one per version registered from the API; if the
    version has none (made by upload), register the version from a run instead."""
    engine = sa.create_engine(server.env["MODELSHELF_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            has_run = conn.execute(sa.text(
                "SELECT COUNT(*) FROM ml_runs r JOIN ml_model_versions v ON v.id = r.model_version_id "
                "JOIN ml_models m ON m.id = v.model_id WHERE m.name = 'template' AND m.project_id = :p"
            ), {"p": project}).scalar_one()
    finally:
        engine.dispose()
    if not has_run:
        raise SystemExit("the template version has no run: this benchmark's seeding assumes one run per version")



if __name__ == "__main__":
    main()
