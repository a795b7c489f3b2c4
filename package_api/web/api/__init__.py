"""The ``/api/v4`` JSON surfaces, in GitLab's wire format (errors: ``errors.py``, routed there by
``package_api.web.errors``)."""
from __future__ import annotations

from flask import Flask

from package_api.web.api import (
    audit_events,
    cleanup_policy,
    deploy_tokens,
    generic,
    hooks,
    jobs,
    members,
    openapi,
    packages,
    projects,
    protection_rules,
    tokens,
    users,
)
from package_api.web.openapi import CORE, add_piece


def register(app: Flask) -> None:
    app.register_blueprint(generic.bp)
    app.register_blueprint(packages.bp)
    app.register_blueprint(protection_rules.bp)
    app.register_blueprint(cleanup_policy.bp)
    app.register_blueprint(projects.bp)
    app.register_blueprint(members.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(deploy_tokens.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(audit_events.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(openapi.bp)
    add_piece(app, CORE)  # the core of the document; plugins add their pieces from their register()
