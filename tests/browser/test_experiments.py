"""Deploy > Model experiments in a real browser (headless Chromium) against ``modelshelf serve``: runs
logged by the real MLflow client, the experiments list, an experiment's runs table (filter, sort by a
header, two runs selected and compared), and the links MLflow prints at the end of each run
(``View run … at``, ``View experiment at``) opened as a user opens them, signed in or not yet."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.browser.conftest import fill_sign_in, follow, sign_in
from tests.support.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PASSWORD = "s3cret-passw0rd"
#: How Chromium logs a response with an error status (a page the test expects to be refused).
HTTP_STATUS_LOG = "Failed to load resource: the server responded with a status of"
#: The runs the MLflow client logs: name, model, learning rate, accuracy.
RUNS = (("tree-1", "tree", "0.1", 0.72), ("forest-1", "forest", "0.1", 0.91), ("forest-2", "forest", "0.01", 0.86),
        ("linear-1", "linear", "0.1", 0.55))
TRAINING = """
import mlflow
mlflow.set_experiment("fraud-training")
for name, model, lr, acc in {runs!r}:
    with mlflow.start_run(run_name=name):
        mlflow.log_params({{"model": model, "learning_rate": lr}})
        mlflow.log_metrics({{"accuracy": acc, "loss": 1 - acc}})
"""
#: An experiment's page filtered, and sorted (by a column's header).
FILTERED, SORTED = re.compile(r"/-/ml/experiments/\d+\?.*filter="), re.compile(r"/-/ml/experiments/\d+\?.*order_by=")
PRINTED = re.compile(r"View run (?P<name>\S+) at: (?P<run>\S+)\s+.*?View experiment at: (?P<experiment>\S+)", re.DOTALL)


@dataclass
class Site:
    server: Server
    project: str  # full path
    printed: dict[str, tuple[str, str]]  # run name -> (its "View run" URL, its "View experiment" URL)

    def url(self, path: str) -> str:
        return self.server.url + path


@pytest.fixture
def site(serve) -> Site:  # type: ignore[no-untyped-def]
    """``modelshelf serve`` with the model registry, alice (a password, a token) owning a private
    project, and the runs of ``RUNS`` logged there by the real MLflow client, whose printed links
    are kept."""
    server = serve({"PLUGINS": "all"})
    server.cli_in_process("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    project = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        MLFLOW_TRACKING_URI=f"{server.api}/projects/{project}/ml/mlflow",
        MLFLOW_TRACKING_TOKEN=token,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    done = subprocess.run(
        [sys.executable, "-c", TRAINING.format(runs=RUNS)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    printed = {m.group("name"): (m.group("run"), m.group("experiment")) for m in PRINTED.finditer(done.stdout + done.stderr)}
    assert sorted(printed) == sorted(name for name, *_ in RUNS), done.stdout
    return Site(server, "team/models", printed)


@pytest.fixture
def page_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Script and console errors (a CSP violation is one); error statuses provoked on purpose aside."""
    seen: list[str] = []

    def console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error" and not message.text.startswith(HTTP_STATUS_LOG):
            seen.append(f"console: {message.text}")

    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    page.on("console", console)
    return seen


def _sign_in(page, site: Site, redirect_to: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, site.server.url, "alice", PASSWORD, redirect_to)


def _run_names(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("[data-testid=run-table] tbody tr").evaluate_all("rows => rows.map(r => r.dataset.runName)")


def test_experiments_list_then_filter_sort_and_compare_two_runs(page, site: Site, page_errors, screenshot) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    models = f"/{site.project}/-/ml/models"
    _sign_in(page, site, models)
    sidebar = page.get_by_role("complementary", name="Project navigation")
    follow(page, sidebar.get_by_role("link", name="Model experiments").click, site.url(f"/{site.project}/-/ml/experiments"))
    expect(sidebar.get_by_role("link", name="Model experiments")).to_have_attribute("aria-current", "page")
    row = page.locator('tr[data-experiment-name="fraud-training"]')
    expect(row.get_by_test_id("run-count")).to_have_text("4")
    screenshot("experiments-list")

    follow(page, row.get_by_role("link", name="fraud-training").click, re.compile(r"/-/ml/experiments/\d+$"))
    expect(page.get_by_test_id("experiment-title")).to_have_text("fraud-training")
    expect(page.get_by_test_id("run-table").locator("tbody tr")).to_have_count(4)
    assert _run_names(page) == ["linear-1", "forest-2", "forest-1", "tree-1"]  # the newest first
    expect(page.get_by_test_id("sort-params.model")).to_be_visible()  # the logged keys are the columns

    page.get_by_test_id("run-filter").fill("metrics.accuracy > 0.6 and params.model != 'tree'")
    follow(page, page.get_by_role("button", name="Filter").click, FILTERED)
    expect(page.get_by_test_id("run-table").locator("tbody tr")).to_have_count(2)

    # Each sort is a new page: its rows are read once it is all there, not while it is parsed.
    sort = page.get_by_test_id("sort-metrics.accuracy")
    follow(page, sort.get_by_role("link").click, SORTED)
    expect(sort).to_have_attribute("aria-sort", "descending")
    assert _run_names(page) == ["forest-1", "forest-2"]
    follow(page, sort.get_by_role("link").click, SORTED)
    expect(sort).to_have_attribute("aria-sort", "ascending")
    assert _run_names(page) == ["forest-2", "forest-1"]
    expect(page.get_by_test_id("run-filter")).to_have_value("metrics.accuracy > 0.6 and params.model != 'tree'")

    # A bad filter is a message on the page, the filter kept to fix it.
    page.get_by_test_id("run-filter").fill("metrics.accuracy >>> 1")
    follow(page, page.get_by_role("button", name="Filter").click, FILTERED)
    expect(page.get_by_test_id("run-filter-error")).to_be_visible()
    page.get_by_test_id("run-filter").fill("params.model = 'forest'")
    # Its runs are checked on the page the filter opens (whose script enables Compare), not on this one.
    follow(page, page.get_by_role("button", name="Filter").click, FILTERED)
    expect(page.get_by_test_id("run-table").locator("tbody tr")).to_have_count(2)

    compare = page.get_by_test_id("compare-runs")
    expect(compare).to_be_disabled()
    ids = page.locator("[data-testid=run-table] tbody tr").evaluate_all("rows => rows.map(r => r.dataset.runId)")
    page.get_by_label("Select run forest-1").check()
    expect(compare).to_be_disabled()
    page.get_by_label("Select run forest-2").check()
    expect(compare).to_be_enabled()
    screenshot("experiment-runs")
    follow(page, compare.click, site.url(f"/{site.project}/-/ml/runs/compare?" + "&".join(f"run={i}" for i in ids)))
    assert page_errors == []


def test_the_links_mlflow_prints_open_the_experiment_and_the_run(page, site: Site, page_errors) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    run_link, experiment_link = site.printed["forest-1"]
    assert "/ml/mlflow/#/experiments/" in experiment_link and "/runs/" in run_link
    experiment = re.search(r"#/experiments/(\d+)$", experiment_link).group(1)
    run_id = re.search(r"/runs/([0-9a-f]{32})$", run_link).group(1)

    # Signed out, a private project's link is a page not found that offers to sign in, and signing
    # in comes back to the link (its fragment kept), which opens the run.
    page.goto(run_link)
    expect(page.get_by_test_id("mlflow-link-refused")).to_be_visible()
    page.get_by_test_id("mlflow-link-sign-in").click()
    fill_sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(site.url(f"/{site.project}/-/ml/runs/{run_id}"))
    expect(page.get_by_test_id("run-id")).to_have_text(run_id)
    expect(page.get_by_test_id("run-title")).to_contain_text("forest-1")

    page.goto(experiment_link)
    expect(page).to_have_url(site.url(f"/{site.project}/-/ml/experiments/{experiment}"))
    expect(page.get_by_test_id("experiment-title")).to_have_text("fraud-training")
    expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_be_visible()

    page.goto(site.printed["tree-1"][0])
    tree = re.search(r"/runs/([0-9a-f]{32})$", site.printed["tree-1"][0]).group(1)
    expect(page).to_have_url(site.url(f"/{site.project}/-/ml/runs/{tree}"))
    expect(page.get_by_test_id("run-title")).to_contain_text("tree-1")
    # The tracking URI itself opens the experiments.
    page.goto(site.url(re.sub(r"^https?://[^/]+", "", experiment_link.split("#")[0])))
    expect(page).to_have_url(site.url(f"/{site.project}/-/ml/experiments"))
    assert page_errors == []
