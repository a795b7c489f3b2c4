"""The model registry plugin: models made on purpose, whose versions are the SemVer packages of their
name (the projection), and its REST API."""
from __future__ import annotations

import hashlib
import io

import pytest

from package_api.db import db
from package_api.packages.gc import GarbageCollector
from tests.support.databases import database_settings
from tests.support.jobs import register_job
from tests.support.world import create_model, generic_url


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


def test_curl_style_upload_into_a_model_creates_a_version(client, world, project):
    create_model(client, project, "fraud-detector", world.headers("reporter"))
    r = client.put(generic_url(project, "fraud-detector", "1.4.0", "model.onnx"), data=b"w", headers=world.headers("developer"))
    assert r.status_code == 201
    [model] = _models(client, project, world.headers("guest"))
    assert model["name"] == "fraud-detector"
    assert model["latest_version"]["version"] == "1.4.0"
    assert model["version_count"] == 1
    assert model["author"]["username"] == "reporter"
    [version] = client.get(api(project, f"/{model['id']}/versions"), headers=world.headers("guest")).json
    assert version["author"]["username"] == "developer"
    assert (version["version"], version["sequence"]) == ("1.4.0", 1)
    detail = client.get(api(project, f"/{model['id']}/versions/1.4.0"), headers=world.headers("guest")).json
    assert [f["file_name"] for f in detail["files"]] == ["model.onnx"]
    assert detail["files"][0]["file_sha256"] == hashlib.sha256(b"w").hexdigest()


def test_a_package_of_no_model_is_a_plain_package_semver_or_not(client, world, project):
    for version in ("latest", "1.0", "nightly-2024", "2.3.4"):
        url = generic_url(project, "release-tarball", version)
        assert client.put(url, data=b"x", headers=world.headers("developer")).status_code == 201
    assert _models(client, project, world.headers("guest")) == []
    assert len(client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("guest")).json) == 4


def test_a_plain_semver_package_follows_the_package_registrys_rules(client, world, project):
    """GitLab's: a Developer publishes, a Maintainer deletes; the model registry's Reporter rule is for
    model versions."""
    url = generic_url(project, "release-tarball", "2.3.4")
    assert client.put(url, data=b"x", headers=world.headers("reporter")).status_code == 403
    assert client.put(url, data=b"x", headers=world.headers("developer")).status_code == 201
    [package] = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("guest")).json
    delete = f"/api/v4/projects/{project}/packages/{package['id']}"
    assert client.delete(delete, headers=world.headers("reporter")).status_code == 403
    assert client.delete(delete, headers=world.headers("developer")).status_code == 403
    assert client.delete(delete, headers=world.headers("maintainer")).status_code == 204
    # ...and leaves no empty model behind.
    assert _models(client, project, world.headers("guest")) == []


def test_a_model_version_follows_the_model_registrys_rules(client, world, project, reporter):
    create_model(client, project, "fraud-detector", reporter)
    url = generic_url(project, "fraud-detector", "1.4.0")
    assert client.put(url, data=b"x", headers=world.headers("guest")).status_code == 403
    assert client.put(url, data=b"x", headers=reporter).status_code == 201
    [package] = client.get(f"/api/v4/projects/{project}/packages", headers=world.headers("guest")).json
    assert client.delete(f"/api/v4/projects/{project}/packages/{package['id']}", headers=reporter).status_code == 204
    # The model stays: it was made on purpose.
    [model] = _models(client, project, reporter)
    assert (model["name"], model["version_count"]) == ("fraud-detector", 0)


@pytest.mark.parametrize("who", ["reporter", "developer", "job"])
def test_a_version_of_a_model_that_is_no_semver_is_refused_with_the_reason(client, app, world, project, reporter, who):
    create_model(client, project, "fraud-detector", reporter)
    headers = {"JOB-TOKEN": register_job(app, project, "developer", "7")[1]} if who == "job" else world.headers(who)
    r = client.put(generic_url(project, "fraud-detector", "build-7", "model.onnx"), data=b"w", headers=headers)
    assert (r.status_code, r.json) == (
        400, {"message": "400 Bad request - fraud-detector is a model: versions must be semantic versions, e.g. 1.4.0"}
    )
    assert client.get(f"/api/v4/projects/{project}/packages", headers=reporter).json == []


def test_a_model_made_over_packages_takes_their_semver_ones_as_versions(client, world, project, reporter):
    """Making a model hands its name's SemVer packages from the package registry's rules to the model
    registry's: only someone who may delete them (a Maintainer) may."""
    for version in ("1.0.0", "nightly", "2.0.0"):
        client.put(generic_url(project, "legacy", version), data=version.encode(), headers=world.headers("developer"))
    r = client.post(api(project), json={"name": "legacy"}, headers=reporter)
    assert (r.status_code, r.json) == (403, {"message": "403 Forbidden - legacy names packages of this project: making "
                                                         "them a model's versions takes someone who may delete them "
                                                         "(a Maintainer)"})
    assert _models(client, project, reporter) == []
    made = create_model(client, project, "legacy", world.headers("maintainer"))
    assert (made["version_count"], made["latest_version"]["version"]) == (2, "2.0.0")
    versions = client.get(api(project, "/legacy/versions?sort=asc"), headers=reporter).json
    assert [(v["version"], v["sequence"]) for v in versions] == [("1.0.0", 1), ("2.0.0", 2)]
    # The package that is no version stays a plain package (a Maintainer deletes it).
    nightly = client.get(generic_url(project, "legacy", "nightly"), headers=reporter)
    assert (nightly.status_code, nightly.data) == (200, b"nightly")


def test_a_model_cannot_take_the_name_of_mlflows_artifact_packages(client, project, reporter):
    r = client.post(api(project), json={"name": "ml_experiment_1"}, headers=reporter)
    assert (r.status_code, r.json) == (400, {"error": "name is reserved: ml_experiment_<number> packages hold MLflow's artifacts"})


def test_versions_order_by_precedence_and_latest_ignores_prereleases(client, world, project, reporter):
    create_model(client, project, "m", reporter)
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


def test_latest_is_a_prerelease_when_no_release_exists(client, world, project, reporter):
    create_model(client, project, "m", reporter)
    for version in ("1.0.0-alpha", "1.0.0-beta"):
        client.put(generic_url(project, "m", version), data=b"x", headers=world.headers("developer"))
    assert _models(client, project, world.headers("guest"))[0]["latest_version"]["version"] == "1.0.0-beta"


def test_versions_of_equal_precedence_keep_one_order_after_an_update(client, world, project, reporter):
    """Build metadata does not count for precedence (``1.0.0+a`` == ``1.0.0+b``): such versions keep
    the order they were made in, and which is latest does not change when one is edited (a database
    may hand back an updated row in another place; PostgreSQL does)."""
    create_model(client, project, "m", reporter)
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
        create_model(client, project, name, reporter)
        client.put(generic_url(project, name, version), data=b"x", headers=world.headers("developer"))
    client.post(api(project), json={"name": "empty"}, headers=reporter)
    names = lambda q: [m["name"] for m in _models(client, project, reporter, q)]  # noqa: E731
    assert names("?search=AL") == ["alpha"]
    # SQLite's LIKE ended the pattern at the NUL (every name with an "a"): a NUL is refused on both
    assert client.get(api(project) + "?search=a%00zzz", headers=reporter).status_code == 400
    assert names("?order_by=name&sort=asc") == ["alpha", "beta", "empty", "gamma"]
    assert names("?order_by=latest_version&sort=desc") == ["beta", "gamma", "alpha", "empty"]
    r = client.get(api(project) + "?order_by=name&sort=asc&per_page=3&page=2", headers=reporter)
    assert [m["name"] for m in r.json] == ["gamma"]
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Prev-Page"]) == ("4", "2", "1")
    assert client.get(api(project) + "?order_by=size", headers=reporter).status_code == 400


def test_delete_version_deletes_its_package_and_gc_reclaims(client, project, reporter, world, app, storage):
    create_model(client, project, "m", reporter)
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
    for name in ("m", "keep"):
        create_model(client, project, name, reporter)
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
    # The name is free again: a new upload makes a plain package, and a new model takes it.
    client.put(generic_url(project, "m", "3.0.0"), data=b"x", headers=world.headers("developer"))
    assert [m["name"] for m in _models(client, project, reporter)] == ["keep"]
    create_model(client, project, "m", world.headers("maintainer"))
    assert _models(client, project, reporter, "?search=m")[0]["latest_version"]["version"] == "3.0.0"


def test_delete_selected_files(client, project, reporter, world):
    create_model(client, project, "m", reporter)
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
    create_model(client, public, "open-model", world.headers("reporter"))
    client.put(generic_url(public, "open-model", "1.0.0"), data=b"x", headers=world.headers("developer"))
    assert [m["name"] for m in client.get(api(public)).json] == ["open-model"]
    assert client.get(api(world.projects["private"])).status_code == 404
    assert client.post(api(public), json={"name": "x"}).status_code == 401


def test_package_api_without_the_plugin_makes_no_models(tmp_path):
    from package_api import create_app

    app = create_app({"DATA_DIR": str(tmp_path), "STORAGE": "memory", "PLUGINS": "none", **database_settings(tmp_path, reuse=True)})
    assert "model_registry_api" not in app.blueprints
    assert app.test_client().get("/api/v4/projects/1/ml/models").status_code == 404


def test_a_page_of_packages_is_judged_with_one_read_of_the_model_names(app, client, world, project, reporter):
    """Whether each listed package is a model version (so who may delete it) takes the project's
    model names, read once per page, not once per package."""
    from sqlalchemy import event

    def statements_listing(count: int) -> int:
        for n in range(count):
            create_model(client, project, f"m{count}-{n}", reporter)
            for name in (f"m{count}-{n}", f"plain{count}-{n}"):
                client.put(generic_url(project, name, "1.0.0"), data=b"x", headers=world.headers("developer"))
        seen: list[str] = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args, **kwargs: seen.append(args[2])  # noqa: E731  (statement text)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            listed = client.get(f"/api/v4/projects/{project}/packages", query_string={"per_page": 100}, headers=reporter)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert listed.status_code == 200
        # A Reporter deletes the model versions, not the plain packages (a Maintainer's).
        deletable = {p["name"]: "delete_api_path" in p["_links"] for p in listed.json if f"{count}-" in p["name"]}
        assert deletable == {**{f"m{count}-{n}": True for n in range(count)}, **{f"plain{count}-{n}": False for n in range(count)}}
        return sum("FROM ml_models" in s for s in seen)

    assert statements_listing(1) == statements_listing(6) == 1


def _model_reads_by_project_alone(statements):
    """The statements that read the ``ml_models`` table by project alone (every model of it), not by a
    model's name or id."""
    import re

    reads = []
    for sql in statements.sql:
        if "FROM ml_models" not in sql:
            continue
        where = sql.split("WHERE", 1)[1] if "WHERE" in sql else ""
        if not re.search(r"ml_models\.(name|id) (=|IN)", where):
            reads.append(sql)
    return reads


def test_judging_one_package_reads_its_own_name_not_every_model(app, client, world, project, reporter):
    """Whether an uploaded or downloaded package is a model version asks whether its name is a
    model's: that one name is read, not every model of the project (with 10,000 models a generic
    download read them all: 26 ms in-process against 3.6 ms with one model)."""
    from tests.support.statements import counting

    for n in range(12):
        create_model(client, project, f"other-{n}", reporter)
    create_model(client, project, "fraud", reporter)
    developer = world.headers("developer")
    url = generic_url(project, "fraud", "1.0.0", "model.bin")
    with counting(app) as upload:
        assert client.put(url, data=b"weights", headers=developer).status_code == 201
    with counting(app) as download:
        answer = client.get(url, headers=developer)
    assert answer.status_code == 200 and answer.data == b"weights"
    with counting(app) as plain:  # not a model's name: a package, as before
        assert client.put(generic_url(project, "plain", "x", "a.bin"), data=b"a", headers=developer).status_code == 201
    for seen in (upload, download, plain):
        assert any("FROM ml_models" in sql for sql in seen.sql), str(seen)
        assert _model_reads_by_project_alone(seen) == [], str(seen)
    # The version was made: the name was judged a model's.
    versions = client.get(api(project, "/fraud/versions"), headers=reporter)
    assert [v["version"] for v in versions.get_json()] == ["1.0.0"]


def test_package_names_judged_one_by_one_end_in_one_read_of_every_model_name(app, world, project, reporter, client):
    """A list that judges its packages without saying their names first costs a statement per name for
    the first few names, then one read of every model name: bounded, whatever the list's length."""
    from package_api.access.models import Project
    from package_api.access.policy import PolicyFacts
    from plugin.registry.access import NAMES_ONE_BY_ONE, is_model_name
    from tests.support.statements import counting

    models = {f"m{n}" for n in range(0, 30, 3)}
    for name in sorted(models):
        create_model(client, project, name, reporter)
    asked = [f"m{n}" for n in range(30)] * 2
    with app.app_context():
        judged = db.session.get(Project, project)
        facts = PolicyFacts(db.session)
        with counting(app) as seen:
            answers = {name: is_model_name(facts, judged, name) for name in asked}
        assert answers == {name: name in models for name in asked}
        assert seen.count == NAMES_ONE_BY_ONE + 1, str(seen)
        assert len(_model_reads_by_project_alone(seen)) == 1
        # Names said first (a page) are read together, in one statement.
        facts = PolicyFacts(db.session)
        facts.expect(judged.id, asked)
        with counting(app) as expected:
            assert {name: is_model_name(facts, judged, name) for name in asked} == answers
        assert expected.count == 1, str(expected)
