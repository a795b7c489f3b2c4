"""The model registry pages: the index, model and version pages and their forms, who sees and may
change what, and the links from the rest of the pages."""
from __future__ import annotations

import hashlib
import io
import re
import zipfile

import pytest

from tests.support.pages import page_csrf, signed_in
from tests.support.world import create_model, generic_url

MODELS = "/acme/{}/-/ml/models"


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


def _upload(client, world, project="private", name="fraud-detector", version="1.4.0", path="model.onnx", data=b"w", *,
            model=True):
    """Upload a file into version ``version`` of model ``name`` as a Developer, who makes the model
    first (through the API) if the project has none; ``model=False``: into a plain package."""
    if model and _model(client, world, project, name) is None:
        create_model(client, world.projects[project], name, world.headers("developer"))
    r = client.put(generic_url(world.projects[project], name, version, path), data=data, headers=world.headers("developer"))
    assert r.status_code == 201, r.json


def _model(client, world, project, name):
    """The model as the REST API shows it (``None`` if there is none)."""
    r = client.get(f"/api/v4/projects/{world.projects[project]}/ml/models/{name}", headers=world.headers("owner"))
    return r.json if r.status_code == 200 else None


def _versions(client, world, project, name):
    r = client.get(f"/api/v4/projects/{world.projects[project]}/ml/models/{name}/versions", headers=world.headers("owner"))
    return [v["version"] for v in r.json] if r.status_code == 200 else None


def _version_url(client, world, project, name, version):
    model = _model(client, world, project, name)
    row = client.get(
        f"/api/v4/projects/{world.projects[project]}/ml/models/{name}/versions/{version}", headers=world.headers("owner")
    ).json
    return f"{MODELS.format(project)}/{model['id']}/versions/{row['id']}", row


def _listed_names(html: str) -> list[str]:
    return re.findall(r'<tr data-model-name="([^"]+)"', html)


# -- the index -----------------------------------------------------------------------------------


def test_index_lists_models_with_count_latest_version_and_author(app, client, world):
    for version in ("1.3.0", "1.4.0", "2.0.0-rc.1"):
        _upload(client, world, version=version)
    _upload(client, world, name="churn", version="0.1.0")
    signed_in(app, client, "guest")
    r = client.get(MODELS.format("private"))
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert 'data-testid="model-count">2 models<' in r.text
    fraud = _model(client, world, "private", "fraud-detector")
    row = r.text[r.text.index('data-model-name="fraud-detector"') :].split("</tr>")[0]
    assert f'href="/acme/private/-/ml/models/{fraud["id"]}"' in row
    # The latest version is the highest release (a prerelease is not), linked, with the count.
    latest = f'/acme/private/-/ml/models/{fraud["id"]}/versions/{fraud["latest_version"]["id"]}'
    assert f'href="{latest}" data-testid="latest-version"><code>1.4.0</code>' in row
    assert "· 3 versions" in row and "<strong>developer</strong>" in row and "<time datetime=" in row
    # The sidebar offers the model registry, highlighted.
    assert 'href="/acme/private/-/ml/models" class="active"' in r.text


def test_index_searches_and_sorts(app, client, world):
    for name, version in (("alpha", "1.0.0"), ("beta", "3.0.0"), ("gamma", "2.0.0"), ("alpine", "0.1.0")):
        _upload(client, world, name=name, version=version)
    signed_in(app, client, "guest")
    url = MODELS.format("private")
    assert _listed_names(client.get(url + "?order_by=name&sort=asc").text) == ["alpha", "alpine", "beta", "gamma"]
    assert _listed_names(client.get(url + "?order_by=latest_version&sort=desc").text) == [
        "beta",
        "gamma",
        "alpha",
        "alpine",
    ]
    filtered = client.get(url + "?search=ALP&order_by=name&sort=asc")
    assert _listed_names(filtered.text) == ["alpha", "alpine"] and 'data-testid="model-count">2 models<' in filtered.text
    assert "No models match" in client.get(url + "?search=zzz").text
    paged = client.get(url + "?order_by=name&sort=asc&per_page=3&page=2")
    assert _listed_names(paged.text) == ["gamma"] and "Page 2 of 2" in paged.text
    bad = client.get(url + "?order_by=size")
    assert bad.status_code == 400 and bad.mimetype == "text/html"


def test_empty_index_says_how_to_start(app, client, world):
    signed_in(app, client, "reporter")
    r = client.get(MODELS.format("private"))
    assert "Import your machine learning models" in r.text
    assert f"/api/v4/projects/{world.projects['private']}/packages/generic/my-model/1.0.0/model.onnx" in r.text
    assert 'href="/acme/private/-/ml/models/new"' in r.text and 'data-open-dialog="mlflow-dialog"' in r.text


def test_create_import_menu_and_the_mlflow_dialog(app, client, world):
    _upload(client, world)
    signed_in(app, client, "reporter")
    r = client.get(MODELS.format("private"))
    assert 'data-testid="create-import"' in r.text and ">Create new model<" in r.text and ">Create using MLflow<" in r.text
    tracking_uri = f"http://localhost/api/v4/projects/{world.projects['private']}/ml/mlflow"
    assert f'value="{tracking_uri}"' in r.text
    assert f'export MLFLOW_TRACKING_URI="{tracking_uri}"' in r.text
    assert "export MLFLOW_TRACKING_TOKEN=&lt;your_access_token&gt;" in r.text
    assert "mlflow.register_model(" in r.text and "client.create_registered_model(" in r.text
    assert 'data-testid="delete-model"' in r.text


def test_readers_get_no_create_or_delete_controls(app, client, world):
    _upload(client, world)
    signed_in(app, client, "guest")
    r = client.get(MODELS.format("private"))
    assert "fraud-detector" in r.text
    for control in ('data-testid="create-import"', 'data-testid="delete-model"', "mlflow-dialog"):
        assert control not in r.text


# -- new and edit model -----------------------------------------------------------------------------


def test_create_a_model_through_the_form(app, client, world):
    token = signed_in(app, client, "reporter")
    assert client.get(f"{MODELS.format('private')}/new").status_code == 200
    r = client.post(
        f"{MODELS.format('private')}/new", data={"csrf_token": token, "name": "churn", "description": "Predicts *churn*."}
    )
    model = _model(client, world, "private", "churn")
    assert r.status_code == 302 and r.headers["Location"] == f"{MODELS.format('private')}/{model['id']}"
    assert (model["description"], model["author"]["username"], model["version_count"]) == ("Predicts *churn*.", "reporter", 0)


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("bad name", 400, "Name can contain only letters, digits, &#39;.&#39;, &#39;_&#39;, &#39;-&#39; and &#39;+&#39;"),
        ("", 400, "Name is required"),
        ("..", 400, "Name cannot be &#39;.&#39; or &#39;..&#39;"),
        ("fraud-detector", 409, "A model named fraud-detector already exists"),
    ],
)
def test_create_model_errors_are_shown_in_the_form(app, client, world, name, status, message):
    _upload(client, world)
    token = signed_in(app, client, "reporter")
    r = client.post(f"{MODELS.format('private')}/new", data={"csrf_token": token, "name": name, "description": "kept"})
    assert r.status_code == status and r.mimetype == "text/html"
    error = re.search(r'data-testid="name-error">([^<]*)<', r.text)
    assert error and error.group(1).startswith(message)
    assert 'aria-invalid="true"' in r.text
    assert ">kept</textarea>" in r.text and f'value="{name}"' in r.text  # what was typed stays
    assert [m for m in ("churn", "bad name", "..") if _model(client, world, "private", m)] == []


def test_create_model_needs_the_csrf_token(app, client, world):
    signed_in(app, client, "reporter")
    for form in ({"name": "churn"}, {"name": "churn", "csrf_token": "forged"}):
        r = client.post(f"{MODELS.format('private')}/new", data=form)
        assert r.status_code == 403 and "The form has expired" in r.text
    assert _model(client, world, "private", "churn") is None


def test_edit_a_model_description(app, client, world):
    _upload(client, world)
    model = _model(client, world, "private", "fraud-detector")
    token = signed_in(app, client, "reporter")
    edit = f"{MODELS.format('private')}/{model['id']}/edit"
    form = client.get(edit)
    assert form.status_code == 200 and 'value="fraud-detector" disabled' in form.text
    r = client.post(edit, data={"csrf_token": token, "description": "# Fraud\nNew words."})
    assert r.status_code == 302 and r.headers["Location"] == f"{MODELS.format('private')}/{model['id']}"
    assert _model(client, world, "private", "fraud-detector")["description"] == "# Fraud\nNew words."
    page = client.get(r.headers["Location"]).text
    assert "Model updated successfully" in page and "<h1>Fraud</h1>" in page
    too_long = client.post(edit, data={"csrf_token": token, "description": "d" * 10_001})
    assert too_long.status_code == 400 and "Description is too long (maximum is 10000 characters)" in too_long.text


# -- the model page -------------------------------------------------------------------------------------


def test_model_page_renders_the_description_as_sanitised_markdown(app, client, world):
    _upload(client, world)
    model = _model(client, world, "private", "fraud-detector")
    description = '# Fraud\n\n**Bold** [docs](https://example.com) <script>alert(1)</script> [x](javascript:alert(2))'
    client.put(
        f"/api/v4/projects/{world.projects['private']}/ml/models/fraud-detector",
        json={"description": description},
        headers=world.headers("reporter"),
    )
    signed_in(app, client, "guest")
    r = client.get(f"{MODELS.format('private')}/{model['id']}")
    assert r.status_code == 200
    assert 'data-testid="model-title">fraud-detector<' in r.text
    assert re.search(r"Model created <time[^>]*>[^<]*</time> by <span class=\"author\"><strong>developer</strong>", r.text)
    assert "<h1>Fraud</h1>" in r.text and "<strong>Bold</strong>" in r.text
    assert 'href="https://example.com"' in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and "<script>alert" not in r.text
    assert 'href="javascript:' not in r.text
    # The sidebar: author, latest version, total versions.
    assert 'data-testid="sidebar-version-count">1<' in r.text and "<code>1.4.0</code>" in r.text
    assert 'data-testid="tab-versions-count">1<' in r.text


def test_versions_tab_is_searchable_and_sortable(app, client, world):
    for version in ("1.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0"):
        _upload(client, world, version=version)
    model = _model(client, world, "private", "fraud-detector")
    signed_in(app, client, "guest")
    url = f"{MODELS.format('private')}/{model['id']}?tab=versions"

    def listed(html: str) -> list[str]:
        return re.findall(r'<tr data-version="([^"]+)"', html)

    assert listed(client.get(url).text) == ["2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0"]
    assert listed(client.get(url + "&sort=asc").text) == ["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1"]
    assert listed(client.get(url + "&order_by=created_at&sort=asc").text) == ["1.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0"]
    assert listed(client.get(url + "&search=1.").text) == ["1.10.0", "1.2.0", "1.0.0"]
    assert 'aria-current="page" data-testid="tab-versions"' in client.get(url).text
    # The model card is the default tab, and an unknown one falls back to it.
    card = client.get(f"{MODELS.format('private')}/{model['id']}?tab=nope").text
    assert 'data-testid="model-card"' in card and "<tr data-version" not in card


def test_model_of_another_project_is_a_404(app, client, world):
    _upload(client, world, project="public")
    model = _model(client, world, "public", "fraud-detector")
    signed_in(app, client, "owner")
    assert client.get(f"{MODELS.format('private')}/{model['id']}").status_code == 404
    assert client.get(f"{MODELS.format('private')}/999").status_code == 404


# -- new version --------------------------------------------------------------------------------------


def test_new_version_form_tells_the_latest_version(app, client, world):
    for version in ("1.3.0", "1.4.0", "2.0.0-rc.1"):
        _upload(client, world, version=version)
    model = _model(client, world, "private", "fraud-detector")
    signed_in(app, client, "reporter")
    r = client.get(f"{MODELS.format('private')}/{model['id']}/versions/new")
    assert r.status_code == 200
    assert "Must be a semantic version. Latest version is 1.4.0" in r.text
    assert "data-semver" in r.text and "data-upload-zone" in r.text and 'data-mode="queue"' in r.text
    assert "Drop or <label" in r.text and 'data-max-file-size="1048576"' in r.text
    api = f"/api/v4/projects/{world.projects['private']}/ml/models/{model['id']}/versions"
    assert f'data-api-url="{api}"' in r.text


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0.0", "latest", ""])
def test_new_version_with_a_bad_version_shows_the_error_and_creates_nothing(app, client, world, version):
    token = signed_in(app, client, "reporter")
    client.post(f"{MODELS.format('private')}/new", data={"csrf_token": token, "name": "churn"})
    model = _model(client, world, "private", "churn")
    r = client.post(
        f"{MODELS.format('private')}/{model['id']}/versions/new",
        data={"csrf_token": token, "version": version, "description": "kept"},
    )
    assert r.status_code == 400
    assert re.search(r'data-testid="version-error">Version must be a semantic version \(for example 1.4.0', r.text)
    assert ">kept</textarea>" in r.text
    assert _versions(client, world, "private", "churn") == []
    packages = client.get(f"/api/v4/projects/{world.projects['private']}/packages", headers=world.headers("owner")).json
    assert packages == []


def test_create_a_version_through_the_form(app, client, world):
    _upload(client, world)
    model = _model(client, world, "private", "fraud-detector")
    token = signed_in(app, client, "reporter")
    new = f"{MODELS.format('private')}/{model['id']}/versions/new"
    r = client.post(new, data={"csrf_token": token, "version": "1.5.0-rc.1", "description": "Candidate"})
    url, row = _version_url(client, world, "private", "fraud-detector", "1.5.0-rc.1")
    assert r.status_code == 302 and r.headers["Location"] == url
    assert (row["description"], row["author"]["username"]) == ("Candidate", "reporter")
    taken = client.post(new, data={"csrf_token": token, "version": "1.4.0"})
    assert taken.status_code == 409 and "Version 1.4.0 already exists" in taken.text
    assert _versions(client, world, "private", "fraud-detector") == ["1.5.0-rc.1", "1.4.0"]


def test_the_page_script_uploads_with_the_session(app, client, world):
    """The new-version and artifacts pages upload to GitLab's ml_models endpoint with the session
    cookie and the X-CSRF-Token header, as their script does."""
    _upload(client, world)
    url, row = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    token = signed_in(app, client, "reporter")
    upload = f"/api/v4/projects/{world.projects['private']}/packages/ml_models/{row['id']}/files/config/my%20settings.json"
    assert client.put(upload, data=b"{}").status_code == 403  # the session alone is not enough
    r = client.put(upload, data=b"{}", headers={"X-CSRF-Token": token, "Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    page = client.get(url + "?tab=artifacts").text
    assert 'data-file-name="config/my settings.json"' in page and hashlib.sha256(b"{}").hexdigest() in page


# -- the version page ---------------------------------------------------------------------------------


def test_version_page_lists_files_by_folder_with_sha256_and_download(app, client, world):
    _upload(client, world, path="model.onnx", data=b"w" * 2048)
    _upload(client, world, path="config/settings.json", data=b"{}")
    _upload(client, world, path="config/labels.txt", data=b"a b")
    url, _ = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    signed_in(app, client, "guest")
    r = client.get(url + "?tab=artifacts")
    assert r.status_code == 200
    assert 'data-testid="version-title">fraud-detector / 1.4.0<' in r.text
    assert re.search(r"Version created <time[^>]*>[^<]*</time> by <span class=\"author\"><strong>developer</strong>", r.text)
    assert 'data-testid="tab-artifacts-count">3<' in r.text
    shas = re.findall(r'data-testid="artifact-sha256">([0-9a-f]{64})<', r.text)
    expected = [hashlib.sha256(d).hexdigest() for d in (b"w" * 2048, b"a b", b"{}")]
    assert shas == expected  # top level first, then the config folder by name
    # The folder's row header is the button that folds its files away.
    assert re.search(r'<th scope="rowgroup"[^>]*>\s*<button [^>]*aria-expanded="true" data-folder-toggle>.*?config/</button>', r.text)
    assert "2.0 KiB" in r.text and "3 bytes" in r.text
    files = client.get(
        f"/api/v4/projects/{world.projects['private']}/ml/models/fraud-detector/versions/1.4.0/files",
        headers=world.headers("guest"),
    ).json
    for item in files:
        assert f'href="/acme/private/-/package_files/{item["id"]}/download"' in r.text
    # A guest may look, not change.
    assert "data-upload-zone" not in r.text and "data-artifact-select" not in r.text
    assert 'data-testid="version-actions"' not in r.text


def test_version_page_downloads_all_files_as_one_zip_with_the_session(app, client, world):
    _upload(client, world, path="model.onnx", data=b"w" * 2048)
    _upload(client, world, path="config/settings.json", data=b"{}")
    url, _ = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    signed_in(app, client, "guest")
    [href] = re.findall(r'<a class="btn" data-testid="download-all" download\s+href="([^"]+)"', client.get(url).text)
    project = world.projects["private"]
    model = _model(client, world, "private", "fraud-detector")
    assert href == f"/api/v4/projects/{project}/ml/models/{model['id']}/versions/1.4.0/archive"
    zipped = client.get(href)  # the browser's session is enough for a GET
    assert zipped.status_code == 200 and zipped.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as archive:
        assert sorted(archive.namelist()) == ["SHA256SUMS", "fraud-detector-1.4.0/config/settings.json",
                                              "fraud-detector-1.4.0/model.onnx"]
    # A version without files offers nothing to download.
    client.post(f"/api/v4/projects/{project}/ml/models/{model['id']}/versions", json={"version": "2.0.0"},
                headers=world.headers("developer"))
    empty_url, _ = _version_url(client, world, "private", "fraud-detector", "2.0.0")
    assert 'data-testid="download-all"' not in client.get(empty_url).text


def test_version_page_offers_uploads_and_deletes_to_writers(app, client, world):
    _upload(client, world)
    url, row = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    signed_in(app, client, "reporter")
    r = client.get(url + "?tab=artifacts")
    project = world.projects["private"]
    assert f'data-import-path="/api/v4/projects/{project}/packages/ml_models/{row["id"]}/files/"' in r.text
    assert 'data-mode="immediate"' in r.text and 'data-max-file-size-label="1.0 MiB"' in r.text
    assert "Drop or <label" in r.text and "artifacts to attach" in r.text
    delete_url = f"/api/v4/projects/{project}/ml/models/{row['model_id']}/versions/{row['id']}/files"
    assert f'data-url="{delete_url}"' in r.text and "data-artifact-select" in r.text
    assert 'data-testid="delete-version"' in r.text


def test_version_card_renders_the_description_and_empty_sections(app, client, world):
    _upload(client, world)
    url, _ = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    client.put(
        f"/api/v4/projects/{world.projects['private']}/ml/models/fraud-detector/versions/1.4.0",
        json={"description": "Trained on **Q3** <img src=x onerror=alert(1)>"},
        headers=world.headers("reporter"),
    )
    signed_in(app, client, "guest")
    r = client.get(url)
    assert 'data-testid="version-card"' in r.text and "<strong>Q3</strong>" in r.text and "<img src=x" not in r.text
    for section, empty in (
        ("Parameters", "No parameters logged"),
        ("Metrics", "No metrics logged"),
        ("Metadata", "No logged metadata"),
        ("CI job", "No CI job linked to this version"),
    ):
        assert f">{section}</h2>" in r.text and empty in r.text
    assert "data-upload-zone" not in r.text  # the artifacts are on their own tab


def test_edit_a_version_description(app, client, world):
    _upload(client, world)
    url, _ = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    token = signed_in(app, client, "reporter")
    assert 'value="1.4.0" disabled' in client.get(url + "/edit").text
    r = client.post(url + "/edit", data={"csrf_token": token, "description": "Better words"})
    assert r.status_code == 302 and r.headers["Location"] == url
    assert "Better words" in client.get(url).text


def test_version_of_another_model_is_a_404(app, client, world):
    _upload(client, world)
    _upload(client, world, name="churn", version="0.1.0")
    _, row = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    churn = _model(client, world, "private", "churn")
    signed_in(app, client, "guest")
    assert client.get(f"{MODELS.format('private')}/{churn['id']}/versions/{row['id']}").status_code == 404


# -- deletes -----------------------------------------------------------------------------------------------


def test_reporter_deletes_a_version_then_the_model(app, client, world):
    _upload(client, world, version="1.3.0")
    _upload(client, world, version="1.4.0")
    model = _model(client, world, "private", "fraud-detector")
    url, _ = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    token = signed_in(app, client, "reporter")

    r = client.post(url + "/delete", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == f"{MODELS.format('private')}/{model['id']}?tab=versions"
    assert "Model version 1.4.0 deleted successfully" in client.get(r.headers["Location"]).text
    assert _versions(client, world, "private", "fraud-detector") == ["1.3.0"]

    r = client.post(f"{MODELS.format('private')}/{model['id']}/delete", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == MODELS.format("private")
    index = client.get(MODELS.format("private")).text
    assert "Model deleted successfully" in index and "Import your machine learning models" in index
    assert _model(client, world, "private", "fraud-detector") is None
    packages = client.get(f"/api/v4/projects/{world.projects['private']}/packages", headers=world.headers("owner")).json
    assert packages == []


def test_delete_forms_ask_first(app, client, world):
    _upload(client, world)
    model = _model(client, world, "private", "fraud-detector")
    url, _ = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    signed_in(app, client, "reporter")
    model_page = client.get(f"{MODELS.format('private')}/{model['id']}?tab=versions").text
    assert 'data-confirm="Deleting model fraud-detector also deletes all its versions' in model_page
    assert 'data-confirm="Deleting version 1.4.0 of fraud-detector also deletes its artifacts.' in model_page
    assert 'data-confirm-button="Delete model version"' in client.get(url).text


@pytest.mark.parametrize(("who", "status"), [("guest", 403), ("outsider", 404)])
def test_deletes_and_forms_without_permission_are_refused(app, client, world, who, status):
    _upload(client, world)
    model = _model(client, world, "private", "fraud-detector")
    url, _ = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    token = signed_in(app, client, who)
    base = f"{MODELS.format('private')}/{model['id']}"
    for path in (f"{base}/delete", f"{url}/delete", f"{base}/edit", f"{url}/edit", f"{MODELS.format('private')}/new"):
        assert client.post(path, data={"csrf_token": token, "name": "x", "description": "x"}).status_code == status, path
    for path in (f"{base}/edit", f"{url}/edit", f"{base}/versions/new", f"{MODELS.format('private')}/new"):
        assert client.get(path).status_code == status, path
    assert _versions(client, world, "private", "fraud-detector") == ["1.4.0"]
    assert _model(client, world, "private", "fraud-detector")["description"] == ""


def test_deletes_need_the_csrf_token(app, client, world):
    _upload(client, world)
    model = _model(client, world, "private", "fraud-detector")
    signed_in(app, client, "reporter")
    r = client.post(f"{MODELS.format('private')}/{model['id']}/delete", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert _model(client, world, "private", "fraud-detector") is not None


# -- who sees what ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [None, "outsider"])
def test_private_project_pages_are_404_to_outsiders(app, client, world, who):
    _upload(client, world)
    model = _model(client, world, "private", "fraud-detector")
    url, _ = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    if who:
        signed_in(app, client, who)
    for path in (MODELS.format("private"), f"{MODELS.format('private')}/{model['id']}", url, url + "?tab=artifacts"):
        r = client.get(path)
        assert r.status_code == 404 and r.mimetype == "text/html", path
        assert "fraud-detector" not in r.text


def test_public_project_is_browsable_signed_out(client, world):
    _upload(client, world, project="public", path="weights/model.pkl", data=b"pickle")
    model = _model(client, world, "public", "fraud-detector")
    url, _ = _version_url(client, world, "public", "fraud-detector", "1.4.0")
    index = client.get(MODELS.format("public"))
    assert index.status_code == 200 and "fraud-detector" in index.text and "Sign in" in index.text
    assert 'data-testid="create-import"' not in index.text and 'data-testid="delete-model"' not in index.text
    page = client.get(f"{MODELS.format('public')}/{model['id']}")
    assert page.status_code == 200 and "Create new version" not in page.text and ">Edit<" not in page.text
    artifacts = client.get(url + "?tab=artifacts")
    assert artifacts.status_code == 200 and hashlib.sha256(b"pickle").hexdigest() in artifacts.text
    assert "data-upload-zone" not in artifacts.text
    # Changing anything sends a browser to sign in.
    new = client.get(f"{MODELS.format('public')}/new")
    assert new.status_code == 302 and new.headers["Location"].startswith("/users/sign_in?redirect_to=")
    token = page_csrf(client, MODELS.format("public"))
    r = client.post(f"{MODELS.format('public')}/{model['id']}/delete", data={"csrf_token": token})
    assert r.status_code == 401 and "Sign in" in r.text
    assert _model(client, world, "public", "fraud-detector") is not None


# -- links from the rest of the pages, and the page's assets --------------------------------------------------


def test_the_package_page_links_to_its_model_version(app, client, world):
    _upload(client, world)
    _upload(client, world, name="tool", version="1.0.0", model=False)  # SemVer, but no model is named so
    url, row = _version_url(client, world, "private", "fraud-detector", "1.4.0")
    packages = client.get(f"/api/v4/projects/{world.projects['private']}/packages", headers=world.headers("guest")).json
    ids = {p["name"]: p["id"] for p in packages}
    signed_in(app, client, "guest")
    page = client.get(f"/acme/private/-/packages/{ids['fraud-detector']}").text
    assert f'href="{url}">Model version fraud-detector 1.4.0<' in page
    plain = client.get(f"/acme/private/-/packages/{ids['tool']}").text
    assert "Model version" not in plain
    # And back: the version page links to its package.
    assert f'href="/acme/private/-/packages/{row["package_id"]}"' in client.get(url).text


def test_the_project_sidebar_offers_the_model_registry(app, client, world):
    signed_in(app, client, "guest")
    packages = client.get("/acme/private/-/packages").text
    order = [packages.index(s) for s in ("<h2>Deploy</h2>", ">Package registry<", ">Model registry<")]
    assert order == sorted(order)
    assert '<a href="/acme/private/-/ml/models">Model registry</a>' in packages
    assert 'href="/acme/private/-/ml/models" class="active" aria-current="page">Model registry<' in client.get(
        MODELS.format("private")
    ).text


def test_pages_send_the_strict_csp_and_load_only_our_assets(client, world):
    _upload(client, world, project="public")
    model = _model(client, world, "public", "fraud-detector")
    r = client.get(f"{MODELS.format('public')}/{model['id']}")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"] and r.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in r.text and " style=" not in r.text and "http://" not in r.text.replace("http://localhost", "")
    for asset in ("model_registry.js", "model_registry.css"):
        assert f'src="/-/model_registry/static/{asset}"' in r.text or f'href="/-/model_registry/static/{asset}"' in r.text
        assert client.get(f"/-/model_registry/static/{asset}").status_code == 200
    # An error page of the registry is under the same policy.
    missing = client.get(f"{MODELS.format('public')}/999")
    assert missing.status_code == 404 and "script-src 'self'" in missing.headers["Content-Security-Policy"]


def test_model_page_shows_how_to_use_it_with_hugging_face(app, client, world):
    _upload(client, world)
    _upload(client, world, name="bert+lora")
    project = world.projects["private"]
    signed_in(app, client, "guest")
    r = client.get(f"{MODELS.format('private')}/{_model(client, world, 'private', 'fraud-detector')['id']}")
    assert f'id="hf-repo-id" type="text" value="{project}/fraud-detector"' in r.text
    assert 'export HF_ENDPOINT="http://localhost/hf"' in r.text
    assert f"hf download {project}/fraud-detector --revision main" in r.text
    assert f'snapshot_download("{project}/fraud-detector", revision="main")' in r.text
    # A name the client refuses in a repo id: the page says so instead of a snippet that cannot work.
    r = client.get(f"{MODELS.format('private')}/{_model(client, world, 'private', 'bert+lora')['id']}")
    assert 'data-testid="hf-unreachable"' in r.text and "hf download" not in r.text
