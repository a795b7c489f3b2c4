"""Xorb upload grants on SeaweedFS (``plugin.huggingface.xet_direct``): the default ``huggingface_hub`` +
``hf_xet`` puts its xorbs straight into the bucket (no xorb body through the server) and reads the file
back byte-identical; a xorb put through a grant counts only once a shard naming it verifies, a tampered
one is deleted and its shard refused, and a grant's URL writes nothing once its upload is committed."""
from __future__ import annotations

import hashlib
import json
import random
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugin.huggingface.xet.format import (
    ShardFile,
    Term,
    build_shard,
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    parse_xorb,
    shard_xorb_from,
)
from plugin.huggingface.xet.xorb import MAX_XORB_BYTES as MAX_XORB
from tests.huggingface.test_xet import requests_to, sha256, xorb_bytes
from tests.huggingface.test_xet_api import chunks_of, xorb
from tests.support.live_server import Account, create_account, running_server
from tests.support.servers import SeaweedFS, start_seaweedfs, stop

pytestmark = [pytest.mark.server, pytest.mark.s3]

BUCKET = "hf-xet-grants"


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    weed = start_seaweedfs(tmp_path_factory.mktemp("weed"))
    try:
        yield weed
    finally:
        weed.remove_bucket(BUCKET)
        stop(weed.process)


@pytest.fixture(scope="module")
def account(weed: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    settings = {**weed.settings(BUCKET), "S3_REDIRECT_DOWNLOADS": True}
    with running_server(tmp_path_factory.mktemp("hf-xet-grants") / "data", settings) as server:
        yield create_account(server)


def call(method: str, url: str, token: str | None = None, data: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, body


def create_repo(account: Account, repo: str) -> None:
    from huggingface_hub import HfApi

    HfApi(endpoint=f"{account.server.url}/hf", token=account.token).create_repo(repo)


def cas_token(account: Account, repo: str, kind: str = "write") -> tuple[str, str]:
    status, answer = call("GET", f"{account.server.url}/hf/api/models/{repo}/xet-{kind}-token/main", account.token)
    assert status == 200, answer
    return answer["casUrl"], answer["accessToken"]


def test_a_fresh_upload_puts_every_xorb_straight_into_the_bucket(account: Account, hf_home: Path, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, hf_hub_download

    endpoint = f"{account.server.url}/hf"
    hub = HfApi(endpoint=endpoint, token=account.token)
    project, _ = account.create_project()
    repo = f"{project}/fresh"
    hub.create_repo(repo)
    data = random.Random(7).randbytes(24 * 1024 * 1024)
    (tmp_path / "weights.bin").write_bytes(data)
    through, stored = requests_to(account, "/hf/cas/v1/xorbs/"), xorb_bytes(account)
    grants, commits = requests_to(account, "/hf/cas/v1/xorb-grants/"), requests_to(account, "/hf/cas/v1/xorb-commits/")

    hub.upload_file(path_or_fileobj=str(tmp_path / "weights.bin"), path_in_repo="weights.bin", repo_id=repo)

    assert requests_to(account, "/hf/cas/v1/xorbs/") == through  # no xorb body through the server
    assert requests_to(account, "/hf/cas/v1/xorb-grants/") > grants
    assert requests_to(account, "/hf/cas/v1/xorb-commits/") > commits
    assert len(data) <= xorb_bytes(account) - stored <= len(data) * 1.01  # counted, once the shard verified them
    got = hf_hub_download(repo, "weights.bin", endpoint=endpoint, token=account.token, cache_dir=tmp_path / "cache")
    assert sha256(Path(got).read_bytes()) == sha256(data)


def test_a_direct_xorb_counts_only_once_a_shard_verifies_it(account: Account, hf_home: Path) -> None:
    project, _ = account.create_project()
    repo = f"{project}/direct"
    create_repo(account, repo)
    cas, write = cas_token(account, repo)
    chunks = chunks_of("direct", 6)
    name, good = xorb(chunks)
    tampered = bytearray(good)
    tampered[len(tampered) // 2] ^= 0xFF  # a byte of a chunk's payload: the xorb hash no longer matches
    length = json.dumps({"length": len(good), "checksum": {"algo": "crc64nvme", "value": "0"}}).encode()
    entry = shard_xorb_from(parse_xorb(good))
    digest = file_hash([(chunk_hash(c), len(c)) for c in chunks])
    file = ShardFile(digest, [Term(hex_to_hash(name), 0, len(chunks), sum(map(len, chunks)))],
                     sha256=hashlib.sha256(b"".join(chunks)).digest())
    shard = build_shard([file], [entry], with_footer=False)

    # Read tokens get no grant; a grant needs the xorb's length.
    _, read = cas_token(account, repo, "read")
    assert call("POST", f"{cas}/v1/xorb-grants/default/{name}", read, length)[0] == 403
    assert call("POST", f"{cas}/v1/xorb-grants/default/{name}", write, b"{}")[0] == 400

    status, grant = call("POST", f"{cas}/v1/xorb-grants/default/{name}", write, length)
    assert status == 201 and grant["method"] == "PUT" and grant["headers"] == {}
    commit = f"{cas}/v1/xorb-commits/default/{name}/grant/{grant['id']}"
    assert call("POST", commit, write)[0] == 404  # nothing uploaded yet: the client asks for a new grant
    status, grant = call("POST", f"{cas}/v1/xorb-grants/default/{name}", write, length)
    commit = f"{cas}/v1/xorb-commits/default/{name}/grant/{grant['id']}"
    put = urllib.request.Request(grant["url"], data=bytes(tampered), method="PUT")
    with urllib.request.urlopen(put, timeout=60) as response:
        assert response.status == 200
    assert call("POST", commit, write) == (200, {"was_inserted": True})
    assert call("GET", f"{cas}/v1/chunks/default-merkledb/{hash_to_hex(chunk_hash(chunks[0]))}", write)[0] == 404  # not counted yet

    status, refused = call("POST", f"{cas}/v1/shards", write, shard)
    assert status == 400 and name in refused["error"] and "deleted" in refused["error"], refused
    status, refused = call("POST", f"{cas}/v1/shards", write, shard)  # the tampered upload is gone
    assert status == 400 and "was not uploaded" in refused["error"], refused

    # The same xorb, put right: the shard counts it and the file.
    status, grant = call("POST", f"{cas}/v1/xorb-grants/default/{name}", write, length)
    with urllib.request.urlopen(urllib.request.Request(grant["url"], data=good, method="PUT"), timeout=60) as response:
        assert response.status == 200
    commit = f"{cas}/v1/xorb-commits/default/{name}/grant/{grant['id']}"
    assert call("POST", commit, write) == (200, {"was_inserted": True})
    assert call("POST", commit, write) == (200, {"was_inserted": True})  # a retried commit
    # Committed, the grant's URL writes nothing more: the bytes a shard checks stay those bytes.
    try:
        with urllib.request.urlopen(urllib.request.Request(grant["url"], data=bytes(tampered), method="PUT"), timeout=60) as response:
            overwritten = response.status < 300
    except urllib.error.HTTPError:
        overwritten = False
    assert not overwritten
    assert call("POST", f"{cas}/v1/shards", write, shard) == (200, {"result": 1})
    assert call("POST", f"{cas}/v1/xorb-grants/default/{name}", write, length) == (200, {"was_inserted": False})
    status, answer = call("GET", f"{cas}/v1/reconstructions/{hash_to_hex(digest)}", write)
    assert status == 200 and answer["terms"][0]["hash"] == name


def test_a_direct_upload_of_another_length_than_granted_is_deleted(account: Account, hf_home: Path) -> None:
    project, _ = account.create_project()
    repo = f"{project}/lengths"
    create_repo(account, repo)
    cas, write = cas_token(account, repo)
    name, good = xorb(chunks_of("lengths", 3))
    status, grant = call("POST", f"{cas}/v1/xorb-grants/default/{name}", write, json.dumps({"length": len(good) - 1}).encode())
    assert status == 201
    with urllib.request.urlopen(urllib.request.Request(grant["url"], data=good, method="PUT"), timeout=60):
        pass
    commit = f"{cas}/v1/xorb-commits/default/{name}/grant/{grant['id']}"
    status, refused = call("POST", commit, write)
    assert status == 400 and "deleted" in refused["error"]
    assert call("POST", commit, write)[0] == 404


def uploaded_bytes(account: Account) -> float:
    with urllib.request.urlopen(f"{account.server.url}/-/metrics") as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("modelshelf_uploaded_bytes_total"))


def test_grants_and_commits_answer_hostile_input_and_keep_nothing(account: Account, hf_home: Path) -> None:
    """Malformed hashes, lengths and bodies, forged, foreign and other-xorb grant ids, read tokens:
    each answered with its status and a message, nothing stored and nothing counted; a shard cannot
    take another repository's direct upload."""
    project, _ = account.create_project()
    repo = f"{project}/hostile"
    create_repo(account, repo)
    other_project, _ = account.create_project()
    other_repo = f"{other_project}/other"
    create_repo(account, other_repo)
    cas, write = cas_token(account, repo)
    _, other_write = cas_token(account, other_repo)
    _, read = cas_token(account, repo, "read")
    chunks = chunks_of("hostile", 3)
    name, good = xorb(chunks)
    other_name, _ = xorb(chunks_of("hostile-other", 2))
    length = json.dumps({"length": len(good)}).encode()
    grants = f"{cas}/v1/xorb-grants/default"
    stored = xorb_bytes(account)

    for bad in ["", "zz", name[:-1], name + "0", name.upper()[:63] + "g", "..", "%2e%2e", name + "%2F.."]:
        status, answer = call("POST", f"{grants}/{bad}", write, length)
        assert status in (400, 404, 405) and status != 500, (bad, status, answer)
    assert call("POST", f"{cas}/v1/xorb-grants/other/{name}", write, length)[0] == 404  # an unknown prefix
    for value in [0, -1, MAX_XORB + 1, 10**40, 1.5, "64", True, None, [1], {"n": 1}]:
        status, answer = call("POST", f"{grants}/{name}", write, json.dumps({"length": value}).encode())
        assert status == 400 and "length" in answer["error"], (value, status, answer)
    for body in [b"", b"not json", b"[1]", b'"x"', b"{" * 1000, b'{"length": ' + b"9" * 5000 + b"}"]:
        status, answer = call("POST", f"{grants}/{name}", write, body)
        assert status == 400, (body[:20], status, answer)
    assert call("POST", f"{grants}/{name}", write, b'{"length": 1, "pad": "' + b"x" * (5 << 20) + b'"}')[0] == 413
    assert call("POST", f"{grants}/{name}", read, length)[0] == 403
    assert call("POST", f"{grants}/{name}", "forged", length)[0] == 401
    assert call("POST", f"{grants}/{name}", None, length)[0] == 401

    status, grant = call("POST", f"{grants}/{name}", write, length)
    assert status == 201
    with urllib.request.urlopen(urllib.request.Request(grant["url"], data=good, method="PUT"), timeout=60):
        pass
    commits = f"{cas}/v1/xorb-commits/default"
    forged = grant["id"][:-2] + ("AA" if not grant["id"].endswith("AA") else "BB")
    for path, token, expected in [
        (f"{name}/grant/{forged}", write, 404),  # a forged id
        (f"{name}/grant/not-a-grant", write, 404),
        (f"{other_name}/grant/{grant['id']}", write, 404),  # another xorb's commit with this grant
        (f"{name}/grant/{grant['id']}", other_write, 404),  # another repository's token
        (f"{name}/grant/{grant['id']}", read, 403),
        (f"zz/grant/{grant['id']}", write, 400),
        (f"{name}/grant/", write, 404),
    ]:
        status, answer = call("POST", f"{commits}/{path}", token)
        assert status == expected, (path, status, answer)
        assert status != 404 or path.endswith("/grant/") or "grant" in answer["error"], answer
    # None of those completed the upload: the other repository's shard cannot take it either way.
    entry = shard_xorb_from(parse_xorb(good))
    digest = file_hash([(chunk_hash(c), len(c)) for c in chunks])
    file = ShardFile(digest, [Term(hex_to_hash(name), 0, len(chunks), sum(map(len, chunks)))],
                     sha256=hashlib.sha256(b"".join(chunks)).digest())
    shard = build_shard([file], [entry], with_footer=False)
    received = uploaded_bytes(account)
    assert call("POST", f"{commits}/{name}/grant/{grant['id']}", write) == (200, {"was_inserted": True})
    assert call("POST", f"{commits}/{name}/grant/{grant['id']}", write) == (200, {"was_inserted": True})  # a retry
    assert uploaded_bytes(account) == received + len(good)  # counted once
    status, refused = call("POST", f"{cas}/v1/shards", other_write, shard)  # another repository's direct upload
    assert status == 400 and "was not uploaded" in refused["error"], refused
    assert xorb_bytes(account) == stored  # nothing counted
    assert call("POST", f"{cas}/v1/shards", write, shard) == (200, {"result": 1})  # its own repository's shard takes it
