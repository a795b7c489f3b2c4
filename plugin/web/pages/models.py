"""Pages of models: the index (search, sort, delete), new and edit forms, and a model's page with
its model card and its versions."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from package_api.plugin_api import Action, FormError, attempt, base_url, can, listing_query
from package_api.plugin_api import page_principal as principal
from package_api.plugin_api import page_project as authorized_project
from plugin.huggingface.repos import reachable, repo_id
from plugin.registry.access import ModelAction
from plugin.registry.models import ModelOrigin
from plugin.services import alias_services, model_services, model_storage, run_card_services, version_services
from plugin.web import markdown
from plugin.web.pages.aliases import aliases_tab
from plugin.web.pages.blueprint import PREFIX, bp, selected_tab

#: (order_by, label) of the sort menus.
MODEL_ORDERS = (("created_at", "Created"), ("updated_at", "Updated"), ("name", "Name"), ("latest_version", "Latest version"))
VERSION_ORDERS = (("version", "Version"), ("created_at", "Created"))
TABS = ("card", "versions", "runs", "aliases")


def mlflow_tracking_uri(project_id: int) -> str:
    """Where the MLflow client talks to this project's registry (``MLFLOW_TRACKING_URI``)."""
    return f"{base_url()}/api/v4/projects/{project_id}/ml/mlflow"


def hf_endpoint() -> str:
    """Where ``huggingface_hub`` talks to this server (``HF_ENDPOINT``): every project's models."""
    return f"{base_url()}/hf"


@bp.get(f"{PREFIX}/models")
def index(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.READ_MODEL)
    query = listing_query("created_at")
    page = model_services().list(
        found,
        **query.listed(),
    )
    return render_template(
        "model_registry/index.html",
        project=found,
        page=page,
        **query.shown(),
        orders=MODEL_ORDERS,
        can_write=can(found, ModelAction.WRITE_MODEL),
        can_protect=can(found, Action.ADMIN_PROJECT),
        tracking_uri=mlflow_tracking_uri(found.id),
        base_url=base_url(),
    )


@bp.get(f"{PREFIX}/models/new")
def new_model(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    return render_template("model_registry/model_form.html", project=found, model=None, name="", description="")


@bp.post(f"{PREFIX}/models/new")
def create_model(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    name, description = request.form.get("name", "").strip(), request.form.get("description", "")
    result = attempt(
        lambda: model_services().create(
            found, name, description_=description, author=principal().user, origin=ModelOrigin.PAGE
        ),
        duplicate=FormError(f"A model named {name} already exists", "name", 409),
    )
    if isinstance(result, FormError):
        page = render_template(
            "model_registry/model_form.html", project=found, model=None, name=name, description=description, error=result
        )
        return page, result.status
    return redirect(url_for(".model", namespace=namespace, project=project, model_id=result.id))


@bp.get(f"{PREFIX}/models/<int:model_id>")
def model(namespace: str, project: str, model_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.READ_MODEL)
    models = model_services()
    summary = models.summary(models.get(found, model_id))
    tab = selected_tab(TABS)
    query = listing_query("version")
    versions = runs = run_versions = None
    aliases = aliases_tab(found, summary.model) if tab == "aliases" else {"aliases": alias_services().current(summary.model)}
    if tab == "runs":
        runs, run_versions = run_card_services().of_model(summary.model, query.page, query.per_page)
    if tab == "versions":
        versions = version_services().list(
            summary.model,
            **query.listed(),
        )
    return render_template(
        "model_registry/model.html",
        project=found,
        summary=summary,
        model=summary.model,
        storage=model_storage(summary.model),
        description=markdown.render(summary.model.description),
        tab=tab,
        versions=versions,
        runs=runs,
        run_versions=run_versions,
        **query.shown(),
        orders=VERSION_ORDERS,
        can_write=can(found, ModelAction.WRITE_MODEL),
        tracking_uri=mlflow_tracking_uri(found.id),
        hf_endpoint=hf_endpoint(),
        hf_repo_id=repo_id(found, summary.model) if reachable(summary.model.name) else None,
        **aliases,
    )


@bp.get(f"{PREFIX}/models/<int:model_id>/edit")
def edit_model(namespace: str, project: str, model_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    item = model_services().get(found, model_id)
    return render_template(
        "model_registry/model_form.html", project=found, model=item, name=item.name, description=item.description
    )


@bp.post(f"{PREFIX}/models/<int:model_id>/edit")
def update_model(namespace: str, project: str, model_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    models = model_services()
    item = models.get(found, model_id)
    description = request.form.get("description", "")
    result = attempt(lambda: models.update(item, description_=description))
    if isinstance(result, FormError):
        page = render_template(
            "model_registry/model_form.html",
            project=found,
            model=item,
            name=item.name,
            description=description,
            error=result,
        )
        return page, result.status
    flash("Model updated successfully", "success")
    return redirect(url_for(".model", namespace=namespace, project=project, model_id=model_id))


@bp.post(f"{PREFIX}/models/<int:model_id>/delete")
def delete_model(namespace: str, project: str, model_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.DELETE_MODEL)
    models = model_services()
    models.delete(models.get(found, model_id))
    flash("Model deleted successfully", "success")
    return redirect(url_for(".index", namespace=namespace, project=project))
