"""A running ``modelshelf serve`` with the model registry: curl-style uploads become models and
versions, also when the first uploads of a new model race each other."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.live_server import Account, create_account

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def account(request: pytest.FixtureRequest, serve) -> Account:  # type: ignore[no-untyped-def]
    return create_account(serve(workers=request.param, threads=16))


def test_concurrent_first_uploads_of_a_new_model_make_one_model(account: Account) -> None:
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    base = f"{account.server.api}/projects/{project}"
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
