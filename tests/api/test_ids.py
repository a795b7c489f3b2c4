"""No id is ever handed out again: after a model, a version, a package (once gc has reclaimed it) or a
project with its bot users and tokens is deleted, what comes next gets new ids and numbers, so an
old link, an audit event or a pinned MLflow version never names something else. Runs on SQLite and
on PostgreSQL (``MODELSHELF_TEST_DATABASE_URL``); the schema itself is checked in
``tests/unit/test_ids.py``."""
from __future__ import annotations

import pytest

from package_api.db import db
from package_api.packages.gc import GarbageCollector
from tests.support.world import generic_url


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


def models_url(project, path=""):
    return f"/api/v4/projects/{project}/ml/models{path}"


def test_a_deleted_models_id_names_nothing_afterwards(client, world):
    project, headers = world.projects["private"], world.headers("maintainer")
    for name in ("fraud", "churn"):
        assert client.post(models_url(project), json={"name": name}, headers=headers).status_code == 201
    churn = client.get(models_url(project, "/churn"), headers=headers).json["id"]

    assert client.delete(models_url(project, f"/{churn}"), headers=headers).status_code == 204
    spam = client.post(models_url(project), json={"name": "spam"}, headers=headers).json

    assert spam["id"] > churn
    assert client.get(models_url(project, f"/{churn}"), headers=headers).json == {"message": "404 Model Not Found"}


def test_a_deleted_versions_number_is_never_given_to_another(client, world):
    project, headers = world.projects["private"], world.headers("maintainer")
    client.post(models_url(project), json={"name": "fraud"}, headers=headers)
    for version in ("1.0.0", "1.1.0"):
        assert client.put(generic_url(project, "fraud", version), data=b"w", headers=headers).status_code == 201

    assert client.delete(models_url(project, "/fraud/versions/1.1.0"), headers=headers).status_code == 204
    client.put(generic_url(project, "fraud", "1.2.0"), data=b"w", headers=headers)

    versions = client.get(models_url(project, "/fraud/versions"), headers=headers).json
    assert {v["version"]: v["sequence"] for v in versions} == {"1.2.0": 3, "1.0.0": 1}


def test_a_reclaimed_packages_ids_name_nothing_afterwards(app, client, world, storage):
    project, headers = world.projects["private"], world.headers("maintainer")
    packages = f"/api/v4/projects/{project}/packages"
    client.put(generic_url(project, "tool", "nightly", "tool.bin"), data=b"one", headers=headers)
    [old] = client.get(packages, headers=headers).json
    [old_file] = client.get(f"{packages}/{old['id']}/package_files", headers=headers).json

    assert client.delete(f"{packages}/{old['id']}", headers=headers).status_code == 204
    with app.app_context():
        assert GarbageCollector(db.session, storage).collect().packages == 1  # the rows are gone
    client.put(generic_url(project, "tool", "nightly", "tool.bin"), data=b"two", headers=headers)
    [new] = client.get(packages, headers=headers).json
    [new_file] = client.get(f"{packages}/{new['id']}/package_files", headers=headers).json

    assert (new["id"] > old["id"], new_file["id"] > old_file["id"]) == (True, True)
    assert client.get(f"{packages}/{old['id']}", headers=headers).status_code == 404


def test_a_deleted_projects_ids_and_its_bots_name_nothing_afterwards(client, world):
    root = world.headers("root")
    old = client.post("/api/v4/projects", json={"name": "doomed"}, headers=root).json
    bot_body = {"name": "ci", "scopes": ["api"]}
    bot = client.post(f"/api/v4/projects/{old['id']}/access_tokens", json=bot_body, headers=root).json

    assert client.delete(f"/api/v4/projects/{old['id']}", headers=root).status_code == 202
    new = client.post("/api/v4/projects", json={"name": "next"}, headers=root).json
    user = client.post("/api/v4/users", json={"username": "newcomer"}, headers=root).json
    token = client.post(f"/api/v4/users/{user['id']}/personal_access_tokens", json={"name": "t", "scopes": ["api"]},
                        headers=root).json

    assert (new["id"] > old["id"], user["id"] > bot["user_id"], token["id"] > bot["id"]) == (True, True, True)
    assert client.get(f"/api/v4/projects/{old['id']}", headers=root).status_code == 404
