"""Artifact uploads are checked in the browser before anything is sent (headless Chromium against
``modelshelf serve``): the script's path rules agree with the server's (``names.file_path``) path by
path; a bad subfolder (``../etc``) or file name is refused with a message that lists the allowed
characters and no request leaves the page; the New version form creates no version while a file in
its list would be refused; and a file the server refuses is a red row, not a full blue bar."""
from __future__ import annotations

import random
import re

import pytest
import requests

from package_api import names
from package_api.errors import InvalidParameter

from . import test_model_registry as registry
from .conftest import follow
from .test_model_registry import ARTIFACTS_TAB, WEIGHTS, Site, _sha, _sign_in

# The model registry's browser fixtures: its server with alice and two projects, and the page's errors.
site, page_errors = registry.site, registry.page_errors

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

#: A refused row's background: ``--danger-bg`` of modelshelf.css.
RED_ROW = "rgb(252, 241, 239)"
ALLOWED_IN_NAMES = "letters, digits, spaces, “.”, “_”, “-”, “+” and “~” (“~” not first or last)"
#: Paths at the edges of ``names.file_path``'s rules.
EDGES = [
    "model.onnx", "my model.onnx", " leading space", "trailing space ", "a/b/c.bin", "weights/v2/model.bin",
    "../etc/passwd", "a/../b", "./a", "a/.", "a//b", "/a", "a/", "", ".", "..", "~a", "a~", "a~b", "~", "a/~b/c",
    "a b/c", "a\\b", "a\x00b", "é.bin", "model (1).onnx", "a+b-c_d.e", "%20", "a%2Fb", "a\tb", "a\nb", "x/ y",
    "x /y", "😀", "a" * 1024, "a" * 1025, "d/" * 31 + "f", "d/" * 32 + "f", "a" * 1022 + "/b", "a" * 1023 + "/b",
    "folder.with.dots/file", ".hidden", "..dots", "dots..", "con/nul", "-dash", "+plus", "_under",
]


def accepted_by_the_server(path: str) -> bool:
    try:
        names.file_path(path, spaces_in_name=True)  # the rule of the model registry's file endpoints
    except InvalidParameter:
        return False
    return True


def random_paths(count: int) -> list[str]:
    """Paths from an alphabet that mixes what is allowed with what is not, seeded (repeatable)."""
    pick = random.Random(20240611)
    alphabet = "aZ09._+~- /\\%é\t"
    return ["".join(pick.choice(alphabet) for _ in range(pick.randint(1, 12))) for _ in range(count)]


def _version_page(page, site: Site) -> str:  # type: ignore[no-untyped-def]
    site.upload(site.private, "fraud-detector", "1.4.0", "model.onnx", WEIGHTS)
    model = site.api(site.private, "/fraud-detector").json()
    url = f"/team/models/-/ml/models/{model['id']}/versions/{model['latest_version']['id']}?tab=artifacts"
    _sign_in(page, site, url)
    return url


def _uploads_sent(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The URLs of the file uploads the page sends from now on."""
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "PUT" else None)
    return sent


def test_the_browsers_path_rules_are_the_servers(site, page, page_errors):  # type: ignore[no-untyped-def]
    _version_page(page, site)
    paths = EDGES + random_paths(600)

    verdicts = page.evaluate("paths => paths.map(path => window.ArtifactPaths.problem(path) === '')", paths)

    disagree = [(path, seen) for path, seen in zip(paths, verdicts, strict=True) if seen != accepted_by_the_server(path)]
    assert not disagree, f"artifact_paths.js and names.file_path disagree on (path, browser accepts): {disagree}"
    assert page_errors == []


def test_a_bad_subfolder_or_file_name_is_refused_before_anything_is_sent(site, page, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _version_page(page, site)
    sent = _uploads_sent(page)
    subfolder, error = page.get_by_label("Subfolder"), page.locator("#artifact-subfolder-error")

    subfolder.fill("../etc")
    expect(error).to_have_text(
        "Subfolder cannot contain “.” or “..” folders nor “//”: name a folder inside the version, such as config or weights/v2"
    )
    expect(subfolder).to_have_attribute("aria-invalid", "true")
    page.get_by_test_id("artifact-file-input").set_input_files([{"name": "passwd", "mimeType": "text/plain", "buffer": b"x"}])
    expect(page.get_by_test_id("upload-item")).to_have_count(0)
    subfolder.fill("conf!g")
    expect(error).to_contain_text("Subfolder can contain only letters, digits, “.”, “_”, “-”, “+” and “~”")

    subfolder.fill("docs")
    expect(error).to_be_hidden()
    page.get_by_test_id("artifact-file-input").set_input_files(
        [
            {"name": "model (1).onnx", "mimeType": "application/octet-stream", "buffer": b"copy"},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"notes"},
        ]
    )
    items = page.get_by_test_id("upload-item")
    expect(items.nth(1)).to_have_attribute("data-state", "done")
    refused = items.nth(0)
    expect(refused).to_have_attribute("data-state", "rejected")
    expect(refused).to_contain_text(f"File name model (1).onnx can contain only {ALLOWED_IN_NAMES}")
    expect(refused).to_have_css("background-color", RED_ROW)
    expect(refused.locator("progress")).to_be_hidden()  # nothing was sent: no bar
    expect(page.get_by_test_id("upload-result")).to_have_text("Uploaded 1 of 2 artifacts. Failed: model (1).onnx.")
    assert [url.rpartition("/files/")[2] for url in sent] == ["docs/notes.txt"]
    assert set(site.files(site.private, "fraud-detector", "1.4.0")) == {"model.onnx", "docs/notes.txt"}
    assert page_errors == []


def test_a_file_the_server_refuses_is_a_red_row(site, page, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _version_page(page, site)
    settings = site.server.api + f"/projects/{site.private[0]}"
    assert requests.put(settings, json={"generic_duplicates_allowed": False}, headers=site._headers(), timeout=30).ok

    page.get_by_test_id("artifact-file-input").set_input_files(
        [{"name": "model.onnx", "mimeType": "application/octet-stream", "buffer": b"again"}]
    )
    item = page.get_by_test_id("upload-item")
    expect(item).to_have_attribute("data-state", "failed")
    expect(item).to_contain_text("Duplicate package is not allowed")
    expect(item).to_have_css("background-color", RED_ROW)
    expect(item.locator("progress")).to_have_css("accent-color", "rgb(221, 43, 14)")  # --danger, not blue
    assert page_errors == []


def test_the_new_version_form_creates_no_version_while_a_file_would_be_refused(site, page, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    site.upload(site.private, "fraud-detector", "1.4.0", "model.onnx", WEIGHTS)
    model_id = site.api(site.private, "/fraud-detector").json()["id"]
    _sign_in(page, site, f"/team/models/-/ml/models/{model_id}/versions/new")
    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.url) if request.method in ("POST", "PUT") else None)

    page.get_by_label("Version", exact=True).fill("1.5.0")
    page.get_by_label("Subfolder").fill("weights")
    page.get_by_test_id("artifact-file-input").set_input_files(
        [
            {"name": "model?.onnx", "mimeType": "application/octet-stream", "buffer": b"bad"},
            {"name": "model.onnx", "mimeType": "application/octet-stream", "buffer": WEIGHTS},
        ]
    )
    items = page.get_by_test_id("upload-item")
    expect(items.nth(0)).to_have_attribute("data-state", "rejected")
    expect(items.nth(0)).to_contain_text(f"File name model?.onnx can contain only {ALLOWED_IN_NAMES}")

    create = page.get_by_role("button", name="Create & import")
    create.click()
    expect(page.get_by_test_id("version-form-alert")).to_have_text(
        "Fix or remove the artifacts marked in red first: nothing was created."
    )
    # A subfolder changed after the files were added is checked again too.
    items.nth(0).get_by_role("button", name="Remove model?.onnx").click()
    expect(items).to_have_count(1)
    page.get_by_label("Subfolder").fill("weights/../..")
    create.click()
    expect(page.locator("#artifact-subfolder-error")).to_contain_text("Subfolder cannot contain “.” or “..” folders")
    assert posted == [] and [v["version"] for v in site.api(site.private, "/fraud-detector/versions").json()] == ["1.4.0"]

    page.get_by_label("Subfolder").fill("weights")
    follow(page, create.click, ARTIFACTS_TAB)  # the version page's scripts ran: their errors are seen
    expect(page.get_by_test_id("version-title")).to_have_text("fraud-detector / 1.5.0")
    assert site.files(site.private, "fraud-detector", "1.5.0") == {"weights/model.onnx": _sha(WEIGHTS)}
    assert page_errors == []


def test_no_file_can_be_chosen_before_the_upload_script_runs_so_none_is_lost(site, page, page_errors):  # type: ignore[no-untyped-def]
    """Until artifact_uploads.js has run, the New version form offers no upload zone (the page renders
    it hidden): a file chosen before then was in no queue, and Create & import posted the form without
    it, making the version with none of its files and saying nothing. The script is held back here as
    a slow link would; the form still creates versions meanwhile, and once the script runs the zone
    is there and uploads."""
    from playwright.sync_api import Route, expect

    site.upload(site.private, "fraud-detector", "1.4.0", "model.onnx", WEIGHTS)
    model_id = site.api(site.private, "/fraud-detector").json()["id"]
    form_url = site.server.url + f"/team/models/-/ml/models/{model_id}/versions/new"
    _sign_in(page, site, f"/team/models/-/ml/models/{model_id}")
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)  # neither answered nor refused: the script is on its way

    script = re.compile(r"/artifact_uploads\.js(\?.*)?$")
    page.route(script, hold)

    page.goto(form_url, wait_until="commit")
    create = page.get_by_role("button", name="Create & import")
    create.wait_for()
    expect(page.get_by_test_id("dropzone")).to_be_hidden()
    expect(page.get_by_role("group", name="Upload artifacts (optional)")).to_be_hidden()
    assert page.get_by_test_id("artifact-file-input").count() == 1  # in the page, not offered
    assert held and page.evaluate("!document.querySelector('[data-upload-zone]').uploader")  # not run yet
    page.get_by_label("Version", exact=True).fill("1.4.1")
    page.unroute(script)  # the next pages get it at once; the held request goes with this page
    follow(page, create.click, re.compile(r"/versions/\d+$"))  # a plain POST: the version, no files
    assert site.files(site.private, "fraud-detector", "1.4.1") == {}

    page.goto(form_url)
    expect(page.get_by_test_id("dropzone")).to_be_visible()
    page.get_by_label("Version", exact=True).fill("1.5.0")
    page.get_by_test_id("artifact-file-input").set_input_files(
        [{"name": "model.onnx", "mimeType": "application/octet-stream", "buffer": WEIGHTS}]
    )
    follow(page, page.get_by_role("button", name="Create & import").click, ARTIFACTS_TAB)
    expect(page.get_by_test_id("version-title")).to_have_text("fraud-detector / 1.5.0")
    assert site.files(site.private, "fraud-detector", "1.5.0") == {"model.onnx": _sha(WEIGHTS)}
    assert page_errors == []
