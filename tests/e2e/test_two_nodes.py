"""Two ``modelshelf serve`` nodes on one PostgreSQL database and one S3 bucket, as behind a load
balancer: what one node writes the other answers at once, uploads through both into one new version
all land, and nothing a node keeps in its memory makes the two disagree (DESIGN.md, Deployment).

Runs on the PostgreSQL of ``MODELSHELF_TEST_DATABASE_URL`` (see tests/support/databases.py); skips without
it, unless ``MODELSHELF_TEST_REQUIRE_POSTGRES`` is set (CI), where that is a failure."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.databases import database_settings, require_postgres
from tests.support.live_server import Account, create_account
from tests.support.servers import Server, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.s3, pytest.mark.postgres, pytest.mark.slow]

MIB = 1024 * 1024
FILES_PER_NODE = 6


@pytest.fixture
def shared_database(tmp_path: Path) -> dict[str, str]:
    """One schema of the test PostgreSQL for both nodes."""
    require_postgres()
    return database_settings(tmp_path / "shared-database")


@pytest.fixture
def nodes(tmp_path: Path, shared_database: dict[str, str], s3_settings: dict[str, object]) -> Iterator[tuple[Server, Server]]:
    """Nodes A and B, started together (so they also race to make the schema), each with a data
    directory of its own: the database and the bucket are all they share, and the secret key, as
    README's configuration table asks of nodes. The model registry plugin is on (the default)."""
    settings = {**shared_database, **s3_settings, "S3_PART_SIZE": 5 * MIB, "SECRET_KEY": "two-nodes"}
    data_dirs = [tmp_path / name / "data" for name in ("node-a", "node-b")]
    for data_dir in data_dirs:
        data_dir.mkdir(parents=True)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(start_server, data_dir, settings) for data_dir in data_dirs]
    started = [f.result() for f in futures if f.exception() is None]
    try:
        for future in futures:
            future.result()  # a node that did not start fails the test here
        yield started[0], started[1]
    finally:
        for server in started:
            stop_server(server)


def all_at_once(jobs: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run ``jobs`` on as many threads, released together."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], requests.Response]) -> requests.Response:
        barrier.wait()
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def seen_by(node: Server, path: str, account: Account, **params: Any) -> tuple[int, Any]:
    """Status and JSON body of ``GET path`` on ``node``, its own address written as ``NODE`` so
    that two nodes' answers compare equal."""
    reply = requests.get(f"{node.api}{path}", params=params, headers={"PRIVATE-TOKEN": account.token}, timeout=30)
    body = json.loads(reply.text.replace(node.url, "NODE")) if reply.content else None
    return reply.status_code, body


def download(node: Server, url_path: str, account: Account) -> requests.Response:
    return requests.get(f"{node.api}{url_path}", headers={"PRIVATE-TOKEN": account.token}, timeout=60)


def test_two_nodes_on_one_database_and_bucket_agree(nodes: tuple[Server, Server]) -> None:
    node_a, node_b = nodes
    account = create_account(node_a)  # through node A's configuration: the same database as B's
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    generic = f"/projects/{project}/packages/generic/fraud-detector/1.0.0"
    made = requests.post(f"{node_a.api}/projects/{project}/ml/models", json={"name": "fraud-detector"}, headers=headers,
                         timeout=30)
    assert made.status_code == 201, made.text

    # Several files each, through both nodes at once, into a version of the model nobody made yet: both
    # race to create the package and its version. One file is bigger than a part (a multipart upload),
    # and both nodes send the same bytes once under different names (one blob, raced for).
    shared_bytes = os.urandom(100 * 1024)
    uploads: dict[str, tuple[Server, bytes]] = {}
    for label, node in (("a", node_a), ("b", node_b)):
        for n in range(FILES_PER_NODE):
            uploads[f"{label}/part-{n}.bin"] = (node, os.urandom(32 * 1024 + n))
        uploads[f"{label}/same.bin"] = (node, shared_bytes)
    uploads["a/weights.bin"] = (node_a, os.urandom(6 * MIB))

    def upload(path: str, node: Server, data: bytes) -> Callable[[], requests.Response]:
        return lambda: requests.put(f"{node.api}{generic}/{path}", data=data, headers=headers, timeout=120)

    replies = all_at_once([upload(path, node, data) for path, (node, data) in uploads.items()])
    assert [r.status_code for r in replies] == [201] * len(uploads), [r.text for r in replies if r.status_code != 201]
    digests = {path: hashlib.sha256(data).hexdigest() for path, (_, data) in uploads.items()}

    # One package with every file, the same on both nodes, field for field.
    listed = [seen_by(node, f"/projects/{project}/packages", account) for node in nodes]
    assert listed[0] == listed[1]
    status, packages = listed[0]
    assert status == 200
    assert [(p["name"], p["version"]) for p in packages] == [("fraud-detector", "1.0.0")]
    package_id = packages[0]["id"]
    files_path = f"/projects/{project}/packages/{package_id}/package_files"
    files = [seen_by(node, files_path, account, per_page=100) for node in nodes]
    assert files[0] == files[1]
    assert {f["file_name"]: f["file_sha256"] for f in files[0][1]} == digests

    # The model registry's projection: one model, one version, the same data on both nodes.
    models = [seen_by(node, f"/projects/{project}/ml/models", account) for node in nodes]
    assert models[0] == models[1]
    [model] = models[0][1]
    assert (model["name"], model["version_count"], model["latest_version"]["version"]) == ("fraud-detector", 1, "1.0.0")
    versions_path = f"/projects/{project}/ml/models/{model['id']}/versions"
    versions = [seen_by(node, versions_path, account) for node in nodes]
    assert versions[0] == versions[1]
    [version] = versions[0][1]
    assert (version["version"], version["sequence"]) == ("1.0.0", 1)
    detail = [seen_by(node, f"{versions_path}/1.0.0", account) for node in nodes]
    assert detail[0] == detail[1]
    assert {f["file_name"]: f["file_sha256"] for f in detail[0][1]["files"]} == digests

    # Every file downloads from either node, whichever node took it.
    for path, (_, data) in uploads.items():
        for node in nodes:
            reply = download(node, f"{generic}/{path}", account)
            assert reply.status_code == 200, (node.url, path, reply.text)
            assert reply.content == data
            assert reply.headers["X-Checksum-SHA256"] == digests[path]

    # A file deleted through A is gone from B at once: no answer of B comes from its memory.
    [doomed] = [f for f in files[0][1] if f["file_name"] == "b/part-0.bin"]
    deleted = requests.delete(f"{node_a.api}{files_path}/{doomed['id']}", headers=headers, timeout=30)
    assert deleted.status_code == 204, deleted.text
    assert download(node_b, f"{generic}/b/part-0.bin", account).status_code == 404
    status, left = seen_by(node_b, files_path, account, per_page=100)
    assert status == 200 and sorted(f["file_name"] for f in left) == sorted(set(digests) - {"b/part-0.bin"})
    assert seen_by(node_a, f"{versions_path}/1.0.0", account) == seen_by(node_b, f"{versions_path}/1.0.0", account)

    # The package deleted through A: B answers 404 for it, its files and its model version.
    deleted = requests.delete(f"{node_a.api}/projects/{project}/packages/{package_id}", headers=headers, timeout=30)
    assert deleted.status_code == 204, deleted.text
    assert seen_by(node_b, f"/projects/{project}/packages/{package_id}", account)[0] == 404
    assert seen_by(node_b, files_path, account)[0] == 404
    assert download(node_b, f"{generic}/a/part-0.bin", account).status_code == 404
    assert seen_by(node_b, f"/projects/{project}/packages", account) == (200, [])
    assert seen_by(node_b, f"{versions_path}/1.0.0", account)[0] == 404
    models = [seen_by(node, f"/projects/{project}/ml/models", account) for node in nodes]
    assert models[0] == models[1]
    assert [(m["name"], m["version_count"]) for m in models[0][1]] == [("fraud-detector", 0)]


def test_versions_made_through_both_nodes_are_numbered_once(nodes: tuple[Server, Server]) -> None:
    """The model's version sequence numbers come from the database, not from a counter in a node:
    versions created through both nodes at once get 1..n, each once, and both nodes agree."""
    node_a, node_b = nodes
    account = create_account(node_b)
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    created = requests.post(f"{node_a.api}/projects/{project}/ml/models", json={"name": "ranker"}, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    model_id = created.json()["id"]
    wanted = [f"1.{n}.0" for n in range(8)]

    def create(node: Server, version: str) -> Callable[[], requests.Response]:
        url = f"{node.api}/projects/{project}/ml/models/{model_id}/versions"
        return lambda: requests.post(url, json={"version": version}, headers=headers, timeout=60)

    replies = all_at_once([create(nodes[n % 2], version) for n, version in enumerate(wanted)])

    assert [r.status_code for r in replies] == [201] * len(wanted), [r.text for r in replies if r.status_code != 201]
    path = f"/projects/{project}/ml/models/{model_id}/versions"
    seen = [seen_by(node, path, account, per_page=100) for node in nodes]
    assert seen[0] == seen[1]
    assert sorted(v["version"] for v in seen[0][1]) == sorted(wanted)
    assert sorted(v["sequence"] for v in seen[0][1]) == list(range(1, len(wanted) + 1))
