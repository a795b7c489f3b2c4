"""A newcomer's first hour in a real browser (headless Chromium) against ``modelshelf serve``: a user
the quick start made without a password gets one from ``modelshelf admin set-password``, signs in
and changes it on **User settings > Password**; and creates a project from the projects page. No
script error and no Content-Security-Policy violation on the way."""
from __future__ import annotations

import pytest

from tests.browser.conftest import follow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

FIRST, SECOND = "given-by-the-admin", "chosen-by-alice"


@pytest.fixture
def server(serve):  # type: ignore[no-untyped-def]
    """``modelshelf serve`` with the model registry; alice made as the quick start makes her (no
    password), then given one by the operator."""
    started = serve({"PLUGINS": "all"})
    started.cli_in_process("admin", "create-user", "alice", "--admin")
    started.cli_in_process("admin", "set-password", "alice", input=FIRST + "\n")
    return started


@pytest.fixture
def page_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Script and console errors (a CSP violation is one) the page saw; not the status of a form
    the server refused (a wrong password is a 400 or 401 page on purpose)."""
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))

    def console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            seen.append(f"console: {message.text}")

    page.on("console", console)
    return seen


def test_a_user_changes_their_password_on_the_password_page(page, server, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    sign_in(page, server.url, "alice", FIRST)
    page.get_by_role("link", name="User settings").click()
    page.get_by_role("navigation", name="User settings").get_by_role("link", name="Password").click()
    expect(page).to_have_url(server.url + "/-/user_settings/password/edit")
    form = page.get_by_test_id("password-form")

    # A wrong current password is said beside its field, and nothing changes.
    form.get_by_label("Current password").fill("not my password")
    form.get_by_label("New password").fill(SECOND)
    form.get_by_label("Password confirmation").fill(SECOND)
    form.get_by_role("button", name="Save password").click()
    expect(page.get_by_test_id("current_password-error")).to_have_text("Current password is incorrect")
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")

    form.get_by_label("Current password").fill(FIRST)
    form.get_by_label("New password").fill(SECOND)
    form.get_by_label("Password confirmation").fill(SECOND)
    form.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed.")
    expect(page.get_by_test_id("current-user")).to_contain_text("@alice")  # still signed in

    page.get_by_role("button", name="Sign out", exact=True).click()
    # Signed out before the next address is opened: a goto at once could cancel the sign-out's POST.
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    page.goto(server.url + "/users/sign_in")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(FIRST)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
    sign_in(page, server.url, "alice", SECOND)

    page.goto(server.url + "/-/user_settings/password/edit")
    follow(page, page.get_by_test_id("sign-out-everywhere").click, server.url + "/")
    expect(page.get_by_role("status")).to_contain_text("Signed out everywhere")
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    assert page_errors == []



def test_a_user_creates_a_project_from_the_projects_page(page, server, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    sign_in(page, server.url, "alice", FIRST)
    expect(page.get_by_role("heading", name="No projects to show")).to_be_visible()
    page.get_by_role("link", name="New project").click()
    expect(page).to_have_url(server.url + "/projects/new")
    form = page.get_by_test_id("new-project-form")

    form.get_by_label("Project path").fill("fraud detection")
    form.get_by_role("button", name="Create project").click()
    expect(page.get_by_test_id("project-path-error")).to_have_text("Path is invalid")
    expect(form.get_by_label("Project path")).to_have_value("fraud detection")  # kept, to correct
    expect(page.locator("#project-path-help")).to_contain_text("Letters, digits")

    form.get_by_label("Project path").fill("fraud")
    form.get_by_label("Internal").check()
    form.get_by_label("Description").fill("Fraud models")
    form.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(server.url + "/alice/fraud/-/packages")
    expect(page.get_by_role("status")).to_have_text("Project alice/fraud created.")
    expect(page.get_by_role("complementary", name="Project navigation")).to_contain_text("fraud")

    follow(page, page.get_by_role("link", name="Modelshelf").click, server.url + "/")  # its scripts ran: errors seen
    row = page.get_by_test_id("project-list").get_by_role("row", name="alice / fraud")
    expect(row).to_contain_text("Internal")
    expect(row).to_contain_text("Fraud models")
    assert page_errors == []
