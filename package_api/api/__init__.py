"""The ``/api/v4`` JSON surfaces, in GitLab's wire format (errors: ``errors.py``, routed there by
``package_api.surfaces``)."""
from __future__ import annotations

from flask import Flask

from . import generic, packages, projects


def register(app: Flask) -> None:
    app.register_blueprint(generic.bp)
    app.register_blueprint(packages.bp)
    app.register_blueprint(projects.bp)
