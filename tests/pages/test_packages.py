"""The package registry pages: who sees what, list and package contents, downloads, deletes, the
extension points, and HTML error pages."""
from __future__ import annotations

import hashlib

import pytest

from package_api.web.pages import NavEntry, PackageLink, add_package_links, add_project_nav
from tests.support.pages import page_csrf, signed_in
from tests.support.world import generic_url

LIST = "/acme/{}/-/packages"


def _publish(client, world, project="private", name="pkg", version="1.0.0", path="file.bin", data=b"payload"):
    url = generic_url(world.projects[project], name, version, path)
    r = client.put(url, data=data, headers=world.headers("developer"))
    assert r.status_code == 201, r.json
    packages = client.get(
        f"/api/v4/projects/{world.projects[project]}/packages?package_name={name}&package_version={version}",
        headers=world.headers("developer"),
    ).json
    return packages[0]["id"]


def _files(client, world, project, package_id):
    url = f"/api/v4/projects/{world.projects[project]}/packages/{package_id}/package_files"
    r = client.get(url, headers=world.headers("developer"))
    return r.json if r.status_code == 200 else None


# -- who sees what ----------------------------------------------------------------------------


def test_public_project_is_browsable_signed_out(client, world):
    package_id = _publish(client, world, "public", "fraud-detector", "1.4.0", "model.onnx", b"onnx")
    listing = client.get(LIST.format("public"))
    assert listing.status_code == 200 and listing.mimetype == "text/html"
    assert "fraud-detector" in listing.text and "1.4.0" in listing.text
    page = client.get(f"{LIST.format('public')}/{package_id}")
    assert page.status_code == 200 and "model.onnx" in page.text
    assert hashlib.sha256(b"onnx").hexdigest() in page.text
    assert "Sign in" in page.text and 'data-testid="delete-' not in page.text


@pytest.mark.parametrize("who", [None, "outsider"])
def test_private_project_is_a_404_page_to_non_members(app, client, world, who):
    package_id = _publish(client, world, "private")
    if who:
        signed_in(app, client, who)
    for path in (
        "/acme/private",
        LIST.format("private"),
        f"{LIST.format('private')}/{package_id}",
        "/acme/private/-/package_files/1/download",
    ):
        r = client.get(path)
        assert r.status_code == 404 and r.mimetype == "text/html", path
        assert "Page not found" in r.text and "pkg" not in r.text
    # The same answer as for a project that does not exist.
    assert client.get(LIST.format("missing")).status_code == 404


def test_internal_project_needs_a_signed_in_user(app, client, world):
    assert client.get(LIST.format("internal")).status_code == 404
    signed_in(app, client, "outsider")
    assert client.get(LIST.format("internal")).status_code == 200


def test_members_see_their_private_project(app, client, world):
    _publish(client, world, "private", "secret-model", "2.0.0")
    signed_in(app, client, "guest")
    r = client.get(LIST.format("private"))
    assert r.status_code == 200 and "secret-model" in r.text


@pytest.mark.parametrize(
    "who, visible",
    [(None, ["public"]), ("outsider", ["internal", "public"]), ("guest", ["internal", "private", "public"])],
)
def test_project_list_shows_what_the_user_may_see(app, client, world, who, visible):
    if who:
        signed_in(app, client, who)
    r = client.get("/")
    assert r.status_code == 200
    shown = [name for name in ("internal", "private", "public") if f'href="/acme/{name}"' in r.text]
    assert shown == visible


def test_project_home_leads_to_the_package_registry(client, world):
    r = client.get("/acme/public")
    assert r.status_code == 302 and r.headers["Location"] == "/acme/public/-/packages"


# -- the list ---------------------------------------------------------------------------------


def test_list_shows_name_version_type_status_and_created(app, client, world):
    package_id = _publish(client, world, "private", "fraud-detector", "1.4.0")
    signed_in(app, client, "guest")
    r = client.get(LIST.format("private"))
    assert 'data-testid="package-count">1 package<' in r.text
    assert f'href="/acme/private/-/packages/{package_id}"' in r.text
    assert "fraud-detector" in r.text and "<code>1.4.0</code>" in r.text
    assert "Generic" in r.text and "Default" in r.text and "<time datetime=" in r.text
    # The sidebar offers the package registry, highlighted.
    assert 'href="/acme/private/-/packages" class="active"' in r.text


def test_list_filters_by_name_and_paginates(app, client, world):
    for name in ("alpha", "alpine", "beta"):
        _publish(client, world, "private", name)
    signed_in(app, client, "guest")
    filtered = client.get(LIST.format("private") + "?search=ALP")
    assert "alpha" in filtered.text and "alpine" in filtered.text and ">beta<" not in filtered.text
    assert 'data-testid="package-count">2 packages<' in filtered.text
    assert "No packages match" in client.get(LIST.format("private") + "?search=zzz").text

    first = client.get(LIST.format("private") + "?per_page=2&order_by=name&sort=asc")
    assert "alpha" in first.text and "alpine" in first.text and ">beta<" not in first.text
    assert "Page 1 of 2" in first.text and 'rel="next" href="/acme/private/-/packages?per_page=2' in first.text
    second = client.get(LIST.format("private") + "?per_page=2&order_by=name&sort=asc&page=2")
    assert ">beta<" in second.text and "alpha" not in second.text and "Page 2 of 2" in second.text


def test_list_rejects_a_bad_sort_with_an_html_400(app, client, world):
    signed_in(app, client, "guest")
    r = client.get(LIST.format("private") + "?order_by=size")
    assert r.status_code == 400 and r.mimetype == "text/html" and "order_by" in r.text


def test_empty_list_says_how_to_publish(client, world):
    r = client.get(LIST.format("public"))
    assert "There are no packages yet" in r.text
    assert f"/api/v4/projects/{world.projects['public']}/packages/generic/" in r.text


# -- the package page ---------------------------------------------------------------------------


def test_package_page_lists_files_with_size_sha256_and_download(app, client, world):
    package_id = _publish(client, world, "private", "fraud-detector", "1.4.0", "weights/model.onnx", b"w" * 2048)
    _publish(client, world, "private", "fraud-detector", "1.4.0", "README.md", b"readme")
    _publish(client, world, "private", "fraud-detector", "1.3.0")
    signed_in(app, client, "guest")
    r = client.get(f"{LIST.format('private')}/{package_id}")
    assert r.status_code == 200
    assert 'data-testid="package-title">fraud-detector<' in r.text
    assert "weights/model.onnx" in r.text and "2.0 KiB" in r.text and "6 bytes" in r.text
    assert hashlib.sha256(b"w" * 2048).hexdigest() in r.text and hashlib.sha256(b"readme").hexdigest() in r.text
    assert "published <time" in r.text and "by <strong>developer</strong>" in r.text
    assert "Other versions" in r.text and "1.3.0" in r.text
    files = {f["file_name"]: f["id"] for f in _files(client, world, "private", package_id)}
    assert f'href="/acme/private/-/package_files/{files["weights/model.onnx"]}/download"' in r.text


def test_download_link_streams_the_file(app, client, world):
    package_id = _publish(client, world, "private", "pkg", "1.0.0", "weights/model.onnx", b"model bytes")
    file_id = _files(client, world, "private", package_id)[0]["id"]
    signed_in(app, client, "guest")
    r = client.get(f"/acme/private/-/package_files/{file_id}/download")
    assert r.status_code == 200 and r.data == b"model bytes"
    assert r.headers["X-Checksum-SHA256"] == hashlib.sha256(b"model bytes").hexdigest()
    assert r.headers["Content-Disposition"] == 'attachment; filename="model.onnx"'
    ranged = client.get(f"/acme/private/-/package_files/{file_id}/download", headers={"Range": "bytes=0-4"})
    assert ranged.status_code == 206 and ranged.data == b"model"
    # A file of another project is not reachable through this one.
    assert client.get(f"/acme/internal/-/package_files/{file_id}/download").status_code == 404


def test_package_page_of_another_project_or_deleted_package_is_404(app, client, world):
    package_id = _publish(client, world, "private")
    signed_in(app, client, "maintainer")
    assert client.get(f"{LIST.format('public')}/{package_id}").status_code == 404
    url = f"/api/v4/projects/{world.projects['private']}/packages/{package_id}"
    client.delete(url, headers=world.headers("maintainer"))
    assert client.get(f"{LIST.format('private')}/{package_id}").status_code == 404


# -- deletes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, shown", [("maintainer", True), ("owner", True), ("root", True), ("developer", False), ("guest", False)]
)
def test_delete_buttons_only_for_those_who_may_delete(app, client, world, who, shown):
    package_id = _publish(client, world, "private")
    signed_in(app, client, who)
    r = client.get(f"{LIST.format('private')}/{package_id}")
    assert ('data-testid="delete-package"' in r.text) is shown
    assert ('data-testid="delete-file"' in r.text) is shown


def test_maintainer_deletes_a_file_then_the_package(app, client, world):
    package_id = _publish(client, world, "private", "pkg", "1.0.0", "a.bin", b"a")
    _publish(client, world, "private", "pkg", "1.0.0", "b.bin", b"b")
    files = {f["file_name"]: f["id"] for f in _files(client, world, "private", package_id)}
    token = signed_in(app, client, "maintainer")
    page = f"{LIST.format('private')}/{package_id}"

    r = client.post(f"{page}/package_files/{files['a.bin']}/delete", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == page
    after = client.get(page)
    assert "File a.bin deleted." in after.text
    assert "a.bin" not in after.text.replace("File a.bin deleted.", "") and "b.bin" in after.text
    assert [f["file_name"] for f in _files(client, world, "private", package_id)] == ["b.bin"]

    r = client.post(f"{page}/delete", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == LIST.format("private")
    listing = client.get(LIST.format("private"))
    assert "Package pkg 1.0.0 deleted." in listing.text and "There are no packages yet" in listing.text
    assert _files(client, world, "private", package_id) is None  # the API no longer finds it


def test_deletes_need_the_csrf_token(app, client, world):
    package_id = _publish(client, world, "private")
    file_id = _files(client, world, "private", package_id)[0]["id"]
    token = signed_in(app, client, "maintainer")
    page = f"{LIST.format('private')}/{package_id}"
    for form in ({}, {"csrf_token": "forged"}):
        r = client.post(f"{page}/package_files/{file_id}/delete", data=form)
        assert r.status_code == 403 and r.mimetype == "text/html"
        assert client.post(f"{page}/delete", data=form).status_code == 403
    assert len(_files(client, world, "private", package_id)) == 1
    # A script may send the token as a header instead of a form field.
    r = client.post(f"{page}/package_files/{file_id}/delete", headers={"X-CSRF-Token": token})
    assert r.status_code == 302 and _files(client, world, "private", package_id) == []


@pytest.mark.parametrize("who, status", [("developer", 403), ("guest", 403), ("outsider", 404)])
def test_deletes_without_permission_are_refused(app, client, world, who, status):
    package_id = _publish(client, world, "private")
    file_id = _files(client, world, "private", package_id)[0]["id"]
    token = signed_in(app, client, who)
    page = f"{LIST.format('private')}/{package_id}"
    assert client.post(f"{page}/package_files/{file_id}/delete", data={"csrf_token": token}).status_code == status
    assert client.post(f"{page}/delete", data={"csrf_token": token}).status_code == status
    assert len(_files(client, world, "private", package_id)) == 1


def test_anonymous_delete_on_a_public_project_asks_to_sign_in(client, world):
    package_id = _publish(client, world, "public")
    token = page_csrf(client, "/")  # an anonymous session has a CSRF token too
    r = client.post(f"{LIST.format('public')}/{package_id}/delete", data={"csrf_token": token})
    assert r.status_code == 401 and "Sign in" in r.text
    assert _files(client, world, "public", package_id)


# -- extension points and the layout -------------------------------------------------------------


def test_plugins_add_sidebar_items_and_package_links(app, client, world):
    add_project_nav(app, NavEntry("Model registry", "project_pages.index", url=lambda p: f"/{p.full_path}/-/ml/models"))
    add_project_nav(app, NavEntry("Experiments", "project_pages.index", section="Analyze", url=lambda p: "/x"))
    add_package_links(app, lambda p: [PackageLink("Model version", f"/m/{p.version}")] if p.version[0] != "l" else [])
    add_package_links(app, lambda package: [("Plain tuple", "/tuple")])
    package_id = _publish(client, world, "public", "fraud-detector", "1.4.0")
    other_id = _publish(client, world, "public", "notes", "latest")

    listing = client.get(LIST.format("public")).text
    order = [listing.index(s) for s in ("<h2>Deploy</h2>", ">Package registry<", ">Model registry<", ">Experiments<")]
    assert order == sorted(order)
    assert 'href="/acme/public/-/ml/models"' in listing

    page = client.get(f"{LIST.format('public')}/{package_id}").text
    assert 'href="/m/1.4.0">Model version<' in page and 'href="/tuple">Plain tuple<' in page
    other = client.get(f"{LIST.format('public')}/{other_id}").text
    assert "Model version" not in other and "Plain tuple" in other


def test_pages_are_framed_by_nobody_and_load_only_our_assets(client):
    r = client.get("/")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    for asset in ("/static/modelshelf.css", "/static/modelshelf.js", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200, asset
    assert "http://" not in r.text and "https://" not in r.text


def test_unknown_page_is_an_html_404_and_unknown_api_route_stays_json(client):
    page = client.get("/no/such/page/here")
    assert page.status_code == 404 and page.mimetype == "text/html" and "Page not found" in page.text
    api = client.get("/api/v4/nothing")
    assert api.status_code == 404 and api.json == {"error": "404 Not Found"}


def test_a_post_to_an_unknown_page_is_a_404_not_a_csrf_refusal(client):
    assert client.post("/no/such/page/here").status_code == 404
    assert client.post("/acme/public/-/packages").status_code == 405
