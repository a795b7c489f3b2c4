"""Concurrent uploads against a real ``modelshelf serve``: GitLab documents 500s when uploads race to
create a package; here they all succeed, and identical bytes are stored once."""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.live_server import Account, blobs_on_disk, create_account

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def account(request: pytest.FixtureRequest, serve) -> Account:  # type: ignore[no-untyped-def]
    return create_account(serve(workers=request.param, threads=16))


def all_at_once(count: int, job: Callable[[int], requests.Response]) -> list[requests.Response]:
    """Run ``job(0..count-1)`` on ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def run(index: int) -> requests.Response:
        barrier.wait()
        return job(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_first_uploads_into_one_new_version_all_succeed(account: Account) -> None:
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    base = f"{account.server.api}/projects/{project}"
    files = {f"part-{n:02d}.bin": os.urandom(64 * 1024 + n) for n in range(16)}
    names = sorted(files)

    def upload(index: int) -> requests.Response:
        name = names[index]
        url = f"{base}/packages/generic/sharded/1.0.0/{name}"
        return requests.put(url, data=files[name], headers=headers, timeout=60)

    replies = all_at_once(16, upload)

    assert [r.status_code for r in replies] == [201] * 16, [r.text for r in replies if r.status_code != 201]
    [package] = requests.get(f"{base}/packages", headers=headers, timeout=30).json()
    listed = requests.get(f"{base}/packages/{package['id']}/package_files", params={"per_page": 100},
                          headers=headers, timeout=30).json()
    assert {f["file_name"]: f["file_sha256"] for f in listed} == {
        name: hashlib.sha256(data).hexdigest() for name, data in files.items()
    }
    for name, data in files.items():
        url = f"{base}/packages/generic/sharded/1.0.0/{name}"
        assert requests.get(url, headers=headers, timeout=30).content == data


def test_identical_bytes_under_many_versions_are_stored_once(account: Account) -> None:
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    base = f"{account.server.api}/projects/{project}"
    data = os.urandom(256 * 1024)
    versions = [f"2.0.{n}" for n in range(8)]

    def upload(index: int) -> requests.Response:
        return requests.put(f"{base}/packages/generic/base-model/{versions[index]}/weights.bin",
                            data=data, headers=headers, timeout=60)

    replies = all_at_once(8, upload)

    assert [r.status_code for r in replies] == [201] * 8, [r.text for r in replies if r.status_code != 201]
    listed = requests.get(f"{base}/packages", params={"per_page": 100}, headers=headers, timeout=30).json()
    assert sorted(p["version"] for p in listed) == versions
    for version in versions:
        url = f"{base}/packages/generic/base-model/{version}/weights.bin"
        assert requests.get(url, headers=headers, timeout=30).content == data
    assert [p.read_bytes() for p in blobs_on_disk(account.server)] == [data]
