"""What the pages look like with real data, in a real browser (headless Chromium) against
``modelshelf serve``: a 300-character file name wraps in every table instead of widening the page,
disabled buttons look disabled, folder rows of the artifact list collapse, and a file name that a
version holds twice says which copy a download by name serves."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
import requests

from tests.browser.conftest import VIEWPORT, sign_in
from tests.support.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PASSWORD = "s3cret-passw0rd"
LONG_NAME = "weights-" + "x" * 288 + ".onnx"  # 300 characters, no place to break
LONG_MODEL = "m" * 200  # a long model name (255 characters would be too long for its version run name, 250)
FIRST, SECOND = b"first copy", b"second copy, uploaded later"


@dataclass
class Site:
    server: Server
    token: str
    project: int

    def put(self, name: str, version: str, path: str, data: bytes) -> None:
        url = f"{self.server.api}/projects/{self.project}/packages/generic/{name}/{version}/{path}"
        r = requests.put(url, data=data, headers={"PRIVATE-TOKEN": self.token}, timeout=30)
        assert r.status_code == 201, r.text

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.server.api}/projects/{self.project}{path}", headers={"PRIVATE-TOKEN": self.token}, timeout=30)

    def make_model(self, name: str) -> None:
        """Make model ``name``, whose SemVer packages are then its versions."""
        r = requests.post(f"{self.server.api}/projects/{self.project}/ml/models", json={"name": name},
                          headers={"PRIVATE-TOKEN": self.token}, timeout=30)
        assert r.status_code == 201, r.text


@pytest.fixture
def site(serve) -> Site:  # type: ignore[no-untyped-def]
    """alice owns ``team/models``, which holds a plain package and a model version, each with a
    300-character file name; the version holds ``model.onnx`` twice and a ``config/`` folder."""
    server = serve({"PLUGINS": "all"})
    server.cli_in_process("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    project = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
    found = Site(server, token, project)
    found.put("tool", "nightly", LONG_NAME, b"long")
    found.make_model("fraud-detector")
    found.put("fraud-detector", "1.4.0", LONG_NAME, b"long")
    found.put("fraud-detector", "1.4.0", "model.onnx", FIRST)
    found.put("fraud-detector", "1.4.0", "model.onnx", SECOND)
    found.put("fraud-detector", "1.4.0", "config/settings.json", b"{}")
    found.put("fraud-detector", "1.4.0", "config/labels.txt", b"legit")
    return found


@pytest.fixture
def signed_in(page, site: Site):  # type: ignore[no-untyped-def]
    sign_in(page, site.server.url, "alice", PASSWORD)
    return page


def _version_page(site: Site) -> str:
    model = site.get("/ml/models/fraud-detector").json()
    return f"/team/models/-/ml/models/{model['id']}/versions/{model['latest_version']['id']}?tab=artifacts"


def test_a_300_character_file_name_wraps_in_every_table(site, signed_in):  # type: ignore[no-untyped-def]
    page = signed_in
    site.make_model(LONG_MODEL)
    site.put(LONG_MODEL, "1.0.0", "model.onnx", b"w")
    packages = {p["name"]: p["id"] for p in site.get("/packages?per_page=100").json()}
    long_model = site.get(f"/ml/models/{LONG_MODEL}").json()
    pages = {
        "audit events": ("/team/models/-/settings/audit_events", LONG_NAME),
        "package page": (f"/team/models/-/packages/{packages['tool']}", LONG_NAME),
        "model version package page": (f"/team/models/-/packages/{packages['fraud-detector']}", LONG_NAME),
        "version artifacts": (_version_page(site), LONG_NAME),
        "package registry": ("/team/models/-/packages", LONG_MODEL),
        "models": ("/team/models/-/ml/models", LONG_MODEL),
        "model versions": (f"/team/models/-/ml/models/{long_model['id']}?tab=versions", LONG_MODEL),
    }
    widths = {}
    for name, (path, text) in pages.items():
        page.goto(site.server.url + path)
        assert text in page.content(), name  # the long name is on the page ...
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
    # ... and it wraps: no page is wider than the window (it was 3,724 px for the audit events).
    assert widths == {name: VIEWPORT["width"] for name in pages}


def test_disabled_buttons_look_disabled(site, signed_in):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = signed_in
    page.goto(site.server.url + _version_page(site))
    delete = page.get_by_test_id("delete-artifacts")
    expect(delete).to_be_disabled()
    expect(delete).to_have_css("cursor", "not-allowed")  # retried until the stylesheet applies; then read once
    looks = "button => [getComputedStyle(button).color, getComputedStyle(button).opacity]"
    disabled = delete.evaluate(looks)

    page.get_by_label("Select model.onnx").first.check()
    expect(delete).to_be_enabled()
    expect(delete).to_have_css("cursor", "pointer")
    assert delete.evaluate(looks) != disabled  # greyed out, not the same red button


def test_folder_rows_collapse_and_expand(site, signed_in):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = signed_in
    page.goto(site.server.url + _version_page(site))
    folder = page.get_by_role("button", name="config/")
    settings = page.locator("tr[data-file-name='config/settings.json']")
    expect(folder).to_have_attribute("aria-expanded", "true")
    expect(settings).to_be_visible()

    folder.click()
    expect(folder).to_have_attribute("aria-expanded", "false")
    expect(settings).to_be_hidden()
    expect(page.locator("tr[data-file-name='config/labels.txt']")).to_be_hidden()
    expect(page.locator("tr[data-file-name='model.onnx']").first).to_be_visible()  # other folders stay

    folder.click()
    expect(folder).to_have_attribute("aria-expanded", "true")
    expect(settings).to_be_visible()


def test_a_duplicate_file_name_says_which_copy_a_download_by_name_serves(site, signed_in):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = signed_in
    page.goto(site.server.url + _version_page(site))
    copies = page.locator("tr[data-file-name='model.onnx']")
    expect(copies).to_have_count(2)
    newest = copies.filter(has=page.get_by_test_id("served-by-name"))
    older = copies.filter(has=page.get_by_test_id("older-copy"))
    expect(newest).to_have_count(1)
    expect(older).to_have_count(1)
    expect(newest.get_by_test_id("artifact-sha256")).to_have_text(hashlib.sha256(SECOND).hexdigest())
    expect(older.get_by_test_id("artifact-sha256")).to_have_text(hashlib.sha256(FIRST).hexdigest())
    expect(page.locator("tr[data-file-name='config/labels.txt'] [data-testid='served-by-name']")).to_have_count(0)

    # What the badge says is what the server does: the name serves the newest copy.
    by_name = site.get("/packages/generic/fraud-detector/1.4.0/model.onnx")
    assert by_name.content == SECOND

    # The package page says the same.
    package = {p["name"]: p["id"] for p in site.get("/packages").json()}["fraud-detector"]
    page.goto(site.server.url + f"/team/models/-/packages/{package}")
    rows = page.locator("tr[data-file-name='model.onnx']")
    expect(rows.filter(has=page.get_by_test_id("served-by-name")).get_by_test_id("file-sha256")).to_have_text(
        hashlib.sha256(SECOND).hexdigest()
    )
    expect(rows.filter(has=page.get_by_test_id("older-copy"))).to_have_count(1)
