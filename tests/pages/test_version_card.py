"""The version card shows what MLflow logged on the version's run: params, metrics with their
history drawn as a chart, metadata, the CI job, and the version's aliases."""
from __future__ import annotations

import pytest

from plugin.web.pages.charts import line_chart
from tests.support.jobs import register_job
from tests.support.pages import signed_in
from tests.support.world import create_model, generic_url


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


def mlflow(project: int, path: str) -> str:
    return f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/{path}"


def test_version_card_shows_the_runs_params_metrics_history_metadata_ci_job_and_aliases(app, client, world):
    project, headers = world.projects["private"], world.headers("developer")
    create_model(client, project, "fraud-detector", headers)
    assert client.put(generic_url(project, "fraud-detector", "1.4.0"), data=b"w", headers=headers).status_code == 201
    version = client.get(mlflow(project, "model-versions/get?name=fraud-detector&version=1"), headers=headers).json
    run_id = version["model_version"]["run_id"]
    # The tag links the run to the job the CI registered under that id (an unknown one is refused).
    register_job(app, project, "developer", "4242", job_url="https://ci.example.com/jobs/4242", job_name="train")
    batch = {
        "run_id": run_id,
        "params": [{"key": "learning_rate", "value": "0.01"}],
        "metrics": [{"key": "loss", "value": v, "timestamp": 1000 + i, "step": i} for i, v in enumerate([0.9, 0.5, 0.3])]
        + [{"key": "auc", "value": 0.93, "timestamp": 2000, "step": 0}],
        "tags": [
            {"key": "team", "value": "risk"},
            {"key": "gitlab.CI_JOB_ID", "value": "4242"},
            {"key": "gitlab.CI_JOB_URL", "value": "https://ci.example.com/jobs/4242"},
        ],
    }
    assert client.post(mlflow(project, "runs/log-batch"), json=batch, headers=headers).status_code == 200
    alias = {"name": "fraud-detector", "alias": "champion", "version": "1"}
    assert client.post(mlflow(project, "registered-models/alias"), json=alias, headers=headers).status_code == 200

    signed_in(app, client, "guest")
    model = client.get(f"/api/v4/projects/{project}/ml/models/fraud-detector", headers=headers).json
    row = client.get(f"/api/v4/projects/{project}/ml/models/fraud-detector/versions/1.4.0", headers=headers).json
    page = client.get(f"/acme/private/-/ml/models/{model['id']}/versions/{row['id']}")
    assert page.status_code == 200
    html = page.text
    assert "learning_rate" in html and "0.01" in html
    assert "loss" in html and "0.3" in html and "auc" in html
    # Only a metric with a history gets a chart.
    assert html.count('data-testid="metric-chart"') == 1
    assert 'aria-label="History of loss"' in html
    assert "team" in html and "risk" in html
    assert "4242" in html and 'href="https://ci.example.com/jobs/4242"' in html
    assert "@champion" in html
    assert "No parameters logged" not in html and "No metrics logged" not in html


def test_chart_draws_finite_points_and_needs_two():
    svg = str(line_chart("loss", [(0, 0.9), (1, float("nan")), (2, 0.3)]))
    assert svg.startswith("<svg") and "<polyline" in svg
    assert len(svg.split('points="')[1].split('"')[0].split()) == 2
    assert str(line_chart("auc", [(0, 0.93)])) == ""
    assert "&lt;b&gt;" in str(line_chart("<b>", [(0, 1.0), (1, 2.0)]))
