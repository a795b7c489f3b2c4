"""Settings > Webhooks and Settings > Packages and registries in a real browser (headless Chromium)
against ``modelshelf serve`` (its own dispatcher sending): a Maintainer adds a hook pointing at a
receiver on 127.0.0.1, an upload makes an event, the page shows the delivery with its status and
latency, **Redeliver** sends it again with the same delivery id (both signed with the secret, which the
page never shows); and she adds a package protection rule, sees an upload refused by it naming the
rule (from requests, and in a version page's upload list), deletes it through the confirm dialog, and follows the link to the protected alias rules. No script error and no CSP violation on the way."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.browser.conftest import follow
from tests.browser.test_settings import PASSWORD, Site, _sign_in
from tests.support.receivers import Receiver, verifies

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

SETTINGS = "/team/models/-/settings"
HOOK_SECRET = "hook-s3cret-9c1d"


@pytest.fixture
def site(serve) -> Site:  # type: ignore[no-untyped-def]
    """``modelshelf serve`` whose hooks may call 127.0.0.1; alice owns ``team/models``, carol maintains it."""
    server = serve({"PLUGINS": "all", "WEBHOOK_ALLOW_PRIVATE_TARGETS": True, "WEBHOOK_POLL_INTERVAL": 0.2})
    for name in ("alice", "carol"):
        server.cli_in_process("admin", "create-user", name, "--password-stdin", input=PASSWORD + "\n")
    project = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    server.cli_in_process("admin", "add-member", "team/models", "carol", "maintainer")
    return Site(server, server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api"), project)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


#: Chromium's console line for an answer >= 400 (the refused upload's 403, which the page shows).
HTTP_STATUS_LOG = "Failed to load resource: the server responded with a status of"


@pytest.fixture
def page_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Script errors and console errors (a CSP violation is one) the page saw, other than a refused
    request's status line."""
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: seen.append(f"console: {message.text}")
        if message.type == "error" and not message.text.startswith(HTTP_STATUS_LOG) else None,
    )
    return seen


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _upload(site: Site, name: str, token: str | None = None) -> requests.Response:
    return site.api(
        f"/projects/{site.project}/packages/generic/{name}/1.0.0/model.bin",
        headers={"PRIVATE-TOKEN": token or site.token}, method="PUT", data=b"weights",
    )


def test_a_maintainer_adds_a_hook_sees_the_delivery_and_redelivers_it(page, site, receiver, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _sign_in(page, site, "carol", f"{SETTINGS}/webhooks")
    form = page.get_by_test_id("webhook-form")
    form.get_by_label("Name").fill("deployer")
    form.get_by_label("URL").fill(receiver.url)
    form.get_by_label("Secret").fill(HOOK_SECRET)
    form.get_by_label("package.created").check()
    form.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_role("status")).to_have_text("Webhook deployer added.")
    expect(page.get_by_text("No deliveries yet.")).to_be_visible()

    assert _upload(site, "fraud-detector").status_code == 201
    _until(lambda: len(receiver.received) == 1, "the delivery")
    (first,) = receiver.received
    delivery_id = first.headers["X-MLflow-Delivery-Id"]
    assert verifies(first, HOOK_SECRET) and first.json["entity"] == "package"

    row = page.locator(f'tr[data-delivery-id="{delivery_id}"]')

    def shown(state: str, attempts: int) -> bool:
        page.reload()  # the dispatcher logs the attempt just after the answer
        return row.count() == 1 and row.get_by_test_id("delivery-state").inner_text() == state and row.locator("ol.attempts li").count() == attempts

    _until(lambda: shown("Delivered", 1), "the delivered row")
    expect(row).to_contain_text("package.created")
    attempt = row.locator("ol.attempts li").first
    expect(attempt.locator("strong")).to_have_text("200")
    expect(attempt).to_contain_text(" ms")  # the latency

    row.get_by_test_id("redeliver").click()
    expect(page.get_by_role("status")).to_have_text(f"Delivery {delivery_id} will be sent again.")
    _until(lambda: len(receiver.received) == 2, "the second attempt")
    second = receiver.received[1]
    assert second.headers["X-MLflow-Delivery-Id"] == delivery_id and second.body == first.body
    assert verifies(second, HOOK_SECRET)
    _until(lambda: shown("Delivered", 2), "the row with both attempts")
    expect(row.locator("ol.attempts li strong")).to_have_text(["200", "200"])
    assert HOOK_SECRET not in page.content()
    assert page_errors == []


def test_a_maintainer_protects_packages_and_an_upload_is_refused_naming_the_rule(page, site, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    carol = site.server.cli("admin", "create-token", "--user", "carol", "--scopes", "api")
    _sign_in(page, site, "carol", f"{SETTINGS}/packages_and_registries")
    expect(page.get_by_test_id("settings-title")).to_have_text("Packages and registries")
    expect(page.get_by_text("No packages are protected.")).to_be_visible()
    form = page.get_by_test_id("protection-rule-form")
    form.get_by_label("Name pattern").fill("release-*")
    expect(form.get_by_label("Package type")).to_have_value("generic")
    form.get_by_label("Minimum access level for push").select_option(label="Owner")
    form.get_by_label("Minimum access level for delete").select_option(label="Owner")
    form.get_by_role("button", name="Protect").click()
    expect(page.get_by_role("status")).to_have_text("Package protection rule for release-* created.")
    row = page.locator('tr[data-rule-pattern="release-*"]')
    expect(row.locator("td").nth(2)).to_have_text("Owner")
    rule_id = row.get_attribute("data-rule-id")
    (rule,) = site.api(f"/projects/{site.project}/packages/protection/rules").json()
    assert str(rule["id"]) == rule_id and rule["minimum_access_level_for_push"] == "owner"

    refused = _upload(site, "release-app", carol)
    assert refused.status_code == 403
    message = refused.json()["message"]
    assert f"rule {rule_id}" in message and "'release-*'" in message and "owner access level" in message
    assert _upload(site, "nightly-app", carol).status_code == 201  # a name the rule does not match
    assert _upload(site, "release-app", site.token).status_code == 201  # the Owner

    # In the model registry's pages: a file carol drops on a protected model's version is a red row
    # that names the rule.
    models = f"/projects/{site.project}/ml/models"
    assert site.api(models, method="POST", json={"name": "release-model"}).status_code == 201
    assert _upload(site, "release-model", site.token).status_code == 201  # its version 1.0.0, by the Owner
    model = site.api(f"{models}/release-model").json()
    page.goto(site.url(f"/team/models/-/ml/models/{model['id']}/versions/{model['latest_version']['id']}?tab=artifacts"))
    page.get_by_test_id("artifact-file-input").set_input_files(
        [{"name": "extra.bin", "mimeType": "application/octet-stream", "buffer": b"more"}]
    )
    item = page.get_by_test_id("upload-item")
    expect(item).to_have_attribute("data-state", "failed")
    expect(item).to_contain_text(f"rule {rule_id}")
    expect(item).to_contain_text("release-*")
    page.goto(site.url(f"{SETTINGS}/packages_and_registries"))

    dialog = page.locator("#confirm-dialog")
    row.get_by_test_id("delete-protection-rule").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("release-*")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text(
        "Package protection rule for release-* deleted: matching packages are no longer protected."
    )
    expect(page.get_by_text("No packages are protected.")).to_be_visible()
    assert site.api(f"/projects/{site.project}/packages/protection/rules").json() == []
    refused_before = site.api(f"/projects/{site.project}/packages?package_name=release-app").json()
    assert [p["version"] for p in refused_before] == ["1.0.0"]
    assert site.api(
        f"/projects/{site.project}/packages/generic/release-app/1.1.0/model.bin",
        headers={"PRIVATE-TOKEN": carol}, method="PUT", data=b"weights",
    ).status_code == 201

    # The model registry's protected aliases are one click away.
    manage = page.get_by_role("link", name="Manage protected aliases")
    follow(page, manage.click, site.url("/team/models/-/ml/protected_aliases"))
    expect(page.get_by_role("heading", name="Protected aliases", exact=True)).to_be_visible()
    assert page_errors == []
