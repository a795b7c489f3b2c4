"""A project's package protection rules as its Maintainers and Owners manage them (GitLab's
``Packages::Protection::{Create,Update,Delete}RuleService``): list, create, update, delete, each
change in the audit trail (``package_protection_rule_created``, ``_updated``, ``_deleted``) and
committed as one unit of work. Who may call these is the policy's business (``Action.ADMIN_PROJECT``,
GitLab's ``admin_package``: Maintainer), asked before they run. ``package_api.packages.protection``
enforces the rules.

Input is checked as GitLab checks it: an unknown ``package_type`` or access level is a 400 naming the
parameter (``InvalidParameter``); a record GitLab's model refuses (a blank pattern, one longer than
255 characters, one the project has already for that type, a rule protecting nothing) is a 422
(``Unprocessable``) with GitLab's message. A ``generic`` pattern must be a generic package name once
its ``*``\\ s are read as letters.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from package_api import audit, names
from package_api.access.models import Project
from package_api.db import DbSession
from package_api.errors import InvalidParameter, NotFound, Unprocessable
from package_api.identity import COMMAND_LINE, Actor
from package_api.packages.models import PackageProtectionRule
from package_api.packages.protection import LEVELS, RULE_PACKAGE_TYPES, level_name
from package_api.transactions import unit_of_work

MAX_PATTERN_LENGTH = 255
PUSH_LEVEL, DELETE_LEVEL = "minimum_access_level_for_push", "minimum_access_level_for_delete"
NOTHING_PROTECTED = "A rule must have at least a minimum access role for push or delete."
#: Marks a field not given (``None`` is a value: a level set to null).
UNSET: Any = object()


def rule_json(rule: PackageProtectionRule) -> dict[str, Any]:
    """GitLab's ``Entities::Projects::Packages::Protection::Rule``."""
    return {
        "id": rule.id,
        "project_id": rule.project_id,
        "package_name_pattern": rule.package_name_pattern,
        "package_type": rule.package_type,
        PUSH_LEVEL: level_name(rule.minimum_access_level_for_push),
        DELETE_LEVEL: level_name(rule.minimum_access_level_for_delete),
    }


def parse_level(param: str, value: object) -> int | None:
    """An access level by name (``maintainer``, ``owner``, ``admin``), or ``None`` for null."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in LEVELS:
        raise InvalidParameter(param, "does not have a valid value")
    return LEVELS[value]


def parse_package_type(value: object) -> str:
    if not isinstance(value, str) or value not in RULE_PACKAGE_TYPES:
        raise InvalidParameter("package_type", "does not have a valid value")
    return value


class ProtectionRuleService:
    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor  # who makes the changes

    def list(self, project: Project) -> list[PackageProtectionRule]:
        return list(
            self.session.scalars(
                select(PackageProtectionRule)
                .where(PackageProtectionRule.project_id == project.id)
                .order_by(PackageProtectionRule.id)
            )
        )

    def get(self, project: Project, rule_id: int) -> PackageProtectionRule:
        rule = self.session.get(PackageProtectionRule, rule_id)
        if rule is None or rule.project_id != project.id:
            raise NotFound("Package Protection Rule")
        return rule

    def create(
        self,
        project: Project,
        *,
        package_name_pattern: object,
        package_type: object,
        minimum_access_level_for_push: object = None,
        minimum_access_level_for_delete: object = None,
    ) -> PackageProtectionRule:
        """Add a rule; raise ``InvalidParameter`` or ``Unprocessable`` (then nothing changes)."""
        kind = parse_package_type(package_type)
        push = parse_level(PUSH_LEVEL, minimum_access_level_for_push)
        delete = parse_level(DELETE_LEVEL, minimum_access_level_for_delete)
        if push is None and delete is None:
            raise Unprocessable(NOTHING_PROTECTED)
        pattern = self._pattern(project, package_name_pattern, kind)
        with unit_of_work(self.session):
            rule = PackageProtectionRule(
                project_id=project.id,
                package_name_pattern=pattern,
                package_type=kind,
                minimum_access_level_for_push=push,
                minimum_access_level_for_delete=delete,
            )
            self.session.add(rule)
            self.session.flush()
            self._audit("created", rule, rule_json(rule))
        return rule

    def update(self, rule: PackageProtectionRule, changes: Mapping[str, object]) -> PackageProtectionRule:
        """Change the fields ``changes`` names (a level may be set to ``None``); raise
        ``InvalidParameter`` or ``Unprocessable`` (then nothing changes)."""
        kind = parse_package_type(changes["package_type"]) if "package_type" in changes else rule.package_type
        push = parse_level(PUSH_LEVEL, changes[PUSH_LEVEL]) if PUSH_LEVEL in changes else rule.minimum_access_level_for_push
        delete = (
            parse_level(DELETE_LEVEL, changes[DELETE_LEVEL])
            if DELETE_LEVEL in changes
            else rule.minimum_access_level_for_delete
        )
        pattern = rule.package_name_pattern
        if "package_name_pattern" in changes or kind != rule.package_type:
            wanted = changes.get("package_name_pattern", pattern)
            pattern = self._pattern(rule.project, wanted, kind, rule)
        if push is None and delete is None:
            raise Unprocessable(NOTHING_PROTECTED)
        with unit_of_work(self.session):
            before = rule_json(rule)
            rule.package_name_pattern, rule.package_type = pattern, kind
            rule.minimum_access_level_for_push, rule.minimum_access_level_for_delete = push, delete
            after = rule_json(rule)
            changed = {key: {"from": before[key], "to": value} for key, value in after.items() if before[key] != value}
            if changed:
                self._audit("updated", rule, {"changes": changed})
        return rule

    def delete(self, rule: PackageProtectionRule) -> None:
        with unit_of_work(self.session):
            self._audit("deleted", rule, rule_json(rule))
            self.session.delete(rule)

    def _pattern(
        self, project: Project, value: object, kind: str, rule: PackageProtectionRule | None = None
    ) -> str:
        if value is not None and not isinstance(value, str):
            raise InvalidParameter("package_name_pattern", "is invalid")
        if not value or not value.strip():
            raise Unprocessable("Package name pattern can't be blank")
        if len(value) > MAX_PATTERN_LENGTH:
            raise Unprocessable(f"Package name pattern is too long (maximum is {MAX_PATTERN_LENGTH} characters)")
        if kind == "generic":
            try:
                names.package_name(value.replace("*", "x"))
            except InvalidParameter:
                raise Unprocessable(
                    "Package name pattern should be a valid generic package name with optional wildcard characters."
                ) from None
        taken = self.session.scalar(
            select(PackageProtectionRule.id).where(
                PackageProtectionRule.project_id == project.id,
                PackageProtectionRule.package_type == kind,
                PackageProtectionRule.package_name_pattern == value,
            )
        )
        if taken is not None and (rule is None or taken != rule.id):
            raise Unprocessable("Package name pattern has already been taken")
        return value

    def _audit(self, what: str, rule: PackageProtectionRule, details: dict[str, Any]) -> None:
        audit.record(
            self.session,
            f"package_protection_rule_{what}",
            project=rule.project_id,
            target_type="PackageProtectionRule",
            target_id=rule.id,
            target_details=f"{rule.package_type} {rule.package_name_pattern}",
            details=details,
            actor=self.actor,
        )
