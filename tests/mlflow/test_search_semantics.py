"""The searches besides runs (experiments, registered models, model versions, logged models) against
MLflow's own SQL stores: the same entities made in MLflow's ``SqlAlchemyStore``\\ s (SQLite) and here
through the MLflow API give the same names for each filter: a tag the entity lacks fails ``!=``,
``IS NULL`` where MLflow takes it, ``IN`` where MLflow takes it, case-sensitive ``LIKE``, the
registry's prompt tag rule. (Runs: ``test_run_search.py``.)"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.world import World

pytestmark = pytest.mark.slow  # MLflow's stores take seconds to make (once for the module)

PROMPT = "mlflow.prompt.is_prompt"
EXPERIMENTS = {"Alpha": {"t": "z"}, "beta": {"t": "Z"}, "gamma": {}, "delta_1": {"u": "100%"}}
MODELS = {"Ma": {"t": "z"}, "mb": {}, "mc": {"t": "Zed"}, "pr": {PROMPT: "true"}, "pf": {PROMPT: "false", "t": "y"}}
VERSIONS = [{"v": "true"}, {}, {"v": "false"}]  # of model Ma
LOGGED = {"m1": ({"p": "y"}, {"t": "z"}), "M2": ({}, {}), "m_3": ({"p": "Y"}, {"t": "Z"})}  # params, tags

EXPERIMENT_FILTERS = [
    "", "tags.t != 'y'", "tags.t = 'z'", "tags.t IS NULL", "tags.t IS NOT NULL", "tags.u LIKE '100%'",
    "tags.t LIKE 'Z'", "tags.t ILIKE 'z'", "name LIKE 'alpha'", "name ILIKE 'ALPHA'", "name LIKE '%\\_%'",
    "name != 'beta'", "name LIKE '%a' AND tags.t != 'q'",
]  # fmt: skip
MODEL_FILTERS = [
    "", "tags.t != 'y'", "tags.t = 'z'", "tags.t LIKE 'Z%'", "tags.t ILIKE 'z%'", "name IN ('mb', 'pr')",
    "name NOT IN ('mb')", "name LIKE 'm%'", "name ILIKE 'M%'", "name != 'Ma'",
    f"tags.`{PROMPT}` != 'true'", f"tags.`{PROMPT}` = 'false'", f"tags.`{PROMPT}` = 'true'",
    f"tags.`{PROMPT}` != 'false'", f"tags.`{PROMPT}` LIKE '%'", f"tags.`{PROMPT}` = 'TRUE'",
    f"name LIKE 'm%' AND tags.`{PROMPT}` != 'true'", f"tags.t != 'q' AND tags.`{PROMPT}` != 'true'",
]  # fmt: skip
VERSION_FILTERS = [
    "name = 'Ma'", "name = 'Ma' AND tags.v != 'false'", "name = 'Ma' AND tags.v = 'true'", "tags.v LIKE 'T%'",
    "tags.v ILIKE 'T%'", "name IN ('Ma') AND version_number > 1", "name LIKE 'M_'",
]  # fmt: skip
LOGGED_FILTERS = [
    "", "params.p != 'x'", "tags.t != 'y'", "params.p = 'y'", "params.p LIKE 'Y'", "params.p ILIKE 'Y'",
    "name IN ('m1', 'M2')", "name NOT IN ('m1')", "name LIKE 'm%'", "name ILIKE 'm%'", "name LIKE 'm\\_%'",
    "metrics.x != 1",
]  # fmt: skip


class Theirs:
    def __init__(self, directory: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mlflow.entities import ExperimentTag, LoggedModelParameter, LoggedModelTag, ViewType
            from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
            from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        uri = f"sqlite:///{directory}/mlflow.db"
        self.tracking = SqlAlchemyStore(uri, str(directory / "artifacts"))
        self.registry = RegistryStore(uri)
        self.view_type = ViewType.ACTIVE_ONLY
        for name, tags in EXPERIMENTS.items():
            self.tracking.create_experiment(name, tags=[ExperimentTag(k, v) for k, v in tags.items()])
        for name, tags in MODELS.items():
            self.registry.create_registered_model(name, tags=[RegisteredModelTag(k, v) for k, v in tags.items()])
        for tags in VERSIONS:
            self.registry.create_model_version("Ma", "s3://b/m", tags=[ModelVersionTag(k, v) for k, v in tags.items()])
        self.logged_experiment = self.tracking.create_experiment("logged")
        for name, (params, tags) in LOGGED.items():
            self.tracking.create_logged_model(
                self.logged_experiment, name=name, params=[LoggedModelParameter(k, v) for k, v in params.items()],
                tags=[LoggedModelTag(k, v) for k, v in tags.items()],
            )  # fmt: skip

    def experiments(self, text: str) -> set[str]:
        found = self.tracking.search_experiments(self.view_type, filter_string=text, max_results=1000)
        return {e.name for e in found} - {"Default", "logged"}

    def models(self, text: str) -> set[str]:
        return {m.name for m in self.registry.search_registered_models(text)}

    def versions(self, text: str) -> set[tuple[str, int]]:
        return {(v.name, int(v.version)) for v in self.registry.search_model_versions(text)}

    def logged(self, text: str) -> set[str]:
        return {m.name for m in self.tracking.search_logged_models([self.logged_experiment], filter_string=text)}


@pytest.fixture(scope="module")
def theirs(tmp_path_factory: pytest.TempPathFactory) -> Theirs:
    return Theirs(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


class Ours:
    def __init__(self, client: FlaskClient, world: World) -> None:
        self.client = client
        self.prefix = f"/api/v4/projects/{world.projects['private']}/ml/mlflow/api/2.0/mlflow/"
        self.headers = {"Authorization": f"Bearer {world.tokens['developer']}"}
        for name, tags in EXPERIMENTS.items():
            self.call("experiments/create", {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]})
        for name, tags in MODELS.items():
            self.call("registered-models/create", {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]})
        for tags in VERSIONS:
            self.call("model-versions/create", {"name": "Ma", "source": "s3://b/m",
                                                "tags": [{"key": k, "value": v} for k, v in tags.items()]})  # fmt: skip
        self.logged_experiment = self.call("experiments/create", {"name": "logged"})["experiment_id"]
        for name, (params, tags) in LOGGED.items():
            self.call("logged-models", {
                "experiment_id": self.logged_experiment, "name": name,
                "params": [{"key": k, "value": v} for k, v in params.items()],
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            })  # fmt: skip

    def call(self, endpoint: str, body: dict[str, Any], *, method: str = "POST") -> Any:
        if method == "GET":  # as MLflow's client sends the registry's searches: a query string
            response = self.client.get(self.prefix + endpoint, query_string=body, headers=self.headers)
        else:
            response = self.client.post(
                self.prefix + endpoint, data=json.dumps(body), content_type="application/json", headers=self.headers
            )
        assert response.status_code == 200, (endpoint, body, response.get_data(as_text=True))
        return json.loads(response.get_data(as_text=True))

    def experiments(self, text: str) -> set[str]:
        found = self.call("experiments/search", {"filter": text, "max_results": 1000})
        names = {e["name"] for e in found.get("experiments", [])} - {"Default", "logged"}
        return {n for n in names if not n.startswith("[model]")}  # the models' own experiments: ours alone

    def models(self, text: str) -> set[str]:
        found = self.call("registered-models/search", {"filter": text}, method="GET")
        return {m["name"] for m in found.get("registered_models", [])}

    def versions(self, text: str) -> set[tuple[str, int]]:
        found = self.call("model-versions/search", {"filter": text}, method="GET")
        return {(v["name"], int(v["version"])) for v in found.get("model_versions", [])}

    def logged(self, text: str) -> set[str]:
        found = self.call("logged-models/search", {"experiment_ids": [self.logged_experiment], "filter": text})
        return {m["info"]["name"] for m in found.get("models", [])}


@pytest.fixture
def ours(client: FlaskClient, world: World) -> Ours:
    return Ours(client, world)


@pytest.mark.parametrize(
    ("search", "texts"),
    [("experiments", EXPERIMENT_FILTERS), ("models", MODEL_FILTERS), ("versions", VERSION_FILTERS),
     ("logged", LOGGED_FILTERS)],
)  # fmt: skip
def test_searches_find_what_mlflow_finds(theirs: Theirs, ours: Ours, search: str, texts: list[str]) -> None:
    differences = []
    for text in texts:
        expected, found = getattr(theirs, search)(text), getattr(ours, search)(text)
        if found != expected:
            differences.append((text, found, expected))
    assert differences == []
