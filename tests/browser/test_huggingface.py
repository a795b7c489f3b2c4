"""A model published with the real ``huggingface_hub`` client, browsed in a real browser (headless
Chromium): the versions its commits made, the ``prod`` tag as an alias, the files with their sizes,
and the model page's "Use with MLflow" and "Use with Hugging Face" snippets, whose MLflow one then
fetches the same bytes with the stock MLflow client."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from package_api.web.pages.filters import filesize
from tests.browser.conftest import follow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PASSWORD = "s3cret-passw0rd"
FILES = {
    "config.json": b'{"hidden_size": 8, "model_type": "bert"}\n',
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\n" + b"word\n" * 3000,
    "model.safetensors": os.urandom(300 * 1024),
}
WIDER = b'{"hidden_size": 16, "model_type": "bert"}\n'
MODEL_PAGE = re.compile(r"/-/ml/models/\d+$")


@pytest.fixture
def page_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Script and console errors (a CSP violation is one) the page saw; the test ends with none."""
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    page.on("console", lambda message: seen.append(f"console: {message.text}") if message.type == "error" else None)
    return seen


def test_a_model_published_through_hugging_face_in_the_ui(serve, page, page_errors, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import HfApi
    from playwright.sync_api import expect

    server = serve({"PLUGINS": "all"})
    server.cli_in_process("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    project = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")

    # Publish two versions (the second touches one file) and tag the second prod, as a user would.
    folder = tmp_path / "encoder"
    for path, data in FILES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    repo = f"{project}/encoder"
    hub = HfApi(endpoint=f"{server.url}/hf", token=token)
    hub.create_repo(repo)
    hub.upload_folder(repo_id=repo, folder_path=folder, commit_message="First weights")
    (folder / "config.json").write_bytes(WIDER)
    hub.upload_folder(repo_id=repo, folder_path=folder, commit_message="Wider encoder")
    hub.create_tag(repo, tag="prod", revision="1.0.1")

    sign_in(page, server.url, "alice", PASSWORD, "/team/models/-/ml/models")
    follow(page, page.get_by_role("link", name="encoder").click, MODEL_PAGE)

    # The model page: both versions, the latest the one prod points at, and how to use it.
    expect(page.get_by_test_id("model-title")).to_have_text("encoder")
    expect(page.get_by_test_id("sidebar-latest-version")).to_have_text("1.0.1")
    expect(page.get_by_test_id("sidebar-aliases")).to_contain_text("@prod 1.0.1")
    tracking_uri = f"{server.url}/api/v4/projects/{project}/ml/mlflow"
    mlflow_usage = page.get_by_test_id("mlflow-usage")
    expect(mlflow_usage.get_by_test_id("mlflow-tracking-uri")).to_have_value(tracking_uri)
    expect(mlflow_usage.get_by_test_id("mlflow-snippet")).to_contain_text(f'export MLFLOW_TRACKING_URI="{tracking_uri}"')
    hf_usage = page.get_by_test_id("hf-usage")
    expect(hf_usage.get_by_test_id("hf-repo-id")).to_have_value(repo)
    expect(hf_usage.get_by_test_id("hf-snippet")).to_contain_text(f'export HF_ENDPOINT="{server.url}/hf"')
    expect(hf_usage.get_by_test_id("hf-snippet")).to_contain_text(f"hf download {repo} --revision main")
    # The two sit side by side: MLflow's first, then Hugging Face's, in the model card.
    card = page.get_by_test_id("model-card")
    expect(card.locator("section.usage h2")).to_have_text(["Use with MLflow", "Use with Hugging Face"])

    follow(page, page.get_by_test_id("tab-versions").click, re.compile(r"tab=versions"))
    versions = page.get_by_test_id("version-list").locator("tbody tr")
    expect(versions).to_have_count(2)
    assert versions.evaluate_all("rows => rows.map(r => r.dataset.version)") == ["1.0.1", "1.0.0"]

    # The version page: the commit message as its description, the alias, every file with its size.
    page.get_by_role("link", name="1.0.1").first.click()
    expect(page.get_by_test_id("version-title")).to_contain_text("encoder / 1.0.1")
    expect(page.get_by_test_id("version-alias")).to_have_text("@prod")
    expect(page.get_by_test_id("version-description")).to_contain_text("Wider encoder")
    follow(page, page.get_by_test_id("tab-artifacts").click, re.compile(r"tab=artifacts"))  # its scripts ran: errors seen
    rows = page.get_by_test_id("artifact-row")
    expect(rows).to_have_count(len(FILES))
    sizes = {**{path: len(data) for path, data in FILES.items()}, "config.json": len(WIDER)}
    for path, size in sizes.items():
        row = page.locator(f'[data-testid="artifact-row"][data-file-name="{path}"]')
        expect(row).to_contain_text(filesize(size))
    assert page_errors == []

    # The MLflow snippet the model page shows fetches the same version's bytes.
    page.goto(f"{server.url}/team/models/-/ml/models")
    follow(page, page.get_by_role("link", name="encoder").click, MODEL_PAGE)  # the whole snippet parsed
    snippet = page.get_by_test_id("mlflow-snippet-python").inner_text()
    assert "models:/encoder@1.0.1" in snippet
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_TRACKING_TOKEN": token}
    script = f"import os; os.chdir({str(tmp_path)!r})\n" + snippet.replace(
        "mlflow.artifacts.download_artifacts(", "print(mlflow.artifacts.download_artifacts(dst_path='fetched', artifact_uri="
    ) + ")"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    fetched = Path(done.stdout.strip().splitlines()[-1])
    assert (fetched / "config.json").read_bytes() == WIDER
    assert (fetched / "model.safetensors").read_bytes() == FILES["model.safetensors"]
