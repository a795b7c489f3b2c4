"""Artifact names that MLflow takes (accents, ``%``, ``;``, a leading ``~``, spaces, in files and
folders) go in and come back unchanged through the real client, whatever the generic package API's
own file name rules; traversal, plain or percent-encoded, is still refused in MLflow's words."""
from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import requests

from tests.mlflow.conftest import Tracking

pytestmark = pytest.mark.server

NAMES = ["résumé.txt", "100%.txt", "semi;colon.txt", "~tilde.txt", "with space.txt", "a+b=c,d@e!.txt", "日本.txt", "say \"hi\".txt"]


def test_artifact_names_mlflow_takes_come_back_unchanged(tracking: Tracking, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for index, name in enumerate(NAMES):
        (source / name).write_text(f"file {index}")
    mlflow.set_experiment("names")
    with mlflow.start_run() as run:
        for name in NAMES:
            mlflow.log_artifact(str(source / name))
        mlflow.log_artifact(str(source / "100%.txt"), "my dir/ünder 50%")
    run_id = run.info.run_id
    client = tracking.client

    assert sorted(f.path for f in client.list_artifacts(run_id)) == sorted([*NAMES, "my dir"])
    assert [f.path for f in client.list_artifacts(run_id, "my dir")] == ["my dir/ünder 50%"]
    assert [f.path for f in client.list_artifacts(run_id, "my dir/ünder 50%")] == ["my dir/ünder 50%/100%.txt"]
    for index, name in enumerate(NAMES):
        downloaded = Path(client.download_artifacts(run_id, name, str(tmp_path / f"out{index}")))
        assert (downloaded.name, downloaded.read_text()) == (name, f"file {index}")
    everything = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/", dst_path=str(tmp_path / "all")))
    assert (everything / "my dir" / "ünder 50%" / "100%.txt").read_text() == "file 1"
    assert sorted(p.name for p in everything.iterdir() if p.is_file()) == sorted(NAMES)

    root = f"{tracking.uri}/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{run_id}/artifacts"
    auth = {"Authorization": f"Bearer {tracking.account.token}"}
    for path in ("%2E%2E/%2E%2E/x", "%252e%252e/x", "a/%2e%2e/%2e%2e/%2e%2e/x", "%2Fetc%2Fpasswd", "x%00.txt",
                 "a%5C..%5Cb", "x%23y"):  # fmt: skip
        for method in ("GET", "PUT"):
            refused = requests.request(method, f"{root}/{path}", headers=auth, data=b"x", timeout=30)
            assert (refused.status_code, refused.json()) == (
                400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}
            ), (method, path)  # fmt: skip
    listing = requests.get(
        f"{tracking.uri}/api/2.0/mlflow-artifacts/artifacts", params={"path": f"{run.info.experiment_id}/../x"},
        headers=auth, timeout=30,
    )  # fmt: skip
    assert (listing.status_code, listing.json()["message"]) == (400, "Invalid path")
