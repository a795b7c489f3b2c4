"""The ``/hf`` reads through Flask's test client: the Hub's JSON and headers, revisions by version,
alias, commit id and ``main``, commit ids kept with the files on every path that changes them, errors in
the Hub's shape, and access as on every other route."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from package_api.access.models import Project
from package_api.db import db
from plugin.huggingface.models import VersionCommit
from plugin.huggingface.revisions import commit_id
from plugin.registry.models import ModelVersion
from tests.support.jobs import register_job
from tests.support.pages import signed_in
from tests.support.world import World, create_model, generic_url

MODEL = "fraud"


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def project(client: FlaskClient, world: World) -> int:
    project = world.projects["private"]
    create_model(client, project, MODEL, world.headers("developer"))
    return project


def bearer(world: World, user: str = "developer") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def upload(client: FlaskClient, world: World, project: int, version: str, path: str, body: bytes) -> None:
    response = client.put(generic_url(project, MODEL, version, path), data=body, headers=world.headers("developer"))
    assert response.status_code == 201, response.get_json()


def hf(client: FlaskClient, world: World, path: str, user: str | None = "developer", **kwargs: Any) -> TestResponse:
    method = kwargs.pop("method", "GET")
    headers = {**(bearer(world, user) if user else {}), **kwargs.pop("headers", {})}
    return client.open(f"/hf{path}", method=method, headers=headers, **kwargs)


def digest(files: dict[str, bytes]) -> str:
    return commit_id((path, hashlib.sha256(body).hexdigest()) for path, body in files.items())


@pytest.fixture
def published(client: FlaskClient, world: World, project: int) -> dict[str, dict[str, bytes]]:
    """1.0.0 with two files (one in a folder), 1.1.0 with one of them changed."""
    versions = {
        "1.0.0": {"config.json": b'{"a": 1}', "weights/model.bin": b"\x00" * 100},
        "1.1.0": {"config.json": b'{"a": 2}', "weights/model.bin": b"\x00" * 100},
    }
    for version, files in versions.items():
        for path, body in files.items():
            upload(client, world, project, version, path, body)
    return versions


def test_model_info_is_the_latest_version_with_its_files_and_commit_id(
    client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]]
) -> None:
    body = hf(client, world, f"/api/models/{project}/{MODEL}", query_string={"blobs": "true"}).get_json()
    assert body["id"] == f"{project}/{MODEL}"
    assert body["sha"] == digest(published["1.1.0"])
    assert body["private"] is True and body["version"] == "1.1.0"
    siblings = {s["rfilename"]: s for s in body["siblings"]}
    assert set(siblings) == {"config.json", "weights/model.bin"}
    assert siblings["weights/model.bin"]["size"] == 100
    assert siblings["weights/model.bin"]["lfs"]["sha256"] == hashlib.sha256(b"\x00" * 100).hexdigest()
    plain = hf(client, world, f"/api/models/{project}/{MODEL}/revision/1.0.0").get_json()
    assert plain["sha"] == digest(published["1.0.0"])
    assert plain["siblings"] == [{"rfilename": "config.json"}, {"rfilename": "weights/model.bin"}]


def test_a_revision_is_a_version_an_alias_a_commit_id_or_main(
    client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]]
) -> None:
    mlflow = f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/registered-models/alias"
    # MLflow numbers versions 1, 2... in the order they were made: 1 is 1.0.0.
    response = client.post(mlflow, json={"name": MODEL, "alias": "prod", "version": "1"}, headers=bearer(world))
    assert response.status_code == 200, response.get_json()
    old = digest(published["1.0.0"])
    for revision in ("1.0.0", "prod", old):
        assert hf(client, world, f"/api/models/{project}/{MODEL}/revision/{revision}").get_json()["sha"] == old
    refs = hf(client, world, f"/api/models/{project}/{MODEL}/refs").get_json()
    new = digest(published["1.1.0"])
    assert refs["branches"] == [
        {"name": "main", "ref": "refs/heads/main", "targetCommit": new},
        {"name": "1.1.0", "ref": "refs/heads/1.1.0", "targetCommit": new},
        {"name": "1.0.0", "ref": "refs/heads/1.0.0", "targetCommit": old},
    ]
    assert refs["tags"] == [{"name": "prod", "ref": "refs/tags/prod", "targetCommit": old}]
    history = hf(client, world, f"/api/models/{project}/{MODEL}/commits/main").get_json()
    assert [(c["id"], c["version"]) for c in history] == [(new, "1.1.0"), (old, "1.0.0")]
    missing = hf(client, world, f"/api/models/{project}/{MODEL}/revision/2.0.0")
    assert (missing.status_code, missing.headers["X-Error-Code"]) == (404, "RevisionNotFound")


def test_the_commit_id_follows_every_change_to_the_files(
    client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]], app: Flask
) -> None:
    files = dict(published["1.1.0"])
    files["extra.txt"] = b"more"
    upload(client, world, project, "1.1.0", "extra.txt", b"more")
    info = f"/api/models/{project}/{MODEL}/revision/1.1.0"
    assert hf(client, world, info).get_json()["sha"] == digest(files)
    files["config.json"] = b'{"a": 3}'  # replaced: the newest copy is served
    upload(client, world, project, "1.1.0", "config.json", b'{"a": 3}')
    assert hf(client, world, info).get_json()["sha"] == digest(files)
    # Deleted through the model registry API.
    listed = client.get(f"/api/v4/projects/{project}/ml/models/{MODEL}/versions/1.1.0/files", headers=world.headers("developer"))
    doomed = [f["id"] for f in listed.get_json() if f["file_name"] == "extra.txt"]
    response = client.delete(
        f"/api/v4/projects/{project}/ml/models/{MODEL}/versions/1.1.0/files", json={"ids": doomed}, headers=world.headers("developer")
    )
    assert response.status_code == 204
    del files["extra.txt"]
    assert hf(client, world, info).get_json()["sha"] == digest(files)
    with app.app_context():
        stored = db.session.scalars(select(VersionCommit.commit_id)).all()
    assert sorted(stored) == sorted([digest(files), digest(published["1.0.0"])])


def test_a_version_made_with_its_files_in_one_transaction_has_their_commit_id(
    client: FlaskClient, world: World, project: int, app: Flask
) -> None:
    """The commit id of a version made in the transaction comes from the files the transaction gave
    it (not read back): the same id as its files read afresh give, also when two of them share a path
    (the newest is served) or one was deleted again before the commit."""
    from package_api import services
    from package_api.plugin_api import committed
    from plugin.huggingface.revisions import files_commit_id, served_files

    bodies = {"a.bin": b"first", "b.bin": b"second", "c.bin": b"third"}
    for path, body in bodies.items():
        upload(client, world, project, "1.0.0", path, body)
    experiment = client.post(
        f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/experiments/create", json={"name": "e"}, headers=bearer(world)
    ).get_json()["experiment_id"]
    mlflow = f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow"
    run = client.post(f"{mlflow}/runs/create", json={"experiment_id": experiment, "start_time": 1}, headers=bearer(world))
    run_id = run.get_json()["run"]["info"]["run_id"]
    for path, body in bodies.items():
        url = f"{mlflow}-artifacts/artifacts/{experiment}/{run_id}/artifacts/model/{path}"
        assert client.put(url, data=body, headers=bearer(world)).status_code == 200
    made = client.post(
        f"{mlflow}/model-versions/create",
        json={"name": MODEL, "source": f"runs:/{run_id}/model", "run_id": run_id, "tags": [{"key": "gitlab.version", "value": "2.0.0"}]},
        headers=bearer(world),
    )
    assert made.status_code == 200, made.get_json()
    with app.app_context():
        packages = services.package_service(app)
        blob = {path: packages.project_blob(db.session.get(Project, project), hashlib.sha256(body).hexdigest()) for path, body in bodies.items()}

        def twice() -> None:  # a.bin twice: the second copy is the one served
            package = packages.create_package(db.session.get(Project, project), MODEL, "3.0.0", creator=None)
            packages.attach(package, [("a.bin", blob["a.bin"]), ("b.bin", blob["b.bin"])])
            packages.attach(package, [("a.bin", blob["c.bin"])])

        def deleted() -> None:
            package = packages.create_package(db.session.get(Project, project), MODEL, "4.0.0", creator=None)
            added = packages.attach(package, [("a.bin", blob["a.bin"]), ("b.bin", blob["b.bin"])])
            packages.delete_file(added[0])

        committed(db.session, twice)
        committed(db.session, deleted)
        db.session.expire_all()
        expected = {
            "2.0.0": digest(bodies),
            "3.0.0": digest({"a.bin": bodies["c.bin"], "b.bin": bodies["b.bin"]}),
            "4.0.0": digest({"b.bin": bodies["b.bin"]}),
        }
        for version, wanted in expected.items():
            package = packages.find_package(db.session.get(Project, project), MODEL, version)
            row = db.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package.id))
            assert row is not None
            stored = db.session.get(VersionCommit, row.id)
            assert stored is not None and stored.commit_id == wanted == files_commit_id(served_files(db.session, package))
    for version, wanted in expected.items():
        assert hf(client, world, f"/api/models/{project}/{MODEL}/revision/{version}").get_json()["sha"] == wanted


def test_a_version_without_a_stored_commit_id_is_found_by_it(
    client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]], app: Flask
) -> None:
    with app.app_context():  # as a version made before revision model_registry_0006
        db.session.query(VersionCommit).delete()
        db.session.commit()
    old = digest(published["1.0.0"])
    body = hf(client, world, f"/api/models/{project}/{MODEL}/revision/{old}").get_json()
    assert (body["sha"], body["version"]) == (old, "1.0.0")


def test_tree_lists_folders_and_files_and_pages(
    client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]]
) -> None:
    top = hf(client, world, f"/api/models/{project}/{MODEL}/tree/main").get_json()
    assert [(e["type"], e["path"]) for e in top] == [("directory", "weights"), ("file", "config.json")]
    inside = hf(client, world, f"/api/models/{project}/{MODEL}/tree/main/weights").get_json()
    assert [(e["path"], e["size"], e["lfs"]["oid"]) for e in inside] == [
        ("weights/model.bin", 100, hashlib.sha256(b"\x00" * 100).hexdigest())
    ]
    for i in range(3):
        upload(client, world, project, "1.1.0", f"many/{i}.txt", b"x")
    recursive = hf(client, world, f"/api/models/{project}/{MODEL}/tree/main", query_string={"recursive": "True"})
    assert len(recursive.get_json()) == 5 and "Link" not in recursive.headers
    missing = hf(client, world, f"/api/models/{project}/{MODEL}/tree/main/nothing")
    assert (missing.status_code, missing.headers["X-Error-Code"]) == (404, "EntryNotFound")


def test_resolve_has_the_hubs_headers_and_ranges(
    client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]]
) -> None:
    url = f"/{project}/{MODEL}/resolve/1.0.0/weights/model.bin"
    head = hf(client, world, url, method="HEAD")
    sha = hashlib.sha256(b"\x00" * 100).hexdigest()
    assert head.status_code == 200
    assert head.headers["X-Repo-Commit"] == digest(published["1.0.0"])
    assert head.headers["X-Linked-Etag"] == f'"{sha}"' and head.headers["ETag"] == f'"{sha}"'
    assert head.headers["X-Linked-Size"] == "100" and head.headers["Content-Length"] == "100"
    part = hf(client, world, url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == b"\x00" * 10
    assert part.headers["Content-Range"] == "bytes 10-19/100"
    missing = hf(client, world, f"/{project}/{MODEL}/resolve/1.0.0/nope.bin", method="HEAD")
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"
    assert missing.headers["X-Repo-Commit"] == digest(published["1.0.0"])


@pytest.mark.parametrize("user", [None, "outsider"])
def test_a_private_project_is_a_missing_repo_to_outsiders(
    client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]], user: str | None
) -> None:
    for path in (f"/api/models/{project}/{MODEL}", f"/{project}/{MODEL}/resolve/main/config.json"):
        response = hf(client, world, path, user)
        assert (response.status_code, response.headers["X-Error-Code"]) == (404, "RepoNotFound")
        assert response.get_json() == {"error": f"Repository {project}/{MODEL} not found."}
    guest = hf(client, world, f"/api/models/{project}/{MODEL}", "guest")
    assert guest.status_code == 200


def test_errors_in_the_hubs_shape(client: FlaskClient, world: World, project: int) -> None:
    bad = client.get(f"/hf/api/models/{project}/{MODEL}", headers={"Authorization": "Bearer mspat-nonsense"})
    assert bad.status_code == 401
    assert bad.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    assert "HF_TOKEN" in bad.get_json()["error"]
    for path in ("/api/models/team/fraud", f"/api/models/{project}/unknown", "/api/datasets/1/x"):
        response = hf(client, world, path)
        assert (response.status_code, response.headers["X-Error-Code"]) == (404, "RepoNotFound"), path
    whoami = hf(client, world, "/api/whoami-v2").get_json()
    assert whoami["name"] == "developer" and whoami["auth"]["accessToken"]["role"] == "write"
    assert hf(client, world, "/api/whoami-v2", None).status_code == 401


def test_every_kind_of_token_reads_as_bearer(
    app: Flask, client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]]
) -> None:
    owner = world.headers("owner")
    api = f"/api/v4/projects/{project}"
    bot = client.post(f"{api}/access_tokens", json={"name": "bot", "scopes": ["read_api"], "access_level": 20}, headers=owner)
    deploy = client.post(f"{api}/deploy_tokens", json={"name": "d", "scopes": ["read_package_registry"]}, headers=owner)
    _, job = register_job(app, project, "developer", "42")
    tokens = {"project": bot.get_json()["token"], "deploy": deploy.get_json()["token"], "job": job}
    for kind, token in tokens.items():
        auth = {"Authorization": f"Bearer {token}"}
        info = client.get(f"/hf/api/models/{project}/{MODEL}", headers=auth)
        assert info.status_code == 200, (kind, info.get_json())
        body = client.get(f"/hf/{project}/{MODEL}/resolve/1.0.0/config.json", headers=auth)
        assert body.data == published["1.0.0"]["config.json"], kind
    writer = client.post(f"{api}/deploy_tokens", json={"name": "w", "scopes": ["write_package_registry"]}, headers=owner)
    refused = client.get(f"/hf/api/models/{project}/{MODEL}", headers={"Authorization": f"Bearer {writer.get_json()['token']}"})
    assert refused.status_code == 403 and "X-Error-Code" not in refused.headers
    assert refused.get_json()["error"] == refused.headers["X-Error-Message"]


def test_a_model_without_versions_is_an_empty_main(client: FlaskClient, world: World, project: int) -> None:
    """What ``create_repo`` leaves: ``repo_info`` and ``repo_exists`` find it, with no files."""
    body = hf(client, world, f"/api/models/{project}/{MODEL}").get_json()
    assert (body["sha"], body["siblings"], body["version"]) == (commit_id(()), [], None)
    refs = hf(client, world, f"/api/models/{project}/{MODEL}/refs").get_json()
    assert refs["branches"] == [{"name": "main", "ref": "refs/heads/main", "targetCommit": commit_id(())}]
    assert hf(client, world, f"/api/models/{project}/{MODEL}/commits/main").get_json() == []
    assert hf(client, world, f"/api/models/{project}/{MODEL}/tree/main").get_json() == []
    missing = hf(client, world, f"/{project}/{MODEL}/resolve/main/config.json", method="HEAD")
    assert (missing.status_code, missing.headers["X-Error-Code"]) == (404, "EntryNotFound")


def test_resolving_a_commit_id_or_a_file_hashes_no_other_version(
    client: FlaskClient, world: World, project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commit ids are kept as files change: naming one reads the files of its own version only."""
    from plugin.huggingface import revisions

    for minor in range(20):
        upload(client, world, project, f"1.{minor}.0", "weights.bin", b"v%d" % minor)
    read: list[int] = []
    served = revisions.served_files
    monkeypatch.setattr(revisions, "served_files", lambda session, package: read.append(package.id) or served(session, package))
    target = digest({"weights.bin": b"v7"})
    body = hf(client, world, f"/api/models/{project}/{MODEL}/revision/{target}").get_json()
    assert (body["sha"], body["version"]) == (target, "1.7.0")
    assert len(read) == 1
    # A file of a revision (each of a snapshot's HEADs) reads that file's row, not the version's list.
    read.clear()
    head = hf(client, world, f"/{project}/{MODEL}/resolve/{target}/weights.bin", method="HEAD")
    assert head.status_code == 200 and head.headers["X-Repo-Commit"] == target and read == []


def test_hf_is_an_api_its_caller_is_the_token(
    app: Flask, client: FlaskClient, world: World, project: int, published: dict[str, dict[str, bytes]]
) -> None:
    """Under ``/hf`` the token decides, as under ``/api/``: a client that also holds a session cookie
    (``huggingface_hub`` keeps the cookies it is sent) posts without the pages' CSRF field."""
    signed_in(app, client, "guest")
    url = f"/api/models/{project}/{MODEL}/paths-info/1.0.0"
    answered = hf(client, world, url, method="POST", data={"paths": ["config.json"]})
    assert answered.status_code == 200 and [e["path"] for e in answered.get_json()] == ["config.json"]
    # The session alone is an API caller too: a change it authorises needs the CSRF header.
    refused = hf(client, world, url, None, method="POST", data={"paths": ["config.json"]})
    assert refused.status_code == 403 and refused.get_json() == {"error": "invalid CSRF token"}
    unknown = hf(client, world, "/no/such/thing")
    assert unknown.status_code == 404 and unknown.is_json
