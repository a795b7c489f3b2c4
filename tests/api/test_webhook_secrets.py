"""A hook's secret is stored encrypted with the instance key and decrypted only to sign a send: it is
in no database column, no API answer (``/hooks``, MLflow's webhook API, the audit events), no page and
no log line, yet every delivery is signed with it, and setting it again signs with the new one. A
secret the instance key cannot open (``SECRET_KEY`` changed) fails its deliveries with a message that
says so, until the old key is listed in ``SECRET_KEY_FALLBACKS``."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from package_api import create_app
from package_api.db import db, utcnow
from package_api.webhooks.dispatcher import Dispatcher
from package_api.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from tests.support.pages import signed_in
from tests.support.receivers import Receiver, verifies
from tests.support.world import generic_url

SECRETS = ("api-s3cret-7f1e", "mlflow-s3cret-92ab", "page-s3cret-c04d", "rotated-s3cret-5e5e")


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all", "WEBHOOK_ALLOW_PRIVATE_TARGETS": True}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _stored_anywhere(app, secret: str) -> list[str]:
    """The tables with a column of a row that holds ``secret``."""
    with app.app_context():
        return [table.name for table in db.metadata.sorted_tables
                for row in db.session.execute(select(table)) if any(secret in str(v) for v in row if v is not None)]


def test_a_secret_is_encrypted_at_rest_shown_nowhere_and_signs_every_delivery(app, client, world, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    project = world.projects["private"]
    headers = world.headers("maintainer")
    answers = []
    made = client.post(f"/api/v4/projects/{project}/hooks", headers=headers, json={
        "name": "api", "url": receiver.url, "events": ["package.created"], "secret": SECRETS[0]})
    assert made.status_code == 201 and made.json["has_secret"] is True
    mlflow = f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/webhooks"
    by_mlflow = client.post(mlflow, headers=headers, json={
        "name": "mlflow", "url": receiver.url, "events": [{"entity": "model_version", "action": "created"}], "secret": SECRETS[1]})
    assert by_mlflow.status_code == 200, by_mlflow.json
    csrf = signed_in(app, client, "maintainer")
    page = client.post("/acme/private/-/settings/webhooks", data={
        "csrf_token": csrf, "name": "page", "url": receiver.url, "events": ["package.created"], "secret": SECRETS[2]})
    assert page.status_code == 302
    answers += [made.text, by_mlflow.text, page.text]

    with app.app_context():
        stored = {h.name: h.secret_ciphertext for h in db.session.scalars(select(Webhook))}
    assert set(stored) == {"api", "mlflow", "page"} and all(v.startswith("gAAAA") for v in stored.values())  # Fernet tokens
    for secret in SECRETS[:3]:
        assert _stored_anywhere(app, secret) == []

    # Each hook signs with its own secret, decrypted at send time.
    assert client.put(generic_url(project, "pkg"), data=b"x", headers=world.headers("owner")).status_code == 201
    assert Dispatcher(app).run_once() == 2
    signed = sorted(receiver.received, key=lambda r: r.headers["X-MLflow-Delivery-Id"])
    assert sorted(verifies(r, SECRETS[0]) or verifies(r, SECRETS[2]) for r in signed) == [True, True]

    # Setting it again (the API's PUT) encrypts the new one; the next delivery is signed with it.
    hook_id = made.json["id"]
    changed = client.put(f"/api/v4/projects/{project}/hooks/{hook_id}", headers=headers, json={"secret": SECRETS[3]})
    assert changed.status_code == 200 and changed.json["has_secret"] is True
    answers.append(changed.text)
    with app.app_context():
        assert db.session.get(Webhook, hook_id).secret_ciphertext not in ("", stored["api"])
    receiver.received.clear()
    assert client.put(generic_url(project, "pkg2"), data=b"x", headers=world.headers("owner")).status_code == 201
    assert Dispatcher(app).run_once() == 2
    assert any(verifies(r, SECRETS[3]) for r in receiver.received)
    assert not any(verifies(r, SECRETS[0]) for r in receiver.received)

    # Nothing that answers shows a secret: the APIs, MLflow's, the audit trail, the pages.
    for path in (f"/api/v4/projects/{project}/hooks", f"/api/v4/projects/{project}/hooks/{hook_id}",
                 mlflow, f"{mlflow}/{by_mlflow.json['webhook']['webhook_id']}", f"/api/v4/projects/{project}/audit_events"):
        r = client.get(path, headers=headers)
        assert r.status_code == 200, path
        answers.append(r.text)
    for hook in ("", f"?hook={hook_id}"):
        answers.append(client.get(f"/acme/private/-/settings/webhooks{hook}").text)
    answers.append(client.get("/acme/private/-/settings/audit_events").text)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in SECRETS:
        assert not any(secret in text for text in answers), secret
        assert secret not in logged
        assert _stored_anywhere(app, secret) == []


def test_a_secret_another_key_encrypted_fails_its_deliveries_until_that_key_is_a_fallback(app, client, world, receiver, settings):
    made = client.post(f"/api/v4/projects/{world.projects['private']}/hooks", headers=world.headers("maintainer"),
                       json={"name": "h", "url": receiver.url, "events": ["package.created"], "secret": "k-old"})
    assert made.status_code == 201
    assert client.put(generic_url(world.projects["private"]), data=b"x", headers=world.headers("owner")).status_code == 201

    rotated = create_app({**settings, "SECRET_KEY": "new key"})  # the same database, SECRET_KEY ("test") changed
    fallback = create_app({**settings, "SECRET_KEY": "new key", "SECRET_KEY_FALLBACKS": "unrelated, test"})
    try:
        assert Dispatcher(rotated).run_once() == 1
        assert receiver.received == []  # neither sent unsigned nor signed with a wrong key
        with rotated.app_context():
            (failed,) = db.session.scalars(select(WebhookAttempt)).all()
            assert failed.status is None and "set the secret again" in failed.error
            db.session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
            db.session.commit()
        assert Dispatcher(fallback).run_once() == 1
        (sent,) = receiver.received
        assert verifies(sent, "k-old")
    finally:
        for other in (rotated, fallback):
            with other.app_context():
                db.session.remove()
                db.engine.dispose()
