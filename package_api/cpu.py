"""CPU-bound (and long blocking) work that must not hold up the other connections of a gevent worker.

Under ``modelshelf serve``'s gevent worker every connection of a process is a greenlet on one
thread: a computation that does not yield holds all of them. Password hashes (scrypt, about 80 ms
each) run in the hub's thread pool instead (``hashlib.scrypt`` releases the GIL), so that sign-ins
do not delay ``/-/health`` or a download; so does the ``fsync`` of a stored blob (up to half a second
for 1 GiB), and the hashing of Xet uploads (a xorb's chunks, a new file's SHA-256). Elsewhere
(threads, tests, another WSGI server) the work runs in place.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def off_the_loop(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)``, on a thread of gevent's pool when gevent runs this process."""
    if not _patched():
        return work(*args)
    import gevent

    result: T = gevent.get_hub().threadpool.apply(work, args)
    return result


def start_off_the_loop(work: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Start ``work(*args)`` as ``off_the_loop`` would, without waiting: return a function that waits
    for its result (raising what it raised), so that the caller's greenlet does other work meanwhile
    (reads the next bytes while these are hashed). Elsewhere the work is done before this returns."""
    if not _patched():
        result = work(*args)
        return lambda: result
    import gevent

    pending = gevent.get_hub().threadpool.spawn(work, *args)

    def wait() -> T:
        value: T = pending.get()
        return value

    return wait
