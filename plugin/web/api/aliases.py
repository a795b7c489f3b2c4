"""The REST API of aliases and their governance, on the model registry API's blueprint:

- ``/ml/models/:model/aliases[/:alias]``: list, get (``?at=`` an ISO time: what it pointed at
  then), move (``PUT {"version"}``: 200 moved, or 202 with the promotion request a protected alias
  needs), delete, ``/history``, ``/rollback``;
- ``/ml/models/:model/promotion_requests[/:id]``: list, get, ``/approve``, ``/reject``;
- ``/ml/protected_aliases[/:id]``: the project's protected alias rules, for Maintainers.
"""
from __future__ import annotations

from flask import Response, jsonify, request

from package_api.plugin_api import Action, Project, authorized_project, request_body, text_param
from plugin.promotion.aliases import Outcome, parse_time
from plugin.registry.access import ModelAction
from plugin.registry.models import Model
from plugin.services import alias_rule_services, alias_services, model_services, promotion_services, version_services
from plugin.web.api import entities
from plugin.web.api.routes import bp

ALIAS = "/ml/models/<model_ref>/aliases/<alias>"
REQUEST = "/ml/models/<model_ref>/promotion_requests/<int:request_id>"
RULES = "/ml/protected_aliases"
#: The fields of a rule a POST or PATCH may set.
RULE_FIELDS = ("alias_pattern", "minimum_access_level", "approvals_required", "required_tags")


def _model(project_ref: str, model_ref: str, action: ModelAction) -> tuple[Project, Model]:
    project = authorized_project(project_ref, action)
    return project, model_services().get(project, model_ref)


def _outcome(project: Project, model: Model, name: str, outcome: Outcome) -> tuple[Response, int]:
    """200 with the alias once it moved (or was there already), 202 with the request that waits."""
    if outcome.request is not None:
        return jsonify(entities.promotion_request(outcome.request, project)), 202
    found, row = alias_services().get(model, name)
    return jsonify(entities.alias(found.alias, row, protected=_protected(model, name))), 200


def _protected(model: Model, name: str) -> bool:
    return bool(alias_rule_services().protected(model.project_id, [name]))


@bp.get("/ml/models/<model_ref>/aliases")
def list_aliases(project_ref: str, model_ref: str) -> Response:
    _, model = _model(project_ref, model_ref, ModelAction.READ_MODEL)
    current = alias_services().current(model)
    protected = alias_rule_services().protected(model.project_id, [a.alias for a, _ in current])
    return jsonify([entities.alias(a.alias, row, protected=a.alias in protected) for a, row in current])


@bp.get(ALIAS)
def get_alias(project_ref: str, model_ref: str, alias: str) -> Response:
    """The version ``alias`` points at, or pointed at at ``?at=`` (then with the move that set it)."""
    _, model = _model(project_ref, model_ref, ModelAction.READ_MODEL)
    at = request.args.get("at")
    if at:
        move, row = alias_services().at(model, alias, parse_time(at))
        body = entities.alias(alias, row, protected=_protected(model, alias))
        return jsonify({**body, "at": at, "set_by": entities.alias_move(move)})
    found, row = alias_services().get(model, alias)
    return jsonify(entities.alias(found.alias, row, protected=_protected(model, alias)))


@bp.put(ALIAS)
def move_alias(project_ref: str, model_ref: str, alias: str) -> tuple[Response, int]:
    """Point ``alias`` at ``{"version": "1.2.0"}`` (a version or its id)."""
    project, model = _model(project_ref, model_ref, ModelAction.WRITE_MODEL)
    row = version_services().get(model, text_param(request_body(), "version", required=True))
    return _outcome(project, model, alias, alias_services().move(model, alias, row))


@bp.delete(ALIAS)
def delete_alias(project_ref: str, model_ref: str, alias: str) -> tuple[str, int]:
    _, model = _model(project_ref, model_ref, ModelAction.WRITE_MODEL)
    service = alias_services()
    service.get(model, alias)  # 404 for an alias that is not there
    service.delete(model, alias)
    return "", 204


@bp.get(f"{ALIAS}/history")
def alias_history(project_ref: str, model_ref: str, alias: str) -> Response:
    """Every move of ``alias``, the latest first."""
    _, model = _model(project_ref, model_ref, ModelAction.READ_MODEL)
    return jsonify([entities.alias_move(m) for m in alias_services().history(model, alias)])


@bp.post(f"{ALIAS}/rollback")
def rollback_alias(project_ref: str, model_ref: str, alias: str) -> tuple[Response, int]:
    """Move ``alias`` back to the version it pointed at before, under the same rules."""
    project, model = _model(project_ref, model_ref, ModelAction.WRITE_MODEL)
    return _outcome(project, model, alias, alias_services().rollback(model, alias))


# -- promotion requests ----------------------------------------------------------------------------


@bp.get("/ml/models/<model_ref>/promotion_requests")
def list_promotion_requests(project_ref: str, model_ref: str) -> Response:
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    model = model_services().get(project, model_ref)
    found = promotion_services().list(project, model=model, status=request.args.get("status"))
    return jsonify([entities.promotion_request(r, project) for r in found])


@bp.get(REQUEST)
def get_promotion_request(project_ref: str, model_ref: str, request_id: int) -> Response:
    project = authorized_project(project_ref, ModelAction.READ_MODEL)
    model = model_services().get(project, model_ref)
    return jsonify(entities.promotion_request(promotion_services().get(project, request_id, model=model), project))


def _review(project_ref: str, model_ref: str, request_id: int, *, approve: bool) -> Response:
    project = authorized_project(project_ref, ModelAction.WRITE_MODEL)
    model = model_services().get(project, model_ref)
    service = promotion_services()
    found = service.get(project, request_id, model=model)
    comment = text_param(request_body(), "comment") or ""
    return jsonify(entities.promotion_request(service.review(project, found, approve=approve, comment=comment), project))


@bp.post(f"{REQUEST}/approve")
def approve_promotion_request(project_ref: str, model_ref: str, request_id: int) -> Response:
    return _review(project_ref, model_ref, request_id, approve=True)


@bp.post(f"{REQUEST}/reject")
def reject_promotion_request(project_ref: str, model_ref: str, request_id: int) -> Response:
    return _review(project_ref, model_ref, request_id, approve=False)


# -- protected alias rules -------------------------------------------------------------------------


@bp.get(RULES)
def list_alias_rules(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    return jsonify([entities.alias_rule(r) for r in alias_rule_services().list(project)])


@bp.post(RULES)
def create_alias_rule(project_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    params = request_body()
    given = {k: params[k] for k in RULE_FIELDS if k in params}
    rule = alias_rule_services().create(project, **given)
    return jsonify(entities.alias_rule(rule)), 201


@bp.get(f"{RULES}/<int:rule_id>")
def get_alias_rule(project_ref: str, rule_id: int) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    return jsonify(entities.alias_rule(alias_rule_services().get(project, rule_id)))


@bp.patch(f"{RULES}/<int:rule_id>")
def update_alias_rule(project_ref: str, rule_id: int) -> Response:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    service = alias_rule_services()
    params = request_body()
    rule = service.update(project, service.get(project, rule_id), {k: params[k] for k in RULE_FIELDS if k in params})
    return jsonify(entities.alias_rule(rule))


@bp.delete(f"{RULES}/<int:rule_id>")
def delete_alias_rule(project_ref: str, rule_id: int) -> tuple[str, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    service = alias_rule_services()
    service.delete(project, service.get(project, rule_id))
    return "", 204
