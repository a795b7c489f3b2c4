"""The experiments pages (Deploy > Model experiments): the list, an experiment's runs table (columns,
filter, sort, pages, compare), deleting, who sees what, and the page at the MLflow tracking URI that
opens MLflow's printed links."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.jobs import register_job
from tests.support.pages import signed_in
from tests.support.world import create_model

EXPERIMENTS = "/acme/{}/-/ml/experiments"


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


def _mlflow(client, world, path, body, project="private", user="developer"):
    r = client.post(
        f"/api/v4/projects/{world.projects[project]}/ml/mlflow/api/2.0/mlflow/{path}", json=body, headers=world.headers(user)
    )
    assert r.status_code == 200, r.json
    return r.json


def _experiment(client, world, name, project="private", user="developer"):
    return int(_mlflow(client, world, "experiments/create", {"name": name}, project, user)["experiment_id"])


def _run(client, world, experiment, name, *, params=None, metrics=None, tags=None, start=1_000, end=None,
         status="FINISHED", project="private"):
    """A run logged as MLflow's client logs it: created, its batch, then ended."""
    body = {"experiment_id": str(experiment), "run_name": name, "start_time": start}
    run_id = _mlflow(client, world, "runs/create", body, project)["run"]["info"]["run_id"]
    batch = {
        "run_id": run_id,
        "params": [{"key": k, "value": str(v)} for k, v in (params or {}).items()],
        "metrics": [{"key": k, "value": v, "timestamp": start, "step": 0} for k, v in (metrics or {}).items()],
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    }
    _mlflow(client, world, "runs/log-batch", batch, project)
    if end is not None:
        _mlflow(client, world, "runs/update", {"run_id": run_id, "status": status, "end_time": end}, project)
    return run_id


def _run_names(page_html):
    return re.findall(r'<tr data-run-id="[0-9a-f]{32}" data-run-name="([^"]*)"', page_html)


def _sidebar_active(page_html):
    return re.findall(r'<li><a href="[^"]*" class="active" aria-current="page">([^<]+)</a></li>', page_html)


# -- the list ---------------------------------------------------------------------------------------


def test_list_shows_run_count_last_activity_and_creator_under_deploy(app, client, world):
    fraud = _experiment(client, world, "fraud-training")
    _experiment(client, world, "churn", user="reporter")
    for i in range(3):
        _run(client, world, fraud, f"run-{i}", start=1_700_000_000_000 + i, end=1_700_000_060_000)
    signed_in(app, client, "guest")

    r = client.get(EXPERIMENTS.format("private"))

    assert r.status_code == 200 and r.mimetype == "text/html"
    assert 'data-testid="experiment-count">2 experiments<' in r.text
    row = r.text[r.text.index('data-experiment-name="fraud-training"') :].split("</tr>")[0]
    assert f'href="/acme/private/-/ml/experiments/{fraud}"' in row
    assert 'data-testid="run-count">3<' in row and "<strong>developer</strong>" in row and "<time datetime=" in row
    churn = r.text[r.text.index('data-experiment-name="churn"') :].split("</tr>")[0]
    assert 'data-testid="run-count">0<' in churn and "<strong>reporter</strong>" in churn
    # Deploy > Model experiments, next to the model registry, and only it highlighted here.
    assert re.search(r'href="/acme/private/-/ml/models"[^>]*>Model registry</a></li>\s*<li><a href="/acme/private/-/ml/experiments"', r.text)
    assert _sidebar_active(r.text) == ["Model experiments"]
    assert _sidebar_active(client.get("/acme/private/-/ml/models").text) == ["Model registry"]
    # A guest reads, and is offered no delete.
    assert 'data-testid="delete-experiment"' not in r.text


def test_list_searches_sorts_and_pages(app, client, world):
    for name in ("alpha", "beta", "gamma", "alpine"):
        _experiment(client, world, name)
    signed_in(app, client, "guest")
    url = EXPERIMENTS.format("private")

    def names(query):
        return re.findall(r'<tr data-experiment-name="([^"]+)"', client.get(url + query).text)

    assert names("?order_by=name&sort=asc") == ["alpha", "alpine", "beta", "gamma"]
    assert names("?order_by=created_at&sort=desc") == ["alpine", "gamma", "beta", "alpha"]
    assert names("?search=ALP&order_by=name&sort=asc") == ["alpha", "alpine"]
    paged = client.get(url + "?order_by=name&sort=asc&per_page=3&page=2")
    assert re.findall(r'<tr data-experiment-name="([^"]+)"', paged.text) == ["gamma"] and "Page 2 of 2" in paged.text
    assert "No experiments match" in client.get(url + "?search=zzz").text
    bad = client.get(url + "?order_by=runs")
    assert bad.status_code == 400 and bad.mimetype == "text/html"


def test_empty_list_says_how_to_log_runs(app, client, world):
    signed_in(app, client, "guest")
    r = client.get(EXPERIMENTS.format("private"))
    assert 'data-testid="empty-state"' in r.text
    assert f'MLFLOW_TRACKING_URI="http://localhost/api/v4/projects/{world.projects["private"]}/ml/mlflow"' in r.text


# -- who sees and deletes -------------------------------------------------------------------------


def test_a_private_projects_experiments_are_a_404_to_outsiders_and_the_signed_out(app, client, world):
    experiment = _experiment(client, world, "fraud-training")
    urls = [EXPERIMENTS.format("private"), f"{EXPERIMENTS.format('private')}/{experiment}"]
    for url in urls:
        assert client.get(url).status_code == 404
    token = signed_in(app, client, "outsider")
    for url in urls:
        assert client.get(url).status_code == 404
    r = client.post(f"{urls[1]}/delete", data={"csrf_token": token})
    assert r.status_code == 404
    # An experiment of another project, or none, is a 404 too.
    other = _experiment(client, world, "elsewhere", project="internal")
    signed_in(app, client, "guest")
    assert client.get(f"{EXPERIMENTS.format('private')}/{other + 100}").status_code == 404


def test_a_public_projects_experiments_are_open_to_the_signed_out(app, client, world):
    experiment = _experiment(client, world, "open-training", project="public")
    _run(client, world, experiment, "open-run", project="public")
    assert "open-training" in client.get(EXPERIMENTS.format("public")).text
    assert _run_names(client.get(f"{EXPERIMENTS.format('public')}/{experiment}").text) == ["open-run"]


def test_a_guest_may_not_delete_a_reporter_may_as_through_mlflow(app, client, world):
    experiment = _experiment(client, world, "fraud-training")
    _run(client, world, experiment, "r1")
    url = f"{EXPERIMENTS.format('private')}/{experiment}"

    token = signed_in(app, client, "guest")
    assert 'data-testid="delete-experiment"' not in client.get(url).text
    assert client.post(f"{url}/delete", data={"csrf_token": token}).status_code == 403

    token = signed_in(app, client, "reporter")
    page = client.get(url).text
    assert 'data-testid="delete-experiment"' in page and "also deletes its 1 run. An MLflow client can restore it." in page
    assert client.post(f"{url}/delete", data={}).status_code == 403  # no CSRF token
    r = client.post(f"{url}/delete", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == EXPERIMENTS.format("private")
    listed = client.get(EXPERIMENTS.format("private")).text
    assert "Experiment fraud-training deleted" in listed and 'data-experiment-name="fraud-training"' not in listed
    assert client.get(url).status_code == 404
    # MLflow sees it deleted, and restores it.
    got = client.get(
        f"/api/v4/projects/{world.projects['private']}/ml/mlflow/api/2.0/mlflow/experiments/get?experiment_id={experiment}",
        headers=world.headers("reporter"),
    ).json
    assert got["experiment"]["lifecycle_stage"] == "deleted"


def test_a_models_experiment_is_not_deleted(app, client, world):
    create_model(client, world.projects["private"], "fraud-detector", world.headers("developer"))
    # The model's experiment is made when MLflow first needs it: a version's run.
    assert client.put(
        f"/api/v4/projects/{world.projects['private']}/packages/generic/fraud-detector/1.0.0/m.bin",
        data=b"w",
        headers=world.headers("developer"),
    ).status_code == 201
    token = signed_in(app, client, "reporter")
    listed = client.get(EXPERIMENTS.format("private")).text
    row = listed[listed.index('data-experiment-name="[model]fraud-detector"') :].split("</tr>")[0]
    assert 'data-testid="experiment-model"' in row and 'data-testid="delete-experiment"' not in row
    iid = re.search(r'href="/acme/private/-/ml/experiments/(\d+)"', row).group(1)
    r = client.post(f"{EXPERIMENTS.format('private')}/{iid}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "is the default experiment of a model and cannot be deleted" in r.text
    assert 'data-experiment-name="[model]fraud-detector"' in r.text


# -- an experiment's runs -----------------------------------------------------------------------------


def test_runs_table_shows_params_metrics_status_duration_user_and_ci_job(app, client, world):
    project = world.projects["private"]
    experiment = _experiment(client, world, "fraud-training")
    register_job(app, project, "developer", "4242", job_url="https://ci.example.com/jobs/4242", job_name="train")
    tree = _run(
        client, world, experiment, "tree", params={"model": "tree", "depth": 4}, metrics={"acc": 0.91, "loss": 0.2},
        tags={"gitlab.CI_JOB_ID": "4242"}, start=1_700_000_000_000, end=1_700_000_125_000,
    )
    _run(client, world, experiment, "forest", params={"model": "forest"}, metrics={"acc": float("nan")},
         start=1_700_000_200_000)
    signed_in(app, client, "guest")

    r = client.get(f"{EXPERIMENTS.format('private')}/{experiment}")

    assert r.status_code == 200
    assert 'data-testid="experiment-run-count">2 runs<' in r.text
    assert _run_names(r.text) == ["forest", "tree"]  # newest first
    row = r.text[r.text.index(f'data-run-id="{tree}"') :].split("</tr>")[0]
    assert f'href="/acme/private/-/ml/runs/{tree}"' in row
    assert "Finished" in row and "2 min 5 s" in row and "<strong>developer</strong>" in row
    assert 'href="https://ci.example.com/jobs/4242"' in row and "#4242" in row
    assert re.search(r'data-column="params.depth"><code title="4">4</code>', row)
    assert 'data-column="metrics.acc">0.91<' in row and 'data-column="metrics.loss">0.2<' in row
    forest = r.text[r.text.index('data-run-name="forest"') :].split("</tr>")[0]
    assert "Running" in forest and 'data-column="metrics.acc">NaN<' in forest and 'data-column="params.depth"></td>' in forest
    # Every run can be selected for the comparison, which the Compare button opens.
    assert '<form id="compare-form" method="get" action="/acme/private/-/ml/runs/compare"' in r.text
    assert f'name="run" value="{tree}" form="compare-form"' in r.text


def test_filter_with_mlflows_language_and_its_errors_shown_as_a_message(app, client, world):
    experiment = _experiment(client, world, "fraud-training")
    for name, acc, model in (("a", 0.5, "tree"), ("b", 0.8, "forest"), ("c", 0.95, "forest")):
        _run(client, world, experiment, name, params={"model": model}, metrics={"acc": acc})
    signed_in(app, client, "guest")
    url = f"{EXPERIMENTS.format('private')}/{experiment}"

    found = client.get(url, query_string={"filter": "metrics.acc > 0.6 and params.model = 'forest'"})
    assert sorted(_run_names(found.text)) == ["b", "c"]
    assert 'value="metrics.acc &gt; 0.6 and params.model = &#39;forest&#39;"' in found.text
    assert "No runs match this filter." in client.get(url, query_string={"filter": "metrics.acc > 2"}).text

    for bad in ("metrics.acc >>> 1", "params.model = 'unclosed", "nothing.x = 1"):
        r = client.get(url, query_string={"filter": bad})
        assert r.status_code == 400 and r.mimetype == "text/html", bad
        assert 'data-testid="run-filter-error"' in r.text and 'aria-invalid="true"' in r.text
        assert _run_names(r.text) == []
    r = client.get(url, query_string={"order_by": "attributes.size DESC"})
    assert r.status_code == 400 and 'data-testid="run-filter-error"' in r.text


def test_sort_by_any_column_with_headers_that_flip_the_order(app, client, world):
    experiment = _experiment(client, world, "fraud-training")
    for name, acc, lr in (("low", 0.5, "0.1"), ("high", 0.9, "0.3"), ("mid", 0.7, "0.2"), ("none", None, None)):
        _run(client, world, experiment, name, params={"lr": lr} if lr else {}, metrics={"acc": acc} if acc else {})
    signed_in(app, client, "guest")
    url = f"{EXPERIMENTS.format('private')}/{experiment}"

    by_acc = client.get(url, query_string={"order_by": "metrics.acc DESC"})
    assert _run_names(by_acc.text) == ["high", "mid", "low", "none"]  # missing values last, as MLflow
    header = re.search(r'<th scope="col" aria-sort="descending" data-testid="sort-metrics.acc"[^>]*>\s*<a href="([^"]+)"', by_acc.text)
    flipped = html.unescape(header.group(1))
    assert parse_qs(urlsplit(flipped).query)["order_by"] == ["metrics.`acc` ASC"]
    assert _run_names(client.get(flipped).text) == ["low", "mid", "high", "none"]
    assert _run_names(client.get(url, query_string={"order_by": "params.`lr` ASC"}).text) == ["low", "mid", "high", "none"]
    assert _run_names(client.get(url, query_string={"order_by": "attributes.run_name ASC"}).text) == [
        "high", "low", "mid", "none",
    ]
    # Another column's header sorts by it, descending, from the first page.
    name_header = re.search(r'data-testid="sort-name"[^>]*>\s*<a href="([^"]+)"', by_acc.text)
    assert parse_qs(urlsplit(html.unescape(name_header.group(1))).query)["order_by"] == ["attributes.run_name DESC"]


def test_pages_follow_the_searchs_tokens_forward_and_back(app, client, world):
    experiment = _experiment(client, world, "fraud-training")
    for i in range(5):
        _run(client, world, experiment, f"run-{i}", metrics={"acc": i / 10})
    signed_in(app, client, "guest")
    url = f"{EXPERIMENTS.format('private')}/{experiment}?order_by=metrics.acc+ASC&per_page=2"

    def links(page):
        return {rel: html.unescape(href) for rel, href in re.findall(r'<a class="btn" rel="(prev|next)" href="([^"]+)"', page)}

    first = client.get(url).text
    assert _run_names(first) == ["run-0", "run-1"] and "prev" not in links(first)
    second = client.get(links(first)["next"]).text
    assert _run_names(second) == ["run-2", "run-3"] and 'data-testid="run-page">Page 2<' in second
    third = client.get(links(second)["next"]).text
    assert _run_names(third) == ["run-4"] and "next" not in links(third)
    assert _run_names(client.get(links(third)["prev"]).text) == ["run-2", "run-3"]
    assert _run_names(client.get(links(second)["prev"]).text) == ["run-0", "run-1"]
    # The order and the page size stay with the pages.
    assert parse_qs(urlsplit(links(second)["next"]).query)["order_by"] == ["metrics.acc ASC"]
    assert client.get(url + "&page_token=not-a-token").status_code == 400


def test_columns_default_to_the_logged_keys_and_follow_the_picker(app, client, world):
    experiment = _experiment(client, world, "fraud-training")
    params = {f"p{i}": i for i in range(8)}
    _run(client, world, experiment, "wide", params=params, metrics={"acc": 0.9, "val loss": 0.3})
    signed_in(app, client, "guest")
    url = f"{EXPERIMENTS.format('private')}/{experiment}"

    default = client.get(url).text
    shown = re.findall(r'data-testid="sort-((?:params|metrics)\.[^"]+)"', default)
    assert shown == [f"params.p{i}" for i in range(6)] + ["metrics.acc", "metrics.val loss"]
    # The picker offers every logged key, and checks the shown ones.
    assert 'value="params.p7">' in default and 'value="params.p0" checked>' in default

    picked = client.get(url, query_string=[("columns", ""), ("columns", "params.p7"), ("columns", "metrics.val loss")]).text
    assert re.findall(r'data-testid="sort-((?:params|metrics)\.[^"]+)"', picked) == ["params.p7", "metrics.val loss"]
    assert 'data-column="metrics.val loss">0.3<' in picked
    # A key with a space sorts (quoted), and the chosen columns stay in the sort links.
    link = html.unescape(re.search(r'data-testid="sort-metrics.val loss"[^>]*>\s*<a href="([^"]+)"', picked).group(1))
    assert parse_qs(urlsplit(link).query)["columns"] == ["params.p7,metrics.val loss"]
    assert client.get(link).status_code == 200
    none = client.get(url, query_string={"columns": ""}).text
    assert re.findall(r'data-testid="sort-((?:params|metrics)\.[^"]+)"', none) == []


def test_user_supplied_names_and_values_are_escaped(app, client, world):
    evil = '<script>alert("x")</script>'
    experiment = _experiment(client, world, f"exp {evil}")
    _run(client, world, experiment, "run <img src=x onerror=alert(1)>", params={"model": evil}, tags={"team": evil})
    note = {"experiment_id": str(experiment), "key": "mlflow.note.content", "value": f"Tries **trees**. {evil}"}
    _mlflow(client, world, "experiments/set-experiment-tag", note)
    signed_in(app, client, "guest")

    for url in (EXPERIMENTS.format("private"), f"{EXPERIMENTS.format('private')}/{experiment}"):
        r = client.get(url, query_string={"filter": f"params.model = '{evil}'"} if "/experiments/" in url else {})
        assert r.status_code == 200
        assert "<script>alert" not in r.text and "<img src=x" not in r.text
        assert "&lt;script&gt;alert(" in r.text
    page = client.get(f"{EXPERIMENTS.format('private')}/{experiment}", query_string={"filter": f"params.model = '{evil}'"})
    assert _run_names(page.text) == ["run &lt;img src=x onerror=alert(1)&gt;"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    # MLflow's description of the experiment is Markdown, sanitised.
    description = page.text.split('data-testid="experiment-description">')[1].split("</div>")[0]
    assert "<strong>trees</strong>" in description and "<script" not in description


def test_a_default_experiment_page_is_not_made_by_reading_it(app, client, world):
    signed_in(app, client, "guest")
    assert client.get(f"{EXPERIMENTS.format('private')}/0").status_code == 404
    assert "Default" not in client.get(EXPERIMENTS.format("private")).text


# -- MLflow's printed links ------------------------------------------------------------------------------


def test_the_tracking_uri_answers_a_page_that_forwards_mlflows_links(app, client, world):
    project = world.projects["private"]
    signed_in(app, client, "guest")

    r = client.get(f"/api/v4/projects/{project}/ml/mlflow/")

    assert r.status_code == 200 and r.mimetype == "text/html"
    assert 'data-experiments-url="/acme/private/-/ml/experiments"' in r.text
    assert 'data-runs-url="/acme/private/-/ml/runs"' in r.text
    assert "/-/model_registry/static/mlflow_links.js" in r.text
    assert 'href="/acme/private/-/ml/experiments" data-testid="experiments-link"' in r.text  # without a script
    assert "script-src 'self'" in r.headers["Content-Security-Policy"] and "<script>" not in r.text
    # Its path works as well as its id, and so does the tracking URI without the slash.
    assert client.get("/api/v4/projects/acme%2Fprivate/ml/mlflow/").status_code == 200
    bare = client.get(f"/api/v4/projects/{project}/ml/mlflow")
    assert bare.status_code == 200 and 'data-experiments-url="/acme/private/-/ml/experiments"' in bare.text
    # The MLflow API under it is untouched: an unknown route is still its JSON 404.
    unknown = client.get(f"/api/v4/projects/{project}/ml/mlflow/nothing-here", headers=world.headers("guest"))
    assert unknown.status_code == 404 and unknown.json["error_code"] == "ENDPOINT_NOT_FOUND"


def test_the_tracking_uri_page_names_nothing_to_those_it_refuses(app, client, world):
    project = world.projects["private"]
    signed_out = client.get(f"/api/v4/projects/{project}/ml/mlflow/")
    assert signed_out.status_code == 404 and signed_out.mimetype == "text/html"
    assert "acme" not in signed_out.text and "data-experiments-url" not in signed_out.text
    assert 'data-testid="mlflow-link-sign-in"' in signed_out.text
    assert client.get("/api/v4/projects/99999/ml/mlflow/").status_code == 404
    signed_in(app, client, "outsider")
    assert client.get(f"/api/v4/projects/{project}/ml/mlflow/").status_code == 404
    assert client.get(f"/api/v4/projects/{world.projects['public']}/ml/mlflow/").status_code == 200

    client.put(
        f"/api/v4/projects/{project}", json={"model_registry_access_level": "disabled"}, headers=world.headers("owner")
    )
    signed_in(app, client, "developer")
    refused = client.get(f"/api/v4/projects/{project}/ml/mlflow/")
    assert refused.status_code == 403 and "The model registry is disabled in this project." in refused.text
    assert "data-experiments-url" not in refused.text
