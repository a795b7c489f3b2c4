"""Protected alias rules, per project: which aliases they protect (a name pattern with ``*``
wildcards, matched in linear time: no user regex), the least role that moves one, the approvals a
move needs, and the version tags (``eval=passed``) the target version must carry.

Several rules may match one alias: together they ask for the highest role, the most approvals and
every tag any of them names (``Protection``). Maintainers manage the rules (the REST API and the
model registry's settings page judge that); this service checks their values.

Errors: ``InvalidInput`` for a bad value, ``AlreadyExists`` for a second rule of one pattern,
``NotFound("Protected alias rule")``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    AlreadyExists,
    DbSession,
    InvalidInput,
    NotFound,
    PackageService,
    Project,
    Role,
    record_audit_event,
    unit_of_work,
)
from plugin.mlflow_registry.models import Alias
from plugin.promotion.models import AliasRule
from plugin.registry.models import Model, ModelVersion

#: Instance administrators are above every role (a rule may ask for them).
ADMIN = 60
#: GitLab's names of the levels a rule may ask for (``minimum_access_level``).
LEVELS = {"reporter": int(Role.REPORTER), "developer": int(Role.DEVELOPER), "maintainer": int(Role.MAINTAINER),
          "owner": int(Role.OWNER), "admin": ADMIN}
LEVEL_NAMES = {level: name for name, level in LEVELS.items()}
MAX_APPROVALS = 20
MAX_TAGS = 20
_PATTERN = re.compile(r"^[\w\-*]{1,255}$")


def wildcard_match(pattern: str, name: str) -> bool:
    """Whether ``name`` matches ``pattern``, where ``*`` stands for any run of characters: the
    pieces between stars are found left to right, each after the last (no backtracking)."""
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return name == pattern
    first, last = pieces[0], pieces[-1]
    if not name.startswith(first) or not name.endswith(last) or len(name) < len(first) + len(last):
        return False
    at, end = len(first), len(name) - len(last)
    for piece in pieces[1:-1]:
        found = name.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, str(level))


@dataclass(frozen=True)
class Protection:
    """What every rule matching one alias asks for, together."""

    rules: tuple[AliasRule, ...]

    @property
    def names(self) -> str:
        """The rules' patterns, as a refusal names them."""
        return ", ".join(rule.alias_pattern for rule in self.rules)

    @property
    def minimum_access_level(self) -> int:
        return max(rule.minimum_access_level for rule in self.rules)

    @property
    def approvals_required(self) -> int:
        return max(rule.approvals_required for rule in self.rules)

    @property
    def tags(self) -> list[tuple[str, str]]:
        seen: dict[tuple[str, str], None] = {}
        for rule in self.rules:
            seen.update(dict.fromkeys(rule.tags))
        return list(seen)

    def missing_tags(self, tags: Mapping[str, str]) -> list[str]:
        """The required ``key=value`` tags that ``tags`` lacks."""
        return [f"{key}={value}" for key, value in self.tags if tags.get(key) != value]


def _level(value: object) -> int:
    if isinstance(value, str) and value.strip().lower() in LEVELS:
        return LEVELS[value.strip().lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in LEVEL_NAMES:
        return value
    raise InvalidInput(f"minimum_access_level must be one of {', '.join(LEVELS)}")


def _approvals(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_APPROVALS:
        raise InvalidInput(f"approvals_required must be a whole number from 0 to {MAX_APPROVALS}")
    return value


def _tags(value: object) -> str:
    """Required tags given as ``["eval=passed"]``, ``{"eval": "passed"}`` or lines of text."""
    if isinstance(value, Mapping):
        pairs = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, str):
        pairs = [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        pairs = [item.strip() for item in value if item.strip()]
    else:
        raise InvalidInput("required_tags must be a list of key=value")
    if len(pairs) > MAX_TAGS:
        raise InvalidInput(f"required_tags holds at most {MAX_TAGS} tags")
    for pair in pairs:
        key, sign, _ = pair.partition("=")
        if not sign or not key.strip() or len(pair) > 500 or "\n" in pair:
            raise InvalidInput(f"required tag {pair!r} is not key=value")
    return "\n".join(dict.fromkeys(pairs))


def checked_pattern(value: object) -> str:
    """A rule's pattern: an alias name's characters (letters, digits, ``_``, ``-``) and ``*``."""
    if not isinstance(value, str) or not _PATTERN.match(value):
        raise InvalidInput("alias_pattern must be 1 to 255 letters, digits, '_', '-' or '*'")
    return value


class AliasRuleService:
    def __init__(self, session: DbSession, packages: PackageService, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.packages = packages  # seals the versions that the aliases a rule protects point at
        self.actor = actor

    def list(self, project: Project) -> list[AliasRule]:
        query = select(AliasRule).where(AliasRule.project_id == project.id).order_by(AliasRule.alias_pattern)
        return list(self.session.scalars(query))

    def get(self, project: Project, rule_id: int) -> AliasRule:
        rule = self.session.get(AliasRule, rule_id)
        if rule is None or rule.project_id != project.id:
            raise NotFound("Protected alias rule")
        return rule

    def protection(self, project_id: int, alias: str) -> Protection | None:
        """What the rules matching ``alias`` ask for, or ``None`` when it is not protected."""
        rules = self.session.scalars(select(AliasRule).where(AliasRule.project_id == project_id))
        matching = tuple(rule for rule in rules if wildcard_match(rule.alias_pattern, alias))
        return Protection(matching) if matching else None

    def protected(self, project_id: int, aliases: Iterable[str]) -> set[str]:
        """Those of ``aliases`` a rule protects."""
        patterns = list(self.session.scalars(select(AliasRule.alias_pattern).where(AliasRule.project_id == project_id)))
        return {alias for alias in aliases if any(wildcard_match(p, alias) for p in patterns)}

    def create(
        self,
        project: Project,
        *,
        alias_pattern: object,
        minimum_access_level: object = "maintainer",
        approvals_required: object = 0,
        required_tags: object = (),
    ) -> AliasRule:
        """Protect the aliases matching ``alias_pattern``; raise ``InvalidInput`` or ``AlreadyExists``."""
        rule = AliasRule(
            project_id=project.id,
            alias_pattern=checked_pattern(alias_pattern),
            minimum_access_level=_level(minimum_access_level),
            approvals_required=_approvals(approvals_required),
            required_tags=_tags(list(required_tags) if isinstance(required_tags, tuple) else required_tags),
        )
        self._refuse_duplicate(project, rule.alias_pattern, None)
        with unit_of_work(self.session):
            self.session.add(rule)
            self.session.flush()
            self._record("created", project, rule)
            self._seal_protected(project, rule)
        return rule

    def update(self, project: Project, rule: AliasRule, changes: Mapping[str, object]) -> AliasRule:
        """Change the fields of ``rule`` that ``changes`` names (all checked before any changes);
        raise ``InvalidInput`` or ``AlreadyExists``."""
        checks = {"alias_pattern": checked_pattern, "minimum_access_level": _level, "approvals_required": _approvals,
                  "required_tags": _tags}
        values = {field: check(changes[field]) for field, check in checks.items() if field in changes}
        if "alias_pattern" in values:
            self._refuse_duplicate(project, str(values["alias_pattern"]), rule.id)
        for field, value in values.items():
            setattr(rule, field, value)
        with unit_of_work(self.session):
            self._record("updated", project, rule)
            self._seal_protected(project, rule)
        return rule

    def delete(self, project: Project, rule: AliasRule) -> None:
        """Delete ``rule``; the versions it sealed stay sealed (a seal is for good)."""
        with unit_of_work(self.session):
            self._record("deleted", project, rule)
            self.session.delete(rule)

    def _seal_protected(self, project: Project, rule: AliasRule) -> None:
        """Seal the versions that the aliases ``rule`` protects point at now."""
        query = (
            select(Alias.alias, ModelVersion)
            .join(ModelVersion, ModelVersion.id == Alias.version_id)
            .join(Model, Model.id == Alias.model_id)
            .where(Model.project_id == project.id)
        )
        for alias, row in self.session.execute(query):
            if wildcard_match(rule.alias_pattern, alias):
                self.packages.seal(row.package, self.actor)

    def _refuse_duplicate(self, project: Project, pattern: str, rule_id: int | None) -> None:
        query = select(AliasRule.id).where(AliasRule.project_id == project.id, AliasRule.alias_pattern == pattern)
        found = self.session.scalar(query)
        if found is not None and found != rule_id:
            raise AlreadyExists(f"Protected alias rule {pattern}")

    def _record(self, what: str, project: Project, rule: AliasRule) -> None:
        record_audit_event(
            self.session,
            f"model_alias_rule_{what}",
            project=project.id,
            target_type="AliasRule",
            target_id=rule.id,
            target_details=rule.alias_pattern,
            details=rule_details(rule),
            actor=self.actor,
        )


def rule_details(rule: AliasRule) -> dict[str, object]:
    return {
        "alias_pattern": rule.alias_pattern,
        "minimum_access_level": level_name(rule.minimum_access_level),
        "approvals_required": rule.approvals_required,
        "required_tags": [f"{k}={v}" for k, v in rule.tags],
    }
