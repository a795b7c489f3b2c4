"""The model registry pages in a real browser (headless Chromium) against ``modelshelf serve`` with
the plugin: sign in, create a model and a version with a file, drag and drop artifacts into a
subfolder, delete one through the confirm dialog, delete the version and the model, the browser-side
checks (semantic version, subfolder, file size), and a public project browsed signed out."""
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
MAX_FILE_SIZE = 2 * 1024 * 1024  # small, so that the browser's size check is cheap to hit
WEIGHTS = b"onnx weights " * 20_000
CONFIG = b'{"threshold": 0.73, "features": ["amount", "merchant", "hour"]}\n'
LABELS = b"legit\nfraud\n"
#: A model's page, its Versions tab (filtered or sorted or not), and a version's Artifacts tab.
MODEL_PAGE, VERSIONS_TAB = re.compile(r"/-/ml/models/\d+$"), re.compile(r"/-/ml/models/\d+\?(.+&)?tab=versions(&|$)")
ARTIFACTS_TAB = re.compile(r"/versions/\d+\?tab=artifacts$")
#: How Chromium logs a response with an error status (a form re-rendered with a 409, say).
HTTP_STATUS_LOG = "Failed to load resource: the server responded with a status of"
DESCRIPTION = """Flags card transactions that look **fraudulent**.

| Input | Type |
|---|---|
| amount | float |

<script>alert("boom")</script>
"""


@dataclass
class Site:
    server: Server
    token: str
    private: tuple[int, str]  # id, full path
    public: tuple[int, str]

    def url(self, path: str) -> str:
        return self.server.url + path

    def _headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.token}

    def upload(self, project: tuple[int, str], name: str, version: str, path: str, data: bytes) -> None:
        """Upload a file into version ``version`` of model ``name``, making the model first (through
        the API) if the project has none."""
        if self.api(project, f"/{name}").status_code == 404:
            made = self.api(project, "", "POST", json={"name": name})
            assert made.status_code == 201, made.text
        url = f"{self.server.api}/projects/{project[0]}/packages/generic/{name}/{version}/{path}"
        r = requests.put(url, data=data, headers=self._headers(), timeout=30)
        assert r.status_code == 201, r.text

    def api(self, project: tuple[int, str], path: str, method: str = "GET", **kwargs: object) -> requests.Response:
        url = f"{self.server.api}/projects/{project[0]}/ml/models{path}"
        return requests.request(method, url, headers=self._headers(), timeout=30, **kwargs)  # type: ignore[arg-type]

    def files(self, project: tuple[int, str], model: str, version: str) -> dict[str, str]:
        """``{path: sha256}`` of a version's files, through the REST API."""
        r = self.api(project, f"/{model}/versions/{version}/files")
        assert r.status_code == 200, r.text
        return {f["file_name"]: f["file_sha256"] for f in r.json()}


@pytest.fixture
def site(serve) -> Site:  # type: ignore[no-untyped-def]
    """``modelshelf serve`` with the model registry, an owner with a password and a token, and a
    private and a public project, all made with the CLI as an operator would."""
    server = serve({"PLUGINS": "all", "MAX_FILE_SIZE": MAX_FILE_SIZE})
    server.cli_in_process("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    private = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    public = int(server.cli_in_process("admin", "create-project", "team/public", "--owner", "alice", "--visibility", "public"))
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
    return Site(server, token, (private, "team/models"), (public, "team/public"))


@pytest.fixture
def page_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Script errors and console errors (a CSP violation is one) seen by the page; each test ends
    by asserting there were none. Error statuses the test provokes on purpose are not errors."""
    seen: list[str] = []

    def console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error" and not message.text.startswith(HTTP_STATUS_LOG):
            seen.append(f"console: {message.text}")

    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    page.on("console", console)
    return seen


def _sign_in(page, site: Site, redirect_to: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, site.server.url, "alice", PASSWORD, redirect_to)


def _drop(page, selector: str, files: dict[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    """Drop ``files`` on the element, as a drag from the desktop does: a ``drop`` event whose
    DataTransfer holds real File objects."""
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, bytes] of files) {
                transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "application/octet-stream"}));
            }
            return transfer;
        }""",
        [[name, list(data)] for name, data in files.items()],
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_create_a_model_and_version_upload_by_drag_and_drop_and_delete_it_all(site, page, screenshot, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    index = "/team/models/-/ml/models"
    _sign_in(page, site, index)
    sidebar = page.get_by_role("complementary", name="Project navigation")
    expect(sidebar.get_by_role("link", name="Model registry")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("model-count")).to_have_text("0 models")
    expect(page.get_by_test_id("empty-state")).to_contain_text("Import your machine learning models")

    # Create a model from the Create/Import menu.
    page.get_by_test_id("create-import").click()
    follow(page, page.get_by_role("menuitem", name="Create new model").click, site.url(f"{index}/new"))
    page.get_by_label("Name").fill("fraud-detector")
    page.get_by_label("Description").fill(DESCRIPTION)
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("model-title")).to_have_text("fraud-detector")
    expect(page.get_by_test_id("model-created")).to_contain_text("Model created just now by alice")
    card = page.get_by_test_id("model-description")
    expect(card.locator("strong")).to_have_text("fraudulent")
    expect(card.locator("table")).to_contain_text("amount")
    expect(card).to_contain_text('<script>alert("boom")</script>')  # shown as text, never run

    # Create a version with a file chosen through the file picker (the hidden input).
    follow(page, page.get_by_role("link", name="Create new version").click, re.compile(r"/versions/new$"))
    expect(page.get_by_test_id("version-help")).to_have_text("Must be a semantic version.")
    page.get_by_label("Version", exact=True).fill("1.4.0")
    page.get_by_label("Description").fill("First release, trained on **Q3** data.")
    page.get_by_test_id("artifact-file-input").set_input_files(
        [{"name": "model.onnx", "mimeType": "application/octet-stream", "buffer": WEIGHTS}]
    )
    queued = page.get_by_test_id("upload-item")
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text("model.onnx")
    # The script creates the version, uploads, then opens the version page, whose drop zone is used next.
    follow(page, page.get_by_role("button", name="Create & import").click, ARTIFACTS_TAB)

    expect(page.get_by_test_id("version-title")).to_have_text("fraud-detector / 1.4.0")
    expect(page.get_by_test_id("version-created")).to_contain_text("by alice")
    expect(page.get_by_test_id("tab-artifacts-count")).to_have_text("1")
    expect(page.get_by_test_id("artifact-sha256")).to_have_text([_sha(WEIGHTS)])
    assert site.files(site.private, "fraud-detector", "1.4.0") == {"model.onnx": _sha(WEIGHTS)}

    # Drag and drop two files into a subfolder: they upload at once, each with its progress bar.
    page.get_by_label("Subfolder").fill("config")
    _drop(page, "[data-dropzone]", {"settings.json": CONFIG, "labels.txt": LABELS})
    items = page.get_by_test_id("upload-item")
    expect(items).to_have_count(2)
    for item in (items.nth(0), items.nth(1)):
        expect(item).to_have_attribute("data-state", "done")
        expect(item).to_contain_text("Uploaded")
        expect(item.locator("progress")).to_have_js_property("value", 100)
    expect(items.nth(0)).to_contain_text("config/settings.json")
    expect(page.get_by_test_id("upload-result")).to_have_text("2 artifacts uploaded successfully.")
    # The list refreshed by itself: grouped by folder, with checksums.
    expect(page.get_by_test_id("tab-artifacts-count")).to_have_text("3")
    listing = page.get_by_test_id("artifact-list")
    expect(listing.get_by_role("rowheader", name="config/")).to_be_visible()
    expect(page.get_by_test_id("artifact-sha256")).to_have_text([_sha(WEIGHTS), _sha(LABELS), _sha(CONFIG)])
    assert site.files(site.private, "fraud-detector", "1.4.0") == {
        "model.onnx": _sha(WEIGHTS),
        "config/labels.txt": _sha(LABELS),
        "config/settings.json": _sha(CONFIG),
    }
    screenshot("version-artifacts")

    # Download one through its link.
    with page.expect_download() as download:
        listing.locator("tr[data-file-name='config/settings.json']").get_by_role("link", name="Download").click()
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == CONFIG

    # Delete one artifact: the confirm dialog first, cancelled, then accepted.
    listing.get_by_label("Select config/labels.txt").check()
    delete = page.get_by_test_id("delete-artifacts")
    expect(delete).to_be_enabled()
    dialog = page.locator("#confirm-dialog")
    delete.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Artifact config/labels.txt will be deleted.")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert len(site.files(site.private, "fraud-detector", "1.4.0")) == 3
    delete.click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("artifacts-alert")).to_have_text("1 artifact deleted: config/labels.txt.")
    expect(page.get_by_test_id("tab-artifacts-count")).to_have_text("2")
    expect(page.locator("tr[data-file-name='config/labels.txt']")).to_have_count(0)
    assert set(site.files(site.private, "fraud-detector", "1.4.0")) == {"model.onnx", "config/settings.json"}

    # The version card shows the description and the sections later work fills.
    # Its delete menu item is a data-confirm form (modelshelf.js, loaded before the page: it always asks).
    follow(page, page.get_by_test_id("tab-card").click, re.compile(r"/versions/\d+$"))
    expect(page.get_by_test_id("version-description").locator("strong")).to_have_text("Q3")
    expect(page.get_by_test_id("version-card")).to_contain_text("No parameters logged")

    # Delete the version, then the model, each from its ⋮ menu and the confirm dialog.
    page.get_by_test_id("version-actions").click()
    page.get_by_test_id("delete-version").click()
    expect(dialog).to_contain_text("Deleting version 1.4.0 of fraud-detector also deletes its artifacts.")
    follow(page, dialog.get_by_role("button", name="Delete model version").click, VERSIONS_TAB)
    expect(page.get_by_role("status").first).to_have_text("Model version 1.4.0 deleted successfully")
    expect(page.get_by_test_id("tab-versions-count")).to_have_text("0")
    assert site.api(site.private, "/fraud-detector/versions/1.4.0").status_code == 404

    page.get_by_test_id("model-actions").click()
    page.get_by_test_id("delete-model").click()
    follow(page, dialog.get_by_role("button", name="Delete model").click, site.url(index))
    expect(page.get_by_role("status").first).to_have_text("Model deleted successfully")
    expect(page.get_by_test_id("model-count")).to_have_text("0 models")
    assert site.api(site.private, "/fraud-detector").status_code == 404
    assert page_errors == []


def test_index_search_sort_mlflow_dialog_and_model_page(site, page, screenshot, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    for name, version in (("fraud-detector", "1.3.0"), ("fraud-detector", "1.4.0"), ("churn-predictor", "0.9.0"),
                          ("fraud-detector", "2.0.0-rc.1"), ("sentiment-bert", "3.1.0")):
        site.upload(site.private, name, version, "model.bin", f"{name} {version}".encode())
    r = site.api(site.private, "/fraud-detector", "PUT", json={"description": DESCRIPTION})
    assert r.status_code == 200, r.text

    index = "/team/models/-/ml/models"
    _sign_in(page, site, index)
    expect(page.get_by_test_id("model-count")).to_have_text("3 models")
    table = page.get_by_test_id("model-list")
    fraud = table.locator("tr[data-model-name='fraud-detector']")
    expect(fraud.get_by_test_id("latest-version")).to_have_text("1.4.0")  # a prerelease is not the latest
    expect(fraud.get_by_test_id("version-count")).to_have_text("· 3 versions")
    expect(fraud).to_contain_text("alice")
    screenshot("models-index")

    page.get_by_label("Sort by").select_option("latest_version")
    page.get_by_label("Direction").select_option("desc")
    follow(page, page.get_by_role("button", name="Filter").click, re.compile(r"order_by=latest_version"))
    names = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.modelName)")
    assert names == ["sentiment-bert", "fraud-detector", "churn-predictor"]
    page.get_by_label("Filter by name").fill("FRAUD")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("model-count")).to_have_text("1 model")
    # The dialog opens through model_registry.js, which must have run on the page Clear opens.
    follow(page, page.get_by_role("link", name="Clear").click, site.url(index))

    # Create using MLflow: the tracking URI of this project and a snippet.
    page.get_by_test_id("create-import").click()
    page.get_by_role("menuitem", name="Create using MLflow").click()
    dialog = page.get_by_test_id("mlflow-dialog")
    expect(dialog).to_be_visible()
    tracking_uri = f"{site.server.url}/api/v4/projects/{site.private[0]}/ml/mlflow"
    expect(dialog.get_by_test_id("mlflow-tracking-uri")).to_have_value(tracking_uri)
    expect(dialog.get_by_test_id("mlflow-snippet-env")).to_contain_text(f'export MLFLOW_TRACKING_URI="{tracking_uri}"')
    expect(dialog).to_contain_text("export MLFLOW_TRACKING_TOKEN=<your_access_token>")
    expect(dialog).to_contain_text("client.create_registered_model(")
    screenshot("mlflow-dialog")
    dialog.get_by_role("button", name="Copy").first.click()
    expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # The model page: model card, sidebar, versions tab with search and sort.
    follow(page, fraud.get_by_role("link", name="fraud-detector").click, MODEL_PAGE)
    expect(page.get_by_test_id("model-title")).to_have_text("fraud-detector")
    expect(page.get_by_test_id("model-description").locator("table")).to_be_visible()
    expect(page.get_by_test_id("sidebar-latest-version")).to_have_text("1.4.0")
    expect(page.get_by_test_id("sidebar-version-count")).to_have_text("3")
    expect(page.get_by_test_id("tab-versions-count")).to_have_text("3")
    # Use with Hugging Face: the repo id and the endpoint of this server.
    hf = page.get_by_test_id("hf-usage")
    expect(hf.get_by_test_id("hf-repo-id")).to_have_value(f"{site.private[0]}/fraud-detector")
    expect(hf.get_by_test_id("hf-snippet")).to_contain_text(f'export HF_ENDPOINT="{site.server.url}/hf"')
    screenshot("model-page")

    follow(page, page.get_by_test_id("tab-versions").click, VERSIONS_TAB)
    versions = page.get_by_test_id("version-list").locator("tbody tr")
    assert versions.evaluate_all("rows => rows.map(r => r.dataset.version)") == ["2.0.0-rc.1", "1.4.0", "1.3.0"]
    page.get_by_label("Direction").select_option("asc")
    page.get_by_role("button", name="Filter").click()
    expect(versions.first).to_have_attribute("data-version", "1.3.0")
    page.get_by_label("Filter by version").fill("rc")
    follow(page, page.get_by_role("button", name="Filter").click, VERSIONS_TAB)  # its scripts ran: errors seen
    expect(versions).to_have_count(1)
    assert page_errors == []


def test_browser_checks_semver_subfolder_and_size(site, page, screenshot, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    site.upload(site.private, "fraud-detector", "1.4.0", "model.onnx", WEIGHTS)
    model_id = site.api(site.private, "/fraud-detector").json()["id"]
    new_version = f"/team/models/-/ml/models/{model_id}/versions/new"
    _sign_in(page, site, new_version)
    expect(page.get_by_test_id("version-help")).to_have_text("Must be a semantic version. Latest version is 1.4.0")

    # The version is checked as it is typed, and a bad one is never sent.
    version = page.get_by_label("Version", exact=True)
    error = page.get_by_test_id("version-error")
    for bad in ("1.5", "v1.5.0", "1.5.0.0", "01.5.0", "1.5.0-"):
        version.fill(bad)
        expect(error).to_have_text("Version must be a semantic version (for example 1.4.0 or 2.0.0-rc.1)")
        expect(version).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Create & import").click()
    expect(page).to_have_url(site.url(new_version))
    assert [v["version"] for v in site.api(site.private, "/fraud-detector/versions").json()] == ["1.4.0"]
    version.fill("1.5.0-rc.1+build.7")
    expect(error).to_be_hidden()

    # A taken version: the server's answer is shown in the form.
    version.fill("1.4.0")
    follow(page, page.get_by_role("button", name="Create & import").click, site.url(new_version))  # re-rendered
    expect(error).to_have_text("Version 1.4.0 already exists")

    version.fill("1.5.0")
    page.get_by_label("Description").fill("Retrained with the **November** data.")
    page.get_by_label("Subfolder").fill("weights")
    page.get_by_test_id("artifact-file-input").set_input_files(
        [{"name": "model.onnx", "mimeType": "application/octet-stream", "buffer": WEIGHTS}]
    )
    expect(page.get_by_test_id("upload-item")).to_contain_text("Uploads when the version is created")
    screenshot("new-version")
    follow(page, page.get_by_role("button", name="Create & import").click, ARTIFACTS_TAB)
    expect(page.get_by_test_id("version-title")).to_have_text("fraud-detector / 1.5.0")
    assert site.files(site.private, "fraud-detector", "1.5.0") == {"weights/model.onnx": _sha(WEIGHTS)}

    # The subfolder may not contain spaces: nothing is uploaded until it is fixed.
    subfolder = page.get_by_label("Subfolder")
    subfolder.fill("my config")
    expect(page.get_by_text("Subfolder cannot contain spaces")).to_be_visible()
    page.get_by_test_id("artifact-file-input").set_input_files(
        [{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"notes"}]
    )
    expect(page.get_by_test_id("upload-item")).to_have_count(0)
    subfolder.fill("docs")
    expect(page.get_by_text("Subfolder cannot contain spaces")).to_be_hidden()

    # Selecting files uploads them at once; one too large is refused in the browser: partial failure.
    too_large = b"x" * (MAX_FILE_SIZE + 512 * 1024)
    page.get_by_test_id("artifact-file-input").set_input_files(
        [
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"notes"},
            {"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": too_large},
        ]
    )
    items = page.get_by_test_id("upload-item")
    expect(items.nth(1)).to_have_attribute("data-state", "rejected")
    expect(items.nth(1)).to_contain_text("File huge.bin is 2.5 MiB. It is larger than max allowed size of 2.0 MiB")
    expect(items.nth(0)).to_have_attribute("data-state", "done")
    expect(page.get_by_test_id("upload-result")).to_have_text("Uploaded 1 of 2 artifacts. Failed: huge.bin.")
    expect(page.get_by_test_id("tab-artifacts-count")).to_have_text("2")
    assert set(site.files(site.private, "fraud-detector", "1.5.0")) == {"weights/model.onnx", "docs/notes.txt"}

    # Only refused files: a failure.
    page.get_by_test_id("artifact-file-input").set_input_files(
        [{"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": too_large}]
    )
    expect(page.get_by_test_id("upload-result")).to_have_text("The artifact could not be uploaded: huge.bin.")
    assert page_errors == []


def test_cancel_an_upload(site, page, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    site.upload(site.private, "fraud-detector", "1.4.0", "model.onnx", WEIGHTS)
    model = site.api(site.private, "/fraud-detector").json()
    version_id = model["latest_version"]["id"]
    page_url = f"/team/models/-/ml/models/{model['id']}/versions/{version_id}?tab=artifacts"
    _sign_in(page, site, page_url)
    # Hold the upload in the network so that it can be cancelled while it runs.
    page.route("**/packages/ml_models/**", lambda route: None)
    page.get_by_test_id("artifact-file-input").set_input_files(
        [{"name": "slow.bin", "mimeType": "application/octet-stream", "buffer": b"slow" * 1000}]
    )
    item = page.get_by_test_id("upload-item")
    expect(item).to_have_attribute("data-state", "uploading")
    item.get_by_role("button", name="Cancel slow.bin").click()
    expect(item).to_have_attribute("data-state", "cancelled")
    expect(page.get_by_test_id("upload-result")).to_have_text("Upload cancelled.")
    assert set(site.files(site.private, "fraud-detector", "1.4.0")) == {"model.onnx"}
    assert page_errors == []


def test_browse_a_public_project_signed_out(site, page, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    site.upload(site.public, "demo-model", "0.1.0", "weights/model.pkl", b"pickle")
    site.upload(site.private, "secret-model", "1.0.0", "model.pkl", b"secret")

    page.goto(site.url("/team/public/-/packages"))
    # Each page whole before what it must not show is counted (a half-parsed page has none of it).
    sidebar = page.get_by_role("complementary", name="Project navigation")
    follow(page, sidebar.get_by_role("link", name="Model registry").click, site.url("/team/public/-/ml/models"))
    expect(page.get_by_test_id("model-count")).to_have_text("1 model")
    expect(page.get_by_test_id("create-import")).to_have_count(0)
    expect(page.get_by_test_id("model-actions")).to_have_count(0)
    follow(page, page.get_by_role("link", name="demo-model").click, MODEL_PAGE)
    expect(page.get_by_role("link", name="Create new version")).to_have_count(0)
    page.get_by_test_id("tab-versions").click()
    page.get_by_test_id("version-list").get_by_role("link", name="0.1.0").click()
    expect(page.get_by_test_id("version-title")).to_have_text("demo-model / 0.1.0")
    follow(page, page.get_by_test_id("tab-artifacts").click, ARTIFACTS_TAB)
    expect(page.get_by_test_id("artifact-sha256")).to_have_text(_sha(b"pickle"))
    expect(page.get_by_test_id("dropzone")).to_have_count(0)
    expect(page.get_by_test_id("delete-artifacts")).to_have_count(0)
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert page_errors == []

    page.goto(site.url("/team/models/-/ml/models"))
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("secret-model")


def test_seal_a_version_through_its_confirm_dialog(site, page, screenshot, page_errors):  # type: ignore[no-untyped-def]
    """The Owner seals a version from its page: the dialog first (cancelled, then accepted), then the
    Sealed badge, no upload zone, and the REST API says it is sealed."""
    from playwright.sync_api import expect

    site.upload(site.private, "fraud-detector", "1.4.0", "model.onnx", WEIGHTS)
    version = site.api(site.private, "/fraud-detector/versions/1.4.0").json()
    path = f"/{site.private[1]}/-/ml/models/{version['model_id']}/versions/{version['id']}"
    _sign_in(page, site, path)
    expect(page.get_by_test_id("version-sealed")).to_have_count(0)
    dialog = page.locator("#confirm-dialog")
    page.get_by_test_id("seal-version").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("freezes its files")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert site.api(site.private, "/fraud-detector/versions/1.4.0").json()["sealed"] is False
    page.get_by_test_id("seal-version").click()
    follow(page, dialog.get_by_role("button", name="Seal version").click, site.url(path))
    expect(page.get_by_test_id("version-sealed")).to_be_visible()
    expect(page.get_by_text("Model version 1.4.0 sealed")).to_be_visible()
    expect(page.get_by_test_id("seal-version")).to_have_count(0)
    screenshot("sealed-version")
    assert site.api(site.private, "/fraud-detector/versions/1.4.0").json()["sealed"] is True
    page.goto(site.url(f"{path}?tab=artifacts"))
    expect(page.get_by_test_id("delete-artifacts")).to_have_count(0)
    assert page_errors == []
