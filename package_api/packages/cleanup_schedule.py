"""The server runs due cleanup policies itself: one runner per ``modelshelf serve`` process
(``CLEANUP_RUNNER``), as the webhook dispatcher runs (``package_api.webhooks.dispatcher``).

A policy is due when it is enabled and its ``next_run_at`` has passed. A runner claims it by moving
``next_run_at`` one cadence on in a committed conditional update (``WHERE next_run_at = <what it read>``;
on PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED``, so nodes do not even contend): of all
the runners of all the nodes, exactly one wins each run. A process killed mid-run leaves what it
removed removed (each batch is its own transaction) and the rest for the next run, one cadence later
(or ``modelshelf cleanup`` at once).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select, update

from package_api.db import db, utcnow
from package_api.packages.cleanup import CleanupService, RunReport
from package_api.packages.cleanup_policies import next_run
from package_api.packages.models import CleanupPolicy

log = logging.getLogger(__name__)
EXTENSION = "modelshelf.cleanup_runner"
#: ``factory(app)``: the cleanup service of a run (the composition root's ``services.cleanup_service``).
Factory = Callable[[Flask], CleanupService]


def claim(limit: int = 10) -> list[int]:
    """Claim up to ``limit`` due policies (committed): their project ids."""
    session = db.session
    now = utcnow()
    query = (
        select(CleanupPolicy.project_id, CleanupPolicy.next_run_at)
        .where(CleanupPolicy.enabled.is_(True), CleanupPolicy.next_run_at <= now)
        .order_by(CleanupPolicy.next_run_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[int] = []
    try:
        for project_id, seen in session.execute(query).all():
            policy = session.get(CleanupPolicy, project_id)
            if policy is None:
                continue
            moved = session.execute(
                update(CleanupPolicy)
                .where(CleanupPolicy.project_id == project_id, CleanupPolicy.next_run_at == seen)
                .values(next_run_at=next_run(policy, now))
            )
            if getattr(moved, "rowcount", 0) == 1:
                claimed.append(project_id)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return claimed


def run_due(app: Flask, factory: Factory) -> list[RunReport]:
    """Claim and run the due policies once (a pass of the loop, or a test's)."""
    reports: list[RunReport] = []
    with app.app_context():
        for project_id in claim():
            policy = db.session.get(CleanupPolicy, project_id)
            if policy is None or not policy.enabled:
                continue
            try:
                reports.append(factory(app).run(policy))
            except Exception:  # one project's failure leaves the others to run
                log.exception("cleanup policy of project %s failed", project_id)
                db.session.rollback()
    return reports


class Runner:
    def __init__(self, app: Flask, factory: Factory) -> None:
        self.app = app
        self.factory = factory
        self.poll = float(app.config["MODELSHELF"]["CLEANUP_POLL_INTERVAL"])
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="cleanup-runner", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.wait(self.poll):
            try:
                for report in run_due(self.app, self.factory):
                    log.info("cleanup policy: %s", report.summary())
            except Exception:
                log.exception("cleanup runner pass failed")


def start(app: Flask, factory: Factory) -> Runner | None:
    """Start ``app``'s runner if ``CLEANUP_RUNNER`` says so (``modelshelf serve``), once per app."""
    if not app.config["MODELSHELF"].get("CLEANUP_RUNNER"):
        return None
    runner: Runner | None = app.extensions.get(EXTENSION)
    if runner is None:
        runner = app.extensions[EXTENSION] = Runner(app, factory)
        runner.start()
    return runner
