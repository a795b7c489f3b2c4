"""The model registry pages (GitLab's **Deploy > Model registry**: models, versions, artifacts)
and the experiments' (**Deploy > Model experiments**: experiments and their runs, and the page at
the MLflow tracking URI that opens MLflow's printed links).

Registered by ``plugin.register`` through ``package_api``'s page extension points: the sidebar
entries (for callers who may read the model registry: not where it is disabled, nor for outsiders
where it is visible to members only), on a package's page a link to the model version the
package is, for the same callers, and on Settings > Packages and registries a link to the protected
alias rules.
"""
from __future__ import annotations

from flask import Flask, url_for

from package_api.plugin_api import (
    NavEntry,
    Package,
    PackageLink,
    Project,
    SettingsLink,
    add_package_links,
    add_project_nav,
    add_registry_settings,
    can,
)
from plugin.registry.access import ModelAction
from plugin.services import version_services
from plugin.web.pages import aliases, experiments, mlflow_links, models, runs, versions  # noqa: F401  (the views)
from plugin.web.pages.blueprint import bp, on_experiment_pages, on_model_pages

__all__ = ["bp", "register"]


def version_links(package: Package) -> list[PackageLink]:
    """On a package's page: the model version it is, if it is one."""
    project = package.project
    if not can(project, ModelAction.READ_MODEL):
        return []
    row = version_services().for_package(package)
    if row is None:
        return []
    url = url_for(
        "model_registry_pages.version",
        namespace=project.namespace,
        project=project.path,
        model_id=row.model_id,
        version_id=row.id,
    )
    return [PackageLink(f"Model version {row.model.name} {row.version}", url)]


def alias_rule_links(project: Project) -> list[SettingsLink]:
    """On Settings > Packages and registries (Maintainers): the protected alias rules, where the
    model registry is open to the caller."""
    if not can(project, ModelAction.READ_MODEL):
        return []
    url = url_for("model_registry_pages.protected_aliases", namespace=project.namespace, project=project.path)
    return [SettingsLink(
        "Protected aliases", url,
        "Who may move a model's aliases that match a pattern (@prod*), the approvals a move waits for and the"
        " version tags it needs.",
    )]


def _reads_models(project: Project) -> bool:
    return can(project, ModelAction.READ_MODEL)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    add_project_nav(
        app, NavEntry("Model registry", "model_registry_pages.index", visible=_reads_models, active=on_model_pages)
    )
    add_project_nav(
        app,
        NavEntry(
            "Model experiments", "model_registry_pages.experiments", visible=_reads_models, active=on_experiment_pages
        ),
    )
    add_package_links(app, version_links)
    add_registry_settings(app, alias_rule_links)
