"""How many bytes of xorb bodies a worker process holds at once (``HF_XET_UPLOAD_MEMORY``).

A xorb is read whole (up to 64 MiB) to be validated before it counts, and the client sends several
at a time: without a bound, a worker's memory grows with the number of uploads in flight (a hundred
clients, 6 GiB). An upload takes its ``Content-Length`` (a chunked one the largest xorb) from the
budget before it reads its body and gives it back once its xorb is stored; one that does not fit waits
(its client's bytes wait in the socket meanwhile). One larger than the whole budget waits for the
budget to be all free, then goes alone.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ByteBudget:
    """At most ``limit`` bytes held at once. Made at the first request (after gevent patched
    ``threading``, so that a wait yields to the other greenlets instead of blocking the worker)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.held = 0
        #: The most bytes held at once so far (for tests and the curious).
        self.peak = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        size = min(max(size, 0), self.limit)
        with self._changed:
            while self.held + size > self.limit:
                self._changed.wait()
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
