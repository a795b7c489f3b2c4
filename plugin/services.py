"""Per-request construction of the plugin's services (shared by the API and the pages)."""
from __future__ import annotations

from package_api.plugin_api import db, package_services
from plugin.registry.model_service import ModelService
from plugin.registry.version_service import VersionService


def model_services() -> ModelService:
    return ModelService(db.session, package_services())


def version_services() -> VersionService:
    return VersionService(db.session, package_services())
