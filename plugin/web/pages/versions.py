"""Pages of model versions: the new-version form (with artifact uploads by the page's script),
a version's page with its version card and artifacts, editing and deleting."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from package_api.plugin_api import FormError, attempt, can
from package_api.plugin_api import page_principal as principal
from package_api.plugin_api import page_project as authorized_project
from plugin.registry.access import ModelAction
from plugin.services import card_services, model_services, version_services, version_storage
from plugin.web import markdown
from plugin.web.pages import charts as charts_
from plugin.web.pages.blueprint import PREFIX, bp, selected_tab

TABS = ("card", "artifacts")
VERSION = f"{PREFIX}/models/<int:model_id>/versions/<int:version_id>"


def _max_file_size() -> int:
    return int(current_app.config["MODELSHELF"]["MAX_FILE_SIZE"])


@bp.get(f"{PREFIX}/models/<int:model_id>/versions/new")
def new_version(namespace: str, project: str, model_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    models = model_services()
    summary = models.summary(models.get(found, model_id))
    return render_template(
        "model_registry/version_form.html",
        project=found,
        model=summary.model,
        latest=summary.latest_version,
        version=None,
        version_value="",
        description="",
        max_file_size=_max_file_size(),
    )


@bp.post(f"{PREFIX}/models/<int:model_id>/versions/new")
def create_version(namespace: str, project: str, model_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    models = model_services()
    item = models.get(found, model_id)
    value, description = request.form.get("version", "").strip(), request.form.get("description", "")
    result = attempt(
        lambda: version_services().create(found, item, value, description_=description, author=principal().user),
        duplicate=FormError(f"Version {value} already exists", "version", 409),
    )
    if isinstance(result, FormError):
        page = render_template(
            "model_registry/version_form.html",
            project=found,
            model=item,
            latest=models.summary(item).latest_version,
            version=None,
            version_value=value,
            description=description,
            max_file_size=_max_file_size(),
            error=result,
        )
        return page, result.status
    return redirect(url_for(".version", namespace=namespace, project=project, model_id=model_id, version_id=result.id))


@bp.get(VERSION)
def version(namespace: str, project: str, model_id: int, version_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.READ_MODEL)
    versions = version_services()
    details = versions.details(versions.get(model_services().get(found, model_id), version_id))
    cards = card_services()
    charts = {
        key: charts_.line_chart(key, [(p.step, p.value) for p in points])
        for key, points in cards.metric_histories(details.version).items()
    }
    return render_template(
        "model_registry/version.html",
        project=found,
        model=details.version.model,
        version=details.version,
        details=details,
        card=cards.for_version(details.version),
        charts=charts,
        description=markdown.render(details.version.description),
        tab=selected_tab(TABS),
        can_write=can(found, ModelAction.WRITE_MODEL),
        can_seal=can(found, ModelAction.SEAL_VERSION),
        max_file_size=_max_file_size(),
        storage=version_storage(details.version),
    )


@bp.get(f"{VERSION}/edit")
def edit_version(namespace: str, project: str, model_id: int, version_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    row = version_services().get(model_services().get(found, model_id), version_id)
    return render_template(
        "model_registry/version_form.html",
        project=found,
        model=row.model,
        version=row,
        version_value=row.version,
        description=row.description,
    )


@bp.post(f"{VERSION}/edit")
def update_version(namespace: str, project: str, model_id: int, version_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    versions = version_services()
    row = versions.get(model_services().get(found, model_id), version_id)
    description = request.form.get("description", "")
    result = attempt(lambda: versions.update(row, description_=description))
    if isinstance(result, FormError):
        page = render_template(
            "model_registry/version_form.html",
            project=found,
            model=row.model,
            version=row,
            version_value=row.version,
            description=description,
            error=result,
        )
        return page, result.status
    flash("Model version updated successfully", "success")
    return redirect(url_for(".version", namespace=namespace, project=project, model_id=model_id, version_id=version_id))


@bp.post(f"{VERSION}/delete")
def delete_version(namespace: str, project: str, model_id: int, version_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.DELETE_MODEL)
    versions = version_services()
    row = versions.get(model_services().get(found, model_id), version_id)
    label = row.version
    versions.delete(row)
    flash(f"Model version {label} deleted successfully", "success")
    return redirect(url_for(".model", namespace=namespace, project=project, model_id=model_id, tab="versions"))


@bp.post(f"{VERSION}/seal")
def seal_version(namespace: str, project: str, model_id: int, version_id: int) -> ResponseReturnValue:
    """Seal the version (Maintainers): its files never change again and only an Owner deletes it."""
    found = authorized_project(namespace, project, ModelAction.SEAL_VERSION)
    versions = version_services()
    row = versions.get(model_services().get(found, model_id), version_id)
    if versions.seal(row):
        flash(f"Model version {row.version} sealed: its files can no longer change", "success")
    return redirect(url_for(".version", namespace=namespace, project=project, model_id=model_id, version_id=version_id))
