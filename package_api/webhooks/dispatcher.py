"""Delivery: one dispatcher per ``modelshelf serve`` process claims the deliveries that are due,
sends them, logs every attempt and schedules the next one with exponential backoff.

Everything the dispatcher knows is in the database: a delivery's ``next_attempt_at`` says when it is
due, and claiming it moves that forward by a lease (``_lease``) in a committed conditional update
(on PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED``, so nodes do not even contend). A
process killed mid-send leaves the delivery due again once the lease is over, and the next process
(or another node) sends it again under the same delivery id: at least once. The retry window
(``WEBHOOK_RETRY_WINDOW``) starts at the event, or at the last Redeliver; past it the delivery is
given up (``failed``). Finished deliveries are kept ``WEBHOOK_KEEP_DAYS`` (``prune``, hourly).

The loop is a ``threading`` thread: under gunicorn's gevent worker (threading monkey-patched) it is
a greenlet, and it only waits cooperatively (``Event.wait``, sockets). No transaction is open while
a request is out.
"""
from __future__ import annotations

import datetime
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, select, update

from package_api.db import db, utcnow
from package_api.webhooks import sending
from package_api.webhooks.models import (
    DELIVERED,
    FAILED,
    PENDING,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from package_api.webhooks.secret_box import SecretBox, UnreadableSecret

log = logging.getLogger(__name__)
EXTENSION = "modelshelf.webhook_dispatcher"
#: Seconds between two prunings of finished deliveries (``prune``) by one dispatcher.
PRUNE_EVERY = 3600.0


@dataclass(frozen=True)
class Settings:
    timeout: float
    window: float
    backoff_base: float
    backoff_max: float
    allow_private: bool
    poll: float
    concurrency: int
    keep_days: float = 30.0

    @classmethod
    def of(cls, app: Flask) -> Settings:
        s: dict[str, Any] = app.config["MODELSHELF"]
        return cls(
            timeout=float(s["WEBHOOK_TIMEOUT"]),
            window=float(s["WEBHOOK_RETRY_WINDOW"]),
            backoff_base=float(s["WEBHOOK_BACKOFF_BASE"]),
            backoff_max=float(s["WEBHOOK_BACKOFF_MAX"]),
            allow_private=bool(s["WEBHOOK_ALLOW_PRIVATE_TARGETS"]),
            poll=float(s["WEBHOOK_POLL_INTERVAL"]),
            concurrency=max(1, int(s["WEBHOOK_CONCURRENCY"])),
            keep_days=float(s["WEBHOOK_KEEP_DAYS"]),
        )

    @property
    def lease(self) -> datetime.timedelta:
        """How long a claim holds a delivery: longer than any attempt (connect and read time-outs)."""
        return datetime.timedelta(seconds=3 * self.timeout + 5)

    def backoff(self, attempts: int) -> datetime.timedelta:
        """The wait after the ``attempts``-th failed attempt: base, 2 base, 4 base... at most max."""
        return datetime.timedelta(seconds=min(self.backoff_base * 2 ** max(attempts - 1, 0), self.backoff_max))


def claim(settings: Settings, limit: int, busy: frozenset[int] = frozenset()) -> list[tuple[int, int]]:
    """Claim up to ``limit`` due deliveries (committed), at most one per hook and none of the hooks
    ``busy`` (this process is sending to them): ``(delivery id, hook id)`` pairs. One at a time per
    hook keeps a hook's deliveries in order on a node, and a slow receiver to one slot."""
    session = db.session
    now = utcnow()
    query = (
        select(WebhookDelivery.id, WebhookDelivery.next_attempt_at, WebhookDelivery.webhook_id)
        .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit * 10)
    )
    if busy:
        query = query.where(WebhookDelivery.webhook_id.not_in(busy))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[tuple[int, int]] = []
    taken: set[int] = set()
    try:
        for delivery_id, seen, hook_id in session.execute(query).all():
            if hook_id in taken or len(claimed) >= limit:
                continue
            moved = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.state == PENDING,
                    WebhookDelivery.next_attempt_at == seen,
                )
                .values(next_attempt_at=now + settings.lease)
            )
            if getattr(moved, "rowcount", 0) == 1:
                claimed.append((delivery_id, hook_id))
                taken.add(hook_id)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return claimed


def attempt(settings: Settings, delivery_id: int) -> sending.Outcome | None:
    """Send claimed delivery ``delivery_id`` once, log the attempt and schedule what follows."""
    session = db.session
    delivery = session.get(WebhookDelivery, delivery_id)
    hook = session.get(Webhook, delivery.webhook_id) if delivery is not None else None
    if delivery is None or hook is None:
        session.rollback()
        return None
    if not hook.enabled:
        delivery.state, delivery.last_error, delivery.updated_at = FAILED, "the hook is disabled", utcnow()
        session.commit()
        return None
    url, sealed, uuid, name, body = hook.url, hook.secret_ciphertext, delivery.uuid, delivery.event.name, delivery.event.payload
    session.rollback()  # no transaction open while the request is out
    started = utcnow()
    outcome = send_signed(settings, SecretBox.of(current_app), url, body, name, sealed, uuid)
    record(settings, delivery_id, started, outcome)
    return outcome


def send_signed(
    settings: Settings, box: SecretBox, url: str, body: str, event: str, sealed_secret: str, delivery_id: str
) -> sending.Outcome:
    """Send ``body`` once, signed with the secret ``sealed_secret`` holds, decrypted here and kept
    only for this send; a secret no key opens is an attempt that failed before connecting (logged as
    such, retried like any other: restoring the old key as a fallback lets it through)."""
    try:
        secret = box.open(sealed_secret)
    except UnreadableSecret as exc:
        return sending.Outcome(status=None, latency_ms=0.0, response="", error=str(exc), address="")
    return sending.send(
        url, body, {sending.EVENT: event}, secret=secret, delivery_id=delivery_id, timeout=settings.timeout,
        allow_private=settings.allow_private,
    )


def record(settings: Settings, delivery_id: int, started: datetime.datetime, outcome: sending.Outcome, *, retry: bool = True) -> None:
    """Log ``outcome`` as an attempt of ``delivery_id`` and set its state and next attempt."""
    session = db.session
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        session.rollback()
        return
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id, started_at=started, status=outcome.status, latency_ms=outcome.latency_ms,
            response=outcome.response[: sending.RESPONSE_EXCERPT], error=outcome.error[:1000], address=outcome.address,
        )
    )
    now = utcnow()
    delivery.attempts += 1
    delivery.last_status = outcome.status
    delivery.last_error = outcome.error[:1000]
    delivery.updated_at = now
    if outcome.ok:
        delivery.state = DELIVERED
    else:
        due = now + settings.backoff(delivery.attempts)
        gives_up = due > delivery.window_started_at + datetime.timedelta(seconds=settings.window)
        delivery.state = FAILED if gives_up or not retry else PENDING
        delivery.next_attempt_at = due
    session.commit()


def prune(settings: Settings) -> int:
    """Forget deliveries finished (delivered or given up) more than ``keep_days`` ago, with their
    attempts, and the events no delivery needs any more; how many deliveries went."""
    session = db.session
    before = utcnow() - datetime.timedelta(days=settings.keep_days)
    try:
        gone = session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.state != PENDING, WebhookDelivery.updated_at < before)
        )
        used = select(WebhookDelivery.id).where(WebhookDelivery.event_id == WebhookEvent.id).exists()
        session.execute(delete(WebhookEvent).where(WebhookEvent.created_at < before, ~used))
        session.commit()
    except Exception:
        session.rollback()
        raise
    return int(getattr(gone, "rowcount", 0) or 0)


class Dispatcher:
    """The loop of one process (``start``), or one pass (``run_once``, for tests and commands).

    The loop keeps ``WEBHOOK_CONCURRENCY`` sends in flight: it claims only as many deliveries as it
    has free slots, so a slow receiver holds one slot for at most its time-outs, not a whole batch."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.settings = Settings.of(app)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.slots = threading.BoundedSemaphore(self.settings.concurrency)
        self.pool: ThreadPoolExecutor | None = None
        self.busy: set[int] = set()  # hooks with a send in flight
        self.wake = threading.Event()  # a send finished (or stop): look again at once

    def run_once(self, limit: int = 20) -> int:
        """Claim and send what is due now, waiting for the sends; how many were tried."""
        with self.app.app_context():
            ids = [delivery_id for delivery_id, _ in claim(self.settings, limit)]
        if len(ids) <= 1 or self.settings.concurrency == 1:
            for delivery_id in ids:
                self._one(delivery_id)
        else:
            with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(ids))) as pool:
                list(pool.map(self._one, ids))
        return len(ids)

    def _one(self, delivery_id: int) -> None:
        with self.app.app_context():
            try:
                attempt(self.settings, delivery_id)
            except Exception:  # the next pass retries it once its lease is over
                log.exception("webhook delivery %s failed", delivery_id)
                db.session.rollback()

    def _send(self, delivery_id: int, hook_id: int) -> None:
        try:
            self._one(delivery_id)
        finally:
            self.busy.discard(hook_id)
            self.slots.release()
            self.wake.set()

    def _free_slots(self) -> int:
        free = 0
        while self.slots.acquire(blocking=False):
            free += 1
        return free

    def pass_(self) -> int:
        """One pass of the loop: claim as many due deliveries as there are free slots and start
        sending them; how many were started."""
        free = self._free_slots()
        if not free:
            return 0
        try:
            with self.app.app_context():
                claimed = claim(self.settings, free, frozenset(self.busy))
        except Exception:
            for _ in range(free):
                self.slots.release()
            raise
        for _ in range(free - len(claimed)):
            self.slots.release()
        assert self.pool is not None
        for delivery_id, hook_id in claimed:
            self.busy.add(hook_id)
            self.pool.submit(self._send, delivery_id, hook_id)
        return len(claimed)

    def start(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="webhook-send")
        self.thread = threading.Thread(target=self._loop, name="webhook-dispatcher", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        pruned_at = 0.0
        while not self.stopping.is_set():
            self.wake.clear()  # before the pass: a send that ends during it wakes the next wait
            try:
                started = self.pass_()
                if time.monotonic() - pruned_at > PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    with self.app.app_context():
                        prune(self.settings)
            except Exception:
                log.exception("webhook dispatcher pass failed")
                started = 0
            # Something started: more may be due. Else sleep until a send ends or the poll interval.
            if not started:
                self.wake.wait(self.settings.poll)


def start(app: Flask) -> Dispatcher:
    """Start ``app``'s dispatcher (once per app)."""
    dispatcher: Dispatcher | None = app.extensions.get(EXTENSION)
    if dispatcher is None:
        dispatcher = app.extensions[EXTENSION] = Dispatcher(app)
        dispatcher.start()
    return dispatcher
