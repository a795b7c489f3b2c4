"""The bound on xorb bodies a worker holds at once (``HF_XET_UPLOAD_MEMORY``, ``xet_budget``): uploads
beyond it wait for one to finish, so memory does not grow with the number of uploads in flight."""
from __future__ import annotations

import hashlib
import io
import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from package_api.plugin_api import base_storage
from plugin.huggingface.xet.format import (
    ShardFile,
    Term,
    build_shard,
    chunk_hash,
    file_hash,
    hex_to_hash,
    parse_xorb,
    shard_xorb_from,
)
from plugin.huggingface.xet.shard import MAX_SHARD_BYTES
from plugin.huggingface.xet.xorb import MAX_XORB_BYTES
from plugin.huggingface.xet_budget import BudgetBusy, ByteBudget, xorb_budget
from plugin.huggingface.xet_direct import ShardPass, direct_prefix
from plugin.huggingface.xet_files import XetFiles
from plugin.huggingface.xorbs import XorbStore
from tests.huggingface.test_xet_api import cas, chunks_of, project, shard_of, token, xorb  # noqa: F401  (fixture)
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


def test_holders_go_in_their_order_of_arrival() -> None:
    """One larger than what is free is not overtaken by smaller ones that came after it and would
    fit (under a steady stream of small uploads it would wait for ever)."""
    budget = ByteBudget(100)
    order: list[str] = []
    first = budget.hold(60)
    first.__enter__()

    def upload(name: str, size: int) -> None:
        with budget.hold(size):
            order.append(name)

    large = threading.Thread(target=upload, args=("large", 80))
    large.start()
    while not budget._queue:
        time.sleep(0.001)
    small = threading.Thread(target=upload, args=("small", 30))  # fits beside the first: it waits all the same
    small.start()
    time.sleep(0.05)
    assert order == []
    first.__exit__(None, None, None)
    large.join(timeout=10)
    small.join(timeout=10)
    assert order == ["large", "small"] and budget.held == 0


def test_a_wait_is_bounded_and_gives_nothing_away() -> None:
    budget = ByteBudget(100, wait=0.05)
    with budget.hold(100):
        started = time.monotonic()
        with pytest.raises(BudgetBusy), budget.hold(1):
            pass
        assert time.monotonic() - started < 5
        assert budget.held == 100 and not budget._queue
    with budget.hold(100):  # nothing of the refused holder stays behind
        assert budget.held == 100


def test_a_xorb_upload_that_cannot_get_its_share_is_a_503_to_retry(
    client: FlaskClient, world: World, project: int, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """A worker whose budget stays taken (clients trickling their xorbs hold their share as long as
    they trickle) answers the uploads that wait past ``WAIT_SECONDS`` with a 503 and ``Retry-After``
    (the client sends again), instead of holding them for ever; nothing is stored."""
    write = token(client, world, project)
    name, data = xorb(chunks_of("busy", 4))
    budget = xorb_budget(LIMIT)
    monkeypatch.setattr(budget, "wait", 0.05)
    with budget.hold(LIMIT):
        refused = cas(client, "POST", f"/xorbs/default/{name}", write, data=data)
    assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
    assert "again" in refused.get_json()["error"]
    assert budget.held == 0
    sent_again = cas(client, "POST", f"/xorbs/default/{name}", write, data=data)
    assert sent_again.status_code == 200 and sent_again.get_json() == {"was_inserted": True}  # not stored before
    # A shard is read whole as well: it takes its share, and waits as long at most.
    _, shard = shard_of(name, chunks_of("busy", 4))
    with budget.hold(LIMIT):
        refused = cas(client, "POST", "/shards", write, data=shard)
    assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit() and budget.held == 0
    assert cas(client, "POST", "/shards", write, data=shard).get_json() == {"result": 1}  # not counted before


def test_a_shard_holds_its_size_while_it_is_checked(
    client: FlaskClient, world: World, project: int, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    write = token(client, world, project)
    chunks = chunks_of("shard-held", 3)
    name, data = xorb(chunks)
    assert cas(client, "POST", f"/xorbs/default/{name}", write, data=data).status_code == 200
    _, shard = shard_of(name, chunks)
    budget = xorb_budget(LIMIT)
    seen: list[int] = []
    receive = XetFiles.receive_shard

    def watched(self: XetFiles, *args: Any, **kwargs: Any) -> bool:
        seen.append(budget.held)
        return receive(self, *args, **kwargs)

    monkeypatch.setattr(XetFiles, "receive_shard", watched)
    assert cas(client, "POST", "/shards", write, data=shard).get_json() == {"result": 1}
    assert seen == [len(shard)] and budget.held == 0


def test_a_xorb_declared_larger_than_any_is_refused_before_it_waits(
    client: FlaskClient, world: World, project: int, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    write = token(client, world, project)
    name, _ = xorb(chunks_of("huge", 2))
    budget = xorb_budget(LIMIT)
    monkeypatch.setattr(budget, "wait", 30.0)
    started = time.monotonic()
    with budget.hold(LIMIT):  # every byte of the budget taken: a wait would last the whole 30 s
        refused = cas(
            client, "POST", f"/xorbs/default/{name}", write, input_stream=io.BytesIO(b"x" * 100),
            environ_overrides={"CONTENT_LENGTH": str(MAX_XORB_BYTES + 1)},
        )
        too_long = cas(
            client, "POST", "/shards", write, input_stream=io.BytesIO(b"x" * 100),
            environ_overrides={"CONTENT_LENGTH": str(MAX_SHARD_BYTES + 1)},
        )
    assert refused.status_code == 400 and str(MAX_XORB_BYTES) in refused.get_json()["error"]
    assert too_long.status_code == 400 and str(MAX_SHARD_BYTES) in too_long.get_json()["error"]
    assert time.monotonic() - started < 5


def test_an_empty_xorb_body_holds_nothing(
    client: FlaskClient, world: World, project: int, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """``Content-Length: 0`` was taken for "unknown" and held the largest xorb's bytes."""
    write = token(client, world, project)
    name, _ = xorb(chunks_of("empty", 2))
    budget = xorb_budget(LIMIT)
    monkeypatch.setattr(budget, "wait", 30.0)
    started = time.monotonic()
    with budget.hold(LIMIT):
        refused = cas(
            client, "POST", f"/xorbs/default/{name}", write, input_stream=io.BytesIO(b""),
            environ_overrides={"CONTENT_LENGTH": "0"},
        )
    assert refused.status_code == 400 and time.monotonic() - started < 5


def direct_shard(name: str, chunks: list[bytes], data: bytes) -> bytes:
    """A shard of the file of ``chunks``, listing xorb ``name`` as the client's upload (as after a grant)."""
    digest = file_hash([(chunk_hash(c), len(c)) for c in chunks])
    file = ShardFile(digest, [Term(hex_to_hash(name), 0, len(chunks), sum(map(len, chunks)))],
                     sha256=hashlib.sha256(b"".join(chunks)).digest())
    return build_shard([file], [shard_xorb_from(parse_xorb(data))], with_footer=False)


def test_a_shard_checking_direct_xorbs_holds_their_buffers_too(
    app: Flask, client: FlaskClient, world: World, project: int, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """A shard naming xorbs put straight into the store reads each into a buffer of the largest xorb's
    size (up to ``BUFFERS`` at once): those come out of the budget as well (concurrent shards held
    3 x 65 MiB each beyond it), at most what the budget has beyond the shard's own share."""
    write = token(client, world, project)
    chunks = chunks_of("direct-held", 3)
    name, data = xorb(chunks)
    with app.app_context():
        base_storage().put(direct_prefix(name, project) + "0123456789abcdef", io.BytesIO(data))  # as a grant's commit leaves it
    shard = direct_shard(name, chunks, data)
    budget = xorb_budget(LIMIT)
    seen: list[int] = []
    finish = ShardPass.finish

    def watched(self: ShardPass) -> Any:
        seen.append(budget.held)
        return finish(self)

    monkeypatch.setattr(ShardPass, "finish", watched)
    assert cas(client, "POST", "/shards", write, data=shard).get_json() == {"result": 1}
    assert seen == [LIMIT] and budget.held == 0  # the shard's bytes, and the rest of the budget for its buffers
    # While the budget is taken, such a shard waits as long as any upload, then is a 503 to retry.
    other, other_data = xorb(chunks_of("direct-busy", 2))
    with app.app_context():
        base_storage().put(direct_prefix(other, project) + "fedcba9876543210", io.BytesIO(other_data))
    busy_shard = direct_shard(other, chunks_of("direct-busy", 2), other_data)
    monkeypatch.setattr(budget, "wait", 0.05)
    with budget.hold(LIMIT - len(busy_shard)):  # room for the shard's bytes, none for its buffers
        refused = cas(client, "POST", "/shards", write, data=busy_shard)
    assert refused.status_code == 503 and budget.held == 0
    assert cas(client, "POST", "/shards", write, data=busy_shard).get_json() == {"result": 1}
