"""MLflow's webhook API through the real client against ``modelshelf serve`` (its dispatcher
delivers), events signed as MLflow documents, and the SSRF refusals. The server here may call
127.0.0.1 (``WEBHOOK_ALLOW_PRIVATE_TARGETS``) and retries fast (backoff 0.2 s, at most 1 s)."""
from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest
import requests

from tests.mlflow.conftest import Tracking
from tests.support.live_server import Account, create_account, running_server
from tests.support.receivers import Receiver, verifies

pytestmark = pytest.mark.server

FAST = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_BACKOFF_BASE": "0.2", "WEBHOOK_BACKOFF_MAX": "1",
        "WEBHOOK_POLL_INTERVAL": "0.2", "WEBHOOK_TIMEOUT": "2"}


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    from mlflow.utils import request_utils

    with running_server(tmp_path_factory.mktemp("webhooks") / "data", FAST) as server:
        yield create_account(server, "alice")
        request_utils._cached_get_request_session.cache_clear()
        gc.collect()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _events(*names: str) -> list[object]:
    from mlflow.entities.webhook import WebhookEvent

    return [WebhookEvent(*name.split(".")) for name in names]


def test_the_client_creates_lists_gets_updates_tests_and_deletes_hooks(tracking: Tracking, receiver: Receiver) -> None:
    from mlflow.entities.webhook import WebhookStatus
    from mlflow.exceptions import MlflowException

    client = tracking.client
    hook = client.create_webhook(
        name="deploy", url=receiver.url, events=_events("model_version.created", "model_version_alias.created"),
        description="tells the deployer", secret="s3cret",
    )
    assert hook.name == "deploy" and hook.url == receiver.url and hook.status == WebhookStatus.ACTIVE
    assert {str(e) for e in hook.events} == {"model_version.created", "model_version_alias.created"}
    assert hook.secret is None  # never sent back
    assert client.get_webhook(hook.webhook_id).description == "tells the deployer"
    assert [h.webhook_id for h in client.list_webhooks()] == [hook.webhook_id]

    updated = client.update_webhook(hook.webhook_id, name="deployer", status=WebhookStatus.DISABLED)
    assert updated.name == "deployer" and updated.status == WebhookStatus.DISABLED
    assert updated.last_updated_timestamp >= hook.last_updated_timestamp

    result = client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200
    (sent,) = receiver.received
    assert sent.json["entity"] == "model_version" and sent.json["action"] == "created"
    assert verifies(sent, "s3cret")

    client.delete_webhook(hook.webhook_id)
    with pytest.raises(MlflowException, match="not found|RESOURCE_DOES_NOT_EXIST"):
        client.get_webhook(hook.webhook_id)


def test_registry_changes_arrive_signed_with_mlflow_payloads(tracking: Tracking, receiver: Receiver) -> None:
    client = tracking.client
    names = ["registered_model.created", "model_version.created", "model_version_tag.set",
             "model_version_tag.deleted", "model_version_alias.created", "model_version_alias.deleted"]
    client.create_webhook(name="all", url=receiver.url, events=_events(*names), secret="k")
    client.create_registered_model("fraud", tags={"team": "risk"}, description="catches fraud")
    version = client.create_model_version("fraud", "s3://bucket/model", tags={"eval": "passed"}, description="first")
    client.set_model_version_tag("fraud", version.version, "stage", "qa")
    client.delete_model_version_tag("fraud", version.version, "stage")
    client.set_registered_model_alias("fraud", "champion", version.version)
    client.delete_registered_model_alias("fraud", "champion")

    got = receiver.wait_for(lambda r: len(r) >= 6)
    by_event = {f"{r.json['entity']}.{r.json['action']}": r for r in got}
    assert sorted(by_event) == sorted(names)
    assert all(verifies(r, "k") for r in got)
    assert by_event["registered_model.created"].json["data"] == {
        "name": "fraud", "tags": {"team": "risk"}, "description": "catches fraud"}
    created = by_event["model_version.created"].json["data"]
    assert created["name"] == "fraud" and created["version"] == version.version == "1"
    assert created["tags"] == {"eval": "passed"} and created["description"] == "first"
    assert created["source"] == version.source
    assert by_event["model_version_tag.set"].json["data"] == {"name": "fraud", "version": "1", "key": "stage", "value": "qa"}
    assert by_event["model_version_tag.deleted"].json["data"] == {"name": "fraud", "version": "1", "key": "stage"}
    assert by_event["model_version_alias.created"].json["data"] == {"name": "fraud", "alias": "champion", "version": "1"}
    assert by_event["model_version_alias.deleted"].json["data"] == {"name": "fraud", "alias": "champion"}
    ids = [r.headers["X-MLflow-Delivery-Id"] for r in got]
    assert len(set(ids)) == len(ids)


def test_a_receiver_that_fails_gets_the_delivery_again_under_the_same_id(tracking: Tracking) -> None:
    flaky = Receiver(status_for=lambda elapsed: 503 if elapsed < 1.5 else 200)
    try:
        tracking.client.create_webhook(name="f", url=flaky.url, events=_events("registered_model.created"))
        tracking.client.create_registered_model("retried")
        (ok,) = flaky.wait_for(lambda r: len(r) >= 1)
        assert len(flaky.received) >= 2 and {r.headers["X-MLflow-Delivery-Id"] for r in flaky.received} == {
            ok.headers["X-MLflow-Delivery-Id"]}
        assert "X-MLflow-Signature" not in ok.headers  # no secret, no signature, as MLflow does
        # Every attempt is logged, and visible in the API.
        hooks = requests.get(f"{tracking.api}/hooks", headers=tracking.headers, timeout=10).json()
        deliveries = requests.get(f"{tracking.api}/hooks/{hooks[0]['id']}/events", headers=tracking.headers, timeout=10).json()
        (delivery,) = deliveries
        assert delivery["delivery_id"] == ok.headers["X-MLflow-Delivery-Id"] and delivery["state"] == "delivered"
        assert [a["status"] for a in delivery["attempts"]][-1] == 200 and len(delivery["attempts"]) >= 2
        assert delivery["attempts"][0]["status"] == 503 and delivery["attempts"][0]["response"] == "busy"
        # Redeliver sends it again, same id.
        answer = requests.post(
            f"{tracking.api}/hooks/{hooks[0]['id']}/events/{delivery['id']}/resend", headers=tracking.headers, timeout=10)
        assert answer.status_code == 201, answer.text
        again = flaky.wait_for(lambda r: len(r) >= 2)
        assert again[-1].headers["X-MLflow-Delivery-Id"] == ok.headers["X-MLflow-Delivery-Id"]
        assert again[-1].body == ok.body
    finally:
        flaky.close()


def test_private_targets_are_refused_unless_allowed(tmp_path_factory: pytest.TempPathFactory) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    with running_server(tmp_path_factory.mktemp("strict") / "data") as server:
        account = create_account(server, "bob")
        project, _ = account.create_project()
        import os

        os.environ["MLFLOW_TRACKING_TOKEN"] = account.token
        try:
            client = MlflowClient(f"{server.url}/api/v4/projects/{project}/ml/mlflow")
            for url in ("http://127.0.0.1:9/x", "http://169.254.169.254/latest", "http://10.1.2.3/", "http://[::1]/",
                        "http://localhost:8080/", "file:///etc/passwd"):
                with pytest.raises(MlflowException) as refused:
                    client.create_webhook(name="x", url=url, events=_events("model_version.created"))
                assert "INVALID_PARAMETER_VALUE" in str(refused.value) or "url" in str(refused.value), url
        finally:
            del os.environ["MLFLOW_TRACKING_TOKEN"]
            time.sleep(0)
