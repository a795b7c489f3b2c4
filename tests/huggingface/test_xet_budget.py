"""The bound on xorb bodies a worker holds at once (``HF_XET_UPLOAD_MEMORY``, ``xet_budget``): uploads
beyond it wait for one to finish, so memory does not grow with the number of uploads in flight."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from plugin.huggingface.xet_budget import ByteBudget, xorb_budget
from plugin.huggingface.xorbs import XorbStore
from tests.huggingface.test_xet_api import cas, chunks_of, project, token, xorb  # noqa: F401  (fixture)
from tests.support.world import World

LIMIT = 3 * 1024 * 1024 + 7  # an odd figure: this module's budget is its own


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all", "HF_REGULAR_MAX_SIZE": 1024, "HF_XET_UPLOAD_MEMORY": LIMIT}


def test_holders_beyond_the_budget_wait_and_one_larger_than_it_goes_alone() -> None:
    budget = ByteBudget(100)
    inside: list[int] = []
    now = [0]
    lock = threading.Lock()

    def upload(size: int) -> None:
        with budget.hold(size):
            with lock:
                now[0] += 1
                inside.append(now[0])
            time.sleep(0.05)
            with lock:
                now[0] -= 1

    threads = [threading.Thread(target=upload, args=(40,)) for _ in range(6)] + [threading.Thread(target=upload, args=(500,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(inside) == 7 and max(inside) == 2  # two of 40 fit in 100, a third waits
    assert budget.peak == 100 and budget.held == 0  # the one of 500 held the whole budget, alone


def test_a_xorb_upload_holds_its_size_until_it_is_stored(
    client: FlaskClient, world: World, project: int, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    write = token(client, world, project)
    name, data = xorb(chunks_of("budget", 4))
    budget = xorb_budget(LIMIT)
    seen: list[int] = []
    receive = XorbStore.receive

    def watched(self: XorbStore, *args: Any) -> bool:
        seen.append(budget.held)
        return receive(self, *args)

    monkeypatch.setattr(XorbStore, "receive", watched)
    assert cas(client, "POST", f"/xorbs/default/{name}", write, data=data).status_code == 200
    assert seen == [len(data)] and budget.held == 0
    refused = cas(client, "POST", f"/xorbs/default/{name}", write, data=b"not a xorb")
    assert refused.status_code == 400 and budget.held == 0  # given back on a refusal too
