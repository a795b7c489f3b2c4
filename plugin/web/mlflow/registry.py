"""MLflow's model registry (``/api/2.0/mlflow/registered-models/...``, ``model-versions/...``):
registered models are the registry's models, model versions its versions, numbered by sequence."""
from __future__ import annotations

from flask import Response

from plugin.mlflow_registry.registered_models import RegistryService
from plugin.mlflow_registry.sealing import SEAL_TAG
from plugin.registry.models import Model, ModelVersion
from plugin.web.mlflow import context, entities
from plugin.web.mlflow.blueprints import API
from plugin.web.mlflow.params import Params
from plugin.web.mlflow.responses import empty, json_response, page_response

# -- registered models -------------------------------------------------------------------------------


def _model_response(project_ref: str, name: str) -> Response:
    project = context.readable(project_ref)
    return json_response({"registered_model": entities.registered_model(context.registry().view_named(project, name))})


@API.post("/registered-models/create")
def create_registered_model(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.registry()
    model = service.create(
        project,
        params.required("name"),
        description=params.string("description") or "",
        tags=params.mapping("tags"),
        author=context.user(),
    )
    return json_response({"registered_model": entities.registered_model(service.view(model))})


@API.get("/registered-models/get")
def get_registered_model(project_ref: str) -> Response:
    return _model_response(project_ref, Params.from_request().required("name"))


@API.patch("/registered-models/update")
def update_registered_model(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.registry()
    model = service.update(service.find(project, params.required("name")), description=params.string("description"))
    return json_response({"registered_model": entities.registered_model(service.view(model))})


@API.post("/registered-models/rename")
def rename_registered_model(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.registry()
    model = service.rename(project, service.find(project, params.required("name")), params.string("new_name"))
    return json_response({"registered_model": entities.registered_model(service.view(model))})


@API.delete("/registered-models/delete")
def delete_registered_model(project_ref: str) -> Response:
    project = context.deletable(project_ref)
    service = context.registry()
    service.delete(service.find(project, Params.from_request().required("name")))
    return empty()


@API.get("/registered-models/search")
def search_registered_models(project_ref: str) -> Response:
    project = context.readable(project_ref)
    params = Params.from_request()
    results = context.registry().search(
        project,
        filter_=params.string("filter"),
        order_by=params.strings("order_by"),
        max_results=params.integer("max_results"),
        page_token=params.string("page_token"),
    )
    return page_response("registered_models", [entities.registered_model(v) for v in results.items], results.next_page_token)


@API.post("/registered-models/set-tag")
def set_registered_model_tag(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.registry()
    service.set_tag(service.find(project, params.required("name")), params.required("key"), params.string("value"))
    return empty()


@API.delete("/registered-models/delete-tag")
def delete_registered_model_tag(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.registry()
    service.delete_tag(service.find(project, params.required("name")), params.required("key"))
    return empty()


@API.route("/registered-models/get-latest-versions", methods=["GET", "POST"])
def get_latest_versions(project_ref: str) -> Response:
    project = context.readable(project_ref)
    params = Params.from_request()
    registry = context.registry()
    name, stages = params.required("name"), params.strings("stages")
    latest = registry.versions.latest_named_rows(project, name, stages) if name else None
    if latest is None:  # no model, no version, or a stage refused: which of them
        latest = registry.versions.latest_rows(registry.find(project, name), stages)
    return json_response({"model_versions": [entities.model_version_row(v) for v in latest]})


@API.post("/registered-models/alias")
def set_alias(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.registry()
    service.set_alias(
        service.find(project, params.required("name")), params.required("alias"), params.required("version")
    )
    return empty()


@API.get("/registered-models/alias")
def get_version_by_alias(project_ref: str) -> Response:
    project = context.readable(project_ref)
    params = Params.from_request()
    registry = context.registry()
    row = registry.versions.by_alias(registry.find(project, params.required("name")), params.required("alias"))
    return json_response({"model_version": entities.model_version(registry.versions.view(row))})


@API.delete("/registered-models/alias")
def delete_alias(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    service = context.registry()
    service.delete_alias(service.find(project, params.required("name")), params.required("alias"))
    return empty()


# -- model versions ----------------------------------------------------------------------------------


@API.post("/model-versions/create")
def create_model_version(project_ref: str) -> Response:
    project = context.writable(project_ref)
    params = Params.from_request()
    registry = context.registry()
    model = registry.find(project, params.required("name"))
    source = params.required("source")
    view = registry.versions.create(
        project,
        model,
        source=source,
        run_id=params.string("run_id"),
        model_id=params.string("model_id"),
        tags=params.mapping("tags"),
        description=params.string("description") or "",
        run_link=params.string("run_link") or "",
        version_ref=registry.version_reference(project, source),
        author=context.user(),
        job_id=context.job_id(),  # a CI job's token makes this version: its provenance
    )
    return json_response({"model_version": entities.model_version(view)})


def _version(
    project_ref: str, params: Params, *, write: bool = False, delete: bool = False
) -> tuple[RegistryService, Model, ModelVersion]:
    """The registry, the model ``name`` and its version ``version``; raise ``MissingResource``."""
    if delete:
        project = context.deletable(project_ref)
    else:
        project = context.writable(project_ref) if write else context.readable(project_ref)
    registry = context.registry()
    name, number = params.required("name"), params.required("version")
    found = registry.versions.named(project, name, number) if name else None
    if found is not None:
        return registry, found.model, found
    model = registry.find(project, name)  # which of the two is missing, or why the number is refused
    return registry, model, registry.versions.get(model, number)


@API.get("/model-versions/get")
def get_model_version(project_ref: str) -> Response:
    params = Params.from_request()
    project = context.readable(project_ref)
    name = params.required("name")
    found = context.model_versions().named_row(project, name, params.required("version")) if name else None
    if found is not None:
        return json_response({"model_version": entities.model_version_row(found)})
    registry, _, row = _version(project_ref, params)  # raises: which of the two is missing
    return json_response({"model_version": entities.model_version(registry.versions.view(row))})


@API.patch("/model-versions/update")
def update_model_version(project_ref: str) -> Response:
    params = Params.from_request()
    registry, _, row = _version(project_ref, params, write=True)
    row = registry.versions.update(row, description=params.string("description"))
    return json_response({"model_version": entities.model_version(registry.versions.view(row))})


@API.delete("/model-versions/delete")
def delete_model_version(project_ref: str) -> Response:
    registry, _, row = _version(project_ref, Params.from_request(), delete=True)
    registry.versions.delete(row)
    return empty()


@API.post("/model-versions/set-tag")
def set_model_version_tag(project_ref: str) -> Response:
    params = Params.from_request()
    registry, _, row = _version(project_ref, params, write=True)
    if params.string("key") == SEAL_TAG:
        context.sealable(project_ref)  # sealing takes a Maintainer
    registry.versions.set_tag(row, params.required("key"), params.string("value"))
    return empty()


@API.delete("/model-versions/delete-tag")
def delete_model_version_tag(project_ref: str) -> Response:
    params = Params.from_request()
    registry, _, row = _version(project_ref, params, write=True)
    registry.versions.delete_tag(row, params.required("key"))
    return empty()


@API.post("/model-versions/transition-stage")
def transition_stage(project_ref: str) -> Response:
    params = Params.from_request()
    registry, model, row = _version(project_ref, params, write=True)
    row = registry.versions.transition(
        model, row, params.required("stage"), archive_existing=params.boolean("archive_existing_versions")
    )
    return json_response({"model_version": entities.model_version(registry.versions.view(row))})


@API.get("/model-versions/get-download-uri")
def get_download_uri(project_ref: str) -> Response:
    registry, _, row = _version(project_ref, Params.from_request())
    return json_response({"artifact_uri": registry.versions.download_uri(row)})


@API.get("/model-versions/search")
def search_model_versions(project_ref: str) -> Response:
    project = context.readable(project_ref)
    params = Params.from_request()
    results = context.model_versions().search(
        project,
        filter_=params.string("filter"),
        order_by=params.strings("order_by"),
        max_results=params.integer("max_results"),
        page_token=params.string("page_token"),
    )
    return page_response("model_versions", [entities.model_version_row(v) for v in results.items], results.next_page_token)
