"""What one request of a hot endpoint costs the database: a fixed, small number of SQL statements and
commits, the same in a project with ten times more versions, files, runs, tags and metrics (issue 15).
The hot endpoints are those the ``mlflow`` client calls in a training loop and a deployment (register a
version, log a metric, search versions, get a model, its latest versions, a version), and the REST and
generic API's small requests (a version ``GET``, a small file ``PUT`` into a model version, a file ``GET``).

Each limit is today's count: a change that adds a statement to a hot path shows here and is a choice."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from package_api.db import db
from tests.support.jobs import register_job
from tests.support.statements import Statements, counting
from tests.support.world import World, generic_url

MODEL = "m"


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@dataclass
class Registry:
    """A project with a model, an experiment and a run whose ``model/`` directory holds files, made
    and grown through the API as a team would."""

    app: Flask
    client: FlaskClient
    world: World
    project: int
    experiment_id: str = ""
    run_id: str = ""
    versions: int = 0
    files: int = 0
    runs: int = 0

    def mlflow(self, method: str, endpoint: str, body: dict[str, Any] | None = None, /, **query: Any) -> TestResponse:
        prefix = f"/api/v4/projects/{self.project}/ml/mlflow"
        url = prefix + (endpoint if endpoint.startswith("/api/") else f"/api/2.0/mlflow/{endpoint}")
        headers = {"Authorization": f"Bearer {self.world.tokens['developer']}"}
        response = self.client.open(url, method=method, json=body, query_string=query or None, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    def artifact(self, run_id: str, path: str, data: bytes) -> None:
        url = f"/api/2.0/mlflow-artifacts/artifacts/{self.experiment_id}/{run_id}/artifacts/{path}"
        prefix = f"/api/v4/projects/{self.project}/ml/mlflow"
        headers = {"Authorization": f"Bearer {self.world.tokens['developer']}"}
        assert self.client.put(prefix + url, data=data, headers=headers).status_code == 200

    def setup(self) -> None:
        self.experiment_id = self.mlflow("POST", "experiments/create", {"name": "exp"}).get_json()["experiment_id"]
        self.run_id = self.new_run()
        self.mlflow("POST", "registered-models/create", {"name": MODEL})
        self.mlflow("POST", "registered-models/create", {"name": "other"})

    def new_run(self) -> str:
        body = {"experiment_id": self.experiment_id, "start_time": 1}
        run_id: str = self.mlflow("POST", "runs/create", body).get_json()["run"]["info"]["run_id"]
        self.runs += 1
        return run_id

    def register(self) -> dict[str, Any]:
        body = {"name": MODEL, "source": f"runs:/{self.run_id}/model", "run_id": self.run_id}
        version: dict[str, Any] = self.mlflow("POST", "model-versions/create", body).get_json()["model_version"]
        self.versions += 1
        return version

    def grow(self, factor: int) -> None:
        """Multiply what the project holds by about ``factor``: files in the run's ``model/`` (which each
        registration copies), versions with tags, runs with metrics and tags, files in another package."""
        for number in range(self.files, self.files * factor or factor):
            self.artifact(self.run_id, f"model/file-{number}.bin", b"x%d" % number)
        self.files = max(self.files * factor, factor)
        for _ in range(self.versions, max(self.versions * factor, factor)):
            version = self.register()
            body = {"name": MODEL, "version": version["version"], "key": "validated", "value": "true"}
            self.mlflow("POST", "model-versions/set-tag", body)
        for number in range(self.runs, self.runs * factor):
            run_id = self.new_run()
            self.mlflow("POST", "runs/log-metric", {"run_id": run_id, "key": "loss", "value": 1.0, "timestamp": 1})
            self.mlflow("POST", "runs/set-tag", {"run_id": run_id, "key": "t", "value": str(number)})
        for step in range(factor):
            self.mlflow(
                "POST", "runs/log-metric", {"run_id": self.run_id, "key": "acc", "value": 0.5, "timestamp": 1, "step": step}
            )

    def count(self, request: Callable[[Registry], TestResponse]) -> Statements:
        """What the third of three ``request``s costs: the first may stamp a token or a download time,
        which are written at most once a while, and SQLAlchemy compiled a page's ORM statement on each
        of the first two (its cache key is settled by the first run), never after."""
        request(self)
        request(self)
        with counting(self.app) as seen:
            response = request(self)
        assert response.status_code in (200, 201), response.get_data(as_text=True)
        return seen


def _create_version(registry: Registry) -> TestResponse:
    body = {"name": MODEL, "source": f"runs:/{registry.run_id}/model", "run_id": registry.run_id}
    response = registry.mlflow("POST", "model-versions/create", body)
    registry.versions += 1
    return response


def _log_metric(registry: Registry) -> TestResponse:
    body = {"run_id": registry.run_id, "key": "loss", "value": 0.1, "timestamp": 2, "step": registry.versions}
    return registry.mlflow("POST", "runs/log-metric", body)


def _search_versions(registry: Registry) -> TestResponse:
    response = registry.mlflow("GET", "model-versions/search", filter=f"name='{MODEL}'", max_results=1000)
    assert len(response.get_json()["model_versions"]) == registry.versions
    return response


def _get_model(registry: Registry) -> TestResponse:
    return registry.mlflow("GET", "registered-models/get", name=MODEL)


def _latest_versions(registry: Registry) -> TestResponse:
    response = registry.mlflow("POST", "registered-models/get-latest-versions", {"name": MODEL})
    assert response.get_json()["model_versions"][0]["version"] == str(registry.versions)
    return response


def _get_version(registry: Registry) -> TestResponse:
    return registry.mlflow("GET", "model-versions/get", name=MODEL, version="1")


def _rest(path: str) -> Callable[[Registry], TestResponse]:
    """A developer's GET of ``path`` under the project's REST models API."""

    def request(registry: Registry) -> TestResponse:
        url = f"/api/v4/projects/{registry.project}/ml/models{path}"
        return registry.client.get(url, headers=registry.world.headers("developer"))

    return request


def _generic_put(registry: Registry) -> TestResponse:
    url = generic_url(registry.project, MODEL, "1.0.0", f"extra-{registry.versions}-{registry.runs}.bin")
    return registry.client.put(url, data=b"y" * 16 * 1024, headers=registry.world.headers("developer"))


def _generic_publish(registry: Registry) -> TestResponse:
    """A CI job's publish: a new version of the model, made by the upload of its first file."""
    registry.versions += 1
    url = generic_url(registry.project, MODEL, f"2.0.{registry.versions}", "model.bin")
    return registry.client.put(url, data=b"y" * 16 * 1024, headers=registry.world.headers("developer"))


def _generic_get(registry: Registry) -> TestResponse:
    url = generic_url(registry.project, MODEL, "1.0.0", "file-0.bin")
    return registry.client.get(url, headers=registry.world.headers("developer"))


#: Each hot endpoint and the most statements and commits one request of it may cost. Every request
#: authenticates in one: the personal access token with its user, and the project the URL names with
#: the user's role there and the features' levels (two before: package_api.access.authentication).
#: A generic upload commits twice: its lease (before the bytes are stored), then its rows.
#: A change to a version's files rewrites its Hugging Face commit id once at commit, in four (the
#: version, its commit row locked, its files, the write): plugin.huggingface. A version made with its
#: files in the transaction takes the id from them: the write alone.
HOT = {
    # The token with the project; the model; the source run with its experiment; the run's files (with
    # their package, joined); the model's latest version; the package checked free, its rules, its row;
    # the version numbered and written; its own run in the model's experiment (read), the run's tag, the
    # audit event, the registration; the files in one INSERT (the package made in the same transaction:
    # no UPDATE of its updated_at); the commit id from the files written (45 at first; 21 before the
    # create2 branch; no flush among them since create3).
    "model-versions/create": (_create_version, 17, 1),  # 16 + the project's protection rules, read once
    "runs/log-metric": (_log_metric, 4, 1),
    "model-versions/search": (_search_versions, 4, 0),
    # The reads answer versions as plain rows (plugin/mlflow_registry/version_rows.py): the versions with
    # their model, author, registration, run and logged model in one statement, their tags and aliases in one.
    # The latest versions are chosen (the highest number per stage) and read with their model, found by
    # name, in one statement; a registered model's tags and aliases are read with its versions' (8 and 6
    # statements at first, then 6 and 5).
    "registered-models/get": (_get_model, 3, 0),
    "get-latest-versions": (_latest_versions, 3, 0),
    "model-versions/get": (_get_version, 3, 0),
    # The version with its model, package and author in one statement; its files; its CI job's ids with
    # its aliases in one (10 before, then 5).
    "REST version GET": (_rest(f"/{MODEL}/versions/1.0.0"), 4, 0),
    # The model by name; its count of versions with its latest version, in one statement (two before).
    "REST model GET": (_rest(f"/{MODEL}"), 3, 0),
    # A page of versions (up to 100): the model; the count; the page; their packages in one statement.
    "REST versions list": (_rest(f"/{MODEL}/versions?per_page=100"), 5, 0),
    # A page of models: the count; the page; their counts of versions and latest versions in one.
    "REST models list": (_rest("?per_page=100"), 4, 0),
    # The caller with the project; whether the name is a model's (that name alone); the protection rules;
    # the lease; then in the upload's transaction the lease claimed, the project again (it may have gone
    # during the upload), the blob by digest, the live package, its updated_at, the file; the model, the
    # caller's user (the lease's commit expired it) and the audit event; the commit id rewritten in four.
    # The file answered as written, not read again (18 before).
    "generic PUT into a version": (_generic_put, 17, 2),
    # As above up to the package, which is new (its INSERT, no UPDATE); the model, its version numbered and
    # written; its own run in the model's experiment with the caller as its user, the run's tag; the audit
    # event; the registration and the commit id (22 before: the model read again by id, the file read back).
    "generic PUT of a new version": (_generic_publish, 20, 2),
    # The caller with the project, the live package, whether its name is a model's, the newest file of the
    # path with its blob; the file holds its package (5 before: the package, dropped by the session once
    # nothing referred to it, was read again by id to note the download).
    "generic GET": (_generic_get, 4, 0),
}


#: Changes to an existing package's files: on PostgreSQL they read its seal again under a row lock,
#: so that a seal committed meanwhile is seen (SQLite's single writer makes that needless).
SEAL_LOCKED = {"model-versions/create"}


@pytest.mark.parametrize("endpoint", list(HOT))
def test_hot_endpoint_costs_a_fixed_number_of_statements(
    app: Flask, client: FlaskClient, world: World, endpoint: str
) -> None:
    request, statements, commits = HOT[endpoint]
    if endpoint in SEAL_LOCKED and make_url(str(app.config["SQLALCHEMY_DATABASE_URI"])).get_backend_name() == "postgresql":
        statements += 1  # the package's seal read again under FOR UPDATE (package_api.packages.protection)
    registry = Registry(app, client, world, world.projects["private"])
    registry.setup()
    registry.grow(3)
    small = registry.count(request)
    registry.grow(10)
    large = registry.count(request)
    assert (large.count, large.commits) == (small.count, small.commits), f"grew from {small}\nto {large}"
    assert small.count <= statements, str(small)
    assert small.commits <= commits, str(small)
    # Each statement is built once and found in the engine's compiled cache from the second request on:
    # a statement built on each request costs its construction and compilation every time (a metric's
    # upsert did: most of a log-metric's time in the server).
    assert not small.compiled and not large.compiled, "compiled on each request:\n" + "\n".join(small.compiled + large.compiled)


def test_the_request_that_stamps_a_token_costs_its_update_alone(app: Flask, client: FlaskClient, world: World) -> None:
    """A token's first use in a while stamps its ``last_used_at`` and commits; the token, its user and
    the project read with them stay loaded through that commit, so the stamp costs its ``UPDATE`` and
    nothing read again."""
    from package_api.access.models import PersonalAccessToken

    registry = Registry(app, client, world, world.projects["private"])
    registry.setup()
    registry.register()
    stamped_again = registry.count(_get_version)  # the token was stamped by the setup: no stamp here
    with app.app_context():
        for token in db.session.scalars(select(PersonalAccessToken)):
            token.last_used_at = None
        db.session.commit()
    with counting(app) as stamping:
        assert _get_version(registry).status_code == 200
    updates = [s for s in stamping.sql if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and "last_used_at" in updates[0], str(stamping)
    assert (stamping.count, stamping.commits) == (stamped_again.count + 1, stamped_again.commits + 1), str(stamping)


def test_a_ci_job_token_reads_in_as_few_statements(app: Flask, client: FlaskClient, world: World) -> None:
    """A CI job's token (the MLflow client's ``MLFLOW_TRACKING_TOKEN`` in a job) is read with the
    project in one statement too: a version get costs what it costs with a personal access token."""
    registry = Registry(app, client, world, world.projects["private"])
    registry.setup()
    registry.register()
    with_token = registry.count(_get_version)
    _, job_token = register_job(app, world.projects["private"], "developer", "1")
    registry.world = World(tokens={**world.tokens, "developer": job_token}, projects=world.projects)
    with_job = registry.count(_get_version)
    assert (with_job.count, with_job.commits) == (with_token.count, with_token.commits), str(with_job)
