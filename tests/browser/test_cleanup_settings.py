"""Settings > Packages and registries in a real browser (headless Chromium) against ``modelshelf serve``:
a Maintainer enables a cleanup policy with the form, the dry run lists two versions, and
``modelshelf cleanup`` then removes exactly those. No script error and no CSP violation on the way."""
from __future__ import annotations

import re

import pytest
import requests

from tests.browser.conftest import follow
from tests.browser.test_settings import SETTINGS, Site, _sign_in, page_errors, site  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

DRY_RUN = re.compile(r"/packages_and_registries\?dry_run=1#dry-run$")


def test_a_maintainer_enables_a_cleanup_policy_and_its_dry_run_lists_what_a_run_removes(  # type: ignore[no-untyped-def]
    page, site: Site, screenshot, page_errors  # noqa: F811
):
    from playwright.sync_api import expect

    for version in ("0.1.0", "0.2.0", "0.3.0"):
        r = site.api(f"/projects/{site.project}/packages/generic/plain/{version}/model.bin", method="PUT", data=b"x")
        assert r.status_code == 201, r.text
    _sign_in(page, site, "carol", SETTINGS)
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Packages and registries").click()
    expect(page).to_have_url(site.url(f"{SETTINGS}/packages_and_registries"))
    form = page.get_by_test_id("cleanup-form")
    form.get_by_label("Enabled").check()
    form.get_by_label("Run cleanup").select_option(label="Every week")
    form.get_by_label("Keep the most recent").select_option(label="1 version per model")
    form.get_by_label("Remove versions older than").select_option(label="Any age")
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Cleanup policy saved.")
    expect(page.get_by_label("Keep the most recent")).to_have_value("1")
    policy = site.api(f"/projects/{site.project}/packages/cleanup_policy").json()
    assert (policy["enabled"], policy["cadence"], policy["keep_n"], policy["older_than"]) == (True, "7d", 1, None)

    follow(page, page.get_by_test_id("cleanup-dry-run").click, DRY_RUN)  # the screenshot below: the page styled
    expect(page.get_by_test_id("dry-run-summary")).to_contain_text("would remove 2 of 3 versions")
    rows = page.get_by_test_id("dry-run-list").locator("tbody tr")
    expect(rows).to_have_count(2)
    listed = sorted(rows.nth(i).get_attribute("data-version") for i in range(2))
    assert listed == ["plain/0.1.0", "plain/0.2.0"]
    screenshot("cleanup-policy")

    removed = site.server.cli("cleanup", "--project", "team/models")
    assert sorted(line.rsplit(" ", 2)[-2] + "/" + line.rsplit(" ", 1)[-1] for line in removed.splitlines()) == listed
    left = requests.get(f"{site.server.api}/projects/{site.project}/packages", headers={"PRIVATE-TOKEN": site.token}, timeout=30)
    assert [p["version"] for p in left.json()] == ["0.3.0"]
    page.reload()
    follow(page, page.get_by_test_id("cleanup-dry-run").click, DRY_RUN)
    expect(page.get_by_test_id("dry-run-summary")).to_contain_text("would remove 0 of 1 versions")
    assert page_errors == []
