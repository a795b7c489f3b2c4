"""A running ``modelshelf serve`` with the model registry: curl uploads into a model made on purpose
become its versions, also when they race each other; every other package (a CI release tarball) stays
a plain package with GitLab's rules, whatever the model registry's setting."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.live_server import Account, create_account

pytestmark = [pytest.mark.server, pytest.mark.slow]

CURL = shutil.which("curl") or "/usr/bin/curl"
NOT_SEMANTIC = "400 Bad request - fraud-detector is a model: versions must be semantic versions, e.g. 1.4.0"


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def account(request: pytest.FixtureRequest, serve) -> Account:  # type: ignore[no-untyped-def]
    return create_account(serve(workers=request.param, threads=16))


def test_concurrent_first_uploads_into_a_new_model_number_its_versions_once(account: Account) -> None:
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    base = f"{account.server.api}/projects/{project}"
    assert requests.post(f"{base}/ml/models", json={"name": "fraud-detector"}, headers=headers, timeout=30).status_code == 201
    versions = [f"1.{n}.0" for n in range(12)]
    barrier = threading.Barrier(len(versions))

    def upload(version: str) -> int:
        barrier.wait()
        url = f"{base}/packages/generic/fraud-detector/{version}/model.onnx"
        return requests.put(url, data=version.encode(), headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(len(versions)) as pool:
        assert list(pool.map(upload, versions)) == [201] * len(versions)

    [model] = requests.get(f"{base}/ml/models", headers=headers, timeout=30).json()
    assert model["name"] == "fraud-detector"
    assert model["version_count"] == len(versions)
    assert model["latest_version"]["version"] == "1.11.0"
    listed = requests.get(f"{base}/ml/models/{model['id']}/versions", params={"per_page": 100},
                          headers=headers, timeout=30).json()
    assert sorted(v["sequence"] for v in listed) == list(range(1, len(versions) + 1))
    assert {v["version"] for v in listed} == set(versions)


def curl(account: Account, method: str, url: str, *args: str) -> tuple[int, object]:
    """``curl -X method url`` with the account's token; the status and the JSON body (or the bytes)."""
    done = subprocess.run(
        [CURL, "--silent", "--show-error", "--header", f"PRIVATE-TOKEN: {account.token}", "--request", method,
         "--output", "-", "--write-out", "\n%{http_code}", *args, url],
        capture_output=True, timeout=60, check=True,
    )
    body, _, status = done.stdout.rpartition(b"\n")
    try:
        return int(status), json.loads(body)
    except ValueError:
        return int(status), body


def test_curl_a_release_tarball_is_a_plain_package_and_a_model_is_made_on_purpose(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account = create_account(serve())
    project, _ = account.create_project()
    api = f"{account.server.api}/projects/{project}"
    tarball = tmp_path / "release.tar.gz"
    tarball.write_bytes(b"release 2.3.4")
    weights = tmp_path / "model.onnx"
    weights.write_bytes(b"weights")

    # A CI release tarball with a semantic version: a package, not a model.
    status, _ = curl(account, "PUT", f"{api}/packages/generic/release-tarball/2.3.4/release.tar.gz", "--upload-file", str(tarball))
    assert status == 201
    assert curl(account, "GET", f"{api}/ml/models") == (200, [])
    mlflow = f"{api}/ml/mlflow/api/2.0/mlflow/registered-models/search"
    assert curl(account, "GET", mlflow) == (200, {"registered_models": []})

    # A model made on purpose takes curl uploads as its versions, and only semantic versions.
    assert curl(account, "POST", f"{api}/ml/models", "--data", "name=fraud-detector")[0] == 201
    status, _ = curl(account, "PUT", f"{api}/packages/generic/fraud-detector/1.4.0/model.onnx", "--upload-file", str(weights))
    assert status == 201
    status, models = curl(account, "GET", f"{api}/ml/models")
    assert [(m["name"], m["latest_version"]["version"]) for m in models] == [("fraud-detector", "1.4.0")]  # type: ignore[index, union-attr]
    refused = curl(account, "PUT", f"{api}/packages/generic/fraud-detector/build-7/model.onnx", "--upload-file", str(weights))
    assert refused == (400, {"message": NOT_SEMANTIC})

    # The model registry off: the tarball still downloads; the model's bytes do not, not even as latest.
    assert curl(account, "PUT", api, "--data", "model_registry_access_level=disabled")[0] == 200
    assert curl(account, "GET", f"{api}/packages/generic/release-tarball/2.3.4/release.tar.gz") == (200, b"release 2.3.4")
    assert curl(account, "GET", f"{api}/packages/generic/fraud-detector/1.4.0/model.onnx")[0] == 403
    assert curl(account, "GET", f"{api}/packages/generic/fraud-detector/latest/model.onnx")[0] == 403
    assert curl(account, "PUT", api, "--data", "model_registry_access_level=enabled")[0] == 200
    assert curl(account, "GET", f"{api}/packages/generic/fraud-detector/latest/model.onnx") == (200, b"weights")

    # Deleting the tarball leaves no empty model behind.
    status, listed = curl(account, "GET", f"{api}/packages?package_name=release-tarball")
    [package] = listed  # type: ignore[misc]
    assert curl(account, "DELETE", f"{api}/packages/{package['id']}")[0] == 204
    status, models = curl(account, "GET", f"{api}/ml/models")
    assert [m["name"] for m in models] == ["fraud-detector"]  # type: ignore[index, union-attr]
