"""The Xet CAS service through Flask's test client: its tokens (who gets which, forged and read-only
ones refused), what a xorb and a shard must be before they count, a project's chunks out of other
projects' reach, reconstructions with ranges, and a commit of a Xet file that every client reads."""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from package_api.web.pages.filters import filesize
from plugin.huggingface import xet_files
from plugin.huggingface.xet.format import (
    ShardFile,
    Term,
    build_shard,
    build_xorb,
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    parse_shard,
    xorb_hash,
)
from tests.huggingface.test_writes_api import HEADER, MODEL, commit, hf
from tests.support.pages import signed_in
from tests.support.world import World, create_model


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all", "HF_REGULAR_MAX_SIZE": 1024}


@pytest.fixture
def project(client: FlaskClient, world: World) -> int:
    project = world.projects["private"]
    create_model(client, project, MODEL, world.headers("developer"))
    return project


def token(client: FlaskClient, world: World, project: int, kind: str = "write", user: str = "developer", revision: str = "main") -> str:
    answer = hf(client, world, "GET", f"/api/models/{project}/{MODEL}/xet-{kind}-token/{revision}", user=user)
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["accessToken"])


def cas(client: FlaskClient, method: str, path: str, access: str, **kwargs: Any) -> TestResponse:
    headers = {"Authorization": f"Bearer {access}", **kwargs.pop("headers", {})}
    return client.open(f"/hf/cas/v1{path}", method=method, headers=headers, **kwargs)


def chunks_of(seed: str, count: int) -> list[bytes]:
    return [hashlib.sha256(f"{seed}-{i}".encode()).digest() * (256 + i) for i in range(count)]


def xorb(chunks: list[bytes]) -> tuple[str, bytes]:
    return hash_to_hex(xorb_hash([(chunk_hash(c), len(c)) for c in chunks])), build_xorb(chunks)


def shard_of(name: str, chunks: list[bytes], start: int = 0, end: int | None = None, sha256: bytes | None = None) -> tuple[str, bytes]:
    """A shard describing the file of chunks [start, end) of xorb ``name``."""
    part = chunks[start:end]
    digest = file_hash([(chunk_hash(c), len(c)) for c in part])
    file = ShardFile(digest, [Term(hex_to_hash(name), start, start + len(part), sum(map(len, part)))],
                     sha256=sha256 if sha256 is not None else hashlib.sha256(b"".join(part)).digest())
    return hash_to_hex(digest), build_shard([file], [], with_footer=False)


def test_tokens_go_to_who_may_read_or_commit_and_are_checked_on_every_call(client: FlaskClient, world: World, project: int) -> None:
    answer = hf(client, world, "GET", f"/api/models/{project}/{MODEL}/xet-write-token/main")
    body = answer.get_json()
    assert body["casUrl"].endswith("/hf/cas") and answer.headers["X-Xet-Cas-Url"] == body["casUrl"]
    assert answer.headers["X-Xet-Access-Token"] == body["accessToken"]
    assert time.time() + 800 < body["exp"] == int(answer.headers["X-Xet-Token-Expiration"]) <= time.time() + 900
    # A guest reads, and may not write.
    assert hf(client, world, "GET", f"/api/models/{project}/{MODEL}/xet-write-token/main", user="guest").status_code == 403
    read = token(client, world, project, "read", user="guest")
    name, data = xorb(chunks_of("t", 2))
    assert cas(client, "POST", f"/xorbs/default/{name}", read, data=data).status_code == 403
    # A forged or missing token opens nothing.
    assert cas(client, "POST", f"/xorbs/default/{name}", read[:-4] + "abcd", data=data).status_code == 401
    assert client.post(f"/hf/cas/v1/xorbs/default/{name}", data=data).status_code == 401


def test_xorbs_are_checked_stored_once_and_deduplicated(client: FlaskClient, world: World, project: int) -> None:
    write = token(client, world, project)
    chunks = chunks_of("x", 3)
    name, data = xorb(chunks)
    other, _ = xorb(chunks_of("y", 1))
    wrong = cas(client, "POST", f"/xorbs/default/{other}", write, data=data)
    assert wrong.status_code == 400 and "hash to" in wrong.get_json()["error"]
    assert cas(client, "POST", f"/xorbs/default/{name}", write, data=b"not a xorb").status_code == 400
    assert cas(client, "POST", f"/xorbs/default/{name}", write, data=data).get_json() == {"was_inserted": True}
    assert cas(client, "POST", f"/xorbs/default/{name}", write, data=data).get_json() == {"was_inserted": False}
    # The deduplication query: a xorb's first chunk is indexed (and those the specification makes eligible).
    first = hash_to_hex(chunk_hash(chunks[0]))
    found = cas(client, "GET", f"/chunks/default-merkledb/{first}", write)
    assert found.status_code == 200
    [listed] = parse_shard(found.get_data()).xorbs
    assert hash_to_hex(listed.hash) == name and [c.hash for c in listed.chunks] == [chunk_hash(c) for c in chunks]
    assert cas(client, "GET", f"/chunks/default-merkledb/{hash_to_hex(chunk_hash(b'unknown'))}", write).status_code == 404
    [also] = parse_shard(cas(client, "GET", f"/chunks/default/{first}", write).get_data()).xorbs  # where hf_xet 1.8 asks
    assert also.hash == listed.hash

    # Another project knows nothing of it until it has sent the bytes itself.
    elsewhere = world.projects["public"]
    create_model(client, elsewhere, MODEL, world.headers("developer"))
    theirs = token(client, world, elsewhere)
    assert cas(client, "GET", f"/chunks/default-merkledb/{first}", theirs).status_code == 404
    assert cas(client, "GET", f"/chunks/default/{first}", theirs).status_code == 404  # under hf_xet 1.8's prefix too
    _, shard = shard_of(name, chunks)
    refused = cas(client, "POST", "/shards", theirs, data=shard)
    assert refused.status_code == 400 and "unknown" in refused.get_json()["error"]
    assert cas(client, "POST", f"/xorbs/default/{name}", theirs, data=data).get_json() == {"was_inserted": True}
    assert cas(client, "GET", f"/chunks/default-merkledb/{first}", theirs).status_code == 200


def test_a_file_read_in_many_windows_is_checked_whole(
    client: FlaskClient, world: World, project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SHA-256 check hashes a window while it reads the next: with windows of one chunk, a wrong
    digest is still refused and the right one taken."""
    monkeypatch.setattr(xet_files, "WINDOW", 1000)
    write = token(client, world, project)
    chunks = chunks_of("w", 6)
    name, data = xorb(chunks)
    assert cas(client, "POST", f"/xorbs/default/{name}", write, data=data).status_code == 200
    _, lying = shard_of(name, chunks, sha256=hashlib.sha256(b"".join(chunks[:-1])).digest())
    refused = cas(client, "POST", "/shards", write, data=lying)
    assert refused.status_code == 400 and "SHA-256" in refused.get_json()["error"]
    _, shard = shard_of(name, chunks)
    assert cas(client, "POST", "/shards", write, data=shard).get_json() == {"result": 1}


def test_shards_must_describe_files_that_verify(client: FlaskClient, world: World, project: int) -> None:
    write = token(client, world, project)
    chunks = chunks_of("s", 4)
    name, data = xorb(chunks)
    assert cas(client, "POST", f"/xorbs/default/{name}", write, data=data).status_code == 200
    assert cas(client, "POST", "/shards", write, data=b"HFRepoMetaData garbage").status_code == 400
    _, lying = shard_of(name, chunks, sha256=hashlib.sha256(b"someone else's bytes").digest())
    refused = cas(client, "POST", "/shards", write, data=lying)
    assert refused.status_code == 400 and "SHA-256" in refused.get_json()["error"]
    digest = file_hash([(chunk_hash(c), len(c)) for c in chunks])
    beyond = ShardFile(digest, [Term(hex_to_hash(name), 0, 5, sum(map(len, chunks)))])
    assert cas(client, "POST", "/shards", write, data=build_shard([beyond], [], with_footer=False)).status_code == 400
    misnamed = ShardFile(chunk_hash(b"x"), [Term(hex_to_hash(name), 0, 4, sum(map(len, chunks)))])
    assert cas(client, "POST", "/shards", write, data=build_shard([misnamed], [], with_footer=False)).status_code == 400
    file, shard = shard_of(name, chunks)
    assert cas(client, "POST", "/shards", write, data=shard).get_json() == {"result": 1}
    assert cas(client, "POST", "/shards", write, data=shard).get_json() == {"result": 0}


def test_a_committed_xet_file_is_a_file_like_any_other(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    write = token(client, world, project)
    chunks = chunks_of("c", 6)
    content = b"".join(chunks)
    name, data = xorb(chunks)
    cas(client, "POST", f"/xorbs/default/{name}", write, data=data)
    file, shard = shard_of(name, chunks)
    assert cas(client, "POST", "/shards", write, data=shard).status_code == 200

    # Reconstruction: terms and byte ranges of the xorb, fetched at signed URLs.
    read = token(client, world, project, "read", user="reporter")
    whole = cas(client, "GET", f"/reconstructions/{file}", read).get_json()
    assert whole["offset_into_first_range"] == 0
    assert whole["terms"] == [{"hash": name, "unpacked_length": len(content), "range": {"start": 0, "end": 6}}]
    [fetch] = whole["fetch_info"][name]
    url = "/" + fetch["url"].split("://", 1)[1].split("/", 1)[1]
    ranged = client.get(url, headers={"Range": f"bytes={fetch['url_range']['start']}-{fetch['url_range']['end']}"})
    assert ranged.status_code == 206 and ranged.get_data() == data[fetch["url_range"]["start"]:fetch["url_range"]["end"] + 1]
    middle = len(chunks[0]) + 10
    part = cas(client, "GET", f"/reconstructions/{file}", read, headers={"Range": f"bytes={middle}-{middle + 5}"}).get_json()
    assert part["offset_into_first_range"] == 10 and part["terms"][0]["range"] == {"start": 1, "end": 2}
    assert cas(client, "GET", f"/reconstructions/{file}", read, headers={"Range": f"bytes={len(content)}-"}).status_code == 416
    # A suffix range is the file's last bytes (its first was taken as a negative offset into the first term).
    tail = cas(client, "GET", f"/reconstructions/{file}", read, headers={"Range": "bytes=-5"}).get_json()
    assert tail["offset_into_first_range"] == len(chunks[-1]) - 5 and tail["terms"][0]["range"] == {"start": 5, "end": 6}
    longer = cas(client, "GET", f"/reconstructions/{file}", read, headers={"Range": f"bytes=-{len(content) * 2}"}).get_json()
    assert longer["offset_into_first_range"] == 0 and longer["terms"] == whole["terms"]

    # The commit names the file by its SHA-256, as an LFS object.
    sha256 = hashlib.sha256(content).hexdigest()
    lfs = {"key": "lfsFile", "value": {"path": "model.safetensors", "oid": sha256, "size": len(content), "algo": "sha256"}}
    made = commit(client, world, project, "main", HEADER, lfs)
    assert made.status_code == 200, made.get_json()
    url = f"/api/v4/projects/{project}/packages/generic/{MODEL}/1.0.0/model.safetensors"
    got = client.get(url, headers=world.headers("reporter"))
    assert got.get_data() == content
    assert got.headers["X-Checksum-SHA256"] == sha256 and got.headers["ETag"] == f'"{sha256}"'
    some = client.get(url, headers={**world.headers("reporter"), "Range": "bytes=1000-2999"})
    assert some.status_code == 206 and some.get_data() == content[1000:3000]
    assert client.get(url, headers={**world.headers("reporter"), "If-None-Match": f'"{sha256}"'}).status_code == 304

    # A second version holding the file's first five chunks as another file: its bytes are stored once.
    part_file, part_shard = shard_of(name, chunks, 0, 5)
    assert cas(client, "POST", "/shards", write, data=part_shard).status_code == 200
    part = b"".join(chunks[:5])
    lfs = {"key": "lfsFile", "value": {"path": "head.bin", "oid": hashlib.sha256(part).hexdigest(), "size": len(part), "algo": "sha256"}}
    assert commit(client, world, project, "main", HEADER, lfs).status_code == 200
    model_id = client.get(f"/api/v4/projects/{project}/ml/models/{MODEL}", headers=world.headers("reporter")).get_json()["id"]
    signed_in(app, client, "reporter")
    page = client.get(f"/acme/private/-/ml/models/{model_id}").get_data(as_text=True)
    logical = 2 * len(content) + len(part)  # 1.0.1 carries 1.0.0's file over, and adds one
    assert f"{filesize(logical)} in its versions, {filesize(len(data))} stored" in page
    assert f"({filesize(logical - len(data))} saved by deduplication)" in page

    # A sealed version takes no Xet upload: its write token is refused before any byte is sent.
    assert client.post(f"/api/v4/projects/{project}/ml/models/{MODEL}/versions/1.0.0/seal", headers=world.headers("maintainer")).status_code == 200
    sealed = hf(client, world, "GET", f"/api/models/{project}/{MODEL}/xet-write-token/1.0.0")
    assert sealed.status_code == 403 and "sealed" in json.dumps(sealed.get_json())
