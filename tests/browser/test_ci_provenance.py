"""A model version published by a registered CI job shows its provenance on the version page, in a
real browser (headless Chromium) against ``modelshelf serve``: the job, its pipeline, the merge
request and the user who triggered it, with working links and text shown as text."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PASSWORD = "s3cret-passw0rd"
GITLAB = "https://gitlab.example.com/team/models"
JOB: dict[str, str] = {
    "user": "bob",
    "ci_system": "gitlab",
    "job_id": "4242",
    "job_name": "train-fraud",
    "job_url": f"{GITLAB}/-/jobs/4242",
    "pipeline_id": "977",
    "pipeline_url": f"{GITLAB}/-/pipelines/977",
    "ref": "feature/recall",
    "sha": "0b3e5f4c2a1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f",
    "merge_request_iid": "12",
    "merge_request_title": "Raise recall <script>alert(1)</script>",
    "merge_request_url": f"{GITLAB}/-/merge_requests/12",
}


@pytest.fixture
def published(serve) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A version uploaded with the token of a job bob triggered; alice (the owner) will look at it."""
    server = serve({"PLUGINS": "all"})
    server.cli_in_process("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    server.cli_in_process("admin", "create-user", "bob")
    server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice")
    server.cli_in_process("admin", "add-member", "team/models", "bob", "developer")
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
    project = f"{server.api}/projects/team%2Fmodels"
    owner = {"PRIVATE-TOKEN": token}

    ci_token = requests.post(f"{project}/ci_token", headers=owner, timeout=30).json()["token"]
    job = requests.post(f"{project}/jobs", data=JOB, headers={"CI-TOKEN": ci_token}, timeout=30)
    assert job.status_code == 201, job.text
    assert requests.post(f"{project}/ml/models", json={"name": "fraud-detector"}, headers=owner, timeout=30).status_code == 201
    upload = requests.put(
        f"{project}/packages/generic/fraud-detector/1.4.0/model.onnx",
        data=b"weights",
        headers={"JOB-TOKEN": job.json()["token"]},
        timeout=30,
    )
    assert upload.status_code == 201, upload.text
    version = requests.get(f"{project}/ml/models/fraud-detector/versions/1.4.0", headers=owner, timeout=30).json()
    return {"server": server, "path": version["_links"]["show_path"]}


def test_the_version_page_shows_the_job_pipeline_merge_request_and_user(published, page, screenshot) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    url = published["server"].url
    sign_in(page, url, "alice", PASSWORD, published["path"])
    expect(page.get_by_test_id("version-title")).to_have_text("fraud-detector / 1.4.0")

    ci = page.get_by_test_id("version-ci-job")
    job = ci.get_by_test_id("ci-job")
    expect(job.get_by_role("link", name="train-fraud")).to_have_attribute("href", JOB["job_url"])
    expect(job).to_contain_text("#4242")
    expect(job).to_contain_text("Running")
    expect(ci.get_by_test_id("ci-pipeline").get_by_role("link", name="#977")).to_have_attribute("href", JOB["pipeline_url"])
    merge_request = ci.get_by_test_id("ci-merge-request")
    expect(merge_request.get_by_role("link", name="!12")).to_have_attribute("href", JOB["merge_request_url"])
    expect(merge_request).to_contain_text("Raise recall <script>alert(1)</script>")  # text, never markup
    expect(ci.get_by_test_id("ci-ref")).to_have_text("feature/recall")
    expect(ci.get_by_test_id("ci-sha")).to_have_text(JOB["sha"][:12])
    expect(ci.get_by_test_id("ci-user")).to_contain_text("@bob")
    for link in ci.get_by_role("link").all():  # every link leaves for the CI system, safely
        assert link.get_attribute("href").startswith(GITLAB)
        assert link.get_attribute("rel") == "noopener noreferrer"
    ci.scroll_into_view_if_needed()
    screenshot("version-ci-job")
