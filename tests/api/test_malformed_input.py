"""Malformed input gets a 4xx that says what is wrong, never a 500: the cases the schemathesis run
(tests/e2e/test_schemathesis.py) found, pinned down one by one with Flask's test client."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.world import World, generic_url

#: One past the largest row id (INTEGER columns are 32-bit on PostgreSQL).
TOO_BIG = 2**31


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def api(client: FlaskClient, world: World) -> Any:
    headers = world.headers("owner")
    project = world.projects["private"]

    def call(method: str, path: str, **kwargs: Any) -> TestResponse:
        url = path if path.startswith("/api/") else f"/api/v4/projects/{project}{path}"
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


@pytest.fixture
def version(api: Any) -> dict[str, Any]:
    assert api("POST", "/ml/models", json={"name": "fraud"}).status_code == 201
    response = api("POST", "/ml/models/fraud/versions", json={"version": "1.0.0"})
    assert response.status_code == 201
    return response.get_json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "path",
    [
        f"/packages/{TOO_BIG}",
        f"/packages/{TOO_BIG}/package_files",
        f"/packages/ml_models/{TOO_BIG}/files/model.onnx",
        "/api/v4/projects/99999999999999999999",
        "/api/v4/projects/\u00b2",  # "²".isdigit() is true, int("²") fails
        f"/ml/models/{TOO_BIG}",
        "/ml/models/\u00b2",
    ],
)
def test_ids_past_the_database_range_are_not_found(api: Any, path: str) -> None:
    response = api("GET", path)
    assert response.status_code == 404, response.data
    assert response.is_json


def test_a_version_file_url_that_is_no_file_id_cannot_be_deleted(api: Any, version: dict[str, Any]) -> None:
    response = api("DELETE", f"/ml/models/fraud/versions/1.0.0/files/{TOO_BIG}")
    # The last segment is a file path then, and only GET serves file paths.
    assert response.status_code == 405
    assert response.get_json() == {"error": "405 Not Allowed"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v4/projects"),
        ("PUT", ""),
        ("POST", "/ml/models"),
        ("PUT", "/ml/models/fraud"),
        ("POST", "/ml/models/fraud/versions"),
        ("PUT", "/ml/models/fraud/versions/1.0.0"),
        ("DELETE", "/ml/models/fraud/versions/1.0.0/files"),
    ],
)
def test_a_json_body_that_is_not_an_object_is_refused(api: Any, version: dict[str, Any], method: str, path: str) -> None:
    response = api(method, path, json=[None, None])
    assert response.status_code == 400
    assert response.get_json() == {"message": "400 Bad request - the request body must be a JSON object"}


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("PUT", "/ml/models/fraud", {"description": [None]}, "description"),
        ("PUT", "/ml/models/fraud/versions/1.0.0", {"description": {"a": 1}}, "description"),
        ("POST", "/ml/models", {"name": ["fraud"]}, "name"),
        ("POST", "/ml/models/fraud/versions", {"version": ["2.0.0"]}, "version"),
        ("DELETE", "/ml/models/fraud/versions/1.0.0/files", {"ids": "12"}, "ids"),
        ("DELETE", "/ml/models/fraud/versions/1.0.0/files", {"ids": [TOO_BIG]}, "ids"),
        ("DELETE", "/ml/models/fraud/versions/1.0.0/files", {"ids": [True]}, "ids"),
    ],
)
def test_a_parameter_of_the_wrong_type_is_named(
    api: Any, version: dict[str, Any], method: str, path: str, body: dict[str, Any], param: str
) -> None:
    response = api(method, path, json=body)
    assert response.status_code == 400
    assert response.get_json() == {"error": f"{param} is invalid"}


def test_a_page_past_what_the_database_can_skip_is_refused(api: Any) -> None:
    response = api("GET", f"/packages?page={TOO_BIG}")
    assert response.status_code == 400
    assert response.get_json() == {"error": "page does not have a valid value"}


def test_a_project_description_longer_than_its_column_is_refused(api: Any) -> None:
    response = api("POST", "/api/v4/projects", json={"path": "long", "description": "d" * 2001})
    assert response.status_code == 400
    assert response.get_json() == {"error": "description is too long (maximum is 2000 characters)"}


@pytest.fixture
def mlflow(api: Any) -> Any:
    def call(method: str, endpoint: str, body: dict[str, Any] | None = None, **query: Any) -> TestResponse:
        return api(method, f"/ml/mlflow/api/2.0/mlflow/{endpoint}", json=body, query_string=query or None)

    return call


def _mlflow_error(response: TestResponse) -> tuple[int, str]:
    return response.status_code, response.get_json()["error_code"]


def test_mlflow_int64_fields_refuse_what_does_not_fit(mlflow: Any) -> None:
    experiment = mlflow("POST", "experiments/create", {"name": "e"}).get_json()["experiment_id"]
    for start_time in (2**63, -(2**63) - 1, 1e30):
        response = mlflow("POST", "runs/create", {"experiment_id": experiment, "start_time": start_time})
        assert _mlflow_error(response) == (400, "INVALID_PARAMETER_VALUE"), start_time
        assert "start_time" in response.get_json()["message"]
    run = mlflow("POST", "runs/create", {"experiment_id": experiment, "start_time": 2**63 - 1}).get_json()["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["start_time"] == 2**63 - 1
    for step in (2**63, float("inf")):
        metrics = [{"key": "loss", "value": 1.0, "timestamp": 1, "step": step}]
        response = mlflow("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
        assert _mlflow_error(response) == (400, "INVALID_PARAMETER_VALUE"), step


def test_mlflow_messages_of_a_repeated_field_check_their_types(mlflow: Any) -> None:
    experiment = mlflow("POST", "experiments/create", {"name": "e"}).get_json()["experiment_id"]
    run_id = mlflow("POST", "runs/create", {"experiment_id": experiment}).get_json()["run"]["info"]["run_id"]
    response = mlflow("POST", "runs/outputs", {"run_id": run_id, "models": [{"model_id": [None, None]}]})
    assert _mlflow_error(response) == (400, "INVALID_PARAMETER_VALUE")
    assert "models.model_id" in response.get_json()["message"]
    response = mlflow("POST", "runs/log-batch", {"run_id": run_id, "metrics": [{"key": ["k"], "value": 1, "timestamp": 1}]})
    assert _mlflow_error(response) == (400, "INVALID_PARAMETER_VALUE")
    assert "metrics.key" in response.get_json()["message"]
    response = mlflow("POST", "logged-models", {"experiment_id": experiment, "model_type": "t" * 256})
    assert _mlflow_error(response) == (400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("experiment_id", ["\u00b2", str(TOO_BIG)])
def test_mlflow_ids_past_the_database_range_are_invalid(mlflow: Any, experiment_id: str) -> None:
    assert _mlflow_error(mlflow("GET", "experiments/get", experiment_id=experiment_id)) == (400, "INVALID_PARAMETER_VALUE")


def test_mlflow_version_numbers_past_the_database_range_are_invalid(mlflow: Any, version: dict[str, Any]) -> None:
    response = mlflow("GET", "model-versions/get", name="fraud", version=str(TOO_BIG))
    assert _mlflow_error(response) == (400, "INVALID_PARAMETER_VALUE")
    found = mlflow("GET", "model-versions/get", name="fraud", version="1")
    assert found.status_code == 200 and found.get_json()["model_version"]["aliases"][0] == "1.0.0"


def test_generic_uploads_still_take_ids_in_range(api: Any, world: World) -> None:
    """The id converter's bound is in its regex: every id up to the bound still routes."""
    assert api("PUT", generic_url(world.projects["private"]), data=b"x").status_code == 201
    assert api("GET", f"/packages/{TOO_BIG - 1}").get_json() == {"message": "404 Package Not Found"}


def test_a_nul_character_is_never_a_server_error(app: Flask, api: Any, mlflow: Any) -> None:
    """SQLite keeps a NUL in text; PostgreSQL refuses it, and that refusal is the client's to fix. A
    parameter or a JSON body with one is refused before any database sees it, on both
    (package_api/web/body_limits.py)."""
    response = api("GET", "/packages", query_string={"package_version": "1.0\x00"})
    assert response.status_code == 400 and "NUL" in response.get_json()["message"], response.data
    response = mlflow("POST", "experiments/create", {"name": "with\x00nul"})
    assert _mlflow_error(response) == (400, "INVALID_PARAMETER_VALUE")
    assert "NUL" in response.get_json()["message"]
