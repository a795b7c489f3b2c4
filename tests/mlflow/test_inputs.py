"""Run inputs, logged models' metrics, MLflow 2's ``runs/log-model`` and non-finite metrics on the
wire, through Flask's test client (the real client drives them in ``test_workflows.py``)."""
from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from package_api.db import db
from plugin.services import dataset_services
from plugin.tracking.models import Dataset, Run
from tests.mlflow.test_api import Call, _call, _error, _run
from tests.support.world import World

DATASET = {"name": "iris", "digest": "abc123", "source_type": "local", "source": '{"uri": "/data/iris.csv"}'}


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def call(client: Any, world: World) -> Call:
    return _call(client, world, world.projects["private"])


def _inputs(call: Call, run_id: str) -> dict[str, Any]:
    return dict(call("GET", "runs/get", run_id=run_id).get_json()["run"]["inputs"])


def test_log_inputs_keeps_each_dataset_once_per_experiment(app: Flask, call: Call) -> None:
    experiment_id, first = _run(call)
    second = call("POST", "runs/create", {"experiment_id": experiment_id, "start_time": 2}).get_json()["run"]["info"]["run_id"]
    described = {**DATASET, "schema": '{"mlflow_colspec": []}', "profile": '{"num_rows": 150}'}
    train = {"dataset": described, "tags": [{"key": "mlflow.data.context", "value": "train"}]}
    assert call("POST", "runs/log-inputs", {"run_id": first, "datasets": [train, train]}).status_code == 200
    assert call("POST", "runs/log-inputs", {"run_id": first, "datasets": [{"dataset": DATASET}]}).status_code == 200
    assert call("POST", "runs/log-inputs", {"run_id": second, "datasets": [{"dataset": DATASET}]}).status_code == 200
    assert _inputs(call, first) == {"dataset_inputs": [train]}  # logged again: its first tags stay
    assert _inputs(call, second) == {"dataset_inputs": [{"dataset": described}]}  # the dataset as first described
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Dataset)) == 1
    # Another experiment has its own row.
    _, third = _run(call, "other")
    assert call("POST", "runs/log-inputs", {"run_id": third, "datasets": [{"dataset": DATASET}]}).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Dataset)) == 2
    searched = call("POST", "runs/search", {"experiment_ids": [experiment_id]}).get_json()["runs"]
    assert sorted(len(r["inputs"]["dataset_inputs"]) for r in searched) == [1, 1]


def test_log_inputs_refuses_what_mlflow_refuses(call: Call) -> None:
    _, run_id = _run(call)
    nameless = {k: v for k, v in DATASET.items() if k != "name"}
    assert _error(call("POST", "runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": nameless}]}))[:2] == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    long_digest = {**DATASET, "digest": "x" * 37}
    assert _error(call("POST", "runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": long_digest}]}))[0] == 400
    long_tag = {"dataset": DATASET, "tags": [{"key": "k", "value": "v" * 501}]}
    assert _error(call("POST", "runs/log-inputs", {"run_id": run_id, "datasets": [long_tag]}))[0] == 400
    assert _error(call("POST", "runs/log-inputs", {"run_id": run_id, "models": [{"model_id": "m-nope"}]}))[:2] == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert _inputs(call, run_id) == {}  # nothing of a refused call stays
    assert _error(call("POST", "runs/log-inputs", {"run_id": "f" * 32}))[0] == 404


def test_the_run_page_gets_inputs_and_outputs_from_the_dataset_service(app: Flask, call: Call) -> None:
    experiment_id, run_id = _run(call)
    used = call("POST", "logged-models", {"experiment_id": experiment_id, "name": "base"}).get_json()["model"]["info"]
    made = call("POST", "logged-models", {"experiment_id": experiment_id, "name": "tuned"}).get_json()["model"]["info"]
    body = {"run_id": run_id, "datasets": [{"dataset": DATASET, "tags": [{"key": "mlflow.data.context", "value": "eval"}]}]}
    call("POST", "runs/log-inputs", {**body, "models": [{"model_id": used["model_id"]}]})
    call("POST", "runs/outputs", {"run_id": run_id, "models": [{"model_id": made["model_id"], "step": 3}]})
    assert _inputs(call, run_id)["model_inputs"] == [{"model_id": used["model_id"]}]
    with app.test_request_context():
        run = db.session.scalar(select(Run).where(Run.uuid == run_id))
        assert run is not None
        inputs = dataset_services().inputs(run)
        assert [(u.dataset.name, u.context, u.tags) for u in inputs.datasets] == [
            ("iris", "eval", {"mlflow.data.context": "eval"})
        ]
        assert [m.name for m in inputs.model_inputs] == ["base"]
        assert [(m.name, step) for m, step in inputs.model_outputs] == [("tuned", 3)]


def test_metrics_with_a_model_id_are_the_logged_models_metrics(call: Call) -> None:
    experiment_id, run_id = _run(call)
    model = call("POST", "logged-models", {"experiment_id": experiment_id}).get_json()["model"]["info"]["model_id"]
    point = {"run_id": run_id, "key": "acc", "value": 0.9, "timestamp": 5, "step": 1, "model_id": model}
    assert call("POST", "runs/log-metric", {**point, "dataset_name": "iris", "dataset_digest": "abc"}).status_code == 200
    batch = [{"key": "loss", "value": "NaN", "timestamp": 6, "step": 0, "model_id": model}]
    assert call("POST", "runs/log-batch", {"run_id": run_id, "metrics": batch}).status_code == 200
    got = call("GET", f"logged-models/{model}").get_json()["model"]["data"]["metrics"]
    assert got == [
        {"key": "acc", "value": 0.9, "timestamp": 5, "step": 1, "run_id": run_id, "dataset_name": "iris", "dataset_digest": "abc", "model_id": model},
        {"key": "loss", "value": "NaN", "timestamp": 6, "step": 0, "run_id": run_id, "model_id": model},
    ]
    search = {"experiment_ids": [experiment_id], "filter": "metrics.acc > 0.5"}
    assert [m["info"]["model_id"] for m in call("POST", "logged-models/search", search).get_json()["models"]] == [model]
    on_other = {**search, "datasets": [{"dataset_name": "iris", "dataset_digest": "other"}]}
    assert call("POST", "logged-models/search", on_other).get_json() == {}
    unknown = {**point, "model_id": "m-" + "0" * 32}
    assert _error(call("POST", "runs/log-metric", unknown))[:2] == (404, "RESOURCE_DOES_NOT_EXIST")
    # The refused point is not on the run either.
    history = call("GET", "metrics/get-history", run_id=run_id, metric_key="acc").get_json()["metrics"]
    assert len(history) == 1


def test_logged_models_sort_by_a_metrics_latest_point_on_a_dataset(call: Call) -> None:
    experiment_id, run_id = _run(call)
    ids = {}
    for name, on_train, on_test in (("a", 0.9, 0.5), ("b", 0.6, 0.8), ("c", 0.7, None)):
        ids[name] = model = call("POST", "logged-models", {"experiment_id": experiment_id, "name": name}).get_json()["model"]["info"]["model_id"]
        for dataset, value in (("train", on_train), ("test", on_test)):
            if value is not None:
                point = {"key": "acc", "value": value, "timestamp": 1, "model_id": model, "dataset_name": dataset}
                call("POST", "runs/log-batch", {"run_id": run_id, "metrics": [point]})

    def names(**order: Any) -> list[str]:
        body = {"experiment_ids": [experiment_id], "order_by": [{"field_name": "metrics.acc", "ascending": False, **order}]}
        return [m["info"]["name"] for m in call("POST", "logged-models/search", body).get_json()["models"]]

    assert names(dataset_name="train") == ["a", "c", "b"]
    assert names(dataset_name="test") == ["b", "a", "c"]  # c has no point on it: last
    assert names(dataset_name="test", ascending=True) == ["a", "b", "c"]


def test_infinite_and_nan_metrics_are_written_as_mlflow_writes_them(call: Call) -> None:
    _, run_id = _run(call)
    for key, value in (("a", "NaN"), ("b", "Infinity"), ("c", "-Infinity"), ("d", 1.5)):
        assert call("POST", "runs/log-metric", {"run_id": run_id, "key": key, "value": value, "timestamp": 1}).status_code == 200
    response = call("GET", "runs/get", run_id=run_id)
    json.loads(response.get_data(as_text=True), parse_constant=pytest.fail)  # strict JSON: no bare NaN
    metrics = {m["key"]: m["value"] for m in response.get_json()["run"]["data"]["metrics"]}
    assert metrics == {"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": 1.5}


def test_runs_log_model_keeps_mlflows_model_history_tag(call: Call) -> None:
    _, run_id = _run(call)
    model = {
        "run_id": run_id,
        "artifact_path": "spark-model",
        "utc_time_created": "2026-12-05 23:00:00.000000",
        "flavors": {"spark": {"pyspark_version": "3.5.0", "config": {"dropped": True}}},
        "signature": {"inputs": "[]"},
    }
    for _ in range(2):
        assert call("POST", "runs/log-model", {"run_id": run_id, "model_json": json.dumps(model)}).status_code == 200
    tags = {t["key"]: t["value"] for t in call("GET", "runs/get", run_id=run_id).get_json()["run"]["data"]["tags"]}
    kept = {k: v for k, v in model.items() if k != "signature"} | {"flavors": {"spark": {"pyspark_version": "3.5.0"}}}
    assert json.loads(tags["mlflow.log-model.history"]) == [kept, kept]
    missing = {k: v for k, v in model.items() if k != "flavors"}
    status, code, message = _error(call("POST", "runs/log-model", {"run_id": run_id, "model_json": json.dumps(missing)}))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and "flavors" in message
    assert _error(call("POST", "runs/log-model", {"run_id": run_id, "model_json": "{not json"}))[0] == 400
    assert _error(call("POST", "experiments/list", {}))[:2] == (404, "ENDPOINT_NOT_FOUND")  # MLflow 3 never calls it
