"""Cleanup policies: which versions a project's policy removes, and removing them.

A policy (``CleanupPolicy``, set by ``cleanup_policies``) is evaluated per package name (a model: its
versions are the packages of that name), GitLab's container expiration policy order, each version's
``created_at`` being a tag's creation date:

1. only live generic packages (not hidden, not already deleted), of the names ``package_name_regex``
   matches (all when it is empty); a plugin's working storage (``register_unprotected_package``) never;
2. every **protected** version is left out, before anything is counted (as GitLab leaves out
   ``latest``): one that is **sealed**, one that a **package protection rule** protects for delete (a
   rule of type ``generic`` whose pattern matches the name and whose
   ``minimum_access_level_for_delete`` is set, whatever level it names: the policy never acts with a
   role), and one that a plugin keeps (``register_cleanup_keep``: the model registry keeps every
   version an **alias** points to);
3. versions ``name_regex_delete`` does not match (whole version string) are left out; an empty one
   matches nothing;
4. versions ``name_regex_keep`` matches are kept;
5. of the rest, newest first, the ``keep_n`` most recent are kept;
6. of the rest, those created less than ``older_than`` days ago are kept;
7. what remains is removed.

``CleanupService.plan`` computes that list (the dry run shows it); ``run`` removes exactly that list,
in batches of ``BATCH`` versions a transaction, each through ``PackageService.delete`` (protection,
the audit trail, the pipeline's steps and signals as for any delete; ``modelshelf gc`` reclaims the
bytes). Within each batch's transaction the protections are read again: a version sealed, aliased or
protected since the plan was made is skipped (and reported), never removed. A real run records one
``package_cleanup_run`` audit event (the webhook event ``cleanup.run``) besides each version's own.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select

from package_api import audit
from package_api.access.models import Project
from package_api.db import DbSession, utcnow
from package_api.identity import Actor, Principal, PrincipalKind
from package_api.packages.cleanup_policies import fullmatch, next_run, whole
from package_api.packages.models import CleanupPolicy, Package, PackageStatus
from package_api.packages.pipeline import UNPROTECTED
from package_api.packages.protection import ProtectionGuard, wildcard_matches
from package_api.packages.service import PackageService
from package_api.transactions import unit_of_work

#: ``keep(session, project_id, package_ids)``: the versions of ``project_id`` (among ``package_ids``;
#: ``None``: all) a plugin keeps from every cleanup, each with its reason (``alias champion``).
CleanupKeep = Callable[[DbSession, int, "Collection[int] | None"], Mapping[int, str]]
KEEPS = "modelshelf.cleanup_keeps"
#: Versions removed in one transaction.
BATCH = 200
#: The actor of a policy's runs: audit events say ``cleanup policy`` (token type ``cli``).
CLEANUP_ACTOR = Actor(Principal(kind=PrincipalKind.CLI, name="cleanup policy"))
SEALED, PROTECTED = "sealed", "protection rule"


def register_cleanup_keep(app: Flask, keep: CleanupKeep) -> None:
    """Keep the versions ``keep`` names from every cleanup policy (the model registry: aliased ones)."""
    keeps: list[CleanupKeep] = app.extensions.setdefault(KEEPS, [])
    if keep not in keeps:
        keeps.append(keep)


@dataclass(frozen=True)
class Candidate:
    package_id: int
    name: str
    version: str
    created_at: datetime.datetime

    def json(self) -> dict[str, Any]:
        stamp = self.created_at.replace(tzinfo=datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        return {"id": self.package_id, "name": self.name, "version": self.version, "created_at": stamp}


@dataclass
class Plan:
    project_id: int
    remove: list[Candidate] = field(default_factory=list)
    #: Versions evaluated, and why the others stay: ``protected`` (sealed, rule, alias...), ``not selected``
    #: (``name_regex_delete``), ``name_regex_keep``, ``keep_n``, ``older_than``.
    evaluated: int = 0
    kept: dict[str, int] = field(default_factory=dict)

    def keep(self, reason: str) -> None:
        self.kept[reason] = self.kept.get(reason, 0) + 1


@dataclass
class RunReport:
    project_id: int
    dry_run: bool
    plan: Plan
    removed: list[Candidate] = field(default_factory=list)
    #: Versions in the plan that were protected (or gone) by the time their batch ran.
    skipped: list[Candidate] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        listed = self.plan.remove if self.dry_run else self.removed
        return {
            "project_id": self.project_id,
            "dry_run": self.dry_run,
            "evaluated": self.plan.evaluated,
            "kept": dict(sorted(self.plan.kept.items())),
            ("would_remove" if self.dry_run else "removed"): [c.json() for c in listed],
            "skipped": [c.json() for c in self.skipped],
        }

    def summary(self) -> str:
        count = len(self.plan.remove) if self.dry_run else len(self.removed)
        verb = "would remove" if self.dry_run else "removed"
        text = f"project {self.project_id}: {verb} {count} of {self.plan.evaluated} versions"
        return text + (f", skipped {len(self.skipped)} protected since the plan" if self.skipped else "")


class CleanupService:
    """Plans and runs cleanup policies. ``packages`` deletes (its actor is the run's)."""

    def __init__(self, session: DbSession, app: Flask, packages: PackageService, *, clock: Callable[[], datetime.datetime] = utcnow) -> None:
        self.session = session
        self.app = app
        self.packages = packages
        self.clock = clock

    # -- evaluation ------------------------------------------------------------------------------

    def protected(self, project_id: int, package_ids: Collection[int] | None = None) -> dict[int, str]:
        """The versions of ``project_id`` (among ``package_ids``) no policy removes, with the reason:
        sealed, protected for delete by a rule, or kept by a plugin (an alias). With ``package_ids`` (a
        batch about to be removed) the rows are locked on PostgreSQL until the batch commits."""
        found: dict[int, str] = {}
        if package_ids is not None and self.session.get_bind().dialect.name == "postgresql":
            # Lock the rows first, in a statement of its own: a seal (an UPDATE of the row) or an alias
            # (whose foreign key takes a KEY SHARE lock on its version) committed before is seen by the
            # statements below, and none commits after until this batch has.
            locked = select(Package.id).where(Package.id.in_(list(package_ids))).order_by(Package.id)
            self.session.execute(locked.with_for_update())
        for keep in list(self.app.extensions.get(KEEPS, ())):
            for package_id, reason in keep(self.session, project_id, package_ids).items():
                found.setdefault(package_id, reason)
        query = select(Package.id, Package.name, Package.sealed_at).where(
            Package.project_id == project_id, Package.status == PackageStatus.DEFAULT
        )
        rules = [
            rule for rule in ProtectionGuard(self.session).rules(project_id)
            if rule.minimum_access_level_for_delete is not None
        ]
        if package_ids is not None:
            query = query.where(Package.id.in_(list(package_ids)))
        elif not rules:
            query = query.where(Package.sealed_at.is_not(None))  # only the seals are needed then
        ruled: dict[str, int | None] = {}
        for package_id, name, sealed_at in self.session.execute(query):
            if sealed_at is not None:
                found[package_id] = SEALED
                continue
            if name not in ruled:
                ruled[name] = next((r.id for r in rules if wildcard_matches(r.package_name_pattern, name)), None)
            if ruled[name] is not None:
                found[package_id] = f"{PROTECTED} {ruled[name]}"
        return found

    def plan(self, policy: CleanupPolicy) -> Plan:
        """What ``policy`` removes now (the module docstring's steps), newest first within each name."""
        plan = Plan(policy.project_id)
        names = whole(policy.package_name_regex)
        delete, keep = whole(policy.name_regex_delete), whole(policy.name_regex_keep)
        cutoff = None if policy.older_than_days is None else self.clock() - datetime.timedelta(days=policy.older_than_days)
        internal = list(self.app.extensions.get(UNPROTECTED, ()))
        protected = self.protected(policy.project_id)
        rows = self.session.execute(
            select(Package.id, Package.name, Package.version, Package.created_at)
            .where(
                Package.project_id == policy.project_id,
                Package.package_type == "generic",
                Package.status == PackageStatus.DEFAULT,
            )
            .order_by(Package.name, Package.created_at.desc(), Package.id.desc())
        )
        current, kept_recent, skip_name = None, 0, False
        for package_id, name, version, created_at in rows:
            if name != current:
                current, kept_recent = name, 0
                skip_name = (names is not None and not fullmatch(names, name)) or any(test(name) for test in internal)
            if skip_name:
                continue
            plan.evaluated += 1
            if package_id in protected:
                plan.keep("protected")
            elif not fullmatch(delete, version):
                plan.keep("not selected")
            elif fullmatch(keep, version):
                plan.keep("name_regex_keep")
            elif policy.keep_n is not None and kept_recent < policy.keep_n:
                kept_recent += 1
                plan.keep("keep_n")
            elif cutoff is not None and created_at > cutoff:
                plan.keep("older_than")
            else:
                plan.remove.append(Candidate(package_id, name, version, created_at))
        return plan

    # -- runs ----------------------------------------------------------------------------------------

    def run(self, policy: CleanupPolicy, *, dry_run: bool = False) -> RunReport:
        """Plan ``policy`` and, unless ``dry_run``, remove what the plan lists (see the module docstring)."""
        report = RunReport(policy.project_id, dry_run, self.plan(policy))
        project_id = policy.project_id
        if dry_run:
            return report
        self.session.rollback()  # the plan's reads end here: each batch reads afresh
        for batch in _batches(report.plan.remove, BATCH):
            with unit_of_work(self.session):
                protected = self.protected(project_id, [c.package_id for c in batch])
                removed: list[Candidate] = []
                for candidate in batch:
                    package = self.session.get(Package, candidate.package_id)
                    if package is None or package.status != PackageStatus.DEFAULT or candidate.package_id in protected:
                        report.skipped.append(candidate)
                        continue
                    self.packages.delete(package)  # joins this batch's transaction
                    removed.append(candidate)
            report.removed.extend(removed)
        self._record_run(project_id, report)
        return report

    def _record_run(self, project_id: int, report: RunReport) -> None:
        with unit_of_work(self.session):
            project = self.session.get(Project, project_id)
            policy = self.session.get(CleanupPolicy, project_id)
            now = self.clock()
            if policy is not None:
                policy.last_run_at = now
            audit.record(
                self.session, "package_cleanup_run", project=project_id, target_type="Project", target_id=project_id,
                target_details=project.full_path if project is not None else "",
                details={
                    "removed": len(report.removed),
                    "skipped": len(report.skipped),
                    "evaluated": report.plan.evaluated,
                    "kept": dict(sorted(report.plan.kept.items())),
                    "versions": [f"{c.name}/{c.version}" for c in report.removed[:100]],
                },
                actor=self.packages.actor,
            )

    def due(self, now: datetime.datetime) -> Sequence[CleanupPolicy]:
        """Enabled policies whose next run is due (for the scheduler and ``modelshelf cleanup --due``)."""
        query = (
            select(CleanupPolicy)
            .where(CleanupPolicy.enabled.is_(True), CleanupPolicy.next_run_at <= now)
            .order_by(CleanupPolicy.next_run_at)
        )
        return list(self.session.scalars(query))

    def enabled(self, project_id: int | None = None) -> list[CleanupPolicy]:
        """Every enabled policy (of ``project_id``), by project."""
        query = select(CleanupPolicy).where(CleanupPolicy.enabled.is_(True)).order_by(CleanupPolicy.project_id)
        if project_id is not None:
            query = query.where(CleanupPolicy.project_id == project_id)
        return list(self.session.scalars(query))

    def reschedule(self, policy: CleanupPolicy) -> None:
        with unit_of_work(self.session):
            policy.next_run_at = next_run(policy, self.clock())


def _batches(items: Sequence[Candidate], size: int) -> Iterator[Sequence[Candidate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
