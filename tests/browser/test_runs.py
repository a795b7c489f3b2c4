"""The run pages in headless Chromium against ``modelshelf serve``: a run's charts (several metrics on
one chart, time on the x axis), Promote end to end (the browser's version check, the server's, then the
new version's page, which links back to the run), and the compare page's highlighted params. Runs are
logged through MLflow's REST API, as the client logs them."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import requests

from tests.browser.conftest import follow, sign_in
from tests.browser.test_model_registry import PASSWORD
from tests.support.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

START = 1_700_000_000_000
#: A run's page, and its Promote tab.
RUN_PAGE, PROMOTE_TAB = re.compile(r"/-/ml/runs/[0-9a-f]{32}$"), re.compile(r"/-/ml/runs/[0-9a-f]{32}\?tab=promote$")


@dataclass
class Tracking:
    server: Server
    token: str
    project: int

    def call(self, path: str, json: dict) -> dict:  # type: ignore[type-arg]
        url = f"{self.server.api}/projects/{self.project}/ml/mlflow/api/2.0/mlflow/{path}"
        r = requests.post(url, json=json, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def run(self, experiment: str, name: str, params: dict[str, str], losses: list[float]) -> str:
        info = self.call("runs/create", {"experiment_id": experiment, "run_name": name, "start_time": START})["run"]["info"]
        metrics = [
            {"key": key, "value": v * scale, "timestamp": START + 1000 * s, "step": s}
            for key, scale in (("loss", 1.0), ("val_loss", 1.2))
            for s, v in enumerate(losses)
        ]
        params_ = [{"key": k, "value": v} for k, v in params.items()]
        self.call("runs/log-batch", {"run_id": info["run_id"], "params": params_, "metrics": metrics})
        self.call("runs/update", {"run_id": info["run_id"], "status": "FINISHED", "end_time": START + 60_000})
        return str(info["run_id"])

    def artifact(self, experiment: str, run_id: str, path: str, data: bytes) -> None:
        url = (f"{self.server.api}/projects/{self.project}/ml/mlflow/api/2.0/mlflow-artifacts/artifacts/"
               f"{experiment}/{run_id}/artifacts/{path}")
        r = requests.put(url, data=data, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        assert r.status_code == 200, r.text


@pytest.fixture
def tracking(serve) -> Tracking:  # type: ignore[no-untyped-def]
    server = serve({"PLUGINS": "all"})
    server.cli_in_process("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    project = int(server.cli_in_process("admin", "create-project", "team/models", "--owner", "alice"))
    token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
    return Tracking(server, token, project)


def _sign_in(page, server: Server, path: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.url, "alice", PASSWORD, path)


@pytest.fixture
def page_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" and "status of 400" not in m.text else None)
    return seen


def test_the_run_page_draws_charts_and_promotes_the_run_to_a_version_that_links_back(tracking, page, screenshot, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    experiment = tracking.call("experiments/create", {"name": "churn"})["experiment_id"]
    run_id = tracking.run(experiment, "gbm-depth-6", {"depth": "6", "lr": "0.1"}, [0.9, 0.6, 0.45, 0.4, 0.38])
    tracking.artifact(experiment, run_id, "model/model.pkl", b"pickled model")
    made = requests.post(f"{tracking.server.api}/projects/{tracking.project}/ml/models", json={"name": "churn-model"},
                         headers={"PRIVATE-TOKEN": tracking.token}, timeout=30)
    assert made.status_code == 201, made.text

    run_page = f"/team/models/-/ml/runs/{run_id}"
    _sign_in(page, tracking.server, run_page)
    expect(page.get_by_test_id("run-title")).to_contain_text("gbm-depth-6")
    expect(page.get_by_test_id("metric-chart")).to_have_count(2)
    expect(page.get_by_test_id("run-duration")).to_have_text("1 min 0 s")

    # Two metrics on one chart, with a legend; then time on the x axis.
    page.get_by_label("Plot loss", exact=True).check()
    page.get_by_label("Plot val_loss", exact=True).check()
    page.get_by_test_id("plot-together").click()
    combined = page.get_by_test_id("combined-chart")
    expect(combined.locator("polyline")).to_have_count(2)
    expect(combined.get_by_test_id("chart-legend")).to_contain_text("val_loss")
    follow(page, page.get_by_test_id("x-axis-time").click, re.compile(r"[?&]x=time"))  # styled for the screenshot
    expect(page.get_by_test_id("combined-chart").locator("svg")).to_have_attribute("data-x-axis", "time")
    expect(page.get_by_test_id("x-axis-current")).to_have_text("Time")
    page.get_by_test_id("metric-picker").evaluate("picker => picker.scrollIntoView()")
    screenshot("run-page")

    # Promote: the browser checks the version as it is typed, the server when it is sent.
    # The form is usable before its deferred script has run; typing then shows no error (seen once in .ci/run).
    follow(page, page.get_by_test_id("promote-link").click, PROMOTE_TAB)
    page.get_by_label("Model").select_option(label="churn-model")
    page.get_by_label("What to register").select_option(value="path:model")
    page.get_by_label("Version", exact=True).fill("one")
    expect(page.get_by_test_id("version-error")).to_have_text(re.compile("Version must be a semantic version"))
    page.get_by_test_id("submit-promote").click()
    expect(page.get_by_test_id("version-error")).to_be_visible()
    page.get_by_label("Version", exact=True).fill("1.0.0")
    page.get_by_label("Description").fill("Promoted from the sweep")
    screenshot("run-promote")
    page.get_by_test_id("submit-promote").click()

    expect(page.get_by_test_id("version-title")).to_have_text("churn-model / 1.0.0")
    expect(page.get_by_text("Run gbm-depth-6 registered as version 1.0.0 of churn-model")).to_be_visible()
    page.get_by_test_id("tab-artifacts").click()
    expect(page.get_by_test_id("artifact-row")).to_have_count(1)
    expect(page.get_by_test_id("artifact-row")).to_contain_text("model.pkl")
    follow(page, page.get_by_test_id("version-run").click, re.compile(f"/-/ml/runs/{run_id}$"))  # errors seen
    expect(page.get_by_test_id("run-versions")).to_contain_text("churn-model / 1.0.0")
    assert page_errors == []


def test_compare_highlights_the_params_that_differ(tracking, page, screenshot, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    experiment = tracking.call("experiments/create", {"name": "churn"})["experiment_id"]
    a = tracking.run(experiment, "depth-4", {"depth": "4", "lr": "0.1", "seed": "7"}, [0.9, 0.7, 0.6])
    b = tracking.run(experiment, "depth-8", {"depth": "8", "lr": "0.1", "seed": "7"}, [0.8, 0.5, 0.3])
    compare = f"/team/models/-/ml/runs/compare?run={a}&run={b}"
    _sign_in(page, tracking.server, compare)

    params = page.get_by_test_id("compare-params")
    expect(params.locator("tr.differs")).to_have_count(1)
    depth = params.locator('tr[data-param="depth"]')
    expect(depth).to_have_attribute("data-differs", "true")
    # The sign-in click does not wait for the next page's stylesheet: to_have_css retries until it applies
    # (a single getComputedStyle read both cells unstyled once, under load in .ci/run).
    expect(depth.locator("td").first).to_have_css("background-color", "rgb(254, 243, 199)")  # #fef3c7
    expect(params.locator('tr[data-param="lr"] td').first).not_to_have_css("background-color", "rgb(254, 243, 199)")
    chart = page.locator('[data-testid="metric-history"][data-metric="loss"]')
    expect(chart.locator("polyline")).to_have_count(2)
    expect(chart.get_by_test_id("chart-legend")).to_contain_text("depth-4")
    expect(chart.get_by_test_id("chart-legend")).to_contain_text("depth-8")
    screenshot("compare-runs")
    follow(page, page.get_by_role("link", name="depth-8").first.click, RUN_PAGE)  # its scripts ran: errors seen
    expect(page.get_by_test_id("run-title")).to_contain_text("depth-8")
    assert page_errors == []


def test_walk_experiments_to_an_experiment_to_compare_to_a_run_to_promote(tracking, page, page_errors):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    experiment = tracking.call("experiments/create", {"name": "churn"})["experiment_id"]
    tracking.run(experiment, "depth-4", {"depth": "4", "lr": "0.1"}, [0.9, 0.7, 0.6])
    best = tracking.run(experiment, "depth-8", {"depth": "8", "lr": "0.1"}, [0.8, 0.5, 0.3])
    tracking.artifact(experiment, best, "model/model.pkl", b"pickled model")
    made = requests.post(f"{tracking.server.api}/projects/{tracking.project}/ml/models", json={"name": "churn-model"},
                         headers={"PRIVATE-TOKEN": tracking.token}, timeout=30)
    assert made.status_code == 201, made.text

    _sign_in(page, tracking.server, "/team/models/-/ml/experiments")
    # Its Compare button is experiments.js's: the runs are selected once it has run.
    churn = page.get_by_test_id("experiment-list").get_by_role("link", name="churn")
    follow(page, churn.click, re.compile(r"/-/ml/experiments/\d+$"))
    page.get_by_label("Select run depth-4").check()
    page.get_by_label("Select run depth-8").check()
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_test_id("compare-params").locator("tr.differs")).to_have_count(1)
    expect(page.locator('[data-testid="metric-history"][data-metric="loss"] polyline')).to_have_count(2)
    page.get_by_test_id("compare-runs").get_by_role("link", name="depth-8").click()
    expect(page.get_by_test_id("run-title")).to_contain_text("depth-8")
    follow(page, page.get_by_test_id("promote-link").click, PROMOTE_TAB)
    page.get_by_label("Model").select_option(label="churn-model")
    page.get_by_label("What to register").select_option(value="path:model")
    page.get_by_label("Version", exact=True).fill("2.0.0")
    page.get_by_test_id("submit-promote").click()
    expect(page.get_by_test_id("version-title")).to_have_text("churn-model / 2.0.0")
    page.get_by_test_id("version-run").click()
    expect(page.get_by_test_id("run-versions")).to_contain_text("churn-model / 2.0.0")
    follow(page, page.get_by_test_id("run-experiment").click, re.compile(f"/-/ml/experiments/{experiment}$"))  # errors seen
    assert page_errors == []
