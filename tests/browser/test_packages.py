"""The package registry pages in a real browser (headless Chromium) against ``modelshelf serve``:
sign in through the form, see what an API upload made, delete a file through the confirm dialog,
call the API from the page with the session, and browse a public project signed out."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pytest
import requests

from tests.browser.conftest import follow, sign_in
from tests.support.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PASSWORD = "s3cret-passw0rd"
MODEL = b"onnx weights " * 1000
README = b"# fraud-detector\n"
PACKAGE_PAGE = re.compile(r"/-/packages/\d+$")


@dataclass
class Site:
    server: Server
    username: str
    token: str
    private: tuple[int, str]  # id, full path
    public: tuple[int, str]

    def url(self, path: str) -> str:
        return self.server.url + path

    def upload(self, project: tuple[int, str], name: str, version: str, path: str, data: bytes) -> None:
        url = f"{self.server.api}/projects/{project[0]}/packages/generic/{name}/{version}/{path}"
        r = requests.put(url, data=data, headers={"PRIVATE-TOKEN": self.token}, timeout=30)
        assert r.status_code == 201, r.text

    def files(self, project: tuple[int, str], name: str) -> list[str]:
        headers, root = {"PRIVATE-TOKEN": self.token}, f"{self.server.api}/projects/{project[0]}/packages"
        packages = requests.get(root, params={"package_name": name}, headers=headers, timeout=30).json()
        listed = requests.get(f"{root}/{packages[0]['id']}/package_files", headers=headers, timeout=30).json()
        return sorted(f["file_name"] for f in listed)


@pytest.fixture
def site(serve) -> Site:  # type: ignore[no-untyped-def]
    """``modelshelf serve`` without plugins, an owner with a password and a token, and a private
    and a public project, all made with the CLI as an operator would."""
    server = serve({"PLUGINS": "none"})
    server.cli_in_process("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    private = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    public = int(server.cli_in_process("admin", "create-project", "team/public", "--owner", "alice", "--visibility", "public"))
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
    return Site(server, "alice", token, (private, "team/models"), (public, "team/public"))


def _sign_in(page, site: Site, redirect_to: str, screenshot=None) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, site.server.url, site.username, PASSWORD, redirect_to, screenshot)


def test_sign_in_see_an_upload_and_delete_a_file(page, site, screenshot):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    site.upload(site.private, "fraud-detector", "1.4.0", "weights/model.onnx", MODEL)
    site.upload(site.private, "fraud-detector", "1.4.0", "README.md", README)
    site.upload(site.private, "fraud-detector", "1.3.0", "weights/model.onnx", b"older")
    site.upload(site.private, "tokenizer", "latest", "vocab.txt", b"a b c")

    listing = "/team/models/-/packages"
    _sign_in(page, site, listing, screenshot)
    table = page.get_by_test_id("package-list")
    expect(table.get_by_role("row")).to_have_count(4)  # the header and three packages
    expect(page.get_by_test_id("package-count")).to_have_text("3 packages")
    expect(table.get_by_role("row").filter(has_text="1.4.0")).to_contain_text("fraud-detector")
    expect(page.get_by_role("link", name="Package registry")).to_have_attribute("aria-current", "page")
    screenshot("package-list")

    page.get_by_label("Filter by name").fill("token")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("package-count")).to_have_text("1 package")
    page.get_by_role("link", name="Clear").click()

    # Its Delete buttons are data-confirm forms; the page is followed so that what is read next is its own.
    follow(page, table.get_by_role("row").filter(has_text="1.4.0").get_by_role("link", name="fraud-detector").click,
           PACKAGE_PAGE)
    expect(page.get_by_test_id("package-title")).to_have_text("fraud-detector")
    files = page.get_by_test_id("package-files")
    expect(files.get_by_test_id("file-sha256")).to_have_text(
        [hashlib.sha256(MODEL).hexdigest(), hashlib.sha256(README).hexdigest()]
    )
    expect(files).to_contain_text("weights/model.onnx")
    expect(files).to_contain_text("12.7 KiB")
    screenshot("package-page")

    with page.expect_download() as download:
        files.get_by_role("row").filter(has_text="weights/model.onnx").get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "model.onnx"
    with open(download.value.path(), "rb") as saved:
        assert hashlib.sha256(saved.read()).hexdigest() == hashlib.sha256(MODEL).hexdigest()

    readme_row = files.get_by_role("row").filter(has_text="README.md")
    dialog = page.locator("#confirm-dialog")
    # Cancel first: nothing is deleted.
    readme_row.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("File README.md will be deleted.")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert site.files(site.private, "fraud-detector") == ["README.md", "weights/model.onnx"]

    readme_row.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("File README.md deleted.")
    expect(files.get_by_role("row")).to_have_count(2)
    expect(files).not_to_contain_text("README.md")
    assert site.files(site.private, "fraud-detector") == ["weights/model.onnx"]


def test_a_delete_clicked_the_moment_it_shows_still_asks_first(late_scripts_page, site):  # type: ignore[no-untyped-def]
    """The pages' scripts come 1.5 s late and the Delete button is clicked as soon as it is there, as
    a quick user on a slow link would: the confirm dialog still opens and nothing is deleted unasked.
    modelshelf.js, which makes data-confirm forms ask, is loaded in the head without ``defer``, so no
    form exists before it runs (deferred, the form submitted unconfirmed and the file was deleted)."""
    from playwright.sync_api import expect

    page = late_scripts_page
    site.upload(site.private, "fraud-detector", "1.4.0", "README.md", README)
    site.upload(site.private, "fraud-detector", "1.4.0", "weights/model.onnx", MODEL)
    sign_in(page, site.server.url, site.username, PASSWORD, "/team/models/-/packages")
    page.get_by_test_id("package-list").get_by_role("link", name="fraud-detector").click()  # no wait: act at once
    page.get_by_test_id("package-files").get_by_role("row").filter(has_text="README.md").get_by_role("button", name="Delete").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert site.files(site.private, "fraud-detector") == ["README.md", "weights/model.onnx"]


def test_the_page_calls_the_api_with_its_session(page, site):  # type: ignore[no-untyped-def]
    _sign_in(page, site, "/team/models/-/packages")
    api = f"/api/v4/projects/{site.private[0]}/packages/generic/from-browser/1.0.0/notes.txt"
    assert page.evaluate("fetch('/api/v4/user').then(r => r.json()).then(u => u.username)") == "alice"
    # A plain fetch sends the cookie but not the token: refused, as a cross-site form would be.
    assert page.evaluate(f"fetch('{api}', {{method: 'PUT', body: 'x'}}).then(r => r.status)") == 403
    assert page.evaluate(f"Modelshelf.fetch('{api}', {{method: 'PUT', body: 'x'}}).then(r => r.status)") == 201
    page.reload()
    from playwright.sync_api import expect

    expect(page.get_by_test_id("package-list")).to_contain_text("from-browser")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    page.goto(site.url("/team/models/-/packages"))
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def test_browse_a_public_project_signed_out(page, site):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    site.upload(site.public, "demo-model", "0.1.0", "model.pkl", b"pickle")
    site.upload(site.private, "secret-model", "1.0.0", "model.pkl", b"secret")

    page.goto(site.url("/"))
    projects = page.get_by_test_id("project-list")
    expect(projects).to_contain_text("public")
    expect(projects).not_to_contain_text("models")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    projects.get_by_role("link", name=re.compile("public")).click()
    expect(page).to_have_url(site.url("/team/public/-/packages"))
    follow(page, page.get_by_role("link", name="demo-model").click, PACKAGE_PAGE)  # whole, before counting what it lacks
    expect(page.get_by_test_id("file-sha256")).to_have_text(hashlib.sha256(b"pickle").hexdigest())
    expect(page.get_by_test_id("delete-file")).to_have_count(0)
    expect(page.get_by_test_id("delete-package")).to_have_count(0)

    page.goto(site.url("/team/models/-/packages"))
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("secret-model")
