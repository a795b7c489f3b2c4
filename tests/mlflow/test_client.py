"""The real ``mlflow`` client (pinned in the test extra) against ``modelshelf serve``: every call of
the reference workflow (``mlflow-compat.md`` section 2), ``log_model`` and ``load_model`` of a small
Python model, and the errors a user meets. One server serves the module; each test has its own
project, so its own tracking URI (``conftest.py``)."""
from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported

import json
import subprocess
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException

from tests.mlflow.conftest import Tracking

pytestmark = pytest.mark.server


class Doubler(mlflow.pyfunc.PythonModel):
    """A model small enough to log in a test: it doubles its input."""

    def predict(self, context, model_input: list[int], params=None) -> list[int]:  # type: ignore[no-untyped-def]
        return [2 * x for x in model_input]


def _error_code(excinfo: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(excinfo.value.error_code)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write_tree(root: Path) -> dict[str, bytes]:
    files = {
        "MLmodel": b"flavors: {}\n",
        "weights.bin": os.urandom(4096),
        "sub/nested.json": b'{"a": 1}',
        "sub/deeper/notes.txt": b"deep",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


# -- experiments and runs ------------------------------------------------------------------------------


def test_experiments(tracking: Tracking) -> None:
    client = tracking.client
    experiment_id = client.create_experiment("exp-a", tags={"team": "fraud"})
    with pytest.raises(MlflowException) as duplicate:
        client.create_experiment("exp-a")
    assert _error_code(duplicate) == "RESOURCE_ALREADY_EXISTS"

    found = client.get_experiment_by_name("exp-a")
    assert found is not None and found.experiment_id == experiment_id
    assert found.tags == {"team": "fraud"}
    assert found.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert client.get_experiment_by_name("nope") is None

    client.set_experiment_tag(experiment_id, "stage", "dev")
    assert client.get_experiment(experiment_id).tags == {"team": "fraud", "stage": "dev"}
    created = mlflow.set_experiment("exp-b")  # get-by-name misses, so the fluent API creates it
    assert [e.name for e in client.search_experiments(order_by=["name ASC"])] == ["exp-a", "exp-b"]
    assert [e.name for e in client.search_experiments(filter_string="tags.team = 'fraud'")] == ["exp-a"]

    client.rename_experiment(created.experiment_id, "exp-c")
    client.delete_experiment(created.experiment_id)
    assert client.get_experiment(created.experiment_id).lifecycle_stage == "deleted"
    assert [e.name for e in client.search_experiments()] == ["exp-a"]
    client.restore_experiment(created.experiment_id)
    assert client.get_experiment_by_name("exp-c") is not None


def test_run_params_metrics_tags_and_batch(tracking: Tracking) -> None:
    client = tracking.client
    mlflow.set_experiment("training")
    with mlflow.start_run(run_name="r1") as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_params({"epochs": 3, "optimizer": "adam"})
        mlflow.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(MlflowException) as changed:
            mlflow.log_param("lr", "0.2")
        assert _error_code(changed) == "INVALID_PARAMETER_VALUE"
        assert "Changing param values is not allowed" in str(changed.value)
        mlflow.log_metric("loss", 0.9, step=0)
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metrics({"loss": 0.25, "accuracy": 0.8}, step=2)
        mlflow.set_tag("team", "fraud")
        mlflow.set_tags({"purpose": "test", "temporary": "yes"})
        client.log_batch(
            run.info.run_id,
            metrics=[mlflow.entities.Metric("f1", 0.7, 1_700_000_000_000, 0)],
            params=[mlflow.entities.Param("seed", "42")],
            tags=[mlflow.entities.RunTag("batch", "1")],
        )
        client.delete_tag(run.info.run_id, "temporary")
    run_id = run.info.run_id

    stored = client.get_run(run_id)
    assert stored.info.status == "FINISHED" and stored.info.end_time is not None
    assert stored.info.run_name == "r1"
    assert stored.info.artifact_uri == f"mlflow-artifacts:/{stored.info.experiment_id}/{run_id}/artifacts"
    assert stored.data.params == {"lr": "0.1", "epochs": "3", "optimizer": "adam", "seed": "42"}
    assert stored.data.metrics == {"loss": 0.25, "accuracy": 0.8, "f1": 0.7}
    assert {k: v for k, v in stored.data.tags.items() if not k.startswith("mlflow.")} == {
        "team": "fraud",
        "purpose": "test",
        "batch": "1",
    }
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.25)]

    with mlflow.start_run(run_name="r2", experiment_id=stored.info.experiment_id):
        mlflow.log_metric("loss", 0.1)
        mlflow.log_param("lr", "0.2")
    experiment_id = stored.info.experiment_id
    found = client.search_runs([experiment_id], filter_string="metrics.loss < 0.2")
    assert [r.info.run_name for r in found] == ["r2"]
    found = client.search_runs([experiment_id], filter_string="params.lr = '0.1' and tags.team = 'fraud'")
    assert [r.info.run_id for r in found] == [run_id]
    ordered = client.search_runs([experiment_id], order_by=["metrics.loss DESC"])
    assert [r.info.run_name for r in ordered] == ["r1", "r2"]

    with pytest.raises(MlflowException) as missing:
        client.get_run("0" * 32)
    assert _error_code(missing) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as bad_filter:
        client.search_runs([experiment_id], filter_string="metrics.loss <<< 1")
    assert _error_code(bad_filter) == "INVALID_PARAMETER_VALUE"


def test_artifacts_with_directories(tracking: Tracking, tmp_path: Path) -> None:
    client = tracking.client
    (tmp_path / "hello.txt").write_text("hello, world!\n")
    model_dir = tmp_path / "model"
    files = _write_tree(model_dir)
    mlflow.set_experiment("artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "hello.txt"))
        mlflow.log_artifact(str(tmp_path / "hello.txt"), "docs")
        mlflow.log_artifacts(str(model_dir), "model")
        mlflow.log_text("some notes", "notes/t.txt")
        mlflow.log_dict({"a": 1}, "conf.json")
    run_id = run.info.run_id

    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("conf.json", False),
        ("docs", True),
        ("hello.txt", False),
        ("model", True),
        ("notes", True),
    ]
    assert [f.file_size for f in top if f.path == "hello.txt"] == [14]
    inside = client.list_artifacts(run_id, "model")
    assert [(f.path, f.is_dir) for f in inside] == [
        ("model/MLmodel", False),
        ("model/sub", True),
        ("model/weights.bin", False),
    ]

    downloaded = Path(client.download_artifacts(run_id, "model", str(tmp_path / "out")))
    assert _tree(downloaded) == files
    single = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/hello.txt", dst_path=str(tmp_path / "one"))
    assert Path(single).read_text() == "hello, world!\n"
    assert json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/conf.json")) == {"a": 1}

    # The artifact proxy: DELETE removes a directory tree; a traversal is refused.
    root = f"{tracking.uri}/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{run_id}/artifacts"
    auth = {"Authorization": f"Bearer {tracking.account.token}"}
    assert requests.delete(f"{root}/docs", headers=auth, timeout=30).json() == {}
    assert "docs" not in [f.path for f in client.list_artifacts(run_id)]
    refused = requests.get(f"{root}/%2E%2E/%2E%2E/x", headers=auth, timeout=30)
    assert (refused.status_code, refused.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert refused.json()["message"] == "Invalid path"


# -- the registry ----------------------------------------------------------------------------------------


def test_registered_models(tracking: Tracking) -> None:
    client = tracking.client
    created = client.create_registered_model("fraud", tags={"owner": "alice"}, description="first")
    assert (created.name, created.description, created.tags) == ("fraud", "first", {"owner": "alice"})
    with pytest.raises(MlflowException) as duplicate:
        client.create_registered_model("fraud")
    assert _error_code(duplicate) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model("nope")
    assert _error_code(missing) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as dots:
        client.create_registered_model("..")  # no URL could name it
    assert _error_code(dots) == "INVALID_PARAMETER_VALUE"

    client.update_registered_model("fraud", description="better")
    client.set_registered_model_tag("fraud", "domain", "payments")
    client.delete_registered_model_tag("fraud", "owner")
    client.create_registered_model("churn", tags={"owner": "bob"})
    client.create_registered_model("fraud-old")
    model = client.get_registered_model("fraud")
    assert (model.description, model.tags) == ("better", {"domain": "payments"})

    assert [m.name for m in client.search_registered_models(filter_string="name LIKE 'fraud%'")] == [
        "fraud",
        "fraud-old",
    ]
    found = client.search_registered_models(filter_string="tags.owner = 'bob'", max_results=5, order_by=["name ASC"])
    assert [m.name for m in found] == ["churn"]
    assert [m.name for m in client.search_registered_models(order_by=["name DESC"])] == ["fraud-old", "fraud", "churn"]
    first = client.search_registered_models(max_results=2, order_by=["name ASC"])
    second = client.search_registered_models(max_results=2, order_by=["name ASC"], page_token=first.token)
    assert [m.name for m in first] + [m.name for m in second] == ["churn", "fraud", "fraud-old"]
    with pytest.raises(MlflowException) as bad:
        client.search_registered_models(filter_string="nme = 'x'")
    assert _error_code(bad) == "INVALID_PARAMETER_VALUE"

    client.rename_registered_model("fraud", "fraud-v2")
    assert client.get_registered_model("fraud-v2").description == "better"
    with pytest.raises(MlflowException) as taken:
        client.rename_registered_model("fraud-v2", "churn")
    assert _error_code(taken) == "RESOURCE_ALREADY_EXISTS"
    client.delete_registered_model("fraud-old")
    assert [m.name for m in client.search_registered_models(order_by=["name ASC"])] == ["churn", "fraud-v2"]


@pytest.mark.filterwarnings("ignore:.*stages.*:FutureWarning")  # stages are deprecated, still used
def test_versions_from_runs_artifacts_and_models(tracking: Tracking, tmp_path: Path) -> None:
    client = tracking.client
    files = _write_tree(tmp_path / "model")
    mlflow.set_experiment("training")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path / "model"), "model")
    run_id, experiment_id = run.info.run_id, run.info.experiment_id
    client.create_registered_model("m")

    v1 = client.create_model_version(
        "m", f"runs:/{run_id}/model", run_id=run_id, tags={"validated": "true"}, description="v1"
    )
    assert (v1.version, v1.status, v1.current_stage, v1.run_id, v1.aliases) == ("1", "READY", "None", run_id, ["1.0.0"])
    source = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    v2 = client.create_model_version("m", source, run_id=run_id, tags={"gitlab.version": "2.0.0"})
    assert (v2.version, v2.aliases) == ("2", ["2.0.0"])
    v3 = client.create_model_version("m", "models:/m/1")
    assert (v3.version, v3.aliases, v3.run_id, v3.source) == ("3", ["2.0.1"], run_id, "models:/m/1")
    v4 = mlflow.register_model(f"runs:/{run_id}/model", "m")  # create (exists), list, create version
    assert v4.version == "4"
    with pytest.raises(MlflowException) as wrong_run:
        client.create_model_version("m", f"runs:/{run_id}/model", run_id="f" * 32)
    assert _error_code(wrong_run) == "INVALID_PARAMETER_VALUE"

    # Every version holds the files, downloadable by number, by alias and by semantic version.
    for uri in ("models:/m/1", "models:/m/3", "models:/m@2.0.1", "models:/m/latest"):
        assert _tree(
            Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / uri.replace("/", "_"))))
        ) == {
            **files,
            "registered_model_meta": _tree(tmp_path / uri.replace("/", "_"))["registered_model_meta"],
        }
    download_uri = client.get_model_version_download_uri("m", "1")
    assert download_uri.startswith("mlflow-artifacts:/")

    got = client.get_model_version("m", "1")
    assert (got.description, got.tags, got.source) == ("v1", {"validated": "true"}, f"runs:/{run_id}/model")
    client.update_model_version("m", "1", description="v1, reviewed")
    client.set_model_version_tag("m", "2", "validated", "false")
    client.set_model_version_tag("m", "3", "validated", "true")
    client.delete_model_version_tag("m", "1", "validated")
    assert client.get_model_version("m", "1").description == "v1, reviewed"
    with pytest.raises(MlflowException) as missing:
        client.get_model_version("m", "99")
    assert _error_code(missing) == "RESOURCE_DOES_NOT_EXIST"

    found = client.search_model_versions(
        "name='m' and tags.validated='true'", max_results=10, order_by=["version_number DESC"]
    )
    assert [v.version for v in found] == ["3"]
    found = client.search_model_versions("name='m' and tags.validated != 'true'", order_by=["version_number ASC"])
    assert [v.version for v in found] == ["2"]  # as in MLflow's SQL store: a version without the tag fails != too
    assert {v.version for v in client.search_model_versions(f"run_id='{run_id}'")} == {"1", "2", "3", "4"}
    with pytest.raises(MlflowException) as bad:
        client.search_model_versions("nme=='x'")
    assert _error_code(bad) == "INVALID_PARAMETER_VALUE"
    assert "Invalid attribute key 'nme'" in str(bad.value)

    client.transition_model_version_stage("m", "1", "Staging")
    client.transition_model_version_stage("m", "2", "production")
    moved = client.transition_model_version_stage("m", "3", "Staging", archive_existing_versions=True)
    assert moved.current_stage == "Staging"
    assert client.get_model_version("m", "1").current_stage == "Archived"
    latest = client.get_latest_versions("m")
    assert [(v.current_stage, v.version) for v in latest] == [
        ("None", "4"),
        ("Staging", "3"),
        ("Production", "2"),
        ("Archived", "1"),
    ]
    assert [v.version for v in client.get_latest_versions("m", stages=["Production"])] == ["2"]
    assert ("None", "4") in [(v.current_stage, v.version) for v in client.get_registered_model("m").latest_versions]

    client.delete_model_version("m", "4")
    assert [v.version for v in client.search_model_versions("name='m'", order_by=["version_number ASC"])] == [
        "1",
        "2",
        "3",
    ]


def test_aliases(tracking: Tracking) -> None:
    client = tracking.client
    client.create_registered_model("m")
    for _ in range(2):
        client.create_model_version("m", "s3://bucket/model")
    client.set_registered_model_alias("m", "champion", "1")
    assert client.get_model_version_by_alias("m", "champion").version == "1"
    assert client.get_model_version("m", "1").aliases == ["1.0.0", "champion"]
    client.set_registered_model_alias("m", "champion", "2")  # an alias moves
    assert client.get_registered_model("m").aliases == {"champion": "2"}
    assert client.get_model_version_by_alias("m", "1.0.0").version == "1"  # the semver names a version
    for reserved in ("latest", "Latest", "v1", "1.0.0"):
        with pytest.raises(MlflowException) as refused:
            client.set_registered_model_alias("m", reserved, "1")
        assert _error_code(refused) == "INVALID_PARAMETER_VALUE", reserved
    client.delete_registered_model_alias("m", "champion")
    assert client.get_registered_model("m").aliases == {}
    with pytest.raises(MlflowException) as gone:
        client.get_model_version_by_alias("m", "champion")
    assert _error_code(gone) == "RESOURCE_DOES_NOT_EXIST"


def test_a_deleted_versions_number_is_never_given_again(tracking: Tracking) -> None:
    """MLflow never reuses a version number: ``models:/m/2`` must not load another model later."""
    client = tracking.client
    client.create_registered_model("m")
    for _ in range(2):
        client.create_model_version("m", "s3://bucket/model")

    client.delete_model_version("m", "2")
    third = client.create_model_version("m", "s3://bucket/model")

    assert third.version == "3"
    assert sorted(v.version for v in client.search_model_versions("name = 'm'")) == ["1", "3"]
    with pytest.raises(MlflowException) as gone:
        client.get_model_version("m", "2")
    assert _error_code(gone) == "RESOURCE_DOES_NOT_EXIST"


def test_a_version_without_a_run_gets_its_own_run(tracking: Tracking) -> None:
    client = tracking.client
    client.create_registered_model("m")
    version = client.create_model_version("m", "s3://bucket/model")
    assert version.run_id
    client.log_param(version.run_id, "lr", "0.01")
    client.log_metric(version.run_id, "auc", 0.91, step=1)
    run = client.get_run(version.run_id)
    assert run.data.params == {"lr": "0.01"} and run.data.metrics == {"auc": 0.91}
    experiment = client.get_experiment_by_name("[model]m")
    assert experiment is not None and run.info.experiment_id == experiment.experiment_id
    # The run's artifacts are the version's files.
    assert client.get_model_version_download_uri("m", "1") == run.info.artifact_uri


def test_log_model_and_load_model(tracking: Tracking) -> None:
    client = tracking.client
    mlflow.set_experiment("pyfunc")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name="doubler")
    assert str(info.registered_model_version) == "1"
    version = client.get_model_version("doubler", "1")
    # The 3.17 client drops a version's model_id when it reads the proto; the source names it.
    assert (version.source, version.run_id) == (f"models:/{info.model_id}", run.info.run_id)
    logged = client.get_logged_model(info.model_id)
    assert logged.status == "READY" or str(logged.status).endswith("READY")
    assert logged.source_run_id == run.info.run_id

    by_number = mlflow.pyfunc.load_model("models:/doubler/1")
    client.set_registered_model_alias("doubler", "champion", "1")
    by_alias = mlflow.pyfunc.load_model("models:/doubler@champion")
    assert by_number.predict([1, 2, 3]) == by_alias.predict([1, 2, 3]) == [2, 4, 6]
    assert mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict([5]) == [10]
    assert mlflow.pyfunc.load_model(f"models:/{info.model_id}").predict([5]) == [10]


# -- access ------------------------------------------------------------------------------------------------


def test_basic_auth_with_the_token_as_password(tracking: Tracking, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", tracking.account.token)
    client = MlflowClient(tracking.uri)
    experiment_id = client.create_experiment("basic")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "m", 1.0)
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.0}

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(RestException) as refused:
        client.get_experiment(experiment_id)
    assert _error_code(refused) == "UNAUTHENTICATED"


def test_a_wrong_token_is_said_to_be_refused_and_a_missing_one_to_be_needed(
    tracking: Tracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mspat-not-a-token-of-this-server")
    with pytest.raises(RestException) as refused:
        MlflowClient(tracking.uri).search_registered_models()
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    with pytest.raises(RestException) as missing:
        MlflowClient(tracking.uri).create_registered_model("needs-a-token")

    assert _error_code(refused) == _error_code(missing) == "UNAUTHENTICATED"
    assert "The token was refused" in str(refused.value) and "MLFLOW_TRACKING_TOKEN" in str(refused.value)
    assert "send a token (MLFLOW_TRACKING_TOKEN)" in str(missing.value)


def test_a_disabled_model_registry_says_so(tracking: Tracking) -> None:
    settings = requests.put(tracking.api, json={"model_registry_access_level": "disabled"}, headers=tracking.headers, timeout=30)
    assert settings.status_code == 200

    with pytest.raises(RestException) as refused:
        tracking.client.search_registered_models()

    assert _error_code(refused) == "PERMISSION_DENIED"
    assert "the model registry is disabled in this project" in str(refused.value)


def test_an_empty_model_name_is_refused_in_mlflows_words(tracking: Tracking) -> None:
    with pytest.raises(RestException) as refused:
        tracking.client.create_registered_model("")

    assert _error_code(refused) == "INVALID_PARAMETER_VALUE"
    assert "Missing value for required parameter 'name'" in str(refused.value)


def test_mlflow_files_are_packages_and_models(tracking: Tracking, tmp_path: Path) -> None:
    """What MLflow logs is reachable with curl through the generic package API, and what it
    registers is in the model registry's own API."""
    client = tracking.client
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01weights")
    experiment_id = client.create_experiment("exp")
    run = client.create_run(experiment_id)
    client.log_artifact(run.info.run_id, str(tmp_path / "weights.bin"), "model")
    client.create_registered_model("fraud-detector", description="Detects fraud")
    client.create_model_version(
        "fraud-detector", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags={"gitlab.version": "1.4.0"}
    )

    packages = requests.get(f"{tracking.api}/packages", headers=tracking.headers, timeout=30).json()
    candidate = next(p for p in packages if p["name"] == f"ml_experiment_{experiment_id}")
    assert candidate["version"].startswith("candidate_")
    for package, version in ((candidate["name"], candidate["version"]), ("fraud-detector", "1.4.0")):
        url = f"{tracking.api}/packages/generic/{package}/{version}/" + (
            "model/weights.bin" if package != "fraud-detector" else "weights.bin"
        )
        out = tmp_path / f"{package}.bin"
        subprocess.run(
            [
                "curl",
                "--fail",
                "--silent",
                "--show-error",
                "--header",
                f"PRIVATE-TOKEN: {tracking.account.token}",
                "--output",
                str(out),
                url,
            ],
            check=True,
        )
        assert out.read_bytes() == b"\x00\x01weights"

    [model] = requests.get(f"{tracking.api}/ml/models", headers=tracking.headers, timeout=30).json()
    assert (model["name"], model["description"], model["latest_version"]["version"]) == (
        "fraud-detector",
        "Detects fraud",
        "1.4.0",
    )
    [version] = requests.get(
        f"{tracking.api}/ml/models/{model['id']}/versions", headers=tracking.headers, timeout=30
    ).json()
    assert (version["version"], version["sequence"]) == ("1.4.0", 1)


def test_curl_uploads_are_mlflow_versions(tracking: Tracking, tmp_path: Path) -> None:
    """A version uploaded with curl into a registered model is a model version too, with its own run."""
    tracking.client.create_registered_model("churn")
    url = f"{tracking.api}/packages/generic/churn/0.3.0/model.onnx"
    assert requests.put(url, data=b"onnx", headers=tracking.headers, timeout=30).status_code == 201
    version = tracking.client.get_model_version("churn", "1")
    assert (version.aliases, version.run_id != "") == (["0.3.0"], True)
    path = mlflow.artifacts.download_artifacts("models:/churn@0.3.0", dst_path=str(tmp_path))
    assert (Path(path) / "model.onnx").read_bytes() == b"onnx"


def test_plain_packages_are_no_registered_models(tracking: Tracking) -> None:
    """A CI release tarball with a semantic version is a package, not a registered model: until a model
    of its name is made on purpose, by a Maintainer (``alice`` owns the project)."""
    url = f"{tracking.api}/packages/generic/release-tarball/2.3.4/release.tar.gz"
    assert requests.put(url, data=b"tarball", headers=tracking.headers, timeout=30).status_code == 201
    client = tracking.client
    client.create_registered_model("fraud-detector")
    assert [m.name for m in client.search_registered_models()] == ["fraud-detector"]
    assert client.search_model_versions("name='release-tarball'") == []
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model("release-tarball")
    assert _error_code(missing) == "RESOURCE_DOES_NOT_EXIST"

    client.create_registered_model("release-tarball")
    assert [m.name for m in client.search_registered_models(order_by=["name ASC"])] == ["fraud-detector", "release-tarball"]
    assert [v.aliases for v in client.search_model_versions("name='release-tarball'")] == [["2.3.4"]]


def test_set_model_version_tag_modelshelf_sealed_seals_the_version(tracking: Tracking) -> None:
    """``modelshelf.sealed`` = ``true`` through MLflow's own client seals the version: its files can no
    longer change (a generic upload into it is refused), the tag is never lifted (PERMISSION_DENIED),
    and the REST API says it is sealed."""
    client = tracking.client
    client.create_registered_model("sealed-model")
    url = f"{tracking.api}/packages/generic/sealed-model/1.0.0/model.onnx"
    assert requests.put(url, data=b"weights", headers=tracking.headers, timeout=30).status_code == 201

    client.set_model_version_tag("sealed-model", "1", "modelshelf.sealed", "true")

    assert client.get_model_version("sealed-model", "1").tags["modelshelf.sealed"] == "true"
    rest = requests.get(f"{tracking.api}/ml/models/sealed-model/versions/1.0.0", headers=tracking.headers, timeout=30).json()
    assert rest["sealed"] is True and rest["sealed_at"]
    refused = requests.put(url, data=b"other weights", headers=tracking.headers, timeout=30)
    assert refused.status_code == 403 and "is sealed" in refused.json()["message"]
    with pytest.raises(MlflowException) as unseal:
        client.set_model_version_tag("sealed-model", "1", "modelshelf.sealed", "false")
    assert _error_code(unseal) == "PERMISSION_DENIED" and "a seal is never lifted" in unseal.value.message
    with pytest.raises(MlflowException) as untag:
        client.delete_model_version_tag("sealed-model", "1", "modelshelf.sealed")
    assert _error_code(untag) == "PERMISSION_DENIED"
    found = client.search_model_versions("name = 'sealed-model' and tags.`modelshelf.sealed` = 'true'")
    assert [v.version for v in found] == ["1"]
    client.delete_model_version("sealed-model", "1")  # alice owns the project: an Owner deletes it
    assert client.search_model_versions("name = 'sealed-model'") == []
