"""Per-request construction of the plugin's services (shared by the API and the pages)."""
from __future__ import annotations

from package_api.api.context import package_services
from package_api.db import db

from .models import ModelService
from .versions import VersionService


def model_services() -> ModelService:
    return ModelService(db.session, package_services())


def version_services() -> VersionService:
    return VersionService(db.session, package_services())
