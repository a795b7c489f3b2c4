"""A promotion request in a real browser (headless Chromium) against ``modelshelf serve``: the
owner sets a protected alias from the model page's Aliases tab, which opens a promotion request she
may not approve herself; a Maintainer signs in, approves it, and the alias moves, with its history
and "what did @prod point at" on the model page. No script error, no CSP violation."""
from __future__ import annotations

import re

import pytest
import requests

from . import test_model_registry as registry
from .conftest import follow, sign_in
from .test_model_registry import PASSWORD, Site

# The model registry's browser fixture of the page's errors (script errors, CSP violations).
page_errors = registry.page_errors

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

#: The Aliases tab answering "what did an alias point at".
LOOKED_UP = re.compile(r"[?&]at=")


@pytest.fixture
def site(serve) -> Site:  # type: ignore[no-untyped-def]
    """The model registry's server with alice (the Owner) and bob (a Maintainer), who have passwords,
    and a private project."""
    server = serve({"PLUGINS": "all"})
    for user in ("alice", "bob"):
        server.cli_in_process("admin", "create-user", user, "--password-stdin", input=PASSWORD + "\n")
    private = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    server.cli_in_process("admin", "add-member", "team/models", "bob", "maintainer")
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
    return Site(server, token, (private, "team/models"), (private, "team/models"))


def _sign_in(page, site: Site, user: str, redirect_to: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, site.server.url, user, PASSWORD, redirect_to)


def test_a_promotion_request_is_approved_in_the_browser_and_the_alias_moves(site, page, browser, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    model = site.api(site.private, "", "POST", json={"name": "fraud"}).json()
    for version in ("1.0.0", "1.1.0"):
        assert site.api(site.private, f"/{model['id']}/versions", "POST", json={"version": version}).status_code == 201
    assert site.api(site.private, f"/{model['id']}/aliases/prod", "PUT", json={"version": "1.0.0"}).status_code == 200
    rules = f"{site.server.api}/projects/{site.private[0]}/ml/protected_aliases"
    made = requests.post(rules, json={"alias_pattern": "prod", "minimum_access_level": "maintainer", "approvals_required": 1},
                         headers={"PRIVATE-TOKEN": site.token}, timeout=30)
    assert made.status_code == 201, made.text

    # Alice (the Owner, and the versions' author) moves @prod from the Aliases tab: it waits for an approval.
    aliases = f"/team/models/-/ml/models/{model['id']}?tab=aliases"
    _sign_in(page, site, "alice", aliases)
    expect(page.locator('tr[data-alias="prod"]').get_by_test_id("alias-protected")).to_be_visible()
    page.get_by_label("Alias", exact=True).fill("prod")
    page.get_by_label("Version", exact=True).select_option(label="1.1.0")
    follow(page, page.get_by_test_id("set-alias").click, re.compile(r"/promotions/\d+$"))  # whole before counting
    request_url = page.url
    expect(page.get_by_test_id("promotion-status")).to_have_text("pending")
    expect(page.get_by_test_id("promotion-refusal")).to_contain_text("the requester may not approve their own request")
    expect(page.get_by_test_id("approve-promotion")).to_have_count(0)

    # Bob, a Maintainer, approves it in his own browser session.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        bob = context.new_page()
        bob.on("pageerror", lambda error: page_errors.append(f"pageerror: {error}"))
        path = request_url.removeprefix(site.server.url)
        _sign_in(bob, site, "bob", path)
        expect(bob.get_by_test_id("promotion-approvals")).to_have_text("0 of 1")
        bob.get_by_label("Comment").fill("evaluation reviewed")
        bob.get_by_test_id("approve-promotion").click()
        expect(bob.get_by_test_id("promotion-status")).to_have_text("approved")
        expect(bob.get_by_test_id("promotion-reviews")).to_contain_text("approved")
        expect(bob.get_by_test_id("promotion-reviews")).to_contain_text("evaluation reviewed")
    finally:
        context.close()

    # Alice sees @prod moved, with its history and the request it came through.
    page.goto(site.url(aliases))
    row = page.locator('tr[data-alias="prod"]')
    expect(row.get_by_test_id("alias-version")).to_have_text("1.1.0")
    expect(row.locator("li[data-action]")).to_have_count(2)
    expect(row.locator("li[data-action]").first).to_contain_text("bob")
    expect(row.get_by_role("link", name=re.compile(r"request \d+"))).to_be_visible()
    assert site.api(site.private, f"/{model['id']}/aliases/prod").json()["version"]["version"] == "1.1.0"

    # What did @prod point at before? Long ago: nothing; now: 1.1.0.
    page.get_by_label("At (UTC)").fill("2020-01-01T00:00:00")
    follow(page, page.get_by_test_id("alias-at").click, LOOKED_UP)
    expect(page.get_by_test_id("alias-at-answer")).to_contain_text("pointed at no version")
    page.get_by_label("At (UTC)").fill("2099-01-01T00:00:00")
    follow(page, page.get_by_test_id("alias-at").click, LOOKED_UP)  # its scripts ran: errors seen
    expect(page.get_by_test_id("alias-at-answer")).to_contain_text("1.1.0")
    assert page_errors == []
