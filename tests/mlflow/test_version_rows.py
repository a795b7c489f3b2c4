"""The MLflow read calls answer versions read as plain rows (``plugin/mlflow_registry/version_rows.py``),
the write calls versions held as ORM objects (``ModelVersionService.views``): in a registry seeded with
what a version can carry (tags, aliases, stages, a description and run link, a training run, a logged
model, an author who is not the caller, a version older than tracking), both give the same JSON for
every version, and the read calls' answers are exactly those."""
from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from package_api.db import db
from plugin.mlflow_registry.models import Registration
from plugin.registry.models import Model, ModelVersion
from plugin.services import registry_services
from plugin.web.mlflow import entities
from tests.support.world import World


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


class Calls:
    def __init__(self, client: FlaskClient, world: World, user: str = "developer") -> None:
        self.client = client
        self.prefix = f"/api/v4/projects/{world.projects['private']}/ml/mlflow/api/2.0/mlflow/"
        self.headers = {"Authorization": f"Bearer {world.tokens[user]}"}

    def __call__(self, method: str, endpoint: str, body: dict[str, Any] | None = None, **query: Any) -> Any:
        response = self.client.open(
            self.prefix + endpoint, method=method, json=body, query_string=query or None, headers=self.headers
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_data(as_text=True)


def _seed(client: FlaskClient, world: World) -> Calls:
    call, other = Calls(client, world), Calls(client, world, "maintainer")
    experiment = json.loads(call("POST", "experiments/create", {"name": "training"}))["experiment_id"]
    for name, author in (("m", call), ("other", other)):
        author("POST", "registered-models/create", {"name": name, "tags": [{"key": "team", "value": "a"}]})
    run = json.loads(call("POST", "runs/create", {"experiment_id": experiment}))["run"]["info"]["run_id"]
    logged = json.loads(call("POST", "logged-models", {"experiment_id": experiment, "name": "lm"}))["model"]["info"]
    sources = [
        {"source": f"runs:/{run}/model", "run_id": run},
        {"source": f"models:/{logged['model_id']}", "model_id": logged["model_id"]},
        {"source": "s3://bucket/weights", "description": "from S3", "run_link": "http://ci/1"},
    ]
    for number in range(9):
        caller = other if number == 4 else call  # an author who is not the caller
        body = {"name": "m", **sources[number % 3]}
        if number % 2:
            body["tags"] = [{"key": "z", "value": str(number)}, {"key": "a", "value": "first-set-last-key"}]
        caller("POST", "model-versions/create", body)
    call("POST", "model-versions/create", {"name": "other", "source": "s3://bucket/other"})
    call("POST", "model-versions/transition-stage", {"name": "m", "version": "2", "stage": "Production"})
    call("POST", "model-versions/transition-stage", {"name": "m", "version": "5", "stage": "Staging"})
    call("POST", "model-versions/transition-stage", {"name": "m", "version": "6", "stage": "Archived"})
    for alias, version in (("champion", "3"), ("b-side", "3"), ("canary", "7")):
        call("POST", "registered-models/alias", {"name": "m", "alias": alias, "version": version})
    call("POST", "model-versions/set-tag", {"name": "m", "version": "8", "key": "k", "value": "v"})
    return call


def test_rows_and_views_write_the_same_json(app: Flask, client: FlaskClient, world: World) -> None:
    _seed(client, world)
    with app.test_request_context():
        registry = registry_services()
        versions = registry.versions
        rows = list(db.session.scalars(select(ModelVersion).order_by(ModelVersion.id)))
        views = [entities.model_version(v) for v in versions.views(rows)]
        read = [entities.model_version_row(r) for r in versions.rows.by_ids([r.id for r in rows])]
        assert read == views
        assert {v.get("model_id") is not None for v in read} == {True, False}
        assert {v["user_id"] for v in read} == {"developer", "maintainer"}
        model = db.session.scalars(select(Model).where(Model.name == "m")).one()
        for stages in ([], ["None"], ["Production", "Staging"], ["archived"]):
            latest = [entities.model_version_row(r) for r in versions.latest_rows(model, stages)]
            assert latest == [entities.model_version(v) for v in versions.latest(model, stages)]
            assert latest
        project = model.project_id
        named = versions.rows.named(project, "m", 3)
        assert named is not None and entities.model_version_row(named) == views[2]
        assert versions.rows.named(project, "m", 99) is None
        assert versions.rows.named(project, "nope", 3) is None


def test_read_calls_answer_what_the_views_answer(app: Flask, client: FlaskClient, world: World) -> None:
    call = _seed(client, world)
    with app.test_request_context():
        versions = registry_services().versions
        rows = list(db.session.scalars(select(ModelVersion).join(Model).where(Model.name == "m")))
        views = {v["version"]: v for v in (entities.model_version(view) for view in versions.views(rows))}
    searched = json.loads(call("GET", "model-versions/search", filter="name='m'"))["model_versions"]
    assert searched == sorted(views.values(), key=lambda v: (-v["last_updated_timestamp"], -int(v["version"])))
    for number, view in views.items():
        answer = call("GET", "model-versions/get", name="m", version=number)
        # Byte for byte: the JSON the handler wrote is the JSON of the view, compact, in its key order.
        assert answer == json.dumps({"model_version": view}, separators=(",", ":"))
    latest = json.loads(call("POST", "registered-models/get-latest-versions", {"name": "m"}))["model_versions"]
    stages = [("9", "None"), ("5", "Staging"), ("2", "Production"), ("6", "Archived")]
    assert [(v["version"], v["current_stage"]) for v in latest] == stages
    assert latest == [views[v["version"]] for v in latest]
    model = json.loads(call("GET", "registered-models/get", name="m"))["registered_model"]
    assert model["latest_versions"] == latest
    aliases = [("b-side", "3"), ("canary", "7"), ("champion", "3")]
    assert model["aliases"] == [{"alias": alias, "version": version} for alias, version in aliases]
    assert views["3"]["aliases"][1:] == ["b-side", "champion"]
    searched_models = json.loads(call("GET", "registered-models/search"))["registered_models"]
    assert [m["name"] for m in searched_models] == ["m", "other"]
    assert searched_models[0] == model
    # A registered model is read as a plain row with its latest versions; its author is not the caller.
    other = json.loads(call("GET", "registered-models/get", name="other"))["registered_model"]
    assert other == searched_models[1] and other["user_id"] == "maintainer"
    assert (model["user_id"], other["tags"]) == ("developer", [{"key": "team", "value": "a"}])


def test_a_version_older_than_tracking_gets_its_registration_on_read(
    app: Flask, client: FlaskClient, world: World
) -> None:
    call = _seed(client, world)
    with app.app_context():
        version_id = db.session.scalars(
            select(ModelVersion.id).join(Model).where(Model.name == "m", ModelVersion.sequence == 1)
        ).one()
        db.session.execute(delete(Registration).where(Registration.version_id == version_id))
        db.session.commit()
    answer = json.loads(call("GET", "model-versions/get", name="m", version="1"))["model_version"]
    # Its registration is made as the ORM path makes it: the version's own run, no source, stage None.
    assert (answer["current_stage"], answer["source"], answer["run_id"] != "") == ("None", "", True)
    with app.app_context():
        assert db.session.get(Registration, version_id) is not None
    searched = json.loads(call("GET", "model-versions/search", filter="name='m'"))["model_versions"]
    assert [v for v in searched if v["version"] == "1"] == [answer]
