"""Settings > Packages and registries: **Protected packages**, the project's package protection rules
(GitLab's page of the same name): the rules, Add protection rule, Edit (``?edit=<id>``), Delete. The
same service as ``/api/v4/projects/:id/packages/protection/rules``
(``package_api.packages.protection_rules``), so the same checks and audit events; the rules are
enforced by ``package_api.packages.protection``. Below them, the links plugins add
(``navigation.add_registry_settings``: the model registry's protected aliases). Above the rules, the
project's **Cleanup policy** and its **Dry run** (``cleanup_policy``; docs/cleanup.md)."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue

from package_api import services
from package_api.access.models import Project
from package_api.access.policy import Action
from package_api.packages.models import PackageProtectionRule
from package_api.packages.protection import LEVELS, RULE_PACKAGE_TYPES, level_name
from package_api.packages.protection_rules import DELETE_LEVEL, PUSH_LEVEL, ProtectionRuleService
from package_api.web.pages.context import actor, authorized_project
from package_api.web.pages.forms import FormError, attempt
from package_api.web.pages.navigation import registry_settings
from package_api.web.pages.settings import cleanup_policy
from package_api.web.pages.settings.blueprint import PREFIX, bp, page, tab_url

PACKAGES_AND_REGISTRIES = f"{PREFIX}/packages_and_registries"
RULES = f"{PACKAGES_AND_REGISTRIES}/protection_rules"
CLEANUP_POLICY = f"{PACKAGES_AND_REGISTRIES}/cleanup_policy"
#: The levels a rule may ask for, as the form offers them ("" leaves the action unprotected).
LEVEL_CHOICES = tuple((name, "Administrator" if name == "admin" else name.capitalize()) for name in LEVELS)
FIELDS = ("package_name_pattern", "package_type", PUSH_LEVEL, DELETE_LEVEL)


def _rules() -> ProtectionRuleService:
    return services.protection_rule_service(actor=actor())


def _form() -> dict[str, Any]:
    """The form's fields as the service takes them: an empty level is no minimum (``None``)."""
    values: dict[str, Any] = {key: request.form.get(key, "").strip() for key in FIELDS}
    for level in (PUSH_LEVEL, DELETE_LEVEL):
        values[level] = values[level] or None
    return values


def _page(
    project: Project, *, error: FormError | None = None, form: dict[str, Any] | None = None,
    editing: PackageProtectionRule | None = None, cleanup: dict[str, Any] | None = None,
) -> str:
    if form is None and editing is not None:
        form = {
            "package_name_pattern": editing.package_name_pattern,
            "package_type": editing.package_type,
            PUSH_LEVEL: level_name(editing.minimum_access_level_for_push),
            DELETE_LEVEL: level_name(editing.minimum_access_level_for_delete),
        }
    return page(
        "packages_and_registries.html",
        project,
        rules=_rules().list(project),
        package_types=RULE_PACKAGE_TYPES,
        levels=LEVEL_CHOICES,
        level_label=lambda level: dict(LEVEL_CHOICES).get(level_name(level) or "", ""),
        error=error if cleanup is None else None,
        editing=editing,
        form=form or {"package_type": "generic", PUSH_LEVEL: "maintainer", DELETE_LEVEL: "maintainer"},
        more_settings=registry_settings(project),
        cleanup_error=error if cleanup is not None else None,
        **cleanup_policy.context(project, cleanup, dry_run=bool(request.args.get("dry_run"))),
    )


def _failed(project: Project, error: FormError, form: dict[str, Any], editing: PackageProtectionRule | None = None) -> ResponseReturnValue:
    return _page(project, error=error, form=form, editing=editing), error.status


@bp.get(PACKAGES_AND_REGISTRIES)
def packages_and_registries(namespace: str, project: str) -> ResponseReturnValue:
    """The rules; ``?edit=<id>``: that rule in the form, to change it."""
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    edit = request.args.get("edit", "")
    return _page(found, editing=_rules().get(found, int(edit)) if edit.isdigit() else None)


@bp.post(RULES)
def create_protection_rule(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    form = _form()
    result = attempt(lambda: _rules().create(found, **form))
    if isinstance(result, FormError):
        return _failed(found, result, form)
    flash(f"Package protection rule for {result.package_name_pattern} created.", "success")
    return redirect(tab_url(found, "packages_and_registries"))


@bp.post(f"{RULES}/<int:rule_id>")
def update_protection_rule(namespace: str, project: str, rule_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    service = _rules()
    form = _form()
    result = attempt(lambda: service.update(service.get(found, rule_id), form))
    if isinstance(result, FormError):
        return _failed(found, result, form, editing=service.get(found, rule_id))
    flash(f"Package protection rule for {result.package_name_pattern} updated.", "success")
    return redirect(tab_url(found, "packages_and_registries"))


@bp.post(f"{RULES}/<int:rule_id>/delete")
def delete_protection_rule(namespace: str, project: str, rule_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    service = _rules()
    rule = service.get(found, rule_id)
    pattern = rule.package_name_pattern
    service.delete(rule)
    flash(f"Package protection rule for {pattern} deleted: matching packages are no longer protected.", "success")
    return redirect(tab_url(found, "packages_and_registries"))


@bp.post(CLEANUP_POLICY)
def update_cleanup_policy(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    values = cleanup_policy.submitted()
    result = attempt(lambda: cleanup_policy.policies().update(found, values))
    if isinstance(result, FormError):
        return _page(found, error=result, cleanup=values), result.status
    flash("Cleanup policy saved.", "success")
    return redirect(tab_url(found, "packages_and_registries"))
