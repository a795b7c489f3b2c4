"""Pages of governed promotion: the model page's **Aliases** tab (each alias with its history,
Set alias, Roll back, Delete, and "what did an alias point at at a time"), a promotion request's
page (Approve, Reject), and the project's protected alias rules (Maintainers).

Every change goes through the one alias service; a refusal (a protected alias whose version lacks
the rule's tags, a member who may not approve) is flashed on the page it came from."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from package_api.plugin_api import Action, Forbidden, FormError, InvalidInput, NotFound, Project, attempt, can
from package_api.plugin_api import page_project as authorized_project
from plugin.promotion.aliases import Outcome, parse_time
from plugin.promotion.models import PENDING, AliasRule
from plugin.promotion.rules import LEVELS, level_name
from plugin.registry.access import ModelAction
from plugin.registry.models import Model
from plugin.services import alias_rule_services, alias_services, model_services, promotion_services, version_services
from plugin.web.pages.blueprint import PREFIX, bp

MODEL = f"{PREFIX}/models/<int:model_id>"
PROMOTION = f"{MODEL}/promotions/<int:request_id>"
RULES = f"{PREFIX}/protected_aliases"
#: The roles a rule may ask for, as the rules form offers them.
RULE_LEVELS = tuple((name, name.capitalize() if name != "admin" else "Administrator") for name in LEVELS)


def aliases_tab(project: Project, model: Model) -> dict[str, Any]:
    """What the model page's Aliases tab shows: the aliases with their latest moves, which are
    protected, the pending promotion requests, the versions to choose from, and the answer to
    ``?alias=&at=`` (what an alias pointed at then)."""
    service = alias_services()
    current = service.current(model)
    histories = service.histories(model)
    names = sorted({a.alias for a, _ in current} | set(histories))
    answer: dict[str, Any] | None = None
    asked, at = request.args.get("alias", ""), request.args.get("at", "")
    if asked and at:
        answer = {"alias": asked, "at": at}
        try:
            answer["move"], answer["version"] = service.at(model, asked, parse_time(at))
        except InvalidInput as exc:
            answer["error"] = exc.reason
        except NotFound:
            answer["error"] = f"@{asked} pointed at no version of this model at {at} (UTC)"
    return {
        "aliases": current,
        "histories": histories,
        "alias_names": names,
        "protected": alias_rule_services().protected(model.project_id, names),
        "pending": promotion_services().list(project, model=model, status=PENDING),
        "all_versions": model_services().versions(model),
        "answer": answer,
    }


def _back(project: Project, model_id: int) -> ResponseReturnValue:
    return redirect(url_for(".model", namespace=project.namespace, project=project.path, model_id=model_id, tab="aliases"))


def _after(project: Project, model: Model, name: str, work: Callable[[], Outcome]) -> ResponseReturnValue:
    """Run a move; flash what happened (moved, waiting for approvals, refused) and go where it shows."""
    try:
        result = attempt(work)
    except Forbidden as exc:
        flash(exc.reason or "You may not move this alias", "danger")
        return _back(project, model.id)
    if isinstance(result, FormError):
        flash(result.message, "danger")
    elif result.request is not None:
        flash(f"@{name} is protected: promotion request {result.request.id} waits for approvals", "info")
        return redirect(url_for(".promotion", namespace=project.namespace, project=project.path, model_id=model.id,
                                request_id=result.request.id))
    else:
        flash(f"@{name} now points at this model's version as asked", "success")
    return _back(project, model.id)


@bp.post(f"{MODEL}/aliases")
def set_alias(namespace: str, project: str, model_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    model = model_services().get(found, model_id)
    name = request.form.get("alias", "").strip()
    row = version_services().get(model, request.form.get("version", ""))
    return _after(found, model, name, lambda: alias_services().move(model, name, row))


@bp.post(f"{MODEL}/aliases/<alias>/rollback")
def rollback_alias(namespace: str, project: str, model_id: int, alias: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    model = model_services().get(found, model_id)
    return _after(found, model, alias, lambda: alias_services().rollback(model, alias))


@bp.post(f"{MODEL}/aliases/<alias>/delete")
def delete_alias(namespace: str, project: str, model_id: int, alias: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    model = model_services().get(found, model_id)
    try:
        alias_services().delete(model, alias)
        flash(f"@{alias} deleted", "success")
    except Forbidden as exc:
        flash(exc.reason, "danger")
    return _back(found, model.id)


# -- promotion requests ----------------------------------------------------------------------------


@bp.get(PROMOTION)
def promotion(namespace: str, project: str, model_id: int, request_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.READ_MODEL)
    model = model_services().get(found, model_id)
    service = promotion_services()
    item = service.get(found, request_id, model=model)
    writer = can(found, ModelAction.WRITE_MODEL)
    return render_template(
        "model_registry/promotion.html",
        project=found,
        model=model,
        item=item,
        level=level_name(item.minimum_access_level),
        refusal=service.refusal(found, item) if writer else "you may not change this model registry",
    )


def _review(namespace: str, project: str, model_id: int, request_id: int, *, approve: bool) -> ResponseReturnValue:
    found = authorized_project(namespace, project, ModelAction.WRITE_MODEL)
    model = model_services().get(found, model_id)
    service = promotion_services()
    item = service.get(found, request_id, model=model)
    comment = request.form.get("comment", "").strip()
    try:
        result = attempt(lambda: service.review(found, item, approve=approve, comment=comment))
    except Forbidden as exc:
        flash(exc.reason, "danger")
    else:
        if isinstance(result, FormError):
            flash(result.message, "danger")
        elif result.status == "approved":
            flash(f"Approved: @{result.alias} now points at {result.version.version}", "success")
        elif result.status == "rejected":
            flash("Promotion request rejected", "success")
        else:
            flash(f"Approved: {result.approvals} of {result.approvals_required} approvals", "success")
    return redirect(url_for(".promotion", namespace=namespace, project=project, model_id=model_id, request_id=request_id))


@bp.post(f"{PROMOTION}/approve")
def approve_promotion(namespace: str, project: str, model_id: int, request_id: int) -> ResponseReturnValue:
    return _review(namespace, project, model_id, request_id, approve=True)


@bp.post(f"{PROMOTION}/reject")
def reject_promotion(namespace: str, project: str, model_id: int, request_id: int) -> ResponseReturnValue:
    return _review(namespace, project, model_id, request_id, approve=False)


# -- protected alias rules ---------------------------------------------------------------------------


RULE_FIELDS = ("alias_pattern", "minimum_access_level", "approvals_required", "required_tags")


def _rules_page(
    found: Project, error: FormError | None = None, form: dict[str, str] | None = None, editing: AliasRule | None = None
) -> ResponseReturnValue:
    if form is None and editing is not None:
        form = {
            "alias_pattern": editing.alias_pattern,
            "minimum_access_level": level_name(editing.minimum_access_level),
            "approvals_required": str(editing.approvals_required),
            "required_tags": editing.required_tags,
        }
    page = render_template(
        "model_registry/protected_aliases.html",
        project=found,
        rules=alias_rule_services().list(found),
        levels=RULE_LEVELS,
        level_name=level_name,
        error=error,
        editing=editing,
        form=form or {"minimum_access_level": "maintainer", "approvals_required": "0"},
    )
    return (page, error.status) if error is not None else page


def _rule_form() -> dict[str, str]:
    return {key: request.form.get(key, "") for key in RULE_FIELDS}


@bp.get(RULES)
def protected_aliases(namespace: str, project: str) -> ResponseReturnValue:
    """The rules; ``?edit=<id>``: with that rule in the form, to change it."""
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    edit = request.args.get("edit", "")
    return _rules_page(found, editing=alias_rule_services().get(found, int(edit)) if edit.isdigit() else None)


@bp.post(f"{RULES}/<int:rule_id>/edit")
def update_protected_alias(namespace: str, project: str, rule_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    service = alias_rule_services()
    rule = service.get(found, rule_id)
    form = _rule_form()
    result = attempt(
        lambda: service.update(found, rule, form),
        duplicate=FormError(f"A rule for {form['alias_pattern']} exists already", "alias_pattern", 409),
    )
    if isinstance(result, FormError):
        return _rules_page(found, result, form, editing=service.get(found, rule_id))
    flash(f"Rule {result.alias_pattern} updated", "success")
    return redirect(url_for(".protected_aliases", namespace=namespace, project=project))


@bp.post(RULES)
def create_protected_alias(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    form = _rule_form()
    result = attempt(
        lambda: alias_rule_services().create(found, **form),
        duplicate=FormError(f"A rule for {form['alias_pattern']} exists already", "alias_pattern", 409),
    )
    if isinstance(result, FormError):
        return _rules_page(found, result, form)
    flash(f"Aliases matching {result.alias_pattern} are protected", "success")
    return redirect(url_for(".protected_aliases", namespace=namespace, project=project))


@bp.post(f"{RULES}/<int:rule_id>/delete")
def delete_protected_alias(namespace: str, project: str, rule_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    service = alias_rule_services()
    rule = service.get(found, rule_id)
    service.delete(found, rule)
    flash(f"Aliases matching {rule.alias_pattern} are no longer protected", "success")
    return redirect(url_for(".protected_aliases", namespace=namespace, project=project))
