"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models...``): what ``log_model`` creates,
fills with files, finalizes and registers."""
from __future__ import annotations

from flask import Response

from plugin.tracking.logged_models import Ordering
from plugin.web.mlflow import context, entities
from plugin.web.mlflow.blueprints import API
from plugin.web.mlflow.params import Params, field
from plugin.web.mlflow.responses import empty, json_response, page_response


@API.post("/logged-models")
def create_logged_model(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    experiment = context.experiments().get_active(project, params.required("experiment_id"))
    source_run_id = params.string("source_run_id")
    service = context.logged_models()
    model = service.create(
        experiment,
        name=params.string("name"),
        source_run=context.runs().get(project, source_run_id) if source_run_id else None,
        tags=params.mapping("tags"),
        params=params.mapping("params"),
        model_type=params.string("model_type"),
        creator=context.user(),
    )
    return json_response({"model": entities.logged_model(service.view(model))})


@API.get("/logged-models/<model_id>")
def get_logged_model(project_ref: str, model_id: str) -> Response:
    project = context.readable(project_ref)
    service = context.logged_models()
    model = service.get(project, model_id, allow_deleted=Params.from_request().boolean("allow_deleted"))
    return json_response({"model": entities.logged_model(service.view(model))})


@API.patch("/logged-models/<model_id>")
def finalize_logged_model(project_ref: str, model_id: str) -> Response:
    project = context.writable(project_ref)
    service = context.logged_models()
    model = service.finalize(service.get(project, model_id), Params.from_request().required("status"))
    return json_response({"model": entities.logged_model(service.view(model))})


@API.delete("/logged-models/<model_id>")
def delete_logged_model(project_ref: str, model_id: str) -> Response:
    project = context.writable(project_ref)
    service = context.logged_models()
    service.delete(service.get(project, model_id))
    return empty()


@API.patch("/logged-models/<model_id>/tags")
def set_logged_model_tags(project_ref: str, model_id: str) -> Response:
    project = context.writable(project_ref)
    service = context.logged_models()
    service.set_tags(service.get(project, model_id), Params.from_request().mapping("tags"))
    return empty()


@API.delete("/logged-models/<model_id>/tags/<path:key>")
def delete_logged_model_tag(project_ref: str, model_id: str, key: str) -> Response:
    project = context.writable(project_ref)
    service = context.logged_models()
    service.delete_tag(service.get(project, model_id), key)
    return empty()


@API.post("/logged-models/<model_id>/params")
def log_logged_model_params(project_ref: str, model_id: str) -> Response:
    project = context.writable(project_ref)
    service = context.logged_models()
    service.log_params(service.get(project, model_id), Params.from_request().mapping("params"))
    return empty()


@API.post("/logged-models/search")
def search_logged_models(project_ref: str) -> Response:
    project = context.readable(project_ref)
    params = Params.from_request()
    experiments = context.experiments()
    chosen = [experiments.get(project, e) for e in params.strings("experiment_ids")]
    order_by = [
        Ordering(
            str(o.get("field_name") or ""),
            o.get("ascending", True) is not False,
            field(o, "dataset_name", "order_by.dataset_name"),
            field(o, "dataset_digest", "order_by.dataset_digest"),
        )
        for o in params.objects("order_by")
    ]
    datasets = [
        (str(d.get("dataset_name") or ""), None if d.get("dataset_digest") is None else str(d["dataset_digest"]))
        for d in params.objects("datasets")
    ]
    results = context.logged_models().search(
        project,
        chosen,
        filter_=params.string("filter"),
        datasets=datasets,
        order_by=order_by,
        max_results=params.integer("max_results"),
        page_token=params.string("page_token"),
    )
    return page_response("models", [entities.logged_model(v) for v in results.items], results.next_page_token, omit_empty=True)
