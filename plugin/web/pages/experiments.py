"""Pages of experiments (GitLab's **Deploy > Model experiments**, MLflow's experiment views): the
list (search, run counts, last activity, delete) and an experiment's runs as a table (params and
metrics as columns, MLflow's filter language, sorting by a column, pages, runs selected to compare).

The table is ``RunService.search``: the same search, filter and order as MLflow's ``search_runs``,
a page at a time."""
from __future__ import annotations

import datetime
import math

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from package_api.plugin_api import FormError, Project, attempt, can, listing_query
from package_api.plugin_api import page_project as authorized_project
from plugin.registry.access import ModelAction
from plugin.services import experiment_services, run_services
from plugin.tracking.experiments import DEFAULT_EXPERIMENT_ID
from plugin.tracking.models import Experiment, Run
from plugin.tracking.runs import MetricPoint
from plugin.tracking.times import from_milliseconds
from plugin.web import markdown
from plugin.web.pages.blueprint import PREFIX, bp
from plugin.web.pages.models import mlflow_tracking_uri
from plugin.web.pages.run_table import ATTRIBUTE_ORDERS, TableQuery, columns_offered

#: (order_by, label) of the list's sort menu.
EXPERIMENT_ORDERS = (("created_at", "Created"), ("updated_at", "Updated"), ("name", "Name"))
#: The experiment tag MLflow keeps an experiment's description in (Markdown).
NOTE_TAG = "mlflow.note.content"
EXPERIMENT = f"{PREFIX}/experiments/<int:iid>"


def runs_url(project: Project) -> str:
    """Where the run pages are, ``/<namespace>/<project>/-/ml/runs``: the page at the MLflow tracking URI
    appends a run id from the fragment it reads."""
    return url_for(".compare_runs", namespace=project.namespace, project=project.path).rpartition("/")[0]


def deletable(experiment: Experiment) -> bool:
    """Whether the experiment may be deleted at all (a model's and the default one may not)."""
    return experiment.model_id is None and experiment.iid != DEFAULT_EXPERIMENT_ID


@bp.get(f"{PREFIX}/experiments")
def experiments(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.READ_MODEL)
    query = listing_query("created_at")
    page = experiment_services().page(
        found,
        **query.listed(),
    )
    return render_template(
        "model_registry/experiments.html",
        project=found,
        page=page,
        **query.shown(),
        orders=EXPERIMENT_ORDERS,
        can_write=can(found, ModelAction.WRITE_MODEL),
        deletable=deletable,
        tracking_uri=mlflow_tracking_uri(found.id),
    )


@bp.get(EXPERIMENT)
def experiment(namespace: str, project: str, iid: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.READ_MODEL)
    service = experiment_services()
    item = service.get_shown(found, iid)
    keys = service.logged_keys(item)
    table = TableQuery.from_args(request.args)
    columns = table.shown_columns(keys.params, keys.metrics)
    runs = run_services()
    results = attempt(
        lambda: runs.search(
            found,
            [item],
            filter_=table.filter or None,
            order_by=table.orders,
            max_results=table.per_page,
            page_token=table.page_token or None,
        )
    )
    error, shown, following = None, [], None
    if isinstance(results, FormError):
        error = results
    else:
        shown, following = results.items, results.next_page_token
        runs.load_people([view.run for view in shown])
    page = render_template(
        "model_registry/experiment.html",
        project=found,
        experiment=item,
        summary=service.summaries([item])[0],
        description=markdown.render(service.view(item).tags.get(NOTE_TAG, "")),
        table=table,
        path=request.path,
        columns=columns,
        offered=columns_offered(columns, keys.params, keys.metrics),
        attribute_orders=ATTRIBUTE_ORDERS,
        runs=shown,
        next_url=table.next_url(request.path, following),
        error=error,
        can_write=can(found, ModelAction.WRITE_MODEL),
        deletable=deletable(item),
        run_url=lambda run: url_for(".run", namespace=found.namespace, project=found.path, run_id=run.uuid),
        compare_url=url_for(".compare_runs", namespace=found.namespace, project=found.path),
    )
    return page, error.status if error else 200


@bp.post(f"{EXPERIMENT}/delete")
def delete_experiment(namespace: str, project: str, iid: int) -> ResponseReturnValue:
    """Delete an experiment (MLflow's ``experiments/delete``: its runs go with it, and ``restore``
    brings them back); who may do it through MLflow may do it here."""
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    service = experiment_services()
    item = service.get_shown(found, iid)
    name = item.name
    result = attempt(lambda: service.delete(item))
    if isinstance(result, FormError):
        flash(result.message, "danger")
    else:
        flash(f"Experiment {name} deleted", "success")
    return redirect(url_for(".experiments", namespace=namespace, project=project))


# -- how the table shows values --------------------------------------------------------------------


@bp.app_template_filter("run_time")
def run_time(milliseconds: int | None) -> datetime.datetime | None:
    """A run's start or end (MLflow's milliseconds) as a time the ``timestamp`` filter shows."""
    return None if milliseconds is None else from_milliseconds(milliseconds)


@bp.app_template_filter("run_duration")
def run_duration(run: Run) -> str:
    """How long a finished run took: ``850 ms``, ``12.4 s``, ``3 min 5 s``, ``2 h 10 min``; empty
    while it runs."""
    if run.end_time is None:
        return ""
    milliseconds = max(run.end_time - run.start_time, 0)
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, second = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {second} s"
    hours, minute = divmod(minutes, 60)
    return f"{hours} h {minute} min"


@bp.app_template_filter("metric_value")
def metric_value(point: MetricPoint | None) -> str:
    """A metric's latest value, as MLflow's client prints it (``NaN``, ``Infinity``)."""
    if point is None:
        return ""
    value = point.value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return f"{value:.6g}"
