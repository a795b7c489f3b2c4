"""The packages API: list, filters, ordering, pagination headers, get, files, deletion."""
from __future__ import annotations

import hashlib

import pytest

from package_api import signals
from package_api.db import db
from package_api.packages.gc import GarbageCollector
from tests.support.world import generic_url


@pytest.fixture
def project(world):
    return world.projects["private"]


@pytest.fixture
def dev(world):
    return world.headers("developer")


def _publish(client, project, headers, *specs):
    for name, version in specs:
        r = client.put(generic_url(project, name, version), data=f"{name}-{version}".encode(), headers=headers)
        assert r.status_code == 201


def _list(client, project, headers, query=""):
    r = client.get(f"/api/v4/projects/{project}/packages{query}", headers=headers)
    assert r.status_code == 200, r.json
    return r


def test_package_json_shape(client, world, project, dev):
    _publish(client, project, dev, ("pkg", "1.0.0"))
    item = _list(client, project, world.headers("maintainer")).json[0]
    assert item["name"] == "pkg" and item["version"] == "1.0.0"
    assert item["package_type"] == "generic" and item["status"] == "default"
    assert item["_links"]["web_path"] == f"/acme/private/-/packages/{item['id']}"
    assert item["_links"]["delete_api_path"].endswith(f"/api/v4/projects/{project}/packages/{item['id']}")
    assert item["created_at"].endswith("Z") and item["tags"] == []
    assert "versions" not in item
    # A developer cannot delete, so no delete link.
    assert "delete_api_path" not in _list(client, project, dev).json[0]["_links"]


def test_filters(client, project, dev):
    _publish(client, project, dev, ("alpha", "1.0.0"), ("alpha", "2.0.0"), ("beta_pkg", "1.0.0"), ("betaxpkg", "1.0.0"))
    names = lambda r: sorted((p["name"], p["version"]) for p in r.json)  # noqa: E731
    assert len(_list(client, project, dev).json) == 4
    assert names(_list(client, project, dev, "?package_name=ALP")) == [("alpha", "1.0.0"), ("alpha", "2.0.0")]
    assert names(_list(client, project, dev, "?package_version=2.0.0")) == [("alpha", "2.0.0")]
    # ``_`` is a literal, not a LIKE wildcard.
    assert names(_list(client, project, dev, "?package_name=beta_")) == [("beta_pkg", "1.0.0")]
    assert _list(client, project, dev, "?package_type=generic").json and not _list(
        client, project, dev, "?package_type=maven"
    ).json


def test_order_and_sort(client, project, dev):
    _publish(client, project, dev, ("b", "2.0"), ("a", "1.0"), ("c", "3.0"))
    by = lambda q: [p["name"] for p in _list(client, project, dev, q).json]  # noqa: E731
    assert by("") == ["b", "a", "c"]  # created_at ascending by default
    assert by("?order_by=name") == ["a", "b", "c"]
    assert by("?order_by=name&sort=desc") == ["c", "b", "a"]
    assert by("?order_by=version&sort=desc") == ["c", "b", "a"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("?order_by=size", "order_by does not have a valid value"),
        ("?sort=up", "sort does not have a valid value"),
        ("?status=gone", "status does not have a valid value"),
        ("?package_type=bogus", "package_type does not have a valid value"),
        ("?package_type=", "package_type does not have a valid value"),
        ("?page=x", "page is invalid"),
        ("?per_page=0", "per_page does not have a valid value"),
    ],
)
def test_bad_list_parameters(client, project, dev, query, error):
    r = client.get(f"/api/v4/projects/{project}/packages{query}", headers=dev)
    assert (r.status_code, r.json) == (400, {"error": error})


def test_pagination_headers(client, project, dev):
    _publish(client, project, dev, *[(f"p{i}", "1.0") for i in range(5)])
    r = _list(client, project, dev, "?per_page=2&page=2")
    assert [p["name"] for p in r.json] == ["p2", "p3"]
    h = r.headers
    assert (h["X-Total"], h["X-Total-Pages"], h["X-Per-Page"], h["X-Page"]) == ("5", "3", "2", "2")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    links = dict(
        (part.split("; ")[1].split('"')[1], part.split("; ")[0].strip("<>")) for part in h["Link"].split(", ")
    )
    assert set(links) == {"prev", "next", "first", "last"}
    assert "page=3" in links["next"] and "per_page=2" in links["next"] and "page=3" in links["last"]
    last = _list(client, project, dev, "?per_page=2&page=3")
    assert last.headers["X-Next-Page"] == "" and [p["name"] for p in last.json] == ["p4"]
    assert len(_list(client, project, dev, "?per_page=1000").json) == 5  # capped at 100, not refused


def test_get_one_package_lists_other_versions(client, project, dev):
    _publish(client, project, dev, ("pkg", "1.0"), ("pkg", "2.0"), ("other", "1.0"))
    first = _list(client, project, dev, "?package_version=1.0&package_name=pkg").json[0]
    r = client.get(f"/api/v4/projects/{project}/packages/{first['id']}", headers=dev)
    assert r.status_code == 200
    assert [v["version"] for v in r.json["versions"]] == ["2.0"]
    assert client.get(f"/api/v4/projects/{project}/packages/999", headers=dev).json == {
        "message": "404 Package Not Found"
    }


def test_package_files(client, project, dev):
    client.put(generic_url(project, path="model.onnx"), data=b"abc", headers=dev)
    client.put(generic_url(project, path="weights/part-1.bin"), data=b"defg", headers=dev)
    package_id = _list(client, project, dev).json[0]["id"]
    r = client.get(f"/api/v4/projects/{project}/packages/{package_id}/package_files", headers=dev)
    assert r.status_code == 200 and r.headers["X-Total"] == "2"
    files = {f["file_name"]: f for f in r.json}
    assert set(files) == {"model.onnx", "weights/part-1.bin"}
    assert files["weights/part-1.bin"]["size"] == 4
    assert files["model.onnx"]["file_sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert files["model.onnx"]["package_id"] == package_id
    desc = client.get(
        f"/api/v4/projects/{project}/packages/{package_id}/package_files?order_by=file_name&sort=desc", headers=dev
    ).json
    assert [f["file_name"] for f in desc] == ["weights/part-1.bin", "model.onnx"]


def test_delete_package_then_reupload_makes_a_new_package(client, world, project, dev, app, storage):
    maintainer = world.headers("maintainer")
    _publish(client, project, dev, ("pkg", "1.0"))
    package_id = _list(client, project, dev).json[0]["id"]
    seen = []
    with signals.package_deleted.connected_to(lambda sender, package: seen.append(package.id)):
        assert client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers=maintainer).status_code == 204
    assert seen == [package_id]
    assert _list(client, project, dev).json == []
    assert [p["id"] for p in _list(client, project, dev, "?status=pending_destruction").json] == [package_id]
    assert client.get(generic_url(project, "pkg", "1.0"), headers=dev).status_code == 404
    assert client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers=maintainer).status_code == 404

    _publish(client, project, dev, ("pkg", "1.0"))
    assert _list(client, project, dev).json[0]["id"] != package_id
    # The bytes are shared with the new package, so gc keeps them.
    with app.app_context():
        report = GarbageCollector(db.session, storage).collect()
    assert (report.packages, report.blobs) == (1, 0)
    assert client.get(generic_url(project, "pkg", "1.0"), headers=dev).data == b"pkg-1.0"


def test_delete_one_file(client, world, project, dev, app, storage):
    client.put(generic_url(project), data=b"old", headers=dev)
    client.put(generic_url(project), data=b"new", headers=dev)
    package_id = _list(client, project, dev).json[0]["id"]
    files = client.get(f"/api/v4/projects/{project}/packages/{package_id}/package_files", headers=dev).json
    newest = max(files, key=lambda f: f["id"])
    url = f"/api/v4/projects/{project}/packages/{package_id}/package_files/{newest['id']}"
    assert client.delete(url, headers=dev).status_code == 403
    assert client.delete(url, headers=world.headers("maintainer")).status_code == 204
    assert client.delete(url, headers=world.headers("maintainer")).json == {"message": "404 Package file Not Found"}
    # The older duplicate is what a download returns now.
    assert client.get(generic_url(project), headers=dev).data == b"old"
    with app.app_context():
        report = GarbageCollector(db.session, storage).collect()
    assert (report.files, report.blobs, report.bytes) == (1, 1, 3)
    assert len(list(storage.keys())) == 1


def test_gc_dry_run_removes_nothing(client, world, project, dev, app, storage):
    _publish(client, project, dev, ("pkg", "1.0"))
    package_id = _list(client, project, dev).json[0]["id"]
    client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers=world.headers("maintainer"))
    with app.app_context():
        dry = GarbageCollector(db.session, storage).collect(dry_run=True)
        assert (dry.packages, dry.files, dry.blobs, dry.bytes) == (1, 1, 1, len(b"pkg-1.0"))
        assert len(list(storage.keys())) == 1
        real = GarbageCollector(db.session, storage).collect()
    assert (real.packages, real.files, real.blobs) == (1, 1, 1)
    assert list(storage.keys()) == []


def test_signals_on_upload(client, project, dev):
    created, added = [], []
    with signals.package_created.connected_to(lambda s, package: created.append(package.name)), \
            signals.package_file_added.connected_to(lambda s, package, package_file: added.append(package_file.file_name)):
        client.put(generic_url(project, path="a"), data=b"1", headers=dev)
        client.put(generic_url(project, path="b"), data=b"2", headers=dev)
    assert created == ["pkg"]
    assert added == ["a", "b"]


def test_projects_api(client, world):
    r = client.get("/api/v4/projects/acme%2Fprivate", headers=world.headers("guest"))
    assert r.status_code == 200 and r.json["path_with_namespace"] == "acme/private"
    assert client.get("/api/v4/projects/acme%2Fprivate", headers=world.headers("outsider")).status_code == 404

    r = client.post("/api/v4/projects", json={"name": "mine"}, headers=world.headers("outsider"))
    assert r.status_code == 201 and r.json["path_with_namespace"] == "outsider/mine"
    assert r.json["visibility"] == "private"
    again = client.post("/api/v4/projects", json={"name": "mine"}, headers=world.headers("outsider"))
    assert again.status_code == 409
    bad = client.post("/api/v4/projects", json={"name": "bad name"}, headers=world.headers("outsider"))
    assert (bad.status_code, bad.json) == (400, {"error": "path is invalid"})
    other_ns = client.post("/api/v4/projects", json={"name": "x", "namespace": "acme"}, headers=world.headers("outsider"))
    assert other_ns.status_code == 403
    assert client.post("/api/v4/projects", json={"name": "x"}).status_code == 401
    read_only = client.post("/api/v4/projects", json={"name": "y"}, headers=world.headers("outsider", read_only=True))
    assert read_only.status_code == 403


def test_visibility_change_needs_owner(client, world):
    url = f"/api/v4/projects/{world.projects['private']}"
    assert client.put(url, json={"visibility": "public"}, headers=world.headers("maintainer")).status_code == 403
    r = client.put(url, json={"visibility": "public"}, headers=world.headers("owner"))
    assert r.status_code == 200 and r.json["visibility"] == "public"
    assert client.get(url).status_code == 200


def test_listing_asks_for_the_callers_role_once_however_many_packages(app, client, world) -> None:
    """Each row says whether the caller may delete it; the role and features behind that are read
    once per page, not once per package."""
    from sqlalchemy import event

    project, maintainer = world.projects["private"], world.headers("maintainer")

    def statements_listing(count: int) -> int:
        for n in range(count):
            client.put(generic_url(project, f"many-{count}", f"1.0.{n}"), data=b"x", headers=maintainer)
        seen: list[str] = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args, **kwargs: seen.append(args[2])  # noqa: E731  (statement text)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            listed = client.get(
                f"/api/v4/projects/{project}/packages", query_string={"package_name": f"many-{count}"}, headers=maintainer
            )
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert listed.status_code == 200 and len(listed.json) == count
        assert all("delete_api_path" in p["_links"] for p in listed.json)
        return sum("memberships" in s for s in seen)

    assert statements_listing(1) == statements_listing(6)
