"""MLflow's experiments, runs (with their inputs and outputs) and metric history
(``/api/2.0/mlflow/experiments/...``, ``runs/...``, ``metrics/get-history``, ``artifacts/list``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response

from package_api.plugin_api import InvalidInput
from plugin.tracking.artifacts import Entry, run_root
from plugin.tracking.datasets import DatasetSpec
from plugin.tracking.runs import LoggedMetric
from plugin.tracking.times import now_ms
from plugin.web.mlflow import context, entities
from plugin.web.mlflow.blueprints import API
from plugin.web.mlflow.params import INT64_MAX, INT64_MIN, Params, field
from plugin.web.mlflow.responses import empty, json_response, page_response

# -- experiments -------------------------------------------------------------------------------------


@API.post("/experiments/create")
def create_experiment(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    experiment = context.experiments().create(
        project, params.required("name"), tags=params.mapping("tags"), creator=context.user()
    )
    return json_response({"experiment_id": str(experiment.iid)})


@API.get("/experiments/get")
def get_experiment(project_ref: str) -> Response:
    project = context.readable(project_ref)
    service = context.experiments()
    experiment = service.get(project, Params.from_request().required("experiment_id"))
    return json_response({"experiment": entities.experiment(service.view(experiment))})


@API.get("/experiments/get-by-name")
def get_experiment_by_name(project_ref: str) -> Response:
    project = context.readable(project_ref)
    service = context.experiments()
    experiment = service.get_by_name(project, Params.from_request().required("experiment_name"))
    return json_response({"experiment": entities.experiment(service.view(experiment))})


@API.route("/experiments/search", methods=["GET", "POST"])
def search_experiments(project_ref: str) -> Response:
    project = context.readable(project_ref)
    params = Params.from_request()
    results = context.experiments().search(
        project,
        view_type=params.string("view_type"),
        filter_=params.string("filter"),
        order_by=params.strings("order_by"),
        max_results=params.integer("max_results"),
        page_token=params.string("page_token"),
    )
    return page_response("experiments", [entities.experiment(v) for v in results.items], results.next_page_token)


@API.post("/experiments/set-experiment-tag")
def set_experiment_tag(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.experiments()
    service.set_tag(
        service.get(project, params.required("experiment_id")), params.required("key"), params.string("value") or ""
    )
    return empty()


@API.post("/experiments/update")
def update_experiment(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.experiments()
    service.rename(service.get(project, params.required("experiment_id")), params.string("new_name"))
    return empty()


@API.post("/experiments/delete")
def delete_experiment(project_ref: str) -> Response:
    project = context.writable(project_ref)
    service = context.experiments()
    service.delete(service.get(project, Params.from_request().required("experiment_id")))
    return empty()


@API.post("/experiments/restore")
def restore_experiment(project_ref: str) -> Response:
    project = context.writable(project_ref)
    service = context.experiments()
    service.restore(service.get(project, Params.from_request().required("experiment_id")))
    return empty()


# -- runs --------------------------------------------------------------------------------------------


@API.post("/runs/create")
def create_run(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    experiment = context.experiments().get_active(project, params.string("experiment_id") or "0")
    service = context.runs()
    run = service.create(
        experiment,
        creator=context.user(),
        user_name=params.string("user_id") or "",
        run_name=params.string("run_name"),
        start_time=params.integer("start_time") or now_ms(),
        tags={k or "": v or "" for k, v in params.pairs("tags")},
        ci_job_id=context.job_id(),
    )
    return json_response({"run": entities.run(service.view(run))})


@API.get("/runs/get")
def get_run(project_ref: str) -> Response:
    project = context.readable(project_ref)
    service = context.runs()
    return json_response({"run": entities.run(service.view(service.get(project, Params.from_request().run_id())))})


@API.post("/runs/update")
def update_run(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.runs()
    run = service.update(
        service.get(project, params.run_id()),
        status=params.string("status"),
        end_time=params.integer("end_time"),
        run_name=params.string("run_name"),
    )
    return json_response({"run_info": entities.run_info(service.view(run))})


@API.post("/runs/delete")
def delete_run(project_ref: str) -> Response:
    project = context.writable(project_ref)
    service = context.runs()
    service.delete(service.get(project, Params.from_request().run_id()))
    return empty()


@API.post("/runs/restore")
def restore_run(project_ref: str) -> Response:
    project = context.writable(project_ref)
    service = context.runs()
    service.restore(service.get(project, Params.from_request().run_id()))
    return empty()


@API.post("/runs/log-metric")
def log_metric(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.runs()
    run = service.get_active(project, params.run_id())
    service.log_metric(
        run,
        params.required("key"),
        params.body.get("value"),
        params.integer("timestamp"),
        params.integer("step"),
        model_id=params.string("model_id"),
        dataset_name=params.string("dataset_name"),
        dataset_digest=params.string("dataset_digest"),
    )
    return empty()


@API.post("/runs/log-parameter")
def log_parameter(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.runs()
    service.log_param(service.get_active(project, params.run_id()), params.required("key"), params.string("value"))
    return empty()


@API.post("/runs/set-tag")
def set_run_tag(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.runs()
    service.set_tag(service.get_active(project, params.run_id()), params.required("key"), params.string("value"))
    return empty()


@API.post("/runs/delete-tag")
def delete_run_tag(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.runs()
    service.delete_tag(service.get_active(project, params.run_id()), params.required("key"))
    return empty()


@API.post("/runs/log-batch")
def log_batch(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.runs()
    metrics = [
        LoggedMetric(
            field(m, "key", "metrics.key"),
            m.get("value"),
            _int_or_none(m.get("timestamp")),
            _int_or_none(m.get("step")),
            field(m, "model_id", "metrics.model_id"),
            field(m, "dataset_name", "metrics.dataset_name"),
            field(m, "dataset_digest", "metrics.dataset_digest"),
        )
        for m in params.objects("metrics")
    ]
    service.log_batch(
        service.get_active(project, params.run_id()),
        metrics=metrics,
        params=params.pairs("params"),
        tags=params.pairs("tags"),
    )
    return empty()


@API.post("/runs/outputs")
def log_outputs(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service, models = context.runs(), context.logged_models()
    run = service.get_active(project, params.run_id())
    outputs = [
        (models.get(project, field(m, "model_id", "models.model_id")), _int_or_none(m.get("step")) or 0)
        for m in params.objects("models")
    ]
    service.log_outputs(run, outputs)
    return empty()


@API.post("/runs/log-inputs")
def log_inputs(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    run = context.runs().get_active(project, params.run_id())
    models = context.logged_models()
    datasets = [_dataset_input(item) for item in params.objects("datasets")]
    used = [models.get(project, field(m, "model_id", "models.model_id")) for m in params.objects("models")]
    context.datasets().log_inputs(run, datasets, used)
    return empty()


@API.post("/runs/log-model")
def log_model(project_ref: str) -> Response:
    """MLflow 2's record of a model logged in a run (the ``mlflow.log-model.history`` tag); the
    Spark Connect and John Snow Labs flavours of MLflow 3 still send it."""
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.runs()
    service.record_logged_model(service.get_active(project, params.run_id()), params.required("model_json"))
    return empty()


@API.post("/runs/search")
def search_runs(project_ref: str) -> Response:
    project = context.readable(project_ref)
    params = Params.from_request()
    experiments = context.experiments()
    chosen = [experiments.get(project, e) for e in params.strings("experiment_ids")]
    service = context.runs()
    results = service.search(
        project,
        chosen,
        filter_=params.string("filter"),
        view_type=params.string("run_view_type"),
        order_by=params.strings("order_by"),
        max_results=params.integer("max_results"),
        page_token=params.string("page_token"),
    )
    return page_response("runs", [entities.run(v) for v in results.items], results.next_page_token)


@API.get("/metrics/get-history")
def metric_history(project_ref: str) -> Response:
    project = context.readable(project_ref)
    params = Params.from_request()
    service = context.runs()
    results = service.metric_history(
        service.get(project, params.run_id()),
        params.string("metric_key"),
        max_results=params.integer("max_results"),
        page_token=params.string("page_token"),
    )
    return page_response("metrics", [entities.metric(p) for p in results.items], results.next_page_token)


@API.get("/artifacts/list")
def list_run_artifacts(project_ref: str) -> Response:
    """The legacy listing of a run's artifacts (MLflow's UI uses it)."""
    project = context.readable(project_ref)
    params = Params.from_request()
    run = context.runs().get(project, params.run_id())
    root = run_root(run)
    path = params.string("path") or ""
    entries = context.artifacts().listing(project, f"{root}/{path}" if path else root)
    listed = entities.files(Entry(f"{path}/{e.path}" if path else e.path, e.is_dir, e.size) for e in entries)
    return json_response({"root_uri": f"mlflow-artifacts:/{root}", **listed})


def _dataset_input(item: Mapping[str, Any]) -> tuple[DatasetSpec, list[tuple[str | None, str | None]]]:
    """One of ``datasets`` of ``runs/log-inputs``: ``{"dataset": {...}, "tags": [...]}``."""
    dataset = item.get("dataset")
    if not isinstance(dataset, dict):
        raise InvalidInput("Dataset input must have a dataset associated with it.")
    name, digest, source_type, source, schema, profile = (
        field(dataset, f, f"datasets.dataset.{f}") for f in ("name", "digest", "source_type", "source", "schema", "profile")
    )
    spec = DatasetSpec(name, digest, source_type, source, schema, profile)
    tags = Params(item).pairs("tags")
    return spec, tags


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    number: int | None
    try:
        # ``value`` is any JSON value; int() raises TypeError for those it cannot take (caught).
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        number = None
    if number is None or isinstance(value, bool) or not INT64_MIN <= number <= INT64_MAX:
        raise InvalidInput(f"Invalid value {value!r}: an integer is expected.")
    return number
