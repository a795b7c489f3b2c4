"""The ``/hf`` write routes through Flask's test client: the commit body's bounds and refusals, the
signed LFS transfer URLs (forged ones refused, claimed digests checked before anything counts),
unchanged files given their ``oid``, and the model card check."""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from package_api.db import db
from package_api.packages.models import Package, PackageFile, PackageStatus
from plugin.huggingface.commits import git_blob_oid
from plugin.registry.projection import HF_STAGING_PACKAGE_NAME
from plugin.web.huggingface.writes import card_metadata_problem
from tests.support.world import World, create_model

MODEL = "encoder"
REGULAR_MAX = 1024


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all", "HF_REGULAR_MAX_SIZE": REGULAR_MAX, "HF_LFS_PART_SIZE": 4096}


@pytest.fixture
def project(client: FlaskClient, world: World) -> int:
    project = world.projects["private"]
    create_model(client, project, MODEL, world.headers("developer"))
    return project


def hf(client: FlaskClient, world: World, method: str, path: str, user: str = "developer", **kwargs: Any) -> TestResponse:
    headers = {"Authorization": f"Bearer {world.tokens[user]}", **kwargs.pop("headers", {})}
    return client.open(f"/hf{path}", method=method, headers=headers, **kwargs)


def ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def inline(path: str, content: bytes) -> dict[str, Any]:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}


HEADER = {"key": "header", "value": {"summary": "A commit", "description": ""}}


def commit(client: FlaskClient, world: World, project: int, revision: str, *lines: dict[str, Any]) -> TestResponse:
    return hf(
        client, world, "POST", f"/api/models/{project}/{MODEL}/commit/{revision}",
        data=ndjson(HEADER, *lines), headers={"Content-Type": "application/x-ndjson"},
    )


def test_a_commit_to_main_makes_the_next_patch_version_and_preupload_knows_its_files(
    client: FlaskClient, world: World, project: int
) -> None:
    first = commit(client, world, project, "main", inline("config.json", b"{}"), inline("a/b.txt", b"b"))
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["commitUrl"].endswith(f"/hf/{project}/{MODEL}/commit/{first.get_json()['commitOid']}")
    second = commit(client, world, project, "main", inline("config.json", b"{1}"))
    assert second.status_code == 200

    files = [{"path": "config.json", "size": 3}, {"path": "a/b.txt", "size": 1}, {"path": "big.bin", "size": REGULAR_MAX + 1}]
    answer = hf(client, world, "POST", f"/api/models/{project}/{MODEL}/preupload/main", json={"files": files}).get_json()
    assert answer["files"] == [
        {"path": "config.json", "uploadMode": "regular", "shouldIgnore": False, "oid": git_blob_oid([b"{1}"], 3)},
        {"path": "a/b.txt", "uploadMode": "regular", "shouldIgnore": False, "oid": git_blob_oid([b"b"], 1)},
        {"path": "big.bin", "uploadMode": "lfs", "shouldIgnore": False, "oid": None},
    ]
    tree = hf(client, world, "GET", f"/api/models/{project}/{MODEL}/tree/1.0.1?recursive=true").get_json()
    assert sorted(entry["path"] for entry in tree if entry["type"] == "file") == ["a/b.txt", "config.json"]


def test_git_blob_oids_are_gits() -> None:
    from huggingface_hub.utils.sha import git_hash

    for content in (b"", b"hello\n", bytes(range(256)) * 5):
        assert git_blob_oid([content[:7], content[7:]], len(content)) == git_hash(content)


def test_refused_commits_say_why_and_store_nothing(client: FlaskClient, world: World, project: int) -> None:
    alias = commit(client, world, project, "prod", inline("x.txt", b"x"))
    assert alias.status_code == 400
    assert "main" in alias.headers["X-Error-Message"] and "semantic version" in alias.headers["X-Error-Message"]

    too_long = commit(client, world, project, "main", inline("x.bin", b"x" * (REGULAR_MAX + 1)))
    assert too_long.status_code == 400
    assert "through Xet or Git LFS" in too_long.get_json()["error"]

    broken = commit(client, world, project, "main", {"key": "file", "value": {"path": "x", "content": "%%%"}})
    assert broken.status_code == 400 and "base64" in broken.get_json()["error"]

    unknown_lfs = commit(client, world, project, "main", {"key": "lfsFile", "value": {"path": "w.bin", "oid": "a" * 64, "size": 5}})
    assert unknown_lfs.status_code == 404

    guest = hf(client, world, "POST", f"/api/models/{project}/{MODEL}/preupload/main", user="guest", json={"files": []})
    assert guest.status_code == 403 and guest.get_json()["error"]

    refs = hf(client, world, "GET", f"/api/models/{project}/{MODEL}/refs").get_json()
    assert [b["name"] for b in refs["branches"]] == ["main"]  # nothing was made


def batch(client: FlaskClient, world: World, project: int, content: bytes, transfers: list[str]) -> dict[str, Any]:
    oid = hashlib.sha256(content).hexdigest()
    response = hf(
        client, world, "POST", f"/{project}/{MODEL}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": transfers, "objects": [{"oid": oid, "size": len(content)}]},
    )
    assert response.status_code == 200, response.get_json()
    [answer] = response.get_json()["objects"]
    return answer  # type: ignore[no-any-return]


def path_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1]


def test_lfs_transfers_are_signed_and_checked(client: FlaskClient, world: World, project: int) -> None:
    content = b"w" * 3000
    answer = batch(client, world, project, content, ["basic"])
    href = answer["actions"]["upload"]["href"]

    # No credentials come with a transfer: the URL's signature is the permission.
    forged = client.put("/" + path_of(href)[:-3] + "abc", data=content)
    assert forged.status_code == 401
    wrong = client.put("/" + path_of(href), data=b"x" * 3000)
    assert wrong.status_code == 400 and "SHA-256" in wrong.get_json()["error"]
    assert "actions" in batch(client, world, project, content, ["basic"])  # still not stored

    assert client.put("/" + path_of(href), data=content).status_code == 200
    assert "actions" not in batch(client, world, project, content, ["basic"])  # stored: costs no bytes
    verify = hf(client, world, "POST", f"/{project}/{MODEL}.git/info/lfs/verify", json={"oid": answer["oid"], "size": 3000})
    assert verify.status_code == 200


def test_multipart_through_the_server(client: FlaskClient, world: World, project: int) -> None:
    content = bytes(range(256)) * 40  # 10,240 bytes: three parts of 4,096
    answer = batch(client, world, project, content, ["basic", "multipart"])
    header = answer["actions"]["upload"]["header"]
    assert header["chunk_size"] == "4096"
    parts = sorted(key for key in header if key.isdigit())
    assert parts == ["00001", "00002", "00003"]
    etags = []
    for number, key in enumerate(parts):
        response = client.put("/" + path_of(header[key]), data=content[number * 4096 : (number + 1) * 4096])
        assert response.status_code == 200
        etags.append({"partNumber": number + 1, "etag": response.headers["ETag"]})
    complete = "/" + path_of(answer["actions"]["upload"]["href"])
    assert client.post(complete, json={"oid": answer["oid"], "parts": etags[:2]}).status_code == 400
    assert client.post(complete, json={"oid": answer["oid"], "parts": etags}).status_code == 200
    made = commit(
        client, world, project, "2.0.0", {"key": "lfsFile", "value": {"path": "w.bin", "oid": answer["oid"], "size": len(content), "algo": "sha256"}}
    )
    assert made.status_code == 200, made.get_json()
    download = hf(client, world, "GET", f"/{project}/{MODEL}/resolve/2.0.0/w.bin")
    assert download.status_code == 200 and download.data == content


@pytest.mark.parametrize(
    ("readme", "problem"),
    [
        ("# A model\n", None),
        ("---\nlicense: mit\ntags: [a, b]\n---\n# Card\n", None),
        ("---\nlicense: [mit\n---\n", "not valid YAML"),
        ("---\n- a list\n---\n", "mapping"),
        ("---\nlicense: mit\n", "never closed"),
    ],
)
def test_model_card_metadata(readme: str, problem: str | None) -> None:
    found = card_metadata_problem(readme)
    assert found is None if problem is None else problem in str(found)


def test_protection_rules_and_seals_guard_hugging_face_commits(client: FlaskClient, world: World, project: int) -> None:
    """A push rule on the model refuses a commit (403 naming the rule, no version made); a delete rule
    on every name leaves commits alone, whose staged uploads are working storage, not a delete; a
    sealed version takes no commit."""
    rules = f"/api/v4/projects/{project}/packages/protection/rules"
    push = client.post(rules, json={"package_name_pattern": MODEL, "package_type": "generic", "minimum_access_level_for_push": "owner"},
                       headers=world.headers("maintainer")).get_json()
    refused = commit(client, world, project, "main", inline("config.json", b"{}"))
    assert refused.status_code == 403 and f"rule {push['id']}" in refused.get_data(as_text=True)
    assert client.get(f"/api/v4/projects/{project}/ml/models/{MODEL}/versions", headers=world.headers("developer")).get_json() == []
    client.delete(f"{rules}/{push['id']}", headers=world.headers("maintainer"))
    client.post(rules, json={"package_name_pattern": "*", "package_type": "generic", "minimum_access_level_for_delete": "owner"},
                headers=world.headers("maintainer"))
    content = b"w" * 3000  # through Git LFS: staged first, and the staged copy cleaned up by the commit
    answer = batch(client, world, project, content, ["basic"])
    assert client.put("/" + path_of(answer["actions"]["upload"]["href"]), data=content).status_code == 200
    lfs = {"key": "lfsFile", "value": {"path": "weights.bin", "oid": answer["oid"], "size": len(content), "algo": "sha256"}}
    made = commit(client, world, project, "main", inline("config.json", b"{}"), lfs)
    assert made.status_code == 200, made.get_json()
    version = client.get(f"/api/v4/projects/{project}/ml/models/{MODEL}/versions", headers=world.headers("developer")).get_json()[0]
    sealed = client.post(f"/api/v4/projects/{project}/ml/models/{MODEL}/versions/{version['version']}/seal", headers=world.headers("maintainer"))
    assert sealed.status_code == 200
    into_sealed = commit(client, world, project, version["version"], inline("config.json", b"{2}"))
    assert into_sealed.status_code == 403 and "is sealed" in into_sealed.get_data(as_text=True)


def staged_files(app: Flask, project: int) -> list[str]:
    """The files of the project's hidden staging package (uploaded, not committed)."""
    with app.app_context():
        query = (
            select(PackageFile.file_name)
            .join(Package, Package.id == PackageFile.package_id)
            .where(Package.project_id == project, Package.name == HF_STAGING_PACKAGE_NAME, PackageFile.status == PackageStatus.DEFAULT)
        )
        return sorted(db.session.scalars(query))


def test_a_commit_to_a_sealed_version_is_refused_in_the_hubs_shape(
    app: Flask, client: FlaskClient, world: World, project: int
) -> None:
    """Adding, replacing or deleting a file of a sealed version through a commit: a 403 the client
    raises as an ``HfHubHTTPError`` carrying the reason (``X-Error-Message`` and the JSON ``error``, no
    ``X-Error-Code``: not a missing repo, revision or file), refused before the body is read (nothing
    staged), the version as it was; ``main`` still takes commits, as the next version."""
    assert commit(client, world, project, "1.0.0", inline("a.txt", b"first")).status_code == 200
    sealed = client.post(f"/api/v4/projects/{project}/ml/models/{MODEL}/versions/1.0.0/seal", headers=world.headers("maintainer"))
    assert sealed.status_code == 200, sealed.get_json()
    
    content = b"l" * 3000
    answer = batch(client, world, project, content, ["basic"])
    assert client.put("/" + path_of(answer["actions"]["upload"]["href"]), data=content).status_code == 200
    lfs = {"key": "lfsFile", "value": {"path": "w.bin", "oid": answer["oid"], "size": len(content), "algo": "sha256"}}
    changes = {
        "add": inline("b.txt", b"second"),
        "replace": inline("a.txt", b"changed"),
        "delete": {"key": "deletedFile", "value": {"path": "a.txt"}},
        "lfs": lfs,
    }
    for change, line in changes.items():
        refused = commit(client, world, project, "1.0.0", line)
        assert refused.status_code == 403, (change, refused.get_data(as_text=True))
        assert "X-Error-Code" not in refused.headers, change
        assert "is sealed" in refused.headers["X-Error-Message"] and "is sealed" in refused.get_json()["error"], change
    files = {"files": [{"path": "b.txt", "size": 6, "sample": "c2Vjb25k"}]}
    preupload = hf(client, world, "POST", f"/api/models/{project}/{MODEL}/preupload/1.0.0", json=files)
    assert preupload.status_code == 403 and "is sealed" in preupload.headers["X-Error-Message"]
    (kept,) = staged_files(app, project)  # the LFS object, uploaded before the commit; no inline file
    assert kept.startswith(answer["oid"])
    tree = hf(client, world, "GET", f"/api/models/{project}/{MODEL}/tree/1.0.0").get_json()
    assert [e["path"] for e in tree] == ["a.txt"]
    assert hf(client, world, "GET", f"/{project}/{MODEL}/resolve/1.0.0/a.txt").data == b"first"
    made = commit(client, world, project, "main", inline("b.txt", b"second"))
    assert made.status_code == 200, made.get_json()
    assert [e["path"] for e in hf(client, world, "GET", f"/api/models/{project}/{MODEL}/tree/1.0.1").get_json()] == ["a.txt", "b.txt"]
