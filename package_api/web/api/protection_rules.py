"""Package protection rules (``lib/api/project_packages_protection_rules.rb``): list, create, update,
delete, for the project's Maintainers and Owners (GitLab's ``admin_package``). The rules themselves:
``package_api.packages.protection``."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from package_api import services
from package_api.access.policy import Action
from package_api.errors import InvalidParameter
from package_api.packages.protection_rules import DELETE_LEVEL, PUSH_LEVEL, ProtectionRuleService, rule_json
from package_api.web.api import params
from package_api.web.api.context import actor, authorized_project

bp = Blueprint("package_protection_rules", __name__, url_prefix="/api/v4/projects/<project:project_ref>")

RULES = "/packages/protection/rules"
FIELDS = ("package_name_pattern", "package_type", PUSH_LEVEL, DELETE_LEVEL)


def _rules() -> ProtectionRuleService:
    return services.protection_rule_service(actor=actor())


@bp.get(RULES)
def list_rules(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    return jsonify([rule_json(rule) for rule in _rules().list(project)])


@bp.post(RULES)
def create_rule(project_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    values = params.request_params()
    for required in ("package_name_pattern", "package_type"):
        if required not in values:
            raise InvalidParameter(required, "is missing")
    if PUSH_LEVEL not in values and DELETE_LEVEL not in values:
        raise InvalidParameter(f"{PUSH_LEVEL}, {DELETE_LEVEL}", "are missing, at least one parameter must be provided")
    rule = _rules().create(
        project,
        package_name_pattern=values["package_name_pattern"],
        package_type=values["package_type"],
        minimum_access_level_for_push=values.get(PUSH_LEVEL),
        minimum_access_level_for_delete=values.get(DELETE_LEVEL),
    )
    return jsonify(rule_json(rule)), 201


@bp.patch(f"{RULES}/<int:rule_id>")
def update_rule(project_ref: str, rule_id: int) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    service = _rules()
    values = params.request_params()
    rule = service.update(service.get(project, rule_id), {k: values[k] for k in FIELDS if k in values})
    return jsonify(rule_json(rule))


@bp.delete(f"{RULES}/<int:rule_id>")
def delete_rule(project_ref: str, rule_id: int) -> tuple[str, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    service = _rules()
    service.delete(service.get(project, rule_id))
    return "", 204
