"""A worker told to stop while it boots stops (the restart test once waited 120 s for one)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest


def _in_a_child(body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter (it changes signal handlers)."""
    script = "import queue, signal, sys\nfrom package_api.ops import server\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=os.environ)


def test_the_default_stop_actions_come_back_after_the_fork() -> None:
    result = _in_a_child(
        """
        class Arbiter:
            SIG_QUEUE = queue.SimpleQueue()
        queued = []
        for number in server._STOPPING:  # what a worker inherits: the master's queueing handler
            signal.signal(number, lambda number, frame: queued.append(number))
        server._worker_forked(Arbiter(), None)
        print([signal.getsignal(number) == signal.SIG_DFL for number in server._STOPPING])
        """
    )
    assert result.stdout.strip() == "[True, True, True]", result.stderr


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_a_stop_that_arrived_before_the_reset_ends_the_worker(number: int) -> None:
    result = _in_a_child(
        f"""
        class Arbiter:
            SIG_QUEUE = queue.SimpleQueue()
        Arbiter.SIG_QUEUE.put({int(number)})
        server._worker_forked(Arbiter(), None)
        print("still booting")
        """
    )
    assert result.returncode == 0 and "still booting" not in result.stdout, result.stderr


def test_other_queued_signals_do_not_end_it() -> None:
    result = _in_a_child(
        f"""
        class Arbiter:
            SIG_QUEUE = queue.SimpleQueue()
        Arbiter.SIG_QUEUE.put({int(signal.SIGHUP)})
        Arbiter.SIG_QUEUE.put({int(signal.SIGTTIN)})
        server._worker_forked(Arbiter(), None)
        print("still booting")
        """
    )
    assert "still booting" in result.stdout, result.stderr

