"""The model registry pages (GitLab's **Deploy > Model registry**): models, versions, artifacts.

Registered by ``plugin.register`` through ``package_api``'s page extension points: the sidebar
entry and, on a package's page, a link to the model version the package is.
"""
from __future__ import annotations

from flask import Flask, url_for

from package_api.plugin_api import NavEntry, Package, PackageLink, add_package_links, add_project_nav
from plugin.services import version_services
from plugin.web.pages import models, versions  # noqa: F401  (the views)
from plugin.web.pages.blueprint import bp

__all__ = ["bp", "register"]


def version_links(package: Package) -> list[PackageLink]:
    """On a package's page: the model version it is, if it is one."""
    row = version_services().for_package(package)
    if row is None:
        return []
    project = package.project
    url = url_for(
        "model_registry_pages.version",
        namespace=project.namespace,
        project=project.path,
        model_id=row.model_id,
        version_id=row.id,
    )
    return [PackageLink(f"Model version {row.model.name} {row.version}", url)]


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    add_project_nav(app, NavEntry("Model registry", "model_registry_pages.index"))
    add_package_links(app, version_links)
