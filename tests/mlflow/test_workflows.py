"""What data scientists do with the real ``mlflow`` client, against ``modelshelf serve``: sklearn
autolog on a pandas dataset, ``mlflow.models.evaluate`` on a classifier, ``log_input``, diverging
losses (NaN, infinities) read back everywhere, metrics logged on logged models and searched, and a CI
job token as ``MLFLOW_TRACKING_TOKEN``. The server and each test's project come from
``conftest.py``."""
from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported

import logging
import math
from collections.abc import Iterator

import mlflow
import mlflow.data
import mlflow.sklearn
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import LoggedModelInput
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.mlflow.conftest import Tracking, use_tracking_uri
from tests.support.jobs import register_live_job

pytestmark = pytest.mark.server

CONTEXT_TAG = "mlflow.data.context"


class Warnings(logging.Handler):
    """The warnings MLflow logs (its logger does not propagate to pytest's ``caplog``)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings() -> Iterator[Warnings]:
    handler = Warnings()
    logger = logging.getLogger("mlflow")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    return frame.rename(columns={"target": "label"})


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=["label"]), frame["label"]


# -- datasets ------------------------------------------------------------------------------------------


def test_sklearn_autolog_records_the_training_dataset_without_a_warning(
    tracking: Tracking, iris: pd.DataFrame, warnings: Warnings
) -> None:
    mlflow.set_experiment("autolog")
    features, labels = _split(iris)
    mlflow.sklearn.autolog(silent=False)
    try:
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=200).fit(features, labels)
    finally:
        mlflow.sklearn.autolog(disable=True)
    assert [m for m in warnings.messages if "dataset" in m.lower() or "log_inputs" in m.lower()] == []
    got = tracking.client.get_run(run.info.run_id)
    assert got.data.params["max_iter"] == "200"
    assert "training_score" in got.data.metrics
    (used,) = got.inputs.dataset_inputs
    assert {t.key: t.value for t in used.tags}[CONTEXT_TAG] == "train"
    assert used.dataset.name and used.dataset.digest and used.dataset.source_type
    assert "sepal length (cm)" in used.dataset.schema
    # The model autolog logged is the run's output, and its training metrics are about that dataset.
    (output,) = got.outputs.model_outputs
    model = tracking.client.get_logged_model(output.model_id)
    about = {m.key: (m.dataset_name, m.dataset_digest) for m in model.metrics}
    assert about["training_score"] == (used.dataset.name, used.dataset.digest)
    # search_runs carries the lineage too.
    (found,) = tracking.client.search_runs([run.info.experiment_id])
    assert [d.dataset.digest for d in found.inputs.dataset_inputs] == [used.dataset.digest]


def test_log_input_reads_back_and_a_dataset_is_kept_once(tracking: Tracking, iris: pd.DataFrame) -> None:
    dataset = mlflow.data.from_pandas(iris, source="s3://bucket/iris.csv", name="iris", targets="label")
    with mlflow.start_run() as first:
        mlflow.log_input(dataset, context="train", tags={"split": "all"})
        mlflow.log_input(dataset, context="train")  # again: nothing changes, as in MLflow
    with mlflow.start_run() as second:
        mlflow.log_input(dataset, context="eval")
    inputs = tracking.client.get_run(first.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert {t.key: t.value for t in inputs[0].tags} == {CONTEXT_TAG: "train", "split": "all"}
    logged = inputs[0].dataset
    assert (logged.name, logged.digest, logged.source_type) == ("iris", dataset.digest, "s3")
    sent = dataset._to_mlflow_entity()  # what the client sent
    assert (logged.source, logged.schema, logged.profile) == (sent.source, sent.schema, sent.profile)
    assert mlflow.data.get_source(inputs[0]).uri == "s3://bucket/iris.csv"
    (other,) = tracking.client.get_run(second.info.run_id).inputs.dataset_inputs
    assert {t.key: t.value for t in other.tags} == {CONTEXT_TAG: "eval"}
    assert other.dataset.digest == logged.digest


def test_a_run_lists_the_logged_models_it_used(tracking: Tracking) -> None:
    base = mlflow.create_external_model(name="base")
    with mlflow.start_run() as run:
        mlflow.log_input(model=LoggedModelInput(base.model_id))
    got = tracking.client.get_run(run.info.run_id)
    assert [m.model_id for m in got.inputs.model_inputs] == [base.model_id]


# -- metrics that are not numbers ------------------------------------------------------------------------


def test_nan_and_infinite_metrics_read_back_everywhere(tracking: Tracking) -> None:
    experiment = mlflow.set_experiment("diverging")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5, step=0)
        mlflow.log_metric("loss", float("nan"), step=1)
        mlflow.log_metrics({"high": float("inf"), "low": float("-inf")})
    client = tracking.client
    metrics = client.get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["loss"]) and metrics["high"] == math.inf and metrics["low"] == -math.inf
    (found,) = client.search_runs([experiment.experiment_id])
    assert math.isnan(found.data.metrics["loss"]) and found.data.metrics["low"] == -math.inf
    frame = mlflow.search_runs([experiment.experiment_id])
    assert math.isnan(frame["metrics.loss"][0]) and frame["metrics.high"][0] == math.inf
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [p.step for p in history] == [0, 1] and history[0].value == 0.5 and math.isnan(history[1].value)
    # The wire format is MLflow's: strings where JSON has no number.
    raw = requests.get(
        f"{tracking.uri}/api/2.0/mlflow/runs/get", params={"run_id": run.info.run_id}, headers=tracking.headers, timeout=30
    ).json()
    values = {m["key"]: m["value"] for m in raw["run"]["data"]["metrics"]}
    assert values == {"loss": "NaN", "high": "Infinity", "low": "-Infinity"}


# -- logged models' metrics ------------------------------------------------------------------------------


def test_metrics_logged_on_models_read_back_and_are_searched(tracking: Tracking, iris: pd.DataFrame) -> None:
    experiment = mlflow.set_experiment("candidates")
    good = mlflow.create_external_model(name="good")  # no run: an external model
    poor = mlflow.initialize_logged_model(name="poor")
    holdout = mlflow.data.from_pandas(iris.head(30), name="holdout")
    with mlflow.start_run() as run:
        mlflow.log_metrics({"accuracy": 0.7, "f1": 0.6}, step=0, model_id=good.model_id)
        mlflow.log_metric("accuracy", 0.91, step=1, model_id=good.model_id, dataset=holdout)
        mlflow.log_metric("accuracy", 0.8, model_id=poor.model_id)
    client = tracking.client
    got = client.get_logged_model(good.model_id)
    points = sorted((m.key, m.step, m.value) for m in got.metrics)
    assert points == [("accuracy", 0, 0.7), ("accuracy", 1, 0.91), ("f1", 0, 0.6)]
    on_holdout = [m for m in got.metrics if m.dataset_name]
    assert [(m.dataset_name, m.dataset_digest, m.run_id) for m in on_holdout] == [
        ("holdout", holdout.digest, run.info.run_id)
    ]
    assert all(m.model_id == good.model_id for m in got.metrics)
    # The run has the points too, and the holdout set as an input.
    logged = client.get_run(run.info.run_id)
    assert logged.data.metrics == {"accuracy": 0.91, "f1": 0.6}  # the highest step is the latest
    assert [d.dataset.name for d in logged.inputs.dataset_inputs] == ["holdout"]
    ids = [experiment.experiment_id]
    best = mlflow.search_logged_models(ids, filter_string="metrics.accuracy > 0.85", output_format="list")
    assert [m.model_id for m in best] == [good.model_id]
    over = client.search_logged_models(ids, filter_string="metrics.accuracy >= 0.8")
    assert {m.model_id for m in over} == {good.model_id, poor.model_id}
    on_data = mlflow.search_logged_models(
        ids, filter_string="metrics.accuracy > 0.5", datasets=[{"dataset_name": "holdout"}], output_format="list"
    )
    assert [m.model_id for m in on_data] == [good.model_id]
    assert mlflow.search_logged_models(ids, filter_string="metrics.f1 > 0.9", output_format="list") == []
    frame = mlflow.search_logged_models(ids, order_by=[{"field_name": "metrics.accuracy", "ascending": False}])
    assert list(frame["name"]) == ["good", "poor"]


def test_evaluate_a_classifier(tracking: Tracking, iris: pd.DataFrame) -> None:
    mlflow.set_experiment("evaluation")
    features, labels = _split(iris)
    with mlflow.start_run() as run:
        classifier = LogisticRegression(max_iter=200).fit(features, labels)
        info = mlflow.sklearn.log_model(
            classifier, name="classifier", pip_requirements=["scikit-learn"], input_example=features.head(2)
        )
        holdout = mlflow.data.from_pandas(iris.sample(40, random_state=0), name="iris-holdout", targets="label")
        result = mlflow.models.evaluate(
            info.model_uri,
            holdout,
            model_type="classifier",
            evaluator_config={"log_model_explainability": False},
        )
    assert result.metrics["accuracy_score"] > 0.85
    client = tracking.client
    got = client.get_run(run.info.run_id)
    assert got.data.metrics["accuracy_score"] == result.metrics["accuracy_score"]
    assert [(d.dataset.name, d.dataset.digest) for d in got.inputs.dataset_inputs] == [("iris-holdout", holdout.digest)]
    assert [m.model_id for m in got.inputs.model_inputs] == [info.model_id]  # the model evaluated
    assert info.model_id in [m.model_id for m in got.outputs.model_outputs]
    model = client.get_logged_model(info.model_id)
    scores = {m.key: (m.value, m.dataset_name) for m in model.metrics}
    assert scores["accuracy_score"] == (result.metrics["accuracy_score"], "iris-holdout")
    found = client.search_logged_models([run.info.experiment_id], filter_string="metrics.accuracy_score > 0.85")
    assert [m.model_id for m in found] == [info.model_id]


# -- CI --------------------------------------------------------------------------------------------------


def test_a_ci_job_token_as_the_tracking_token(tracking: Tracking, monkeypatch: pytest.MonkeyPatch) -> None:
    server = tracking.account.server
    job_id, job_token = register_live_job(server.api, tracking.project, tracking.account.token, "alice", "4242")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", job_token)  # sent as Authorization: Bearer
    use_tracking_uri(monkeypatch, tracking.uri)
    client = MlflowClient(tracking.uri)
    mlflow.set_experiment("from-ci")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.25)
        mlflow.log_text("weights", "model/weights.txt")
    assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.25}
    client.create_registered_model("ci-model")
    version = client.create_model_version("ci-model", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    # The ml_models REST endpoints take the job token as Bearer, and as ?job_token= (as GitLab does).
    listed = requests.get(f"{tracking.api}/ml/models/ci-model/versions", headers=tracking.headers, timeout=30).json()
    version_id = next(v["id"] for v in listed if str(v["sequence"]) == version.version)
    files = f"{tracking.api}/packages/ml_models/{version_id}/files/weights.bin"
    bearer = {"Authorization": f"Bearer {job_token}"}
    assert requests.put(files, data=b"weights", headers=bearer, timeout=30).status_code == 201
    assert requests.get(files, params={"job_token": job_token}, timeout=30).content == b"weights"
    assert requests.get(files, headers=bearer, timeout=30).content == b"weights"
    # The job's rights end at its project's edge, whichever way it comes.
    other, _ = tracking.account.create_project()
    elsewhere = f"{server.api}/projects/{other}/ml/models"
    assert requests.get(elsewhere, headers=bearer, timeout=30).status_code in (403, 404)
    assert requests.get(elsewhere, params={"job_token": job_token}, timeout=30).status_code in (403, 404)
    # What the job token made is the job's work: the version's card names the job.
    shown = requests.get(f"{tracking.api}/ml/models/ci-model/versions/{version_id}", headers=tracking.headers, timeout=30)
    assert shown.json()["ci_job"]["id"] == job_id
