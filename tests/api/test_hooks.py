"""Webhooks in process: the ``/hooks`` API (Maintainers only), the outbox written with the change
and only when a hook wants the event, one dispatcher pass delivering signed, and the address checked
again when it is sent (a hook saved while private targets were allowed is refused later; the address
connected to is the one checked, whatever DNS answers next)."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from package_api.db import db
from package_api.webhooks import sending
from package_api.webhooks.dispatcher import Dispatcher
from package_api.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.support.receivers import Receiver, verifies
from tests.support.world import World, generic_url


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS": True, "WEBHOOK_BACKOFF_BASE": 0.1}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _hook(client: FlaskClient, world: World, receiver: Receiver, who: str = "maintainer", **extra: Any) -> Any:
    body = {"name": "ci", "url": receiver.url, "events": ["package.created", "package_file.created"], "secret": "k", **extra}
    return client.post(f"/api/v4/projects/{world.projects['private']}/hooks", json=body, headers=world.headers(who))


def _count(app: Flask, table: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(table)) or 0)


def test_maintainers_manage_hooks_and_others_may_not(client: FlaskClient, world: World, receiver: Receiver) -> None:
    assert _hook(client, world, receiver, "developer").status_code == 403
    made = _hook(client, world, receiver)
    assert made.status_code == 201, made.get_json()
    hook = made.get_json()
    assert hook["events"] == ["package.created", "package_file.created"] and hook["has_secret"] and "secret" not in hook
    base = f"/api/v4/projects/{world.projects['private']}/hooks"
    assert [h["id"] for h in client.get(base, headers=world.headers("maintainer")).get_json()] == [hook["id"]]
    assert client.get(f"{base}/events", headers=world.headers("maintainer")).get_json() == [
        "cleanup.run", "package.created", "package.deleted", "package.sealed", "package_file.created", "package_file.deleted"]
    edited = client.put(f"{base}/{hook['id']}", json={"enabled": False}, headers=world.headers("maintainer"))
    assert edited.get_json()["enabled"] is False
    unknown = _hook(client, world, receiver, events=["nothing.happened"])
    assert unknown.status_code == 400 and "nothing.happened" in unknown.get_json()["message"]
    assert client.delete(f"{base}/{hook['id']}", headers=world.headers("maintainer")).status_code == 204
    assert client.get(f"{base}/{hook['id']}", headers=world.headers("maintainer")).status_code == 404


def test_the_outbox_is_written_with_the_change_and_only_when_a_hook_wants_it(
    app: Flask, client: FlaskClient, world: World, receiver: Receiver
) -> None:
    put = client.put(generic_url(world.projects["public"]), data=b"x", headers=world.headers("owner"))
    assert put.status_code == 201
    assert _count(app, WebhookEvent) == 0  # no hook in that project: nothing written
    assert _hook(client, world, receiver).status_code == 201
    put = client.put(generic_url(world.projects["private"]), data=b"x", headers=world.headers("owner"))
    assert put.status_code == 201
    with app.app_context():
        names = sorted(db.session.scalars(select(WebhookEvent.name)))
        assert names == ["package.created"]  # created with its first file: one event
        assert [d.state for d in db.session.scalars(select(WebhookDelivery))] == ["pending"]
    assert Dispatcher(app).run_once() == 1
    (got,) = receiver.received
    assert verifies(got, "k") and got.json["entity"] == "package" and got.json["action"] == "created"
    assert got.json["data"]["name"] == "pkg" and got.json["data"]["version"] == "1.0.0"
    assert got.headers["X-Modelshelf-Event"] == "package.created"
    with app.app_context():
        (delivery,) = db.session.scalars(select(WebhookDelivery))
        assert delivery.state == "delivered" and delivery.attempts == 1
        (attempt,) = db.session.scalars(select(WebhookAttempt))
        assert attempt.status == 200 and attempt.address == "127.0.0.1" and attempt.latency_ms > 0


def test_the_address_is_checked_again_when_sent(app: Flask, client: FlaskClient, world: World, receiver: Receiver) -> None:
    assert _hook(client, world, receiver).status_code == 201  # allowed when saved
    assert client.put(generic_url(world.projects["private"]), data=b"x", headers=world.headers("owner")).status_code == 201
    app.config["MODELSHELF"]["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = False  # the instance setting changed since
    assert Dispatcher(app).run_once() == 1
    assert receiver.received == []
    with app.app_context():
        (attempt,) = db.session.scalars(select(WebhookAttempt))
        assert attempt.status is None and "127.0.0.1, a loopback address" in attempt.error
        (delivery,) = db.session.scalars(select(WebhookDelivery))
        assert delivery.state == "pending" and delivery.attempts == 1  # retried later, with backoff
    refused = _hook(client, world, receiver)
    assert refused.status_code == 400 and "loopback" in refused.get_json()["message"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://localhost/", "http://169.254.169.254/", "http://10.0.0.1/", "http://[::1]/",
            "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://192.168.1.1/", "ftp://example.com/"]
)
def test_refused_targets(url: str) -> None:
    outcome = sending.send(url, "{}", {}, secret="", delivery_id="d", timeout=1, allow_private=False)
    assert outcome.status is None and outcome.error


def test_the_connection_goes_to_the_address_checked(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    """DNS rebinding: the name is resolved once, checked, and that address is the one connected to."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example":
            answers.append(host)
            return real("127.0.0.1" if len(answers) == 1 else "192.0.2.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = receiver.server.server_address[1]
    outcome = sending.send(f"http://hooks.example:{port}/hook", "{}", {}, secret="", delivery_id="d", timeout=2,
                           allow_private=True)
    assert outcome.status == 200 and outcome.address == "127.0.0.1" and answers == ["hooks.example"]
    assert receiver.received[0].headers["Host"] == f"hooks.example:{port}"


def test_finished_deliveries_are_forgotten_after_the_keep_days(
    app: Flask, client: FlaskClient, world: World, receiver: Receiver
) -> None:
    import dataclasses

    from package_api.webhooks.dispatcher import Settings, prune

    assert _hook(client, world, receiver).status_code == 201
    assert client.put(generic_url(world.projects["private"], version="1.0.0"), data=b"x", headers=world.headers("owner")).status_code == 201
    assert Dispatcher(app).run_once() == 1  # delivered
    assert client.put(generic_url(world.projects["private"], version="2.0.0"), data=b"x", headers=world.headers("owner")).status_code == 201
    with app.app_context():
        settings = Settings.of(app)
        assert prune(settings) == 0  # kept 30 days
        assert prune(dataclasses.replace(settings, keep_days=0)) == 1
        assert [d.state for d in db.session.scalars(select(WebhookDelivery))] == ["pending"]  # the one still due stays
        assert db.session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 1


def test_a_slow_receiver_holds_one_slot_not_the_dispatcher(app: Flask, client: FlaskClient, world: World) -> None:
    """The running loop (``Dispatcher.start``, as ``modelshelf serve`` runs it): a receiver that takes
    3 s per delivery holds one of the two slots; the fast receiver's deliveries go through the other."""
    import time

    app.config["MODELSHELF"]["WEBHOOK_CONCURRENCY"] = 2
    app.config["MODELSHELF"]["WEBHOOK_POLL_INTERVAL"] = 0.05
    fast, slow = Receiver(), Receiver(delay=3.0)
    try:
        assert _hook(client, world, slow, name="slow").status_code == 201
        assert _hook(client, world, fast, name="fast").status_code == 201
        dispatcher = Dispatcher(app)
        dispatcher.start()
        try:
            started = time.monotonic()
            for n in range(4):
                url = generic_url(world.projects["private"], version=f"1.0.{n}")
                assert client.put(url, data=b"x", headers=world.headers("owner")).status_code == 201
            fast.wait_for(lambda r: len(r) == 4, timeout=10)
            assert time.monotonic() - started < 2.5 and len(slow.received) == 0
        finally:
            dispatcher.stop()
    finally:
        fast.close()
        slow.close()
