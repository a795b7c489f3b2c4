"""The MLflow surface with Flask's test client: MLflow's error shape and status table, roles,
request conventions (GET query strings, DELETE with JSON bodies), the artifact proxy's edges, and
the tracking services the version page reads."""
from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.test import TestResponse

from package_api.db import db
from package_api.packages.models import Package
from plugin.mlflow_registry.cards import CardService
from plugin.mlflow_registry.model_versions import next_version
from plugin.registry import semver
from plugin.registry.models import ModelVersion
from tests.support.jobs import register_job
from tests.support.world import World, generic_url

Call = Callable[..., TestResponse]


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def project(world: World) -> int:
    return world.projects["private"]


def _call(client: FlaskClient, world: World, project: int | str, user: str = "developer") -> Call:
    def call(method: str, endpoint: str, body: dict[str, Any] | None = None, /, **query: Any) -> TestResponse:
        prefix = f"/api/v4/projects/{project}/ml/mlflow"
        url = prefix + (endpoint if endpoint.startswith("/api/") else f"/api/2.0/mlflow/{endpoint}")
        headers = {"Authorization": f"Bearer {world.tokens[user]}"} if user else {}
        return client.open(url, method=method, json=body, query_string=query or None, headers=headers)

    return call


@pytest.fixture
def call(client: FlaskClient, world: World, project: int) -> Call:
    return _call(client, world, project)


def _error(response: TestResponse) -> tuple[int, str, str]:
    body = response.get_json()
    return response.status_code, body["error_code"], body["message"]


def _run(call: Call, name: str = "exp") -> tuple[str, str]:
    experiment_id = call("POST", "experiments/create", {"name": name}).get_json()["experiment_id"]
    run_id = call("POST", "runs/create", {"experiment_id": experiment_id, "start_time": 1}).get_json()["run"]["info"][
        "run_id"
    ]
    return experiment_id, run_id


# -- errors ------------------------------------------------------------------------------------------------


def test_errors_have_mlflow_codes_and_statuses(call: Call) -> None:
    assert call("POST", "registered-models/create", {"name": "m"}).status_code == 200
    assert _error(call("POST", "registered-models/create", {"name": "m"})) == (
        400,
        "RESOURCE_ALREADY_EXISTS",
        "Registered Model (name=m) already exists.",
    )
    assert _error(call("GET", "registered-models/get", name="nope")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=nope not found",
    )
    assert _error(call("GET", "model-versions/get", name="m", version="999")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Model Version (name=m, version=999) not found",
    )
    assert _error(call("GET", "model-versions/get", name="m", version="abc")) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Parameter 'version' must be an integer, got 'abc'.",
    )
    assert _error(call("GET", "runs/get", run_id="0" * 32))[:2] == (404, "RESOURCE_DOES_NOT_EXIST")
    status, code, message = _error(call("POST", "registered-models/create", {}))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Missing value for required parameter 'name'.")
    status, code, message = _error(call("GET", "registered-models/search", max_results="abc"))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and "max_results" in message


def test_dot_segments_are_no_model_names(call: Call) -> None:
    """``.`` and ``..`` would be rewritten out of every URL that names the model."""
    call("POST", "registered-models/create", {"name": "m"})
    for name in (".", ".."):
        assert _error(call("POST", "registered-models/create", {"name": name}))[:2] == (400, "INVALID_PARAMETER_VALUE")
        refused = _error(call("POST", "registered-models/rename", {"name": "m", "new_name": name}))
        assert refused == (400, "INVALID_PARAMETER_VALUE", "name cannot be '.' or '..'")
    names = [m["name"] for m in call("GET", "registered-models/search").get_json()["registered_models"]]
    assert names == ["m"]


def test_bad_filters_and_tokens_are_400(call: Call) -> None:
    status, code, message = _error(call("GET", "model-versions/search", filter="nme=='x'"))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Invalid attribute key 'nme' specified. Valid keys are")
    for bad in ("name = ", "name LIKE 'x' OR name = 'y'", "tags.x > 'a'", "name = 'a' AND", "version_number = 'x'"):
        assert _error(call("GET", "model-versions/search", filter=bad))[:2] == (400, "INVALID_PARAMETER_VALUE"), bad
    assert _error(call("GET", "registered-models/search", page_token="not base64!"))[:2] == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert _error(call("GET", "registered-models/search", order_by="size DESC"))[:2] == (400, "INVALID_PARAMETER_VALUE")
    assert _error(call("GET", "registered-models/search", max_results="5000"))[:2] == (400, "INVALID_PARAMETER_VALUE")


def test_a_filter_with_a_nul_is_400_on_every_database(call: Call) -> None:
    """SQLite's LIKE ended the pattern at the NUL (``name ILIKE '%\\x00%'`` matched every model), PostgreSQL
    refused the value with its own words: one answer on both."""
    call("POST", "registered-models/create", {"name": "m"})
    for method, bad in [
        ("registered-models/search", "name ILIKE '%\x00%'"), ("registered-models/search", "name = 'm\x00'"),
        ("model-versions/search", "tags.k = 'a\x00b'"), ("model-versions/search", "name LIKE 'm\x00x%'"),
    ]:
        status, code, message = _error(call("GET", method, filter=bad))
        assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and "NUL" in message, (method, bad, message)


def test_tags_given_as_lists_or_objects_are_400_and_store_nothing(call: Call) -> None:
    """A tag's key or value that is a list or an object is refused as ``set-tag`` refuses it: it was
    stored as Python's text of it (``"{'a': 1}"``) by the create calls."""
    call("POST", "registered-models/create", {"name": "m"})
    for bad in [{"key": "k", "value": {"a": 1}}, {"key": "k", "value": [1]}, {"key": ["k"], "value": "v"}]:
        for endpoint, body in [
            ("registered-models/create", {"name": "other", "tags": [bad]}),
            ("model-versions/create", {"name": "m", "source": "s3://b/m", "tags": [bad]}),
        ]:
            status, code, message = _error(call("POST", endpoint, body))
            assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and "tags." in message, (endpoint, bad, message)
    assert call("GET", "registered-models/get", name="other").status_code == 404
    searched = call("GET", "model-versions/search", filter="name = 'm'")
    assert searched.status_code == 200 and searched.get_json().get("model_versions", []) == []
    # Scalars other than text are their text, as for every other string field.
    created = call("POST", "registered-models/create", {"name": "n", "tags": [{"key": "k", "value": 1}]}).get_json()
    assert created["registered_model"]["tags"] == [{"key": "k", "value": "1"}]


def test_unknown_endpoints_and_multipart(call: Call) -> None:
    assert _error(call("GET", "no-such-thing"))[:2] == (404, "ENDPOINT_NOT_FOUND")
    for step in ("create", "complete", "abort"):
        status, code, message = _error(
            call("POST", f"/api/2.0/mlflow-artifacts/mpu/{step}/1/x/artifacts/f.bin", {"path": "f.bin"})
        )
        assert (status, code) == (501, "NOT_IMPLEMENTED")
        assert message.startswith("Multipart upload is not supported for the current artifact repository")
    info = call("GET", "/api/3.0/mlflow/server-info").get_json()
    assert info["multipart_uploads_enabled"] is False and info["multipart_downloads_enabled"] is False


def test_roles_and_authentication(client: FlaskClient, world: World, project: int) -> None:
    developer, guest = _call(client, world, project), _call(client, world, project, "guest")
    assert developer("POST", "registered-models/create", {"name": "m"}).status_code == 200
    assert guest("GET", "registered-models/get", name="m").status_code == 200
    assert _error(guest("POST", "registered-models/create", {"name": "n"}))[:2] == (403, "PERMISSION_DENIED")
    outsider = _call(client, world, project, "outsider")
    assert _error(outsider("GET", "registered-models/get", name="m"))[:2] == (404, "RESOURCE_DOES_NOT_EXIST")
    anonymous = _call(client, world, project, "")
    assert _error(anonymous("POST", "registered-models/create", {"name": "n"}))[:2] == (401, "UNAUTHENTICATED")
    by_path = _call(client, world, "acme%2Fprivate")
    assert by_path("GET", "registered-models/get", name="m").status_code == 200


def test_responses_are_compact_json_and_deletes_take_json_bodies(call: Call) -> None:
    response = call("POST", "registered-models/create", {"name": "m", "tags": [{"key": "a", "value": "b"}]})
    assert response.mimetype == "application/json"
    assert b": " not in response.data and b", " not in response.data
    assert call("DELETE", "registered-models/delete-tag", {"name": "m", "key": "a"}).get_data() == b"{}"
    assert call("GET", "registered-models/get", name="m").get_json()["registered_model"]["tags"] == []
    assert call("DELETE", "registered-models/delete", {"name": "m"}).status_code == 200
    assert call("GET", "registered-models/get", name="m").status_code == 404


def test_aliases_in_the_registry_api(client: FlaskClient, world: World, project: int, call: Call) -> None:
    call("POST", "registered-models/create", {"name": "m"})
    call("POST", "model-versions/create", {"name": "m", "source": "s3://b/m"})
    call("POST", "registered-models/alias", {"name": "m", "alias": "champion", "version": "1"})
    detail = client.get(f"/api/v4/projects/{project}/ml/models/m/versions/1.0.0", headers=world.headers("guest")).json
    assert detail["aliases"] == ["champion"]


def test_get_latest_versions_by_get_and_post(call: Call) -> None:
    call("POST", "registered-models/create", {"name": "m"})
    for _ in range(2):
        call("POST", "model-versions/create", {"name": "m", "source": "s3://b/m"})
    call(
        "POST",
        "model-versions/transition-stage",
        {"name": "m", "version": "1", "stage": "Production", "archive_existing_versions": False},
    )
    by_post = call("POST", "registered-models/get-latest-versions", {"name": "m", "stages": ["production"]}).get_json()
    by_get = call("GET", "registered-models/get-latest-versions", name="m", stages="Production").get_json()
    assert (
        [v["version"] for v in by_post["model_versions"]] == [v["version"] for v in by_get["model_versions"]] == ["1"]
    )
    assert _error(call("POST", "registered-models/get-latest-versions", {"name": "m", "stages": ["Live"]}))[:2] == (
        400,
        "INVALID_PARAMETER_VALUE",
    )



def test_get_latest_versions_says_what_is_missing(call: Call) -> None:
    """The latest versions are read with their model found by name in one statement; when that finds
    nothing, the answer still tells a missing model from one without versions (or in that stage)."""
    call("POST", "registered-models/create", {"name": "empty", "tags": [{"key": "t", "value": "1"}]})
    assert call("POST", "registered-models/get-latest-versions", {"name": "empty"}).get_json() == {"model_versions": []}
    model = call("GET", "registered-models/get", name="empty").get_json()["registered_model"]
    assert (model["latest_versions"], model["tags"], model["aliases"]) == ([], [{"key": "t", "value": "1"}], [])
    for stages in ([], ["Production"], ["Live"]):  # a missing model first, whatever the stages say
        status, code = _error(call("POST", "registered-models/get-latest-versions", {"name": "nope", "stages": stages}))[:2]
        assert (status, code) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert _error(call("POST", "registered-models/get-latest-versions", {"name": "empty", "stages": ["Live"]}))[:2] == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert _error(call("POST", "registered-models/get-latest-versions", {}))[:2] == (400, "INVALID_PARAMETER_VALUE")
    call("POST", "model-versions/create", {"name": "empty", "source": "s3://b/m"})
    staged = call("POST", "registered-models/get-latest-versions", {"name": "empty", "stages": ["Staging"]}).get_json()
    assert staged == {"model_versions": []}

def test_metrics_keep_nan_and_history(call: Call) -> None:
    _, run_id = _run(call)
    for step, value in enumerate([1.0, float("nan"), 0.5]):
        body = json.dumps({"run_id": run_id, "key": "loss", "value": value, "timestamp": 10 + step, "step": step})
        assert call("POST", "runs/log-metric", json.loads(body)).status_code == 200
    history = call("GET", "metrics/get-history", run_id=run_id, metric_key="loss").get_json()["metrics"]
    assert [m["step"] for m in history] == [0, 1, 2]
    assert history[1]["value"] == "NaN"  # NaN round-trips, written as MLflow writes it
    latest = call("GET", "runs/get", run_id=run_id, run_uuid=run_id).get_json()["run"]["data"]["metrics"]
    assert latest == [{"key": "loss", "value": 0.5, "timestamp": 12, "step": 2}]


def test_log_batch_is_all_or_nothing(call: Call) -> None:
    _, run_id = _run(call)
    call("POST", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    bad = {
        "run_id": run_id,
        "params": [{"key": "epochs", "value": "3"}, {"key": "lr", "value": "0.2"}],
        "tags": [{"key": "t", "value": "1"}],
    }
    assert _error(call("POST", "runs/log-batch", bad))[:2] == (400, "INVALID_PARAMETER_VALUE")
    data = call("GET", "runs/get", run_id=run_id).get_json()["run"]["data"]
    assert data["params"] == [{"key": "lr", "value": "0.1"}]
    assert [t["key"] for t in data["tags"]] == ["mlflow.runName"]
    for key in ("../x", "a//b", "/abs", ""):
        assert call("POST", "runs/set-tag", {"run_id": run_id, "key": key, "value": "v"}).status_code == 400, key


def test_deleted_runs_and_experiments(call: Call) -> None:
    experiment_id, run_id = _run(call)
    assert call("POST", "runs/delete", {"run_id": run_id}).status_code == 200
    assert _error(call("POST", "runs/log-parameter", {"run_id": run_id, "key": "a", "value": "1"}))[:2] == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    searched = call("POST", "runs/search", {"experiment_ids": [experiment_id]}).get_json()
    assert searched["runs"] == []
    deleted = call(
        "POST", "runs/search", {"experiment_ids": [experiment_id], "run_view_type": "DELETED_ONLY"}
    ).get_json()
    assert [r["info"]["run_id"] for r in deleted["runs"]] == [run_id]
    call("POST", "runs/restore", {"run_id": run_id})
    assert call("GET", "runs/get", run_id=run_id).get_json()["run"]["info"]["lifecycle_stage"] == "active"
    # The default experiment exists on first use, as MLflow's experiment 0.
    assert call("GET", "experiments/get", experiment_id="0").get_json()["experiment"]["name"] == "Default"
    assert _error(call("POST", "experiments/delete", {"experiment_id": "0"}))[:2] == (400, "INVALID_PARAMETER_VALUE")


def test_model_experiments_are_reserved_and_kept(call: Call) -> None:
    call("POST", "registered-models/create", {"name": "m"})
    version = call("POST", "model-versions/create", {"name": "m", "source": "s3://b/m"}).get_json()["model_version"]
    experiment = call("GET", "experiments/get-by-name", experiment_name="[model]m").get_json()["experiment"]
    assert _error(call("POST", "experiments/create", {"name": "[model]x"}))[:2] == (400, "INVALID_PARAMETER_VALUE")
    assert _error(call("POST", "experiments/delete", {"experiment_id": experiment["experiment_id"]}))[:2] == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert _error(call("POST", "runs/delete", {"run_id": version["run_id"]}))[:2] == (400, "INVALID_PARAMETER_VALUE")
    call("POST", "registered-models/rename", {"name": "m", "new_name": "n"})
    renamed = call("GET", "experiments/get", experiment_id=experiment["experiment_id"]).get_json()["experiment"]
    assert renamed["name"] == "[model]n"


# -- artifacts ---------------------------------------------------------------------------------------------


def test_artifact_proxy_paths(call: Call) -> None:
    experiment_id, run_id = _run(call)
    root = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts"
    assert (
        call("GET", "/api/2.0/mlflow-artifacts/artifacts", path=f"{experiment_id}/{run_id}/artifacts").get_json() == {}
    )
    for path in ("a/b/c.txt", "a/d.txt", "e.txt"):
        assert call("PUT", f"{root}/{path}", None).status_code == 200
    listing = call(
        "GET", "/api/2.0/mlflow-artifacts/artifacts", path=f"{experiment_id}/{run_id}/artifacts/a"
    ).get_json()
    assert listing == {"files": [{"path": "b", "is_dir": True}, {"path": "d.txt", "is_dir": False, "file_size": 0}]}
    # A file or a missing path lists as nothing; a missing file is RESOURCE_DOES_NOT_EXIST.
    assert (
        call("GET", "/api/2.0/mlflow-artifacts/artifacts", path=f"{experiment_id}/{run_id}/artifacts/e.txt").get_json()
        == {}
    )
    assert _error(call("GET", f"{root}/nope.txt")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"No such artifact: '{experiment_id}/{run_id}/artifacts/nope.txt'",
    )
    for bad in (f"{root}/%2E%2E/%2E%2E/x", f"{root}/a/../../x"):
        assert _error(call("GET", bad)) == (400, "INVALID_PARAMETER_VALUE", "Invalid path")
        assert _error(call("PUT", bad))[:2] == (400, "INVALID_PARAMETER_VALUE")
    assert _error(call("GET", "/api/2.0/mlflow-artifacts/artifacts", path="1/../../etc"))[:2] == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert _error(call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{'f' * 32}/artifacts/x"))[:2] == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert call("DELETE", f"{root}/a", {}).get_json() == {}
    assert call("DELETE", f"{root}/missing", {}).get_json() == {}
    remaining = call(
        "GET", "/api/2.0/mlflow-artifacts/artifacts", path=f"{experiment_id}/{run_id}/artifacts"
    ).get_json()
    assert remaining == {"files": [{"path": "e.txt", "is_dir": False, "file_size": 0}]}


def test_versions_share_blobs_with_their_source(
    app: Flask, client: FlaskClient, world: World, project: int, call: Call
) -> None:
    experiment_id, run_id = _run(call)
    data = b"weights" * 1000
    assert (
        client.put(
            f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/model/w.bin",
            data=data,
            headers={"Authorization": f"Bearer {world.tokens['developer']}"},
        ).status_code
        == 200
    )
    call("POST", "registered-models/create", {"name": "m"})
    for _ in range(3):
        call("POST", "model-versions/create", {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id})
    storage = app.extensions["modelshelf.storage"]
    assert len(list(storage.keys())) == 1  # one blob for three versions
    for version in ("1.0.0", "1.0.1", "1.0.2"):
        assert client.get(generic_url(project, "m", version, "w.bin"), headers=world.headers("developer")).data == data

    def made_and_updated() -> tuple[Any, Any]:
        with app.app_context():
            package = db.session.scalars(select(Package).where(Package.name == "m", Package.version == "1.0.0")).one()
            return package.created_at, package.updated_at

    # Made with its files in one transaction: updated when it was made. (That the registration writes
    # no second UPDATE of the time is counted in tests/api/test_statement_counts.py: within this second
    # an UPDATE a few milliseconds later would pass here too.)
    made, updated = made_and_updated()
    assert made <= updated < made + datetime.timedelta(seconds=1), (made, updated)
    # A file added later moves it.
    assert client.put(generic_url(project, "m", "1.0.0", "extra.bin"), data=b"x", headers=world.headers("developer")).status_code == 201
    assert made_and_updated()[1] > updated


# -- what the version page reads ---------------------------------------------------------------------------


def test_version_card_reads_the_versions_run(
    app: Flask, client: FlaskClient, world: World, project: int, call: Call
) -> None:
    call("POST", "registered-models/create", {"name": "m"})
    assert (
        client.put(
            generic_url(project, "m", "1.0.0", "model.onnx"), data=b"x", headers=world.headers("developer")
        ).status_code
        == 201
    )
    version = call("GET", "model-versions/get", name="m", version="1").get_json()["model_version"]
    run_id = version["run_id"]
    register_job(app, project, "developer", "42")  # the job gitlab.CI_JOB_ID names
    call("POST", "runs/log-batch", {
        "run_id": run_id,
        "params": [{"key": "lr", "value": "0.1"}],
        "metrics": [{"key": "auc", "value": v, "timestamp": 100 + i, "step": i} for i, v in enumerate([0.7, 0.8, 0.9])],
        "tags": [{"key": "gitlab.CI_JOB_ID", "value": "42"}, {"key": "owner", "value": "ml-team"}],
    })  # fmt: skip
    call("POST", "model-versions/set-tag", {"name": "m", "version": "1", "key": "validated", "value": "yes"})
    with app.app_context():
        row = db.session.query(ModelVersion).one()
        service = CardService(db.session)
        card = service.for_version(row)
        assert card.run is not None and card.run.uuid == run_id
        assert (card.params, card.metrics, card.tags) == ([("lr", "0.1")], [("auc", 0.9)], [("validated", "yes")])
        assert card.metadata == [("gitlab.CI_JOB_ID", "42"), ("owner", "ml-team")]
        assert card.ci_job is not None and card.ci_job.job_id == "42"
        assert card.job is not None and card.job.external_id == "42"
        assert card.aliases == []
        assert [(p.step, p.value) for p in service.metric_history(row, "auc")] == [(0, 0.7), (1, 0.8), (2, 0.9)]


@given(
    st.lists(
        st.from_regex(r"\A(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(-rc\.[1-9])?(\+b[0-9])?\Z"),
        max_size=8,
    )
)
def test_next_version_is_the_next_patch(versions: list[str]) -> None:
    assert next_version(versions) == semver.next_patch(versions)


@pytest.mark.parametrize(
    "made",
    [
        ["1.4.2", "2.0.0-rc.1", "1.0.0", "1.4.2+b7", "1.10.0-alpha"],  # the highest release, not the last made
        ["0.9.0-rc.2", "0.9.0-rc.10", "0.8.0"],
        ["0.9.0-rc.2", "0.9.0-rc.10"],  # no release: the highest prerelease
        [],
    ],
)
def test_a_version_without_gitlab_version_is_the_next_patch_of_the_latest(call: Call, made: list[str]) -> None:
    _, run_id = _run(call)
    assert call("POST", "registered-models/create", {"name": "m"}).status_code == 200
    for version in made:
        body = {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id, "tags": [{"key": "gitlab.version", "value": version}]}
        assert call("POST", "model-versions/create", body).status_code == 200
    body = {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id}
    created = call("POST", "model-versions/create", body).get_json()["model_version"]
    assert created["aliases"] == [semver.next_patch(made)]


def test_runs_without_a_name_get_one_as_mlflow_names_them(call: Call) -> None:
    experiment_id = call("POST", "experiments/create", {"name": "named"}).get_json()["experiment_id"]
    names = []
    for _ in range(5):
        run = call("POST", "runs/create", {"experiment_id": experiment_id, "start_time": 1}).get_json()["run"]
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        names.append(run["info"]["run_name"])
        assert tags["mlflow.runName"] == run["info"]["run_name"]
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-[0-9]{1,3}", n) and len(n) <= 20 for n in names), names
    assert len(set(names)) > 1
    named = call("POST", "runs/create", {"experiment_id": experiment_id, "start_time": 1, "run_name": "mine"})
    assert named.get_json()["run"]["info"]["run_name"] == "mine"
