"""Where a package change goes: what happens, in order, in its one transaction.

Start here to follow an upload. Every route that makes a package ends in ``PackageService``: a generic
``PUT`` (``web.api.upload_bodies.receive``, also GitLab's ``ml_models`` files route), an upload by
digest (``?sha256=`` without a body), an MLflow artifact ``PUT`` (``plugin.tracking.artifacts``), and a
model version made empty by the model registry's REST API, its pages or MLflow's
``model-versions/create`` (``PackageService.create_package``). Each is one unit of work
(``package_api.transactions.committed``): one commit, redone as a whole after a lost race.

Before anything is stored, and again in the transaction, the kernel's **protection** refuses what a
package protection rule forbids the caller (a seal, in the transaction) (``package_api.packages.protection``: a
``Protected`` 403 naming the rule or the seal, nothing changed), then the **checks** plugins registered
(``register_package_check``) may refuse the name and version of a package being created or added to
(the model registry refuses a version that is not a semantic version under a model's name): an upload
is refused before its bytes flow, and a check that passed then is asked again at stage 1, where a
model made in the meantime counts.

A package is **created** (by its first upload, or empty)::

    0 checks      protection rules (may the caller push this name?);    ProtectionGuard.check_push
                  the registered checks (register_package_check):        PackageService.upload
                  the model registry's Projection.check
    before        lease committed; bytes streamed to storage, hashed     PackageService.upload
    1 rows        checks again; lease claimed; blob found or added by    PackageService._record
                  SHA-256; package row; file row (empty package: its     PackageService.create_package
                  row only)
    2 steps       the "created" steps plugins registered, in order (register_package_step):
                    model_version  the version row of a SemVer package   plugin.registry.projection
                                   of a model the project has,
                                   numbered under the model row's lock
                    hf_commit      the version's commit id, a digest     plugin.huggingface.revisions
                                   of its files (the Hugging Face API)
                    version_run    the version's own run in              plugin.mlflow_registry.version_runs
                                   [model]<name>, and its registration
    3 provenance  the CI job whose token made the change                 JobService.record_build
    4 audit       <noun>_created (model_version_created for a version)   audit.record
      commit      one; after a lost race 1-4 are rolled back and redone  package_api.transactions.committed
    5 signals     package_created, then package_file_added (an upload):  package_api.signals
                  notifications, sent after the commit

A file is **added** to a live package (an upload, or files attached without copying bytes:
``PackageService.attach``): 0 and the checks again (an upload), 1 (the file row; the rules asked
again, and the package's seal: an upload into a sealed package is refused here, its bytes discarded), 2 ("file_added" steps: ``hf_commit``), 3, 4 ``<noun>_file_added``,
commit, 5 ``package_file_added``.

A file is **deleted**: 1 (the file marked; protection for delete, and never in a sealed package), 2
("file_deleted" steps: ``hf_commit``), 4 ``<noun>_file_deleted``, commit, 5 ``package_file_deleted``.

A package is **sealed** (``PackageService.seal``): 1 (``sealed_at``), 2 ("sealed" steps; the model
registry's tag ``modelshelf.sealed``), 4 ``<noun>_sealed``, commit, 5 ``package_sealed``.

A package is **deleted**: 1 (protection for delete, an Owner for a sealed package; it and its files
marked pending destruction; gc reclaims the bytes), 2
("deleted" steps; the model registry's ``model_version`` forgets the version row), 4
``<noun>_deleted``, commit, 5 ``package_deleted``.

A step runs inside the change's transaction: what it writes commits with the package, and what it
raises undoes the package (a lost race redoes the whole change). Steps that need the outcome of the
change, not a part in it, connect to the signals instead.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from blinker import NamedSignal
from flask import Flask

from package_api import audit, signals
from package_api.access.ci_jobs import JobService
from package_api.db import DbSession
from package_api.identity import Actor
from package_api.packages.models import Package, PackageFile
from package_api.packages.protection import ProtectionGuard
from package_api.transactions import after_commit

CREATED, FILE_ADDED, FILE_DELETED, DELETED = "created", "file_added", "file_deleted", "deleted"
SEALED = "sealed"
#: The package events, which plugins may add steps to; each sends the signal of the same name.
EVENTS = (CREATED, FILE_ADDED, FILE_DELETED, DELETED, SEALED)
#: ``app.extensions`` key of the registered steps: event -> ``[(name, step)]`` in order.
STEPS = "modelshelf.package_steps"
#: ``app.extensions`` key of the registered checks, in order.
CHECKS = "modelshelf.package_checks"
#: ``app.extensions`` key of the predicates naming packages no protection rule guards.
UNPROTECTED = "modelshelf.unprotected_packages"


@dataclass(frozen=True)
class PackageChange:
    """A change to ``package`` in the transaction in progress, as its steps see it."""

    session: DbSession
    #: Who makes the change (the author of its audit event).
    actor: Actor
    package: Package
    #: The file uploaded, attached or deleted; ``None`` for an empty package and a package's deletion.
    package_file: PackageFile | None = None
    #: The CI job whose token made the change (its provenance), if one did.
    job_id: int | None = None
    #: ``False`` when the caller records the change in the audit trail as a whole (a model's deletion).
    audited: bool = True


#: ``step(change)``: a plugin's part in a package change, run in its transaction.
PackageStep = Callable[[PackageChange], None]
#: ``check(session, project_id, name, version)``: raise a domain error (``InvalidInput``...) to
#: refuse storing anything in the package ``name/version`` of the project.
PackageCheck = Callable[[DbSession, int, str, str], None]


def register_package_check(app: Flask, check: PackageCheck) -> None:
    """Ask ``check`` before a package is created or a file uploaded into one (stage 0, and again in
    the change's transaction): what it raises refuses the change, before a byte is stored."""
    checks: list[PackageCheck] = app.extensions.setdefault(CHECKS, [])
    if check not in checks:
        checks.append(check)


def register_unprotected_package(app: Flask, is_internal: Callable[[str], bool]) -> None:
    """Say which package names are a plugin's working storage, never published (the Hugging Face
    API's staged uploads): no protection rule guards them, so cleaning them up is no user's delete.
    What is published from them (files attached to a version) is guarded as ever."""
    predicates: list[Callable[[str], bool]] = app.extensions.setdefault(UNPROTECTED, [])
    if is_internal not in predicates:
        predicates.append(is_internal)


def register_package_step(app: Flask, event: str, name: str, step: PackageStep, *, after: str | None = None) -> None:
    """Run ``step`` in the transaction of every package ``event`` (``"created"``, ``"file_added"``,
    ``"file_deleted"``, ``"deleted"``, ``"sealed"``): after the steps registered before it, or right after the step
    named ``after``.

    Raises ``ValueError`` for an unknown event, a name taken, or an ``after`` not registered (a step
    that needs another's rows must say so, and fails loudly when that one is missing).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown package event {event!r}; one of {', '.join(EVENTS)}")
    steps: list[tuple[str, PackageStep]] = app.extensions.setdefault(STEPS, {}).setdefault(event, [])
    names = [registered for registered, _ in steps]
    if name in names:
        raise ValueError(f"a {event!r} step is named {name!r} already")
    if after is None:
        steps.append((name, step))
    elif after in names:
        steps.insert(names.index(after) + 1, (name, step))
    else:
        raise ValueError(f"{name!r} must run after {after!r}, which is not a registered {event!r} step")


def package_steps(app: Flask | None, event: str) -> list[str]:
    """The names of ``event``'s registered steps, in the order they run."""
    return [name for name, _ in _steps(app, event)]


def _steps(app: Flask | None, event: str) -> list[tuple[str, PackageStep]]:
    return list(app.extensions.get(STEPS, {}).get(event, ())) if app is not None else []


def audit_package_event(
    session: DbSession,
    app: Flask | None,
    actor: Actor,
    what: str,
    package: Package,
    package_file: PackageFile | None = None,
    /,
    **details: Any,
) -> None:
    """Record ``<noun>_<what>`` (``package_created``, ``model_version_file_deleted``...) by ``actor`` in
    ``session``, for the change's transaction to commit with it."""
    target = f"{package.name}/{package.version}"
    info: dict[str, Any] = {"name": package.name, "version": package.version, "package_id": package.id}
    if package_file is not None:
        info["file_name"] = package_file.file_name
    # A file event targets the file; a package created with its first file targets the package.
    on_file = package_file is not None and what.startswith("file_")
    audit.record(
        session,
        f"{audit.package_noun(app, package)}_{what}",
        project=package.project_id,
        target_type="PackageFile" if on_file else "Package",
        target_id=package_file.id if on_file and package_file is not None else package.id,
        target_details=f"{target}/{package_file.file_name}" if on_file and package_file is not None else target,
        details={**info, **details},
        actor=actor,
    )


class PackagePipeline:
    """Runs stages 2 to 5 of a package change (the module docstring), in the unit of work in progress:
    the caller has written the rows (stage 1) and flushed them, and its unit commits."""

    def __init__(self, session: DbSession, app: Flask | None) -> None:
        self.session = session
        self.app = app  # where the steps are registered, and the signals' sender
        noun: Callable[[Package], str] = lambda package: audit.package_noun(app, package).replace("_", " ")
        internal: list[Callable[[str], bool]] = list(app.extensions.get(UNPROTECTED, ())) if app is not None else []
        self.protection = ProtectionGuard(session, noun, lambda name: any(p(name) for p in internal))

    def check(self, project_id: int, name: str, version: str, actor: Actor) -> None:
        """Stage 0: raise ``Protected`` when a protection rule or a seal forbids ``actor`` to store
        into ``name/version``, then what a registered check raises."""
        self.protection.check_push(actor, project_id, name, version)
        for check in list(self.app.extensions.get(CHECKS, ())) if self.app is not None else ():
            check(self.session, project_id, name, version)

    def created(self, change: PackageChange) -> None:
        """A new package, empty or with its first file."""
        self._steps(CREATED, change)
        self._provenance(change)
        self._audit(CREATED, change)
        self._notify(signals.package_created, package=change.package)
        if change.package_file is not None:
            self._notify(signals.package_file_added, package=change.package, package_file=change.package_file)

    def file_added(self, change: PackageChange) -> None:
        """A file added to a live package."""
        package = change.package
        self.protection.check_push(change.actor, package.project_id, package.name, package.version, package)
        self._steps(FILE_ADDED, change)
        self._provenance(change)
        self._audit(FILE_ADDED, change)
        self._notify(signals.package_file_added, package=change.package, package_file=change.package_file)

    def file_deleted(self, change: PackageChange) -> None:
        """A file marked for destruction."""
        self.protection.check_file_delete(change.actor, change.package)
        self._steps(FILE_DELETED, change)
        self._audit(FILE_DELETED, change)
        self._notify(signals.package_file_deleted, package=change.package, package_file=change.package_file)

    def deleted(self, change: PackageChange) -> None:
        """A package marked for destruction, with its files."""
        self.protection.check_delete(change.actor, change.package)
        self._steps(DELETED, change)
        self._audit(DELETED, change)
        self._notify(signals.package_deleted, package=change.package)

    def seal(self, package: Package, actor: Actor, when: datetime.datetime) -> bool:
        """Seal ``package`` by ``actor`` (``PackageService.seal``, in a unit of work): its files never
        change again and only an Owner deletes it (``package_api.packages.protection``); then the
        ``sealed`` stages. Who may seal is the caller's to ask. Return whether it was sealed now
        (``False``: it was already). Its state is read afresh under a row lock: one seal."""
        self.session.refresh(package, attribute_names=["sealed_at"], with_for_update=True)
        if package.sealed:
            return False
        package.sealed_at, package.sealed_by_id = when, actor.author_id
        self.sealed(PackageChange(self.session, actor, package))
        return True

    def sealed(self, change: PackageChange) -> None:
        """A package sealed."""
        self._steps(SEALED, change)
        self._audit(SEALED, change)
        self._notify(signals.package_sealed, package=change.package)

    def _steps(self, event: str, change: PackageChange) -> None:
        for _name, step in _steps(self.app, event):
            step(change)

    def _provenance(self, change: PackageChange) -> None:
        if change.job_id is not None:
            JobService(self.session).record_build(change.package, change.job_id)

    def _audit(self, what: str, change: PackageChange) -> None:
        if not change.audited:
            return
        package_file = change.package_file
        stored: dict[str, Any] = {}
        if package_file is not None and what in (CREATED, FILE_ADDED):
            stored = {"size": package_file.blob.size, "sha256": package_file.blob.sha256}
        audit_package_event(self.session, self.app, change.actor, what, change.package, package_file, **stored)

    def _notify(self, signal: NamedSignal, **kwargs: Any) -> None:
        app = self.app
        after_commit(self.session, lambda: signal.send(app, **kwargs))
