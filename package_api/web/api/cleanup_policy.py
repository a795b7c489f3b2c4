"""A project's cleanup policy (docs/cleanup.md): GitLab's container expiration policy attributes on
``/packages/cleanup_policy``, read and changed by the project's Maintainers and Owners (GitLab's
``admin_container_image``), and its dry run: what a run would remove now."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from package_api import services
from package_api.access.policy import Action
from package_api.packages.cleanup_policies import policy_json
from package_api.web.api import params
from package_api.web.api.context import actor, authorized_project

bp = Blueprint("package_cleanup_policy", __name__, url_prefix="/api/v4/projects/<project:project_ref>")

POLICY = "/packages/cleanup_policy"


@bp.get(POLICY)
def get_policy(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    return jsonify(policy_json(services.cleanup_policy_service(actor=actor()).get(project)))


@bp.put(POLICY)
def update_policy(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    policy = services.cleanup_policy_service(actor=actor()).update(project, params.request_params())
    return jsonify(policy_json(policy))


@bp.get(f"{POLICY}/dry_run")
def dry_run(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    policy = services.cleanup_policy_service(actor=actor()).get(project)
    return jsonify(services.cleanup_service().run(policy, dry_run=True).json())
