"""How many bytes of xorb bodies a worker process holds at once (``HF_XET_UPLOAD_MEMORY``).

A xorb is read whole (up to 64 MiB) to be validated before it counts, and the client sends several
at a time: without a bound, a worker's memory grows with the number of uploads in flight (a hundred
clients, 6 GiB). An upload takes its ``Content-Length`` (a chunked one the largest xorb) from the
budget before it reads its body and gives it back once its xorb is stored; one that does not fit waits
(its client's bytes wait in the socket meanwhile). One larger than the whole budget waits for the
budget to be all free, then goes alone.

Uploads are let in in the order they came (a large one is not starved by small ones that keep
fitting), and none waits longer than ``WAIT_SECONDS``: past it, ``BudgetBusy`` (a 503 with
``Retry-After``, which the client retries). A client that trickles its body holds its share for as
long as it trickles (``BODY_TIMEOUT`` only bounds each read), so without that bound a few slow clients
would hold every other upload of the worker waiting for ever.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

#: The longest an upload waits for its share of the budget before it is answered ``BudgetBusy``.
WAIT_SECONDS = 30.0


class BudgetBusy(Exception):
    """The budget stayed taken for ``waited`` seconds: the client should send again later."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"the server is receiving as many xorbs as it holds at once; waited {waited:.0f} s")
        self.waited = waited


class ByteBudget:
    """At most ``limit`` bytes held at once, handed out first come, first served, a wait bounded by
    ``wait`` seconds. Made at the first request (after gevent patched ``threading``, so that a wait
    yields to the other greenlets instead of blocking the worker)."""

    def __init__(self, limit: int, wait: float = WAIT_SECONDS) -> None:
        self.limit = max(1, limit)
        self.wait = wait
        self.held = 0
        #: The most bytes held at once so far (for tests and the curious).
        self.peak = 0
        self._changed = threading.Condition()
        self._queue: deque[object] = deque()  # the waiting holders, in their order of arrival

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        """Hold ``size`` bytes (at most the whole budget) for the block; raise ``BudgetBusy`` when they
        could not be had within ``wait`` seconds."""
        size = min(max(size, 0), self.limit)
        turn = object()
        deadline = time.monotonic() + self.wait
        with self._changed:
            self._queue.append(turn)
            try:
                while self._queue[0] is not turn or self.held + size > self.limit:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise BudgetBusy(self.wait)
                    self._changed.wait(left)
            finally:
                self._queue.remove(turn)
                self._changed.notify_all()  # the next in line may fit now
            self.held += size
            self.peak = max(self.peak, self.held)
        try:
            yield
        finally:
            with self._changed:
                self.held -= size
                self._changed.notify_all()


_budgets: dict[int, ByteBudget] = {}
_made = threading.Lock()


def xorb_budget(limit: int) -> ByteBudget:
    """This process's budget of ``limit`` bytes (one per limit: tests run apps with different ones)."""
    with _made:
        budget = _budgets.get(limit)
        if budget is None:
            budget = _budgets[limit] = ByteBudget(limit)
        return budget
