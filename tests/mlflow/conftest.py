"""The live MLflow client's fixtures, shared by the modules that drive the real ``mlflow`` client
against ``modelshelf serve`` (``test_client.py``, ``test_workflows.py``): one server per module, and
for each test a project of its own, so its own tracking URI."""
from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.support.live_server import Account, create_account, running_server

if TYPE_CHECKING:
    from mlflow import MlflowClient


@dataclass
class Tracking:
    account: Account
    project: int
    uri: str
    client: MlflowClient

    @property
    def headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.account.token}

    @property
    def api(self) -> str:
        return f"{self.account.server.api}/projects/{self.project}"


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    from mlflow.utils import request_utils

    with running_server(tmp_path_factory.mktemp("mlflow") / "data") as server:
        yield create_account(server, "alice")
        # The client keeps its connections alive in cached sessions, and gunicorn's graceful stop
        # waits for kept-alive connections: drop them so that the server stops at once.
        request_utils._cached_get_request_session.cache_clear()
        gc.collect()


def use_tracking_uri(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # set_experiment exports it
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    # A mistake of ours must fail the test now, not after minutes of the client's retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(uri)  # the client caches the URI: set it explicitly


@pytest.fixture
def tracking(account: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracking]:
    import mlflow
    from mlflow import MlflowClient

    project, _ = account.create_project()
    uri = f"{account.server.url}/api/v4/projects/{project}/ml/mlflow"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", account.token)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    use_tracking_uri(monkeypatch, uri)
    yield Tracking(account, project, uri, MlflowClient(uri))
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.tracking.fluent._active_experiment_id = None  # set_experiment's cache has no public reset
