"""A project's cleanup policy as its Maintainers read and change it: GitLab's container expiration
policy attributes (``cadence``, ``enabled``, ``keep_n``, ``older_than``, ``name_regex`` /
``name_regex_delete``, ``name_regex_keep``, ``next_run_at``), applied to package versions, plus
our ``package_name_regex``. ``package_api.packages.cleanup`` evaluates and runs it.

Input is checked as GitLab checks it, a little wider where the issue asks: ``cadence`` is one of
GitLab's (``1d``, ``7d``, ``14d``, ``1month``, ``3month``); ``older_than`` is ``<N>d`` for any N from 1
to 3650 (GitLab's ``7d``...``90d`` among them) or null; ``keep_n`` any number from 1 to 1000 (GitLab's
1, 5, 10, 25, 50, 100 among them) or null. Each regex is at most 255 characters and RE2 syntax
(``package_api.patterns``), matched against the whole version (or package name), as GitLab anchors
them. A bad value is a 400 naming the parameter (``InvalidParameter``); nothing changes then.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from package_api import audit
from package_api.access.models import Project
from package_api.db import DbSession, utcnow
from package_api.errors import InvalidParameter
from package_api.identity import COMMAND_LINE, Actor
from package_api.packages.models import CleanupPolicy
from package_api.patterns import MAX_PATTERN_LENGTH, Pattern, PatternError, compile_pattern
from package_api.transactions import unit_of_work

#: GitLab's cadences and how long each is here (a month: 30 days).
CADENCES = {
    "1d": datetime.timedelta(days=1),
    "7d": datetime.timedelta(days=7),
    "14d": datetime.timedelta(days=14),
    "1month": datetime.timedelta(days=30),
    "3month": datetime.timedelta(days=90),
}
MAX_KEEP_N = 1000
MAX_OLDER_THAN_DAYS = 3650
REGEX_FIELDS = ("name_regex_delete", "name_regex_keep", "package_name_regex")
_DAYS = re.compile(r"([0-9]{1,4})d")
#: The defaults of a project that never saved a policy (GitLab's: disabled, daily, keep 10, 90 days).
DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "cadence": "1d",
    "keep_n": 10,
    "older_than_days": 90,
    "name_regex_delete": ".*",
    "name_regex_keep": "",
    "package_name_regex": "",
}


def whole(value: str) -> Pattern | None:
    """``value`` compiled to match a whole subject (GitLab's ``\\A(?:...)\\z``); ``None`` for an empty
    pattern, which selects nothing. Raise ``PatternError``."""
    if not value:
        return None
    compile_pattern(value)  # RE2's message names the user's pattern, not the anchored one
    return compile_pattern(f"\\A(?:{value})\\z")


def fullmatch(pattern: Pattern | None, subject: str) -> bool:
    return pattern is not None and pattern.search(subject) is not None


def older_than(days: int | None) -> str | None:
    return None if days is None else f"{days}d"


def policy_json(policy: CleanupPolicy) -> dict[str, Any]:
    """GitLab's ``Entities::ContainerExpirationPolicy`` and our additions."""
    return {
        "project_id": policy.project_id,
        "cadence": policy.cadence,
        "enabled": policy.enabled,
        "keep_n": policy.keep_n,
        "older_than": older_than(policy.older_than_days),
        "name_regex": policy.name_regex_delete or None,  # GitLab's deprecated name of name_regex_delete
        "name_regex_delete": policy.name_regex_delete or None,
        "name_regex_keep": policy.name_regex_keep or None,
        "package_name_regex": policy.package_name_regex or None,
        "next_run_at": _stamp(policy.next_run_at),
        "last_run_at": _stamp(policy.last_run_at),
    }


def _stamp(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_changes(values: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's columns that ``values`` (API or form fields) set, checked; raise ``InvalidParameter``."""
    changes: dict[str, Any] = {}
    if "enabled" in values:
        changes["enabled"] = _flag(values["enabled"])
    if "cadence" in values:
        if values["cadence"] not in CADENCES:
            raise InvalidParameter("cadence", "does not have a valid value")
        changes["cadence"] = values["cadence"]
    if "keep_n" in values:
        changes["keep_n"] = _keep_n(values["keep_n"])
    if "older_than" in values:
        changes["older_than_days"] = _older_than(values["older_than"])
    if "name_regex" in values and "name_regex_delete" not in values:
        changes["name_regex_delete"] = _regex("name_regex", values["name_regex"])
    for name in REGEX_FIELDS:
        if name in values:
            changes[name] = _regex(name, values[name])
    return changes


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise InvalidParameter("enabled", "is invalid")


def _keep_n(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidParameter("keep_n", "is invalid")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidParameter("keep_n", "is invalid") from None
    if not 1 <= number <= MAX_KEEP_N:
        raise InvalidParameter("keep_n", f"must be between 1 and {MAX_KEEP_N}")
    return number


def _older_than(value: object) -> int | None:
    if value is None or value == "":
        return None
    found = _DAYS.fullmatch(str(value).strip())
    if found is None or not 1 <= int(found.group(1)) <= MAX_OLDER_THAN_DAYS:
        raise InvalidParameter("older_than", f"does not have a valid value (<N>d, N from 1 to {MAX_OLDER_THAN_DAYS})")
    return int(found.group(1))


def _regex(name: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(name, "is invalid")
    if len(value) > MAX_PATTERN_LENGTH:
        raise InvalidParameter(name, f"is too long (maximum is {MAX_PATTERN_LENGTH} characters)")
    try:
        whole(value)
    except PatternError as exc:
        raise InvalidParameter(name, f"not valid RE2 syntax: {exc}") from None
    return value


def next_run(policy: CleanupPolicy, after: datetime.datetime) -> datetime.datetime | None:
    """When the server runs ``policy`` next after ``after`` (``None`` while it is disabled)."""
    return after + CADENCES.get(policy.cadence, CADENCES["1d"]) if policy.enabled else None


class CleanupPolicyService:
    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor

    def find(self, project: Project | int) -> CleanupPolicy | None:
        return self.session.get(CleanupPolicy, project.id if isinstance(project, Project) else project)

    def get(self, project: Project) -> CleanupPolicy:
        """The project's policy; the defaults (not stored) when it never saved one."""
        return self.find(project) or CleanupPolicy(project_id=project.id, next_run_at=None, last_run_at=None, **DEFAULTS)

    def update(self, project: Project, values: Mapping[str, Any]) -> CleanupPolicy:
        """Change the fields ``values`` names (``parse_changes``), in the audit trail
        (``package_cleanup_policy_updated``); enabling it (or changing its cadence) schedules the next run.
        Raise ``InvalidParameter`` (nothing changes)."""
        changes = parse_changes(values)
        with unit_of_work(self.session):
            policy = self.find(project)
            if policy is None:
                policy = CleanupPolicy(project_id=project.id, **DEFAULTS)
                self.session.add(policy)
            was = (policy.enabled, policy.cadence)
            for column, value in changes.items():
                setattr(policy, column, value)
            if (policy.enabled, policy.cadence) != was or (policy.enabled and policy.next_run_at is None):
                policy.next_run_at = next_run(policy, utcnow())
            self.session.flush()
            audit.record(
                self.session, "package_cleanup_policy_updated", project=project, target_type="Project",
                target_id=project.id, target_details=project.full_path, details=policy_json(policy), actor=self.actor,
            )
        return policy
