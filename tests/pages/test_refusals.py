"""A feature a caller may not use says so, on its pages, in the sidebar and on the API: a disabled
feature or one visible to members only answers a 403 that names the reason (not a bare "not
allowed"), and its sidebar entry is not offered to those it refuses."""
from __future__ import annotations

import re

import pytest

from tests.support.pages import signed_in
from tests.support.world import generic_url

MODELS = "/acme/{}/-/ml/models"
PACKAGES = "/acme/{}/-/packages"


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


def _features(client, world, project, **levels):
    r = client.put(
        f"/api/v4/projects/{world.projects[project]}",
        json={f"{feature}_access_level": level for feature, level in levels.items()},
        headers=world.headers("owner"),
    )
    assert r.status_code == 200, r.json


def _sidebar(html):
    sidebar = re.search(r'<aside class="sidebar".*?</aside>', html, re.DOTALL)
    assert sidebar, "the page has no project sidebar"
    return re.findall(r"<li><a [^>]*>([^<]+)</a></li>", sidebar.group(0))


def test_a_disabled_model_registry_says_so_and_leaves_the_sidebar(app, client, world):
    _features(client, world, "private", model_registry="disabled")
    signed_in(app, client, "developer")

    refused = client.get(MODELS.format("private"))
    packages = client.get(PACKAGES.format("private"))

    assert refused.status_code == 403
    assert "The model registry is disabled in this project." in refused.text
    assert "You are not allowed to do this." not in refused.text
    assert _sidebar(packages.text) == ["Package registry"]


def test_a_members_only_model_registry_says_so_to_outsiders_and_stays_for_members(app, client, world):
    _features(client, world, "internal", model_registry="private")
    outsider, member = client, app.test_client()
    signed_in(app, outsider, "outsider")
    signed_in(app, member, "guest")

    refused = outsider.get(MODELS.format("internal"))

    assert refused.status_code == 403
    assert "The model registry is visible to project members only." in refused.text
    assert _sidebar(outsider.get(PACKAGES.format("internal")).text) == ["Package registry"]
    assert member.get(MODELS.format("internal")).status_code == 200
    assert _sidebar(member.get(PACKAGES.format("internal")).text) == [
        "Package registry",
        "Model registry",
        "Model experiments",
    ]


def test_a_disabled_package_registry_leaves_the_sidebar_and_the_project_opens_on_its_models(app, client, world):
    _features(client, world, "private", package_registry="disabled")
    signed_in(app, client, "developer")

    home = client.get("/acme/private")
    refused = client.get(PACKAGES.format("private"))

    assert home.status_code == 302 and home.headers["Location"] == MODELS.format("private")
    assert refused.status_code == 403 and "The package registry is disabled in this project." in refused.text
    assert _sidebar(client.get(MODELS.format("private")).text) == ["Model registry", "Model experiments"]


def test_a_project_with_nothing_open_to_the_caller_opens_on_the_page_that_says_why(app, client, world):
    _features(client, world, "private", package_registry="disabled", model_registry="disabled")
    signed_in(app, client, "developer")

    home = client.get("/acme/private")

    assert home.headers["Location"] == PACKAGES.format("private")
    assert "The package registry is disabled in this project." in client.get(home.headers["Location"]).text


def test_the_api_names_the_reason_too(client, world):
    _features(client, world, "internal", package_registry="disabled", model_registry="private")
    project = world.projects["internal"]

    upload = client.put(generic_url(project, "tool", "nightly", "t.bin"), data=b"t", headers=world.headers("developer"))
    models = client.get(f"/api/v4/projects/{project}/ml/models", headers=world.headers("outsider"))

    assert (upload.status_code, upload.json) == (403, {"message": "403 Forbidden - the package registry is disabled in this project"})
    assert (models.status_code, models.json) == (
        403,
        {"message": "403 Forbidden - the model registry is visible to project members only"},
    )
