"""The model registry plugin: projection of packages into models and versions, and its REST API."""
from __future__ import annotations

import hashlib
import io

import pytest

from package_api.db import db
from package_api.packages.gc import GarbageCollector
from tests.support.databases import database_settings
from tests.support.world import generic_url


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def project(world):
    return world.projects["private"]


@pytest.fixture
def reporter(world):
    return world.headers("reporter")


def api(project, path=""):
    return f"/api/v4/projects/{project}/ml/models{path}"


def _models(client, project, headers, query=""):
    r = client.get(api(project) + query, headers=headers)
    assert r.status_code == 200, r.json
    return r.json


def test_curl_style_upload_creates_model_and_version(client, world, project):
    r = client.put(generic_url(project, "fraud-detector", "1.4.0", "model.onnx"), data=b"w", headers=world.headers("developer"))
    assert r.status_code == 201
    [model] = _models(client, project, world.headers("guest"))
    assert model["name"] == "fraud-detector"
    assert model["latest_version"]["version"] == "1.4.0"
    assert model["version_count"] == 1
    assert model["author"]["username"] == "developer"
    [version] = client.get(api(project, f"/{model['id']}/versions"), headers=world.headers("guest")).json
    assert (version["version"], version["sequence"]) == ("1.4.0", 1)
    detail = client.get(api(project, f"/{model['id']}/versions/1.4.0"), headers=world.headers("guest")).json
    assert [f["file_name"] for f in detail["files"]] == ["model.onnx"]
    assert detail["files"][0]["file_sha256"] == hashlib.sha256(b"w").hexdigest()


def test_non_semver_package_stays_a_plain_package(client, world, project):
    for version in ("latest", "1.0", "nightly-2024"):
        client.put(generic_url(project, "tool", version), data=b"x", headers=world.headers("developer"))
    assert _models(client, project, world.headers("guest")) == []
    assert len(client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("guest")).json) == 3


def test_versions_order_by_precedence_and_latest_ignores_prereleases(client, world, project):
    for version in ("1.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0", "1.10.0-beta"):
        client.put(generic_url(project, "m", version), data=version.encode(), headers=world.headers("developer"))
    [model] = _models(client, project, world.headers("guest"))
    assert model["latest_version"]["version"] == "1.10.0"
    assert model["version_count"] == 5
    versions = client.get(api(project, "/m/versions"), headers=world.headers("guest")).json
    assert [v["version"] for v in versions] == ["2.0.0-rc.1", "1.10.0", "1.10.0-beta", "1.2.0", "1.0.0"]
    ascending = client.get(api(project, "/m/versions?sort=asc"), headers=world.headers("guest")).json
    assert [v["version"] for v in ascending][0] == "1.0.0"
    assert [v["sequence"] for v in sorted(versions, key=lambda v: v["sequence"])] == [1, 2, 3, 4, 5]


def test_latest_is_a_prerelease_when_no_release_exists(client, world, project):
    for version in ("1.0.0-alpha", "1.0.0-beta"):
        client.put(generic_url(project, "m", version), data=b"x", headers=world.headers("developer"))
    assert _models(client, project, world.headers("guest"))[0]["latest_version"]["version"] == "1.0.0-beta"


def test_versions_of_equal_precedence_keep_one_order_after_an_update(client, world, project, reporter):
    """Build metadata does not count for precedence (``1.0.0+a`` == ``1.0.0+b``): such versions keep
    the order they were made in, and which is latest does not change when one is edited (a database
    may hand back an updated row in another place; PostgreSQL does)."""
    for version in ("1.0.0+a", "1.0.0+b", "1.0.0+c"):
        client.put(generic_url(project, "m", version), data=version.encode(), headers=world.headers("developer"))
    before = client.get(api(project, "/m/versions"), headers=reporter).json
    latest = _models(client, project, reporter)[0]["latest_version"]["version"]

    r = client.put(api(project, "/m/versions/1.0.0+a"), json={"description": "edited"}, headers=reporter)
    assert r.status_code == 200, r.json

    after = client.get(api(project, "/m/versions"), headers=reporter).json
    assert [v["version"] for v in after] == [v["version"] for v in before] == ["1.0.0+a", "1.0.0+b", "1.0.0+c"]
    assert _models(client, project, reporter)[0]["latest_version"]["version"] == latest == "1.0.0+a"


def test_create_model_and_version_through_the_api(client, world, project, reporter):
    r = client.post(api(project), json={"name": "churn", "description": "# Churn\nPredicts churn."}, headers=reporter)
    assert r.status_code == 201
    model = r.json
    assert (model["name"], model["version_count"], model["latest_version"]) == ("churn", 0, None)
    assert model["description"].startswith("# Churn")

    r = client.post(api(project, "/churn/versions"), json={"version": "0.1.0", "description": "first"}, headers=reporter)
    assert r.status_code == 201
    version = r.json
    assert (version["version"], version["sequence"], version["description"]) == ("0.1.0", 1, "first")
    # The version is a package, visible to the packages API.
    packages = client.get(f"/api/v4/projects/{project}/packages?package_name=churn", headers=reporter).json
    assert [(p["name"], p["version"]) for p in packages] == [("churn", "0.1.0")]

    # Upload an artifact with GitLab's ml_models endpoint, spaces in the file name allowed.
    url = f"/api/v4/projects/{project}/packages/ml_models/{version['id']}/files/weights/my model.bin"
    r = client.put(url, data=b"abc", headers={"Authorization": f"Bearer {world.tokens['reporter']}"})
    assert (r.status_code, r.json) == (201, {"message": "201 Created"})
    assert client.get(url, headers=reporter).data == b"abc"
    files = client.get(api(project, "/churn/versions/0.1.0/files"), headers=reporter).json
    assert [f["file_name"] for f in files] == ["weights/my model.bin"]
    bad = f"/api/v4/projects/{project}/packages/ml_models/{version['id']}/files/my folder/x.bin"
    assert client.put(bad, data=b"abc", headers=reporter).status_code == 400
    # The ml_models docs' style, a form with a file field; and Workhorse's pre-authorization, never a file.
    form = f"/api/v4/projects/{project}/packages/ml_models/{version['id']}/files/card.md"
    assert client.put(form, data={"file": (io.BytesIO(b"# churn"), "card.md")}, headers=reporter).status_code == 201
    assert client.get(form, headers=reporter).data == b"# churn"
    r = client.put(f"{url}/authorize", data=b"abc", headers=reporter)
    assert r.status_code == 403 and "GitLab Workhorse" in r.json["message"]
    files = client.get(api(project, "/churn/versions/0.1.0/files"), headers=reporter).json
    assert sorted(f["file_name"] for f in files) == ["card.md", "weights/my model.bin"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"name": "bad name"}, 400, {"error": "name can contain only letters, digits, '.', '_', '-' and '+'"}),
        ({"name": "."}, 400, {"error": "name cannot be '.' or '..'"}),
        ({"name": ".."}, 400, {"error": "name cannot be '.' or '..'"}),
        ({}, 400, {"error": "name is missing"}),  # Grape's words for a parameter not sent
        ({"name": ""}, 400, {"error": "name is required"}),
        ({"name": "   "}, 400, {"error": "name is required"}),
        ({"name": "x", "description": "d" * 10_001}, 400, {"error": "description is too long (maximum is 10000 characters)"}),
    ],
)
def test_create_model_rejects_bad_input(client, project, reporter, body, status, error):
    r = client.post(api(project), json=body, headers=reporter)
    assert (r.status_code, r.json) == (status, error)
    assert _models(client, project, reporter) == []


def test_duplicates_are_refused(client, project, reporter):
    assert client.post(api(project), json={"name": "m"}, headers=reporter).status_code == 201
    r = client.post(api(project), json={"name": "m"}, headers=reporter)
    assert (r.status_code, r.json) == (409, {"message": "409 Conflict - Model already exists"})
    assert client.post(api(project, "/m/versions"), json={"version": "1.0.0"}, headers=reporter).status_code == 201
    r = client.post(api(project, "/m/versions"), json={"version": "1.0.0"}, headers=reporter)
    assert (r.status_code, r.json) == (409, {"message": "409 Conflict - Model version already exists"})


@pytest.mark.parametrize("version", ["1.0", "latest", "v1.0.0", "1.0.0.0", ""])
def test_version_must_be_semver(client, project, reporter, version):
    client.post(api(project), json={"name": "m"}, headers=reporter)
    r = client.post(api(project, "/m/versions"), json={"version": version}, headers=reporter)
    assert r.status_code == 400
    assert client.get(api(project, "/m/versions"), headers=reporter).json == []
    assert client.get(f"/api/v4/projects/{project}/packages", headers=reporter).json == []


def test_update_descriptions(client, project, reporter):
    client.post(api(project), json={"name": "m"}, headers=reporter)
    client.post(api(project, "/m/versions"), json={"version": "1.0.0"}, headers=reporter)
    assert client.put(api(project, "/m"), json={"description": "new"}, headers=reporter).json["description"] == "new"
    r = client.put(api(project, "/m/versions/1.0.0"), json={"description": "v"}, headers=reporter)
    assert r.json["description"] == "v"


def test_search_order_and_pagination(client, project, reporter, world):
    for name, version in (("alpha", "1.0.0"), ("beta", "3.0.0"), ("gamma", "2.0.0")):
        client.put(generic_url(project, name, version), data=b"x", headers=world.headers("developer"))
    client.post(api(project), json={"name": "empty"}, headers=reporter)
    names = lambda q: [m["name"] for m in _models(client, project, reporter, q)]  # noqa: E731
    assert names("?search=AL") == ["alpha"]
    assert names("?order_by=name&sort=asc") == ["alpha", "beta", "empty", "gamma"]
    assert names("?order_by=latest_version&sort=desc") == ["beta", "gamma", "alpha", "empty"]
    r = client.get(api(project) + "?order_by=name&sort=asc&per_page=3&page=2", headers=reporter)
    assert [m["name"] for m in r.json] == ["gamma"]
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Prev-Page"]) == ("4", "2", "1")
    assert client.get(api(project) + "?order_by=size", headers=reporter).status_code == 400


def test_delete_version_deletes_its_package_and_gc_reclaims(client, project, reporter, world, app, storage):
    client.put(generic_url(project, "m", "1.0.0"), data=b"one", headers=world.headers("developer"))
    client.put(generic_url(project, "m", "2.0.0"), data=b"two", headers=world.headers("developer"))
    assert client.delete(api(project, "/m/versions/2.0.0"), headers=reporter).status_code == 204
    assert [v["version"] for v in client.get(api(project, "/m/versions"), headers=reporter).json] == ["1.0.0"]
    assert client.get(generic_url(project, "m", "2.0.0"), headers=reporter).status_code == 404
    assert client.get(api(project, "/m/versions/2.0.0"), headers=reporter).status_code == 404
    with app.app_context():
        report = GarbageCollector(db.session, storage).collect()
    assert (report.packages, report.blobs, report.bytes) == (1, 1, 3)


def test_delete_model_deletes_everything(client, project, reporter, world, app, storage):
    for version in ("1.0.0", "1.1.0"):
        client.put(generic_url(project, "m", version), data=version.encode(), headers=world.headers("developer"))
    client.put(generic_url(project, "keep", "1.0.0"), data=b"keep", headers=world.headers("developer"))
    assert client.delete(api(project, "/m"), headers=reporter).status_code == 204
    assert [m["name"] for m in _models(client, project, reporter)] == ["keep"]
    assert client.get(api(project, "/m"), headers=reporter).json == {"message": "404 Model Not Found"}
    assert [p["name"] for p in client.get(f"/api/v4/projects/{project}/packages", headers=reporter).json] == ["keep"]
    with app.app_context():
        report = GarbageCollector(db.session, storage).collect()
    assert (report.packages, report.blobs) == (2, 2)
    assert len(list(storage.keys())) == 1
    # The name is free again: a new upload makes a new model.
    client.put(generic_url(project, "m", "3.0.0"), data=b"x", headers=world.headers("developer"))
    assert _models(client, project, reporter, "?search=m")[0]["latest_version"]["version"] == "3.0.0"


def test_delete_selected_files(client, project, reporter, world):
    for path in ("a.bin", "b.bin", "c.bin"):
        client.put(generic_url(project, "m", "1.0.0", path), data=path.encode(), headers=world.headers("developer"))
    files = client.get(api(project, "/m/versions/1.0.0/files"), headers=reporter).json
    ids = [f["id"] for f in files if f["file_name"] != "b.bin"]
    r = client.delete(api(project, "/m/versions/1.0.0/files"), json={"ids": ids}, headers=reporter)
    assert r.status_code == 204
    assert [f["file_name"] for f in client.get(api(project, "/m/versions/1.0.0/files"), headers=reporter).json] == ["b.bin"]
    # A file of another version is not found, and nothing is deleted.
    client.put(generic_url(project, "m", "2.0.0", "z.bin"), data=b"z", headers=world.headers("developer"))
    other = client.get(api(project, "/m/versions/2.0.0/files"), headers=reporter).json[0]["id"]
    b_id = client.get(api(project, "/m/versions/1.0.0/files"), headers=reporter).json[0]["id"]
    r = client.delete(api(project, "/m/versions/1.0.0/files"), json={"ids": [b_id, other]}, headers=reporter)
    assert r.status_code == 404
    assert len(client.get(api(project, "/m/versions/1.0.0/files"), headers=reporter).json) == 1


@pytest.mark.parametrize(
    ("user", "read", "write"),
    [("outsider", 404, 404), ("guest", 200, 403), ("reporter", 200, 201), ("maintainer", 200, 201)],
)
def test_roles(client, world, project, user, read, write):
    headers = world.headers(user)
    assert client.get(api(project), headers=headers).status_code == read
    assert client.post(api(project), json={"name": f"m-{user}"}, headers=headers).status_code == write


def test_anonymous_reads_public_models(client, world):
    public = world.projects["public"]
    client.put(generic_url(public, "open-model", "1.0.0"), data=b"x", headers=world.headers("developer"))
    assert [m["name"] for m in client.get(api(public)).json] == ["open-model"]
    assert client.get(api(world.projects["private"])).status_code == 404
    assert client.post(api(public), json={"name": "x"}).status_code == 401


def test_package_api_without_the_plugin_makes_no_models(tmp_path):
    from package_api import create_app

    app = create_app({"DATA_DIR": str(tmp_path), "STORAGE": "memory", "PLUGINS": "none", **database_settings(tmp_path, reuse=True)})
    assert "model_registry_api" not in app.blueprints
    assert app.test_client().get("/api/v4/projects/1/ml/models").status_code == 404
