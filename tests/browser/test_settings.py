"""The project settings pages in a real browser (headless Chromium) against ``modelshelf serve``:
an Owner changes the visibility and the model registry's access level, adds a member, creates a
deploy token (seen once, copied, used), revokes it through the confirm dialog, rotates the CI token
(the old one stops working) and reads the audit events; a Maintainer sees the visibility read-only.
No script error and no Content-Security-Policy violation on the way."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import requests

from tests.browser.conftest import follow, sign_in
from tests.support.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PASSWORD = "s3cret-passw0rd"
SETTINGS = "/team/models/-/settings"
CI_TOKEN = re.compile(r"/-/settings/ci_cd(/ci_token)?$")


@dataclass
class Site:
    server: Server
    token: str  # alice's
    project: int

    def url(self, path: str) -> str:
        return self.server.url + path

    def api(self, path: str, headers: dict[str, str] | None = None, method: str = "GET", **kwargs: object) -> requests.Response:
        headers = headers if headers is not None else {"PRIVATE-TOKEN": self.token}
        return requests.request(method, f"{self.server.api}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def site(serve) -> Site:  # type: ignore[no-untyped-def]
    """``modelshelf serve`` with the model registry; alice owns ``team/models``, carol maintains it,
    bob has an account and no role, all made with the CLI as an operator would."""
    server = serve({"PLUGINS": "all"})
    server.cli_in_process("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    server.cli_in_process("admin", "create-user", "carol", "--password-stdin", input=PASSWORD + "\n")
    server.cli_in_process("admin", "create-user", "bob")
    project = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    server.cli_in_process("admin", "add-member", "team/models", "carol", "maintainer")
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
    return Site(server, token, project)


@pytest.fixture
def page_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Script and console errors (a CSP violation is one) the page saw."""
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    page.on("console", lambda message: seen.append(f"console: {message.text}") if message.type == "error" else None)
    return seen


def _sign_in(page, site: Site, username: str, redirect_to: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, site.server.url, username, PASSWORD, redirect_to)


def test_an_owner_manages_the_project_settings(page, site, screenshot, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.server.url)
    _sign_in(page, site, "alice", "/team/models/-/packages")
    sidebar = page.get_by_role("complementary", name="Project navigation")
    sidebar.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(site.url(SETTINGS))
    expect(sidebar.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")
    tabs = page.get_by_role("navigation", name="Settings")

    # Visibility and the model registry's access level, in one form.
    permissions = page.get_by_test_id("permissions-form")
    permissions.get_by_label("Project visibility").select_option(label="Internal")
    permissions.get_by_label("Model registry").select_option(label="Only project members")
    follow(page, permissions.get_by_role("button", name="Save changes").click, re.compile(r"/-/settings"))  # styled: screenshot
    expect(page.get_by_role("status")).to_have_text("Visibility and feature settings saved.")
    expect(page.get_by_label("Project visibility")).to_have_value("internal")
    expect(page.get_by_label("Model registry")).to_have_value("private")
    project = site.api(f"/projects/{site.project}").json()
    assert project["visibility"] == "internal" and project["model_registry_access_level"] == "private"
    screenshot("project-settings")

    # A member.
    tabs.get_by_role("link", name="Members").click()
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Role", exact=True).select_option(label="Reporter")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_have_text("bob added as Reporter.")
    expect(page.locator('tr[data-username="bob"]').get_by_label("Role of bob")).to_have_value("20")
    members = site.api(f"/projects/{site.project}/members").json()
    assert {m["username"]: m["access_level"] for m in members}["bob"] == 20

    # A deploy token: seen once, copied, working.
    tabs.get_by_role("link", name="Deploy tokens").click()
    form = page.get_by_test_id("deploy-token-form")
    form.get_by_label("Name", exact=True).fill("k8s puller")
    form.get_by_label("read_package_registry").check()
    # Its Copy button is modelshelf.js's: it copies once the script has run on the page the form opens.
    follow(page, form.get_by_role("button", name="Create deploy token").click, site.url(f"{SETTINGS}/deploy_tokens"))
    shown = page.get_by_test_id("new-deploy-token-value")
    expect(shown).to_be_visible()
    secret = shown.input_value()
    username = page.get_by_test_id("new-deploy-token-username").inner_text()
    assert secret.startswith("msdt-") and username.startswith("modelshelf+deploy-token-")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    packages = f"/projects/{site.project}/packages"
    assert site.api(packages, headers={"DEPLOY-TOKEN": secret}).status_code == 200
    assert requests.get(f"{site.server.api}{packages}", auth=(username, secret), timeout=30).status_code == 200
    # The page again: the secret is gone; its Revoke is a data-confirm form (modelshelf.js's dialog).
    follow(page, tabs.get_by_role("link", name="Deploy tokens").click, site.url(f"{SETTINGS}/deploy_tokens"))
    expect(page.get_by_test_id("new-deploy-token")).to_have_count(0)
    assert secret not in page.content()

    # Revoke it: Cancel first, then confirm.
    row = page.locator('tr[data-token-name="k8s puller"]')
    dialog = page.locator("#confirm-dialog")
    row.get_by_role("button", name="Revoke").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Deploy token k8s puller")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("token-state")).to_have_text("Active")
    row.get_by_role("button", name="Revoke").click()
    dialog.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_have_text("Deploy token k8s puller revoked.")
    expect(row.get_by_test_id("token-state")).to_have_text("Revoked")
    assert site.api(packages, headers={"DEPLOY-TOKEN": secret}).status_code == 401

    # The CI token: created, then rotated; the old one no longer registers jobs.
    # Created without a dialog; the page that shows it rotates it through the dialog, once modelshelf.js ran.
    follow(page, tabs.get_by_role("link", name="CI/CD").click, site.url(f"{SETTINGS}/ci_cd"))
    follow(page, page.get_by_test_id("rotate-ci-token").click, CI_TOKEN)
    first = page.get_by_test_id("new-ci-token-value").input_value()
    page.get_by_test_id("rotate-ci-token").click()
    expect(dialog).to_contain_text("stops working at once")
    dialog.get_by_role("button", name="Rotate").click()
    expect(page.get_by_test_id("new-ci-token")).to_contain_text("The previous CI token has stopped working")
    second = page.get_by_test_id("new-ci-token-value").input_value()
    assert first.startswith("msci-") and second.startswith("msci-") and first != second
    job = {"user": "alice", "job_id": "77", "job_name": "train", "job_url": "https://ci.example.com/jobs/77"}
    jobs = f"/projects/{site.project}/jobs"
    assert site.api(jobs, headers={"CI-TOKEN": first}, method="POST", json=job).status_code == 401
    assert site.api(jobs, headers={"CI-TOKEN": second}, method="POST", json=job).status_code == 201
    tabs.get_by_role("link", name="CI/CD").click()
    job_row = page.locator('tr[data-job-id="77"]')
    expect(job_row.get_by_role("link", name="train")).to_have_attribute("href", "https://ci.example.com/jobs/77")
    expect(job_row.get_by_test_id("job-status")).to_have_text("Running")

    # The audit trail of all of it, newest first.
    # all_inner_texts() does not wait: read once the audit page, not the CI/CD tab nor half of it, is there.
    follow(page, tabs.get_by_role("link", name="Audit events").click, site.url(f"{SETTINGS}/audit_events"))
    names = page.get_by_test_id("audit-event-name").all_inner_texts()
    assert names[: names.index("project_visibility_updated") + 1] == [
        "job_registered",
        "ci_token_rotated",
        "ci_token_rotated",
        "deploy_token_revoked",
        "deploy_token_created",
        "member_added",
        "project_feature_access_level_updated",
        "project_visibility_updated",
    ]
    revoked = page.locator('tr[data-event="deploy_token_revoked"]')
    expect(revoked).to_contain_text("alice")
    expect(revoked).to_contain_text("session")
    expect(revoked).to_contain_text("k8s puller")
    assert page_errors == []


def test_a_maintainer_sees_the_visibility_read_only(page, site, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _sign_in(page, site, "carol", SETTINGS)
    visibility = page.get_by_label("Project visibility")
    expect(visibility).to_be_disabled()
    expect(visibility).to_have_value("Private")
    expect(page.get_by_text("Only Owners can change the visibility.")).to_be_visible()
    expect(page.get_by_test_id("delete-form")).to_have_count(0)
    # The features are hers to change.
    page.get_by_label("Package registry").select_option(label="Only project members")
    page.get_by_test_id("permissions-form").get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Visibility and feature settings saved.")
    assert site.api(f"/projects/{site.project}").json()["package_registry_access_level"] == "private"
    # The Owner's row is not hers to change, and the Owner role is not hers to give.
    follow(page, page.get_by_role("navigation", name="Settings").get_by_role("link", name="Members").click,
           site.url(f"{SETTINGS}/members"))  # its scripts ran: errors seen
    expect(page.locator('tr[data-username="alice"]').get_by_test_id("member-role-readonly")).to_have_text("Owner")
    expect(page.get_by_label("Role", exact=True).locator("option")).to_have_text(["Guest", "Reporter", "Developer", "Maintainer"])
    assert page_errors == []
