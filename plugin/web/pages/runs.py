"""Pages of MLflow runs: a run (what is logged on it, its charts, artifacts, lineage) with its
Promote form, which registers the run or one of its logged models as a new version of a model, and
the comparison of several runs."""
from __future__ import annotations

from collections.abc import Sequence

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from package_api.plugin_api import FormError, InvalidInput, Project, attempt, can, row_id
from package_api.plugin_api import page_principal as principal
from package_api.plugin_api import page_project as authorized_project
from plugin.mlflow_registry.model_versions import VersionView
from plugin.mlflow_registry.run_cards import MAX_COMPARED, RunCard
from plugin.registry.access import ModelAction
from plugin.services import model_services, model_version_services, run_card_services, run_services
from plugin.tracking.runs import MetricPoint
from plugin.web import markdown
from plugin.web.pages.blueprint import PREFIX, bp, selected_tab
from plugin.web.pages.charts import X_AXES, Series, chart

RUN = f"{PREFIX}/runs/<run_id>"
TABS = ("details", "artifacts", "promote")
#: Promoting registers a model version: who may create versions may promote (the New version form's
#: right, and MLflow's ``create_model_version`` from the same run).
PROMOTE = ModelAction.WRITE_MODEL


def _x_axis() -> str:
    value = request.args.get("x", X_AXES[0])
    return value if value in X_AXES else X_AXES[0]


def points(history: Sequence[MetricPoint], x_axis: str, start_time: int) -> list[tuple[float, float]]:
    """A history as chart points: by step, or by seconds since the run started."""
    if x_axis == "time":
        return [((p.timestamp - start_time) / 1000, p.value) for p in history]
    return [(float(p.step), p.value) for p in history]


def experiments_url(project: Project, iid: int | None = None) -> str:
    """The project's experiments, or experiment ``iid`` (``plugin.web.pages.experiments``)."""
    if iid is None:
        return url_for(".experiments", namespace=project.namespace, project=project.path)
    return url_for(".experiment", namespace=project.namespace, project=project.path, iid=iid)


def _run_page(found: Project, card: RunCard, *, tab: str, error: FormError | None = None,
              form: dict[str, str] | None = None) -> str:
    run, x_axis = card.run, _x_axis()
    chosen = [k for k in request.args.getlist("metric") if k in card.histories]
    combined = None
    if len(chosen) > 1:
        combined = chart(
            ", ".join(chosen),
            [Series(k, points(card.histories[k], x_axis, run.start_time)) for k in chosen],
            x_axis=x_axis,
        )
    charts = {
        key: chart(key, [Series(key, points(history, x_axis, run.start_time))], x_axis=x_axis)
        for key, history in card.histories.items()
    }
    can_promote = can(found, PROMOTE)
    return render_template(
        "model_registry/run.html",
        project=found,
        card=card,
        run=run,
        description=markdown.render(card.description),
        tab=tab if tab != "promote" or can_promote else TABS[0],
        charts=charts,
        combined=combined,
        chosen=chosen,
        x_axis=x_axis,
        x_axes=X_AXES,
        experiments_url=experiments_url(found),
        experiment_url=experiments_url(found, run.experiment.iid),
        max_compared=MAX_COMPARED,
        can_promote=can_promote,
        models=run_card_services().models(found) if can_promote else [],
        error=error,
        form=form or {},
    )


@bp.get(f"{PREFIX}/runs/compare")
def compare_runs(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.READ_MODEL)
    chosen = request.args.getlist("run")
    comparison, error = None, None
    try:
        comparison = run_card_services().compare(found, chosen)
    except InvalidInput as exc:
        error = exc.reason
    x_axis = _x_axis()
    charts = {}
    if comparison is not None:
        charts = {
            key: chart(
                key,
                [
                    Series(v.run.name, points(comparison.histories[v.run.id].get(key, []), x_axis, v.run.start_time))
                    for v in comparison.views
                ],
                x_axis=x_axis,
            )
            for key in comparison.metrics
        }
    page = render_template(
        "model_registry/compare.html",
        project=found,
        comparison=comparison,
        error=error,
        charts=charts,
        chosen=chosen,
        x_axis=x_axis,
        x_axes=X_AXES,
        max_compared=MAX_COMPARED,
        experiments_url=experiments_url(found),
    )
    return page, 200 if error is None else 400


@bp.get(RUN)
def run(namespace: str, project: str, run_id: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.READ_MODEL)
    card = run_card_services().for_run(found, run_services().get(found, run_id))
    return _run_page(found, card, tab=selected_tab(TABS))


@bp.post(f"{RUN}/promote")
def promote_run(namespace: str, project: str, run_id: str) -> ResponseReturnValue:
    """Register the run (all its artifacts, or one folder) or one of its logged models as a new
    version of the chosen model, with the version the form gives (checked as on New version)."""
    found = authorized_project(namespace, project, PROMOTE)
    item = run_services().get(found, run_id)
    form = {key: request.form.get(key, "") for key in ("model_id", "source", "version", "description")}
    form["version"] = form["version"].strip()
    result: VersionView | FormError
    model_id = row_id(form["model_id"])
    if model_id is None:
        result = FormError("Choose the model to register the run in", "model_id")
    else:
        model = model_services().get(found, model_id)
        source, run_ref, logged_model = f"runs:/{item.uuid}", item.uuid, None  # type: str, str | None, str | None
        if form["source"].startswith("model:"):
            source, run_ref, logged_model = f"models:/{form['source'][6:]}", None, form["source"][6:]
        elif form["source"].startswith("path:"):
            source = f"runs:/{item.uuid}/{form['source'][5:]}"
        result = attempt(
            lambda: model_version_services().create(
                found,
                model,
                source=source,
                run_id=run_ref,
                model_id=logged_model,
                description=form["description"],
                author=principal().user,
                version=form["version"],
            ),
            duplicate=FormError(f"Version {form['version']} already exists", "version", 409),
        )
    if isinstance(result, FormError):
        card = run_card_services().for_run(found, item)
        return _run_page(found, card, tab="promote", error=result, form=form), result.status
    version = result.version
    flash(f"Run {item.name} registered as version {version.version} of {version.model.name}", "success")
    return redirect(
        url_for(".version", namespace=namespace, project=project, model_id=version.model_id, version_id=version.id)
    )
