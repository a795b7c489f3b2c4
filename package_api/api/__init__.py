"""The ``/api/v4`` JSON surfaces, in GitLab's wire format."""
from __future__ import annotations

from flask import Flask

from . import errors, generic, packages, projects


def register(app: Flask) -> None:
    errors.register(app)
    app.register_blueprint(generic.bp)
    app.register_blueprint(packages.bp)
    app.register_blueprint(projects.bp)
