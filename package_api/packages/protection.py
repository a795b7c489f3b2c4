"""Who may push and delete a package beyond the policy's roles: GitLab's package protection rules, and
sealed packages.

A **protection rule** (``PackageProtectionRule``) names packages of one type by a pattern with ``*``
wildcards, matched against the whole name without regard to case (GitLab's ``ILIKE``), and the least
access level that may push (create the package, add or replace a file) and that may delete (the
package, or one of its files). Several rules may match a name; each one is enforced, and a refusal
names the strictest that refuses. The levels are the caller's role in the project (a CI job token
acts with its user's role), ``admin`` being above Owner: only instance administrators and the
``modelshelf`` command reach it. A deploy token cannot push what a rule protects for push (GitLab:
"protected packages cannot be pushed with a deploy token"). A pattern is matched by splitting it at
its ``*``\\ s and finding the pieces in order (no regular expression), in time linear in the name.

A **sealed** package (``Package.sealed_at``) never changes again: no file is added, replaced or
deleted by anyone, and only an Owner (or an administrator) deletes the package. A seal is never
lifted: to publish other files, publish another version.

``ProtectionGuard`` enforces both, called by the package pipeline at stage 0 and in the change's
transaction (``package_api.packages.pipeline``), so every surface that writes or deletes through
``PackageService`` gets the same answer: ``Protected``, a ``Forbidden`` that each surface answers
with its 403.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import object_session

from package_api.access.models import Membership, Role
from package_api.db import DbSession
from package_api.errors import Protected
from package_api.identity import Actor, Principal, PrincipalKind
from package_api.packages.models import Package, PackageProtectionRule

#: Above every role: only instance administrators (and the ``modelshelf`` command) have it.
ADMIN = 60
#: The rules' access levels by name, as the API writes them (GitLab's ``sym_options_with_admin``).
LEVELS = {"maintainer": int(Role.MAINTAINER), "owner": int(Role.OWNER), "admin": ADMIN}
LEVEL_NAMES = {level: name for name, level in LEVELS.items()}
#: The package types a rule may name (GitLab's). Only ``generic`` packages are stored here (model
#: versions are generic packages), so a rule of another type is kept and listed but matches nothing.
RULE_PACKAGE_TYPES = ("cargo", "conan", "generic", "helm", "maven", "npm", "nuget", "pypi", "terraform_module")
PUSH, DELETE = "push", "delete"
#: A project's rules, built once: every package change asks them.
_RULES = (
    select(PackageProtectionRule)
    .where(PackageProtectionRule.project_id == bindparam("project"))
    .order_by(PackageProtectionRule.id)
)

#: ``noun(package)``: what the package is called in a refusal ("model version").
Noun = Callable[[Package], str]


def wildcard_matches(pattern: str, name: str) -> bool:
    """Whether ``name`` matches ``pattern`` as a whole, ``*`` standing for any run of characters
    (none included), case-insensitively. Linear: the pieces between the ``*``\\ s are found in order,
    each leftmost, which is a match exactly when one exists."""
    pieces = pattern.lower().split("*")
    subject = name.lower()
    if len(pieces) == 1:
        return subject == pieces[0]
    head, *middle, tail = pieces
    if len(subject) < len(head) + len(tail) or not subject.startswith(head) or not subject.endswith(tail):
        return False
    position, end = len(head), len(subject) - len(tail)
    for piece in middle:
        found = subject.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def level_name(level: int | None) -> str | None:
    return None if level is None else LEVEL_NAMES.get(level, str(level))


class ProtectionGuard:
    """Refuses the changes a protection rule or a seal forbids. One lives for a pipeline (a request
    or a command): each project's rules are read once."""

    def __init__(
        self, session: DbSession, noun: Noun = lambda package: "package", exempt: Callable[[str], bool] = lambda name: False
    ) -> None:
        self.session = session
        self.noun = noun
        self.exempt = exempt  # names of a plugin's working storage (staged uploads), which no rule guards
        self._rules: dict[int, list[PackageProtectionRule]] = {}
        self._read: dict[int, object] = {}  # package id -> the transaction that read its seal

    def rules(self, project_id: int, package_type: str = "generic") -> list[PackageProtectionRule]:
        """``project_id``'s rules of ``package_type``."""
        if project_id not in self._rules:
            self._rules[project_id] = list(self.session.scalars(_RULES, {"project": project_id}))
        return [rule for rule in self._rules[project_id] if rule.package_type == package_type]

    def level(self, principal: Principal, project_id: int) -> int:
        """``principal``'s access level in ``project_id`` as the rules see it (0: none)."""
        if principal.kind is PrincipalKind.CLI or (principal.is_admin and principal.acts_in(project_id)):
            return ADMIN
        if principal.user is None or principal.kind is PrincipalKind.DEPLOY_TOKEN or not principal.acts_in(project_id):
            return 0
        level = self.session.scalar(
            select(Membership.access_level).where(
                Membership.project_id == project_id, Membership.user_id == principal.user.id
            )
        )
        return int(level or 0)

    def refusing_rule(
        self, actor: Actor, project_id: int, name: str, action: str, package_type: str = "generic"
    ) -> PackageProtectionRule | None:
        """The strictest rule of ``project_id`` that forbids ``actor`` to ``action`` (push, delete) the
        package ``name``, if any."""
        if self.exempt(name):
            return None
        column = "minimum_access_level_for_push" if action == PUSH else "minimum_access_level_for_delete"
        matching = [
            rule
            for rule in self.rules(project_id, package_type)
            if getattr(rule, column) is not None and wildcard_matches(rule.package_name_pattern, name)
        ]
        if not matching:
            return None
        level = self.level(actor.principal, project_id)
        refusing = [rule for rule in matching if level < getattr(rule, column)]
        return max(refusing, key=lambda rule: (getattr(rule, column), -rule.id), default=None)

    def check_push(self, actor: Actor, project_id: int, name: str, version: str, package: Package | None = None) -> None:
        """Raise ``Protected`` unless ``actor`` may create ``name/version`` or add a file to it (with
        ``package``, the live package in the change's transaction: also unless it is sealed). Before
        the bytes flow only the rules are asked (one query a request); the seal is asked in the
        transaction, where an upload into a sealed package is refused and its bytes discarded."""
        if package is not None:
            self._read_seal(package)
        if package is not None and package.sealed:
            raise self._sealed(package, "its files cannot be added, replaced or deleted")
        rule = self.refusing_rule(actor, project_id, name, PUSH)
        if rule is not None:
            raise self._refusal(rule, PUSH, actor)

    def check_delete(self, actor: Actor, package: Package) -> None:
        """Raise ``Protected`` unless ``actor`` may delete ``package`` (sealed: an Owner)."""
        self._read_seal(package)
        if package.sealed and self.level(actor.principal, package.project_id) < Role.OWNER:
            raise self._sealed(package, "only an Owner may delete it")
        rule = self.refusing_rule(actor, package.project_id, package.name, DELETE)
        if rule is not None:
            raise self._refusal(rule, DELETE, actor)

    def check_file_delete(self, actor: Actor, package: Package) -> None:
        """Raise ``Protected`` unless ``actor`` may delete a file of ``package`` (never when sealed)."""
        self._read_seal(package)
        if package.sealed:
            raise self._sealed(package, "its files cannot be added, replaced or deleted")
        rule = self.refusing_rule(actor, package.project_id, package.name, DELETE)
        if rule is not None:
            raise self._refusal(rule, DELETE, actor)

    def check_rename(self, actor: Actor, package: Package, name: str) -> None:
        """Raise ``Protected`` unless ``actor`` may rename ``package`` to ``name``: renaming takes it away
        from its name (a delete there) and pushes it under the new one, so neither rule is evaded."""
        rule = self.refusing_rule(actor, package.project_id, package.name, DELETE)
        if rule is not None:
            raise self._refusal(rule, DELETE, actor)
        rule = self.refusing_rule(actor, package.project_id, name, PUSH)
        if rule is not None:
            raise self._refusal(rule, PUSH, actor)

    def _read_seal(self, package: Package) -> None:
        """Read ``package``'s seal afresh in the change's transaction, locking its row (PostgreSQL's
        ``FOR UPDATE``): a seal committed meanwhile is seen, and none commits before this change does."""
        owner = object_session(package)
        if owner is None or owner.get_bind().dialect.name == "sqlite":
            # One writer at a time: a transaction that read before a seal committed cannot write after
            # it (a lost race, redone from the start), so what it read is what holds.
            return
        transaction = owner.get_transaction()
        if package.id is not None and self._read.get(package.id) is not transaction:
            self.session.refresh(package, attribute_names=["sealed_at"], with_for_update=True)
            self._read[package.id] = transaction  # once per transaction (a change of many files)

    def _sealed(self, package: Package, consequence: str) -> Protected:
        return Protected(f"{self.noun(package)} {package.name} {package.version} is sealed: {consequence}")

    def _refusal(self, rule: PackageProtectionRule, action: str, actor: Actor) -> Protected:
        level = rule.minimum_access_level_for_push if action == PUSH else rule.minimum_access_level_for_delete
        said = (
            f"package protected by rule {rule.id} (package_name_pattern {rule.package_name_pattern!r},"
            f" package_type {rule.package_type}): {action} takes at least the {level_name(level)} access level"
        )
        if action == PUSH and actor.principal.kind is PrincipalKind.DEPLOY_TOKEN:
            said += "; deploy tokens cannot push protected packages"
        return Protected(said)
