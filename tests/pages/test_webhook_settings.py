"""Settings > Webhooks: a Maintainer adds a hook, sees its deliveries with every attempt, redelivers
one (same delivery id), deletes the hook; a mistake is shown and nothing is stored; the secret is
never shown. (Who may see and post it: tests/pages/test_settings.py, with the other tabs.)"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from package_api.db import db
from package_api.webhooks.dispatcher import Dispatcher
from package_api.webhooks.models import Webhook
from tests.support.pages import signed_in
from tests.support.receivers import Receiver
from tests.support.world import generic_url

PAGE = "/acme/private/-/settings/webhooks"


@pytest.fixture
def settings(settings):
    return {**settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS": True}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_a_maintainer_adds_a_hook_sees_its_deliveries_and_redelivers(app, client, world, receiver):
    csrf = signed_in(app, client, "maintainer")
    form = {"csrf_token": csrf, "name": "deployer", "url": receiver.url, "secret": "hush", "events": ["package.created"]}
    r = client.post(PAGE, data=form)
    assert r.status_code == 302 and "hook=" in r.headers["Location"]
    with app.app_context():
        hook = db.session.scalar(select(Webhook))
        assert hook.name == "deployer" and hook.has_secret and "hush" not in hook.secret_ciphertext
    page = client.get(f"{PAGE}?hook={hook.id}").text
    assert 'data-webhook-name="deployer"' in page and "hush" not in page and "No deliveries yet." in page

    assert client.put(generic_url(world.projects["private"]), data=b"x", headers=world.headers("owner")).status_code == 201
    assert Dispatcher(app).run_once() == 1
    page = client.get(f"{PAGE}?hook={hook.id}").text
    (sent,) = receiver.received
    delivery_id = sent.headers["X-MLflow-Delivery-Id"]
    assert f'data-delivery-id="{delivery_id}"' in page and "<strong>200</strong>" in page and ">Delivered<" in page

    with app.app_context():
        from package_api.webhooks.models import WebhookDelivery

        row = db.session.scalar(select(WebhookDelivery))
    r = client.post(f"{PAGE}/{hook.id}/deliveries/{row.id}/redeliver", data={"csrf_token": csrf})
    assert r.status_code == 302
    assert ">Pending<" in client.get(f"{PAGE}?hook={hook.id}").text
    assert Dispatcher(app).run_once() == 1
    assert [r.headers["X-MLflow-Delivery-Id"] for r in receiver.received] == [delivery_id, delivery_id]

    assert client.post(f"{PAGE}/{hook.id}/delete", data={"csrf_token": csrf}).status_code == 302
    assert "This project has no webhooks." in client.get(PAGE).text


def test_a_mistake_is_shown_and_nothing_is_stored(app, client, world):
    csrf = signed_in(app, client, "owner")
    r = client.post(PAGE, data={"csrf_token": csrf, "name": "x", "url": "ftp://example.com/", "secret": "hush",
                                "events": ["package.created"]})
    assert r.status_code == 400 and "http:// or https://" in r.text and "hush" not in r.text
    assert 'value="package.created" checked' in r.text
    r = client.post(PAGE, data={"csrf_token": csrf, "name": "x", "url": "http://127.0.0.1:9/", "events": []})
    assert r.status_code == 400 and "at least one event" in r.text
    with app.app_context():
        assert db.session.scalars(select(Webhook)).all() == []
