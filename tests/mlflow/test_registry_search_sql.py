"""The registry's MLflow searches run in SQL (``plugin/mlflow_registry/registry_search.py``): over 2,000
versions of five models, each filter operator answers what the Python matcher they replaced answers
(``filters.Comparison.matches`` over ``version_field``, sorted and paged as before), page after page;
and a search costs the same statements over 200 versions as over 2,000."""
from __future__ import annotations

import datetime
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy import text as sql

from package_api.access.models import Project
from package_api.db import db
from package_api.packages.models import Package, PackageStatus
from plugin.mlflow_registry.model_versions import (
    MAX_RESULTS_DEFAULT,
    ORDER_KEYS,
    SEARCH_GRAMMAR,
    version_field,
)
from plugin.mlflow_registry.models import ModelTag, Registration, VersionTag
from plugin.mlflow_registry.registry_search import SAMPLE
from plugin.mlflow_registry.tag_index import add_new_version_tags
from plugin.mlflow_registry.version_rows import LATEST
from plugin.registry.models import Model, ModelVersion
from plugin.services import model_version_services
from plugin.tracking import filters, search
from plugin.tracking.models import Run
from plugin.tracking.times import milliseconds
from tests.support.databases import require_postgres
from tests.support.statements import counting
from tests.support.world import World

pytestmark = pytest.mark.slow

MODELS = ["alpha", "Beta", "gamma_1", "delta.x", "big"]
STAGES = ["None", "Staging", "Production", "Archived"]
VERSION_FILTERS = [
    "", "name = 'alpha'", "name != 'big'", "name LIKE 'gamma\\_%'", "name LIKE 'gamma_1'", "name LIKE 'B%'",
    "name ILIKE 'b%'", "name LIKE 'delta.%'", "name IN ('alpha', 'Beta')", "name NOT IN ('big')",
    "version_number = 3", "version_number != 3", "version_number < 5", "version_number <= 5",
    "version_number > 390", "version_number >= 399.5", "name = 'big' AND version_number > 1500",
    "tags.stage = 'prod'", "tags.stage != 'prod'", "tags.stage LIKE 'p%'", "tags.stage ILIKE 'P%'",
    "tags.team = 'team-4'", "tags.rare = 'x'", "tags.`a.b` = 'dotted'", "tags.long = '" + "v" * 300 + "'",
    "tags.long = '" + "v" * 200 + "w" * 100 + "'", "tags.long = '" + "v" * 200 + "'",
    "tags.long = '" + "v" * 300 + "' AND tags.stage = 'prod' AND tags.eval = 'failed'",
    "tags.meta = '50%_off'", "tags.meta = '5%'", "tags.meta = '50%\\_off'", "tags.meta = 'under_score'",
    "tags.meta = 'under-score'", "tags.meta = 'quo\"te'", "tags.meta = '{\"a\": 1}'", "tags.meta = 'ünï'",
    "tags.meta = 'under_score' AND tags.team = 'team-4' AND tags.eval = 'passed'",
    "tags.stage = 'prod' AND tags.stage = 'Prod'", "tags.stage = 'prod' AND tags.stage = 'prod' AND tags.team = 'team-4'",
    "tags.stage = 'prod' AND tags.team = 'team-4' AND tags.eval = 'passed'",
    "name = 'big' AND tags.stage = 'prod' AND tags.team = 'team-4' AND tags.eval = 'passed'",
    "tags.`mlflow.prompt.is_prompt` = 'true'", "tags.`mlflow.prompt.is_prompt` != 'false'",
    "tags.`mlflow.prompt.is_prompt` = 'false'", "run_id = '{run}'", "run_id != '{run}'", "run_id IN ('{run}', 'nope')",
    "run_id NOT IN ('{run}')", "run_id = ''", "source_path = 's3://b/alpha/7'", "source_path LIKE 's3://b/big/1%'",
    "source_path ILIKE 'S3://B/BETA/%'", "source_path != ''", "source_path LIKE '%\\%%'",
]  # fmt: skip
ORDERS: list[list[str]] = [
    [], ["name"], ["name DESC"], ["version_number"], ["version_number DESC"], ["creation_timestamp DESC"],
    ["last_updated_timestamp"], ["timestamp", "name DESC"],
]  # fmt: skip
MODEL_FILTERS = [
    "", "name = 'alpha'", "name LIKE '%a%'", "name ILIKE '%A%'", "name IN ('big', 'x')", "name NOT IN ('big')",
    "name != 'Beta'", "tags.owner = 'team-1'", "tags.owner != 'team-1'", "tags.owner LIKE 'team%'",
    "tags.`mlflow.prompt.is_prompt` = 'true'",
]  # fmt: skip
MODEL_ORDERS: list[list[str]] = [[], ["name DESC"], ["creation_timestamp"], ["last_updated_timestamp DESC", "name"]]


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


class Registry:
    """Five models (one of 1,600 versions) with tags and runs, made through the API, then versions
    seeded through the ORM in bulk (``size`` of them) with varied tags, stages, sources and times.

    On PostgreSQL the seeded tables are analyzed once the versions are committed, as autovacuum
    would soon do, so that the plans do not depend on when autovacuum ran (it ran sometimes during
    the seeding). ``stale_statistics``: analyzed before the commit instead, from another connection,
    which sees none of the new rows: what an autovacuum ANALYZE during a bulk import leaves."""

    def __init__(self, app: Flask, client: FlaskClient, world: World, size: int, *, stale_statistics: bool = False) -> None:
        self.app, self.client, self.stale_statistics = app, client, stale_statistics
        self.project = world.projects["private"]
        self.prefix = f"/api/v4/projects/{self.project}/ml/mlflow/api/2.0/mlflow/"
        self.headers = {"Authorization": f"Bearer {world.tokens['developer']}"}
        for index, name in enumerate(MODELS):
            tags = [{"key": "owner", "value": f"team-{index % 2}"}]
            if name == "delta.x":
                tags.append({"key": "mlflow.prompt.is_prompt", "value": "true"})
            self.call("registered-models/create", {"name": name, "tags": tags})
        experiment = self.call("experiments/create", {"name": "training"})["experiment_id"]
        self.runs = [self.call("runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"] for _ in range(3)]
        self._seed(size)

    def _seed(self, size: int) -> None:
        shuffle = random.Random(15)
        with self.app.app_context():
            session = db.session
            project = session.get(Project, self.project)
            assert project is not None
            models = {m.name: m for m in session.query(Model).filter(Model.project_id == self.project)}
            runs = {r.uuid: r.id for r in session.query(Run).filter(Run.uuid.in_(self.runs))}
            base = datetime.datetime(2026, 1, 1)
            counts = {name: models[name].last_sequence for name in MODELS}
            if not any(counts.values()):
                session.add(ModelTag(model_id=models["big"].id, key="extra", value="1"))
            for n in range(size):
                name = "big" if n % 5 == 0 or n >= 400 else MODELS[n % 4]
                counts[name] += 1
                number = models[name].last_sequence = counts[name]
                package = Package(project_id=self.project, name=name, version=f"1.{number // 100}.{number % 100}",
                                  status=PackageStatus.DEFAULT)  # fmt: skip
                # Times with ties (exact ones: the tie-breakers decide) and whole milliseconds.
                created = base + datetime.timedelta(milliseconds=shuffle.randrange(0, size // 3))
                updated = created + datetime.timedelta(milliseconds=shuffle.choice([0, 0, 5, 1000]))
                row = ModelVersion(model=models[name], package=package, version=package.version, sequence=number,
                                   created_at=created, updated_at=updated)  # fmt: skip
                session.add_all([package, row])
                session.flush()
                run = self.runs[n % 3] if n % 7 else None
                source = f"s3://b/{name.lower()}/{number}" + ("%" if n % 97 == 0 else "")
                session.add(Registration(version_id=row.id, stage=STAGES[n % 4], source=source, run_link="",
                                         run_id=runs[run] if run else None))  # fmt: skip
                tags = {"stage": ["prod", "staging", "Prod", "dev"][n % 4], "team": f"team-{n % 50}",
                        "eval": ["passed", "failed"][n % 2]}  # fmt: skip
                if n % 11 == 0:
                    tags["rare"] = "x"
                if n % 13 == 0:
                    tags["a.b"] = "dotted"
                if n % 17 == 0:
                    tags["long"] = "v" * 300 if n % 2 else "v" * 200 + "w" * 100  # the same indexed prefix
                if n % 19 == 0:
                    tags["mlflow.prompt.is_prompt"] = ["true", "false"][n % 2]
                if n % 7 == 3:  # LIKE's and JSON's metacharacters, non-ASCII
                    tags["meta"] = ["50%_off", "under_score", 'quo"te', '{"a": 1}', "ünï", "5%"][n % 6]
                add_new_version_tags(session, row, tags)  # as the API writes them: the rows and the object
            for index, model in enumerate(models.values()):
                model.updated_at = base + datetime.timedelta(seconds=index % 2)
            if self.stale_statistics:
                self.analyze()
            session.commit()
            if not self.stale_statistics:
                self.analyze()

    def analyze(self) -> None:
        with self.app.app_context():
            engine = db.engine
        if engine.dialect.name != "postgresql":
            return
        tables = [t.__table__.name for t in (Package, Model, ModelVersion, Registration, VersionTag, ModelTag, Run)]
        with engine.connect() as other:
            other.execute(sql("ANALYZE " + ", ".join(tables)))
            other.commit()

    def call(self, endpoint: str, body: dict[str, Any], *, method: str = "POST") -> Any:
        if method == "GET":
            response = self.client.get(self.prefix + endpoint, query_string=body, headers=self.headers)
        else:
            response = self.client.post(
                self.prefix + endpoint, data=json.dumps(body), content_type="application/json", headers=self.headers
            )
        assert response.status_code == 200, (endpoint, body, response.get_data(as_text=True))
        return json.loads(response.get_data(as_text=True))

    def pages(self, endpoint: str, key: str, body: dict[str, Any], size: int) -> list[list[Any]]:
        """Every page of a search, each as its entities' identities."""
        found, token = [], None
        while True:
            answer = self.call(endpoint, {**body, "max_results": size, **({"page_token": token} if token else {})},
                               method="GET")  # fmt: skip
            found.append([(e["name"], e.get("version")) for e in answer.get(key, [])])
            token = answer.get("next_page_token")
            if not token:
                return found


class PythonVersions:
    """What the Python matcher answered: every version loaded (once), matched, sorted and paged in Python."""

    def __init__(self, registry: Registry) -> None:
        self.context = registry.app.test_request_context()
        self.context.push()
        rows = db.session.query(ModelVersion).join(Model).filter(Model.project_id == registry.project).all()
        self.views = model_version_services().views(rows)

    def close(self) -> None:
        self.context.pop()

    def __call__(self, text: str, order_by: list[str], size: int) -> list[list[Any]]:
        comparisons = filters.without_prompts(filters.parse(text, SEARCH_GRAMMAR))
        orderings = [filters.parse_order_by(o, ORDER_KEYS) for o in order_by]
        views = [v for v in self.views if all(c.matches(version_field(v, c.kind, c.key)) for c in comparisons)]
        keys: list[tuple[Callable[..., Any], bool]] = [
            ((lambda v, o=o: version_field(v, o.kind, o.key)), o.ascending) for o in orderings
        ]
        if not orderings:
            keys.append((lambda v: version_field(v, filters.ATTRIBUTE, "last_updated_timestamp"), False))
        keys += [(lambda v: v.version.model.name, True), (lambda v: v.version.sequence, False)]
        ordered = [(v.version.model.name, str(v.version.sequence)) for v in search.sort(views, keys)]
        return [ordered[i : i + size] for i in range(0, max(len(ordered), 1), size)]


def python_models(registry: Registry, text: str, order_by: list[str], size: int) -> list[list[Any]]:
    with registry.app.app_context():
        comparisons = filters.without_prompts(filters.parse(text, filters.Grammar(frozenset({"name"}), listable=frozenset({"name"}))))
        models = db.session.query(Model).filter(Model.project_id == registry.project).all()
        tags: dict[int, dict[str, str]] = {m.id: {} for m in models}
        for tag in db.session.query(ModelTag).filter(ModelTag.model_id.in_(list(tags))):
            tags[tag.model_id][tag.key] = tag.value

        def field(model: Model, kind: str, key: str) -> Any:
            if kind == filters.TAG:
                return tags[model.id].get(key)
            if key == "name":
                return model.name
            return float(milliseconds(model.created_at if key in ("creation_timestamp", "timestamp") else model.updated_at) or 0)

        matched = [m for m in models if all(c.matches(field(m, c.kind, c.key)) for c in comparisons)]
        orderings = [filters.parse_order_by(o, frozenset({"name", "creation_timestamp", "last_updated_timestamp", "timestamp"})) for o in order_by]
        keys: list[tuple[Callable[..., Any], bool]] = [((lambda m, o=o: field(m, o.kind, o.key)), o.ascending) for o in orderings]
        keys.append((lambda m: m.name, True))
        ordered = [(m.name, None) for m in search.sort(matched, keys)]
    return [ordered[i : i + size] for i in range(0, max(len(ordered), 1), size)]


@pytest.fixture
def registry(app: Flask, client: FlaskClient, world: World) -> Registry:
    return Registry(app, client, world, 2000)


def test_version_searches_answer_what_the_python_matcher_answered(registry: Registry) -> None:
    python = PythonVersions(registry)
    differences, counts = [], []
    try:
        for text in VERSION_FILTERS:
            text = text.replace("{run}", registry.runs[1])
            for order_by in ORDERS if text in ("", "tags.stage = 'prod'") else [[]]:
                for size in (MAX_RESULTS_DEFAULT, 250):
                    body: dict[str, Any] = {"filter": text, "order_by": order_by}
                    found = registry.pages("model-versions/search", "model_versions", body, size)
                    expected = python(text, order_by, size)
                    counts.append(sum(map(len, expected)))
                    if found != expected:
                        differences.append((text, order_by, size, sum(map(len, found)), sum(map(len, expected))))
    finally:
        python.close()
    assert differences == []
    assert 0 in counts and 2000 not in counts and len([c for c in counts if 0 < c < 1900]) > len(counts) / 2  # filters that choose


def test_registered_model_searches_answer_what_the_python_matcher_answered(registry: Registry) -> None:
    differences = []
    for text in MODEL_FILTERS:
        for order_by in MODEL_ORDERS:
            for size in (100, 2):
                found = registry.pages("registered-models/search", "registered_models", {"filter": text, "order_by": order_by}, size)
                found = [[(name, None) for name, _ in page] for page in found]
                expected = python_models(registry, text, order_by, size)
                if found != expected:
                    differences.append((text, order_by, size, found, expected))
    assert differences == []
    latest = registry.call("registered-models/search", {"filter": "name = 'big'"}, method="GET")["registered_models"][0]
    highest: dict[str, int] = {}
    with registry.app.app_context():
        rows = db.session.query(ModelVersion.sequence, Registration.stage).join(Registration).join(Model).filter(
            Model.name == "big", Model.project_id == registry.project).all()  # fmt: skip
        for number, stage in rows:
            highest[stage] = max(number, highest.get(stage, 0))
    assert {v["current_stage"]: int(v["version"]) for v in latest["latest_versions"]} == highest
    assert len(highest) == 4


def test_a_search_costs_the_same_statements_over_200_versions_as_over_2000(
    app: Flask, client: FlaskClient, world: World
) -> None:
    text = "tags.stage = 'prod' AND tags.eval = 'passed' AND tags.team LIKE 'team-%'"
    registry = Registry(app, client, world, 200)
    costs = []
    for _ in range(2):
        with counting(app) as small:
            found = registry.call("model-versions/search", {"filter": text, "max_results": 3}, method="GET")
        assert len(found["model_versions"]) == 3
        with counting(app) as models:
            registry.call("registered-models/search", {"max_results": 3}, method="GET")
        costs.append((small.count, models.count))
        registry._seed(1800)
    assert costs[0] == costs[1], costs


def test_on_sqlite_each_tag_count_stops_at_the_fewest_counted_before_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """On SQLite a search with several ``tags.k = 'v'`` first counts the versions each passes, to read
    the narrowest as a set (``registry_search._narrowest_tag``). A count after the first stops at the
    fewest counted before it: 200 versions, a quarter of them ``stage = prod``, a fiftieth
    ``team = team-4``, half ``eval = passed``."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL's planner chooses; nothing is counted")
    registry = Registry(app, client, world, 200)
    bounds: list[int] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.startswith("SELECT count(*)") and "value_prefix" in statement:
            bounds.append(parameters[2])  # key, value prefix, then the count's LIMIT

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        found = registry.call("model-versions/search", {
            "filter": "tags.stage = 'prod' AND tags.team = 'team-4' AND tags.eval = 'passed'", "max_results": 100,
        }, method="GET")  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with app.app_context():
        def passing(key: str, value: str) -> int:
            return db.session.scalar(
                select(func.count()).select_from(VersionTag).where(VersionTag.key == key, VersionTag.value == value)
            ) or 0

        prod, team = passing("stage", "prod"), passing("team", "team-4")
    assert (prod, team) == (50, 4)
    assert bounds == [SAMPLE, prod, team]
    assert len(found["model_versions"]) == 2  # versions 4 and 104 of the seeding pass all three


def test_a_page_of_models_of_any_size_runs_the_same_statements(app: Flask, client: FlaskClient, world: World) -> None:
    """The registered models search reads its page's latest versions and labels by the models' ids
    bound as one parameter: the same statement text for a page of two models as for four, which
    PostgreSQL prepares and plans once. An ``IN`` of a parameter per id made a statement per page
    size, and PostgreSQL planned the page of 100 on every run. (A page of one model reads its
    labels by ``=`` of one id: ``version_rows._ALL_LABELS_OF_ONE``.)"""
    registry = Registry(app, client, world, 200)
    texts = []
    for size in (2, 3, 4):
        with counting(app) as seen:
            found = registry.call("registered-models/search", {"max_results": size}, method="GET")
        assert len(found["registered_models"]) == size
        texts.append(seen.sql)
    assert texts[0] == texts[1] == texts[2], [str(len(t)) for t in texts]


def test_latest_versions_per_stage_over_staged_and_unregistered_versions(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A model's latest version in each stage (``ModelVersionService._highest_by_stage``: the staged
    versions through their partial index, the highest of the rest as ``None``) is what every
    version's stage says, a version without a registration (older than tracking) counting as ``None``."""
    registry = Registry(app, client, world, 200)
    with app.app_context():
        big = db.session.query(Model).filter(Model.project_id == registry.project, Model.name == "big").one()
        top = db.session.query(ModelVersion).filter(ModelVersion.model_id == big.id).order_by(ModelVersion.sequence.desc()).all()
        staged = db.session.get(Registration, top[1].id)
        assert staged is not None
        staged.stage = "Production"  # the second highest in Production, the highest without a registration
        db.session.delete(db.session.get(Registration, top[0].id))
        db.session.commit()
        stages = dict(db.session.query(Registration.version_id, Registration.stage).join(ModelVersion).filter(
            ModelVersion.model_id == big.id).all())  # fmt: skip
        expected: dict[str, int] = {}
        for row in top:
            stage = stages.get(row.id, "None")
            expected[stage] = max(row.sequence, expected.get(stage, 0))
    assert expected["None"] == top[0].sequence and expected["Production"] == top[1].sequence and len(expected) == 4
    latest = registry.call("registered-models/get-latest-versions", {"name": "big"})["model_versions"]
    assert {v["current_stage"]: int(v["version"]) for v in latest} == expected
    assert [v["current_stage"] for v in latest] == STAGES  # MLflow's stage order
    model = registry.call("registered-models/get", {"name": "big"}, method="GET")["registered_model"]
    assert {v["current_stage"]: int(v["version"]) for v in model["latest_versions"]} == expected
    production = registry.call("registered-models/get-latest-versions", {"name": "big", "stages": ["Production"]})
    assert [int(v["version"]) for v in production["model_versions"]] == [top[1].sequence]
    alpha = registry.call("registered-models/search", {"filter": "name = 'alpha'"}, method="GET")["registered_models"][0]
    with app.app_context():
        rows = db.session.query(ModelVersion.sequence, Registration.stage).join(Registration).join(Model).filter(
            Model.name == "alpha", Model.project_id == registry.project).all()  # fmt: skip
    highest: dict[str, int] = {}
    for number, stage in rows:
        highest[stage] = max(number, highest.get(stage, 0))
    assert {v["current_stage"]: int(v["version"]) for v in alpha["latest_versions"]} == highest


def test_latest_versions_with_statistics_taken_before_the_versions_were_committed(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """An autovacuum ANALYZE during a bulk import leaves PostgreSQL thinking the versions' tables
    empty. The statement that reads models' latest versions ran its aggregate of every version
    again for each version under those statistics (minutes for 2,000 versions; a CI run timed out
    in a registered-models search): it now runs it once, and the searches and gets answer what they
    answer once the tables are analyzed."""
    require_postgres()  # autovacuum's statistics are PostgreSQL's
    registry = Registry(app, client, world, 2000, stale_statistics=True)

    def answers() -> list[Any]:
        return [
            registry.call("registered-models/search", {"max_results": 100}, method="GET"),
            registry.call("registered-models/get", {"name": "big"}, method="GET"),
            registry.call("registered-models/get-latest-versions", {"name": "alpha"}),
        ]

    with app.app_context():
        ids = list(db.session.scalars(select(Model.id).where(Model.project_id == registry.project)))
        connection = db.session.connection()
        connection.execute(sql("SET LOCAL statement_timeout = '30s'"))  # the old plan: a QueryCanceled here
        latest = LATEST.compile(dialect=connection.dialect).construct_expanded_state({"models": ids})
        plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + latest.statement, latest.parameters).scalar()
        db.session.rollback()

    def aggregates(node: dict[str, Any]) -> list[dict[str, Any]]:
        own = [node] if node["Node Type"] == "Aggregate" else []
        return own + [a for child in node.get("Plans", []) for a in aggregates(child)]

    found = aggregates(plan[0]["Plan"])
    assert found and all(a["Actual Loops"] == 1 for a in found), [(a.get("Group Key"), a["Actual Loops"]) for a in found]
    stale = answers()
    registry.analyze()
    assert stale == answers()


def test_the_tag_object_of_a_version_follows_its_tags_through_every_writer(registry: Registry, world: World) -> None:
    """``ModelVersion.tag_index`` (what PostgreSQL's searches read for ``tags.k = 'v'``) is the
    version's tag rows as one object after a version made with tags, a tag set, changed and deleted,
    a long value and a seal; and the searches find the versions by their new values only."""
    long = "x" * 250
    made = registry.call("model-versions/create", {
        "name": "alpha", "source": "s3://b/alpha/new", "tags": [{"key": "stage", "value": "50%_off"}, {"key": "k", "value": "1"}],
    })["model_version"]  # fmt: skip
    version = made["version"]
    sealed = registry.call("model-versions/create", {"name": "Beta", "source": "s3://b/beta/new"})["model_version"]["version"]
    for key, value in [("k", "2"), ("new", "yes"), ("long", long), ("gone", "soon")]:
        registry.call("model-versions/set-tag", {"name": "alpha", "version": version, "key": key, "value": value})
    deleted = registry.client.delete(registry.prefix + "model-versions/delete-tag", headers=registry.headers,
                                      data=json.dumps({"name": "alpha", "version": version, "key": "gone"}),
                                      content_type="application/json")  # fmt: skip
    assert deleted.status_code == 200, deleted.get_data(as_text=True)
    registry.headers = {"Authorization": f"Bearer {world.tokens['maintainer']}"}  # sealing takes a Maintainer
    registry.call("model-versions/set-tag", {"name": "Beta", "version": sealed, "key": "modelshelf.sealed", "value": "true"})
    registry.call("model-versions/set-tag", {"name": "Beta", "version": sealed, "key": "stage", "value": "prod"})

    with registry.app.app_context():
        versions = db.session.query(ModelVersion.id, ModelVersion.tag_index).join(Model).filter(
            Model.project_id == registry.project).all()  # fmt: skip
        rows: dict[int, dict[str, str]] = {}
        for tag in db.session.query(VersionTag).filter(VersionTag.version_id.in_([v for v, _ in versions])):
            rows.setdefault(tag.version_id, {})[tag.key] = tag.value
    objects = {v: (o if isinstance(o, dict) else json.loads(o)) or {} for v, o in versions if o is not None}
    assert {v: o for v, o in objects.items() if o} == rows
    assert len(rows) == len(versions) == 2002

    def found(text: str) -> list[tuple[str, str]]:
        answer = registry.call("model-versions/search", {"filter": text, "max_results": 1000}, method="GET")
        return [(v["name"], v["version"]) for v in answer.get("model_versions", [])]

    assert found("tags.k = '2' AND tags.stage = '50%_off'") == [("alpha", version)]
    assert found("tags.k = '1'") == [] and found("tags.gone = 'soon'") == []
    assert found(f"tags.long = '{long}' AND tags.new = 'yes'") == [("alpha", version)]
    assert found(f"tags.long = '{long[:200]}'") == []
    assert found("name = 'Beta' AND tags.`modelshelf.sealed` = 'true' AND tags.stage = 'prod'") == [("Beta", sealed)]


def test_on_postgresql_a_get_keeps_one_plan_for_its_labels(app: Flask, client: FlaskClient, world: World) -> None:
    """The gets of a model with one latest version and of a version read its labels by ``=`` of one id
    (``version_rows._ALL_LABELS_OF_ONE``, ``_TAGS_AND_ALIASES_OF_ONE``): PostgreSQL plans them five
    times, then keeps one plan. By ``= ANY`` of an array of one id, it judged its generic plan dearer
    than the plans made for one id, and planned the labels of every get again (0.2-0.4 ms of each) at
    a million versions; on this test's small tables it keeps a plan for either form."""
    require_postgres()
    registry = Registry(app, client, world, 0)
    registry.call("registered-models/create", {"name": "solo", "tags": [{"key": "owner", "value": "me"}]})
    registry.call("model-versions/create", {"name": "solo", "source": "s3://b/solo/1", "tags": [{"key": "k", "value": "v"}]})
    for _ in range(8):
        assert registry.call("registered-models/get", {"name": "solo"}, method="GET")["registered_model"]["tags"]
        assert registry.call("model-versions/get", {"name": "solo", "version": "1"}, method="GET")["model_version"]["tags"]
    with app.app_context(), db.engine.connect() as connection:  # the connection returned last (the pool is LIFO)
        rows = connection.exec_driver_sql("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements").all()
    labels = [(s, generic, custom) for s, generic, custom in rows if "FROM ml_model_version_tags" in s and "ANY(" not in s]
    assert len(labels) == 2, [statement[:100] for statement, _, _ in rows]  # a model's get, a version's
    assert all(custom <= 5 < custom + generic for _, generic, custom in labels), [(s[:100], g, c) for s, g, c in labels]
