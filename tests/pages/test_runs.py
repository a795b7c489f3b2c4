"""The run pages: a run (params, metrics and their charts, tags with MLflow's folded away, lineage,
artifacts, CI job), Promote (a run or a logged model becomes a version; the version field checked as on
New version; who may), the comparison of runs, the model's Runs tab and the version's link to its run."""
from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import insert, select

from package_api.db import db
from plugin.tracking.models import Run, RunMetric
from plugin.web.pages.charts import MAX_POINTS, Series, chart, downsample
from tests.support.jobs import register_job
from tests.support.pages import signed_in
from tests.support.world import create_model

RUNS = "/acme/{}/-/ml/runs"


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


class Tracking:
    """The MLflow REST API of one project, as a Developer."""

    def __init__(self, client, world, project="private"):
        self.client, self.world, self.project = client, world, world.projects[project]
        self.headers = world.headers("developer")

    def call(self, path, json=None, method="POST"):
        url = f"/api/v4/projects/{self.project}/ml/mlflow/api/2.0/mlflow/{path}"
        r = self.client.open(url, method=method, json=json, headers=self.headers)
        assert r.status_code == 200, r.json
        return r.json

    def experiment(self, name="churn"):
        return self.call("experiments/create", {"name": name})["experiment_id"]

    def run(self, experiment, name, *, tags=(), params=(), metrics=(), finished=True):
        info = self.call(
            "runs/create",
            {"experiment_id": experiment, "run_name": name, "start_time": 1_700_000_000_000,
             "tags": [{"key": k, "value": v} for k, v in tags]},
        )["run"]["info"]
        run_id = info["run_id"]
        if params or metrics:
            self.call("runs/log-batch", {
                "run_id": run_id,
                "params": [{"key": k, "value": v} for k, v in params],
                "metrics": [{"key": k, "value": v, "timestamp": 1_700_000_000_000 + 1000 * s, "step": s}
                            for k, v, s in metrics],
            })
        if finished:
            self.call("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_090_000})
        return run_id

    def artifact(self, experiment, run_id, path, data=b"bytes"):
        url = (f"/api/v4/projects/{self.project}/ml/mlflow/api/2.0/mlflow-artifacts/artifacts/"
               f"{experiment}/{run_id}/artifacts/{path}")
        assert self.client.put(url, data=data, headers=self.headers).status_code == 200

    def logged_model(self, experiment, run_id, name="sk-model"):
        model = self.call("logged-models", {"experiment_id": experiment, "name": name, "source_run_id": run_id})
        model_id = model["model"]["info"]["model_id"]
        url = (f"/api/v4/projects/{self.project}/ml/mlflow/api/2.0/mlflow-artifacts/artifacts/"
               f"{experiment}/models/{model_id}/artifacts/model.pkl")
        assert self.client.put(url, data=b"pickled", headers=self.headers).status_code == 200
        self.call("runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]})
        return model_id


def _section(html, testid):
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</table>", start)]


def test_run_page_shows_what_is_logged_charts_tags_lineage_and_ci_job(app, client, world):
    tracking = Tracking(client, world)
    exp = tracking.experiment()
    register_job(app, world.projects["private"], "developer", "777", job_url="https://ci.example.com/jobs/777", job_name="train")
    parent = tracking.run(exp, "sweep")
    run_id = tracking.run(
        exp, "trial-1",
        tags=[("team", "risk"), ("mlflow.parentRunId", parent), ("mlflow.source.name", "train.py"), ("gitlab.CI_JOB_ID", "777")],
        params=[("learning_rate", "0.01"), ("depth", "6")],
        metrics=[("loss", v, s) for s, v in enumerate([0.9, 0.5, 0.3])] + [("val_loss", v, s) for s, v in enumerate([1.0, 0.7, 0.6])]
        + [("auc", 0.93, 0)],
    )
    tracking.artifact(exp, run_id, "model/model.pkl", b"pickled")
    tracking.artifact(exp, run_id, "report.txt", b"ok")
    signed_in(app, client, "guest")

    r = client.get(f"{RUNS.format('private')}/{run_id}")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.text
    assert 'data-testid="run-title">trial-1' in html and run_id in html and ">Finished<" in html
    assert 'href="/acme/private/-/ml/experiments/' + exp + '"' in html
    assert "1 min 30 s" in html  # 90 s from start to end
    params = _section(html, "run-params")
    assert "learning_rate" in params and "0.01" in params
    metrics = _section(html, "run-metrics")
    assert "loss" in metrics and "0.3" in metrics and "auc" in metrics
    # One chart per metric with a history (auc has one point: the table says it), by step.
    assert html.count('data-testid="metric-chart"') == 2 and 'data-x-axis="step"' in html
    # The user's tags are shown; MLflow's own are folded into a closed <details>.
    assert "team" in _section(html, "run-tags") and "mlflow.source.name" not in _section(html, "run-tags")
    folded = html[html.index('data-testid="system-tags"') :]
    assert folded.startswith('data-testid="system-tags">') and "mlflow.source.name" in folded
    # Lineage: the parent, and the parent's page lists its child.
    assert f'href="/acme/private/-/ml/runs/{parent}">sweep</a>' in html
    assert f'href="/acme/private/-/ml/runs/{run_id}">trial-1</a>' in client.get(f"{RUNS.format('private')}/{parent}").text
    # The CI job the gitlab.CI_JOB_ID tag names.
    assert 'href="https://ci.example.com/jobs/777"' in _section(html, "run-ci-job")

    artifacts = client.get(f"{RUNS.format('private')}/{run_id}?tab=artifacts").text
    assert "model/model.pkl" in artifacts and "report.txt" in artifacts
    link = re.search(r'href="([^"]+/download)"', artifacts[artifacts.index("model/model.pkl") :]).group(1)
    assert client.get(link).data == b"pickled"


def test_the_run_page_lists_its_datasets_and_the_logged_models_it_used(app, client, world):
    tracking = Tracking(client, world)
    exp = tracking.experiment()
    producer = tracking.run(exp, "producer")
    used = tracking.logged_model(exp, producer, name="base-model")
    run_id = tracking.run(exp, "fine-tune")
    dataset = {"name": "iris<b>", "digest": "d41d8cd9", "source_type": "local", "source": '{"uri": "/data/iris.csv"}',
               "profile": '{"num_rows": 150}'}
    tracking.call("runs/log-inputs", {"run_id": run_id, "models": [{"model_id": used}], "datasets": [
        {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "train"}]}]})
    signed_in(app, client, "guest")
    html = client.get(f"{RUNS.format('private')}/{run_id}").text
    datasets = _section(html, "run-datasets")
    assert "iris&lt;b&gt;" in datasets and "d41d8cd9" in datasets and ">train<" in datasets and "num_rows" in datasets
    assert "base-model" in html.split('data-testid="run-model-inputs"')[1].split("</p>")[0]
    assert "No datasets logged" in client.get(f"{RUNS.format('private')}/{producer}").text


def test_several_metrics_on_one_chart_with_a_legend_and_time_on_the_x_axis(app, client, world):
    tracking = Tracking(client, world)
    exp = tracking.experiment()
    run_id = tracking.run(exp, "trial", metrics=[(k, v / (s + 1), s) for k, v in (("loss", 1.0), ("val_loss", 2.0)) for s in range(5)])
    signed_in(app, client, "guest")
    html = client.get(f"{RUNS.format('private')}/{run_id}?metric=loss&metric=val_loss&x=time").text
    combined = html[html.index('data-testid="combined-chart"') :].split("</figure>")[0]
    assert combined.count("<polyline") == 2 and 'data-testid="chart-legend"' in combined
    assert ">loss</text>" in combined and ">val_loss</text>" in combined
    assert 'data-x-axis="time"' in combined and "4 s</text>" in combined  # 4 s after the run started
    # The links to the other axis keep the chosen metrics.
    assert "x=step" in html and "metric=loss&amp;metric=val_loss" in html


def test_a_long_history_is_downsampled_and_nan_and_inf_render(app, client, world):
    tracking = Tracking(client, world)
    exp = tracking.experiment()
    run_id = tracking.run(exp, "diverged", metrics=[("loss", float("nan"), 0), ("loss", 0.5, 1), ("loss", 0.4, 2)])
    tracking.call("runs/log-metric", {"run_id": run_id, "key": "grad", "value": "Infinity", "timestamp": 1, "step": 0})
    tracking.call("runs/log-metric", {"run_id": run_id, "key": "grad", "value": 2.0, "timestamp": 2, "step": 1})
    tracking.call("runs/log-metric", {"run_id": run_id, "key": "nan_only", "value": "NaN", "timestamp": 2, "step": 1})
    # 100,000 points, all but the last inserted in bulk (through log-batch they take a hundred requests).
    long_id = tracking.run(exp, "long")
    with app.app_context():
        run = db.session.scalar(select(Run).where(Run.uuid == long_id))
        db.session.execute(insert(RunMetric), [
            {"run_id": run.id, "key": "step_loss", "value": 1 / (i + 1) + (5.0 if i == 54_321 else 0.0),
             "is_nan": False, "timestamp": i, "step": i}
            for i in range(99_999)
        ])
        db.session.commit()
    tracking.call("runs/log-batch", {"run_id": long_id, "metrics": [
        {"key": "step_loss", "value": 1 / 100_000, "timestamp": 99_999, "step": 99_999}]})
    signed_in(app, client, "guest")
    r = client.get(f"{RUNS.format('private')}/{run_id}")
    assert r.status_code == 200 and "NaN" in _section(r.text, "run-metrics")
    began = time.perf_counter()
    r = client.get(f"{RUNS.format('private')}/{long_id}")
    elapsed = time.perf_counter() - began
    assert r.status_code == 200
    drawn = r.text.split('points="')[1].split('"')[0].split()
    assert len(drawn) <= MAX_POINTS
    # The spike at step 54,321 is kept: the highest value drawn is its.
    assert "5.00002</text>" in r.text or "5</text>" in r.text
    print(f"run page with a 100,000-point history: {elapsed * 1000:.0f} ms")


def test_downsample_keeps_every_bucket_extremes():
    points = [(float(i), float(i % 7)) for i in range(10_000)]
    kept = downsample(points, 100)
    assert len(kept) <= 100 and kept == sorted(kept, key=lambda p: p[0])
    assert min(y for _, y in kept) == 0 and max(y for _, y in kept) == 6
    assert downsample(points[:50], 100) == points[:50]
    # Series with a single point are dots; no series with two points: no chart.
    assert str(chart("x", [Series("a", [(0, 1.0)]), Series("b", [(0, 2.0)])])) == ""
    svg = str(chart("x", [Series("<a>", [(0, 1.0), (1, 2.0)]), Series("b", [(0, 2.0)])]))
    assert "<circle" in svg and "&lt;a&gt;" in svg and "<a>" not in svg


def test_values_names_and_tags_are_escaped(app, client, world):
    tracking = Tracking(client, world)
    exp = tracking.experiment()
    evil = '<script>alert("x")</script>'
    run_id = tracking.run(exp, evil, tags=[("note", evil), ("mlflow.note.content", f"**Baseline** {evil}")],
                          params=[("p", evil)], metrics=[("m", 1.0, 0), ("m", 2.0, 1)])
    signed_in(app, client, "guest")
    html = client.get(f"{RUNS.format('private')}/{run_id}").text
    # MLflow's run description is Markdown, rendered and sanitised as a model card is.
    assert "<strong>Baseline</strong>" in html.split('data-testid="run-description"')[1].split("</div>")[0]
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    compare = client.get(f"{RUNS.format('private')}/compare?run={run_id}").text
    assert "<script>alert" not in compare and "&lt;script&gt;" in compare


def test_private_runs_are_404_for_outsiders_and_guests_see_no_promote(app, client, world):
    tracking = Tracking(client, world)
    run_id = tracking.run(tracking.experiment(), "trial")
    url = f"{RUNS.format('private')}/{run_id}"
    assert client.get(url).status_code == 404  # signed out: a private project is not found
    signed_in(app, client, "outsider")
    assert client.get(url).status_code == 404
    assert client.get(f"{RUNS.format('private')}/compare?run={run_id}").status_code == 404
    assert client.get(f"{RUNS.format('private')}/{'0' * 32}").status_code == 404
    csrf = signed_in(app, client, "guest")
    html = client.get(url).text
    assert client.get(url).status_code == 200 and 'data-testid="promote-link"' not in html
    assert client.get(f"{url}?tab=promote").text.count("data-promote-form") == 0
    model = create_model(client, world.projects["private"], "churn-model", world.headers("developer"))
    r = client.post(f"{url}/promote", data={"model_id": model["id"], "version": "1.0.0", "csrf_token": csrf})
    assert r.status_code == 403
    versions = client.get(f"/api/v4/projects/{world.projects['private']}/ml/models/churn-model/versions",
                          headers=world.headers("developer"))
    assert versions.json == []


def _promote_form(client, url):
    html = client.get(f"{url}?tab=promote").text
    model_id = re.search(r'<option value="(\d+)"', html).group(1)
    return html, model_id


def test_promote_registers_the_run_as_a_version_that_links_back(app, client, world):
    tracking = Tracking(client, world)
    exp = tracking.experiment()
    run_id = tracking.run(exp, "trial", params=[("depth", "6")])
    tracking.artifact(exp, run_id, "model/model.pkl", b"pickled")
    tracking.artifact(exp, run_id, "notes.txt", b"n")
    create_model(client, world.projects["private"], "churn-model", world.headers("developer"))
    csrf = signed_in(app, client, "developer")
    url = f"{RUNS.format('private')}/{run_id}"
    html, model_id = _promote_form(client, url)
    assert 'value="path:model"' in html and "data-semver" in html

    # Not a semantic version: the form's error, and nothing is made.
    r = client.post(f"{url}/promote", data={"model_id": model_id, "source": "run", "version": "v1", "csrf_token": csrf})
    assert r.status_code == 400 and 'data-testid="version-error">Version must be a semantic version' in r.text
    assert client.get(f"/acme/private/-/ml/models/{model_id}?tab=versions").text.count("data-version=") == 0
    # Without the CSRF token: refused.
    assert client.post(f"{url}/promote", data={"model_id": model_id, "version": "1.0.0"}).status_code in (400, 403)

    r = client.post(f"{url}/promote", data={"model_id": model_id, "source": "path:model", "version": "1.0.0",
                                            "description": "first", "csrf_token": csrf})
    assert r.status_code == 302
    version_page = client.get(r.headers["Location"]).text
    assert "churn-model / 1.0.0" in version_page
    assert f'href="/acme/private/-/ml/runs/{run_id}" data-testid="version-run">trial</a>' in version_page
    assert "depth" in version_page  # the card shows the run's params
    files = client.get(r.headers["Location"] + "?tab=artifacts").text
    assert "model.pkl" in files and "notes.txt" not in files
    # The same version again: the form says so.
    again = client.post(f"{url}/promote", data={"model_id": model_id, "version": "1.0.0", "csrf_token": csrf})
    assert again.status_code == 409 and "Version 1.0.0 already exists" in again.text
    # The run lists the version; the model's Runs tab lists the run.
    assert "churn-model / 1.0.0" in client.get(url).text
    runs_tab = client.get(f"/acme/private/-/ml/models/{model_id}?tab=runs").text
    assert f'href="/acme/private/-/ml/runs/{run_id}">trial</a>' in runs_tab and "<code>1.0.0</code>" in runs_tab


def test_promote_a_logged_model_and_reporters_may_as_on_new_version(app, client, world):
    tracking = Tracking(client, world)
    exp = tracking.experiment()
    run_id = tracking.run(exp, "trial")
    model_uuid = tracking.logged_model(exp, run_id)
    create_model(client, world.projects["private"], "churn-model", world.headers("developer"))
    csrf = signed_in(app, client, "reporter")
    url = f"{RUNS.format('private')}/{run_id}"
    html, model_id = _promote_form(client, url)
    assert model_uuid in _section(client.get(url).text, "run-logged-models")
    assert f'value="model:{model_uuid}"' in html
    r = client.post(f"{url}/promote", data={"model_id": model_id, "source": f"model:{model_uuid}", "version": "2.0.0-rc.1",
                                            "csrf_token": csrf})
    assert r.status_code == 302, r.text
    files = client.get(r.headers["Location"] + "?tab=artifacts").text
    assert "model.pkl" in files
    version = client.get(
        f"/api/v4/projects/{world.projects['private']}/ml/mlflow/api/2.0/mlflow/model-versions/get?name=churn-model&version=1",
        headers=world.headers("developer"),
    ).json["model_version"]
    assert version["run_id"] == run_id and version["source"] == f"models:/{model_uuid}"
    assert version.get("model_id") in (None, model_uuid)


def test_compare_puts_params_side_by_side_and_overlays_metrics(app, client, world):
    tracking = Tracking(client, world)
    exp = tracking.experiment()
    a = tracking.run(exp, "run-a", params=[("lr", "0.1"), ("depth", "6")], metrics=[("loss", 1 / (s + 1), s) for s in range(4)])
    b = tracking.run(exp, "run-b", params=[("lr", "0.2"), ("depth", "6"), ("extra", "x")],
                     metrics=[("loss", 2 / (s + 1), s) for s in range(4)])
    signed_in(app, client, "guest")
    r = client.get(f"{RUNS.format('private')}/compare?run={a}&run={b}")
    assert r.status_code == 200
    html = r.text
    assert '<tr data-param="lr" class="differs" data-differs="true">' in html
    assert '<tr data-param="extra" class="differs"' in html
    assert '<tr data-param="depth">' in html  # the same in both
    chart_html = html[html.index('data-metric="loss"', html.index('data-testid="metric-history"') - 60) :].split("</figure>")[0]
    assert chart_html.count("<polyline") == 2 and ">run-a</text>" in chart_html and ">run-b</text>" in chart_html
    too_many = "&".join(f"run={tracking.run(exp, f'r{i}')}" for i in range(11))
    r = client.get(f"{RUNS.format('private')}/compare?{too_many}")
    assert r.status_code == 400 and "At most 10 runs can be compared" in r.text
