"""Issue 16's webhook test: durable deliveries across crashes, and writes that do not wait for receivers.

A receiver on 127.0.0.1 answers 503 for its first 20 seconds (the issue says a minute: shortened
here, with the backoff, so that the test takes about a minute; WEBHOOK_BACKOFF_BASE 0.5 s,
WEBHOOK_BACKOFF_MAX 2 s, WEBHOOK_TIMEOUT 1 s, so a claim's lease is 8 s) while ``modelshelf serve``
is killed with SIGKILL (its whole process group: master and worker) and restarted twice, and 200
model versions are created through the MLflow client meanwhile. Every ``model_version.created``
event arrives, each delivery id once after de-duplication, every signature verifies with MLflow's
scheme. Then the latency of a write with a hook to a receiver that takes 5 s to answer, against the
same write in a project with no hook."""
from __future__ import annotations

import os
import signal
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_server import create_account
from tests.support.receivers import Receiver, verifies
from tests.support.servers import Server, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
SETTINGS = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_BACKOFF_BASE": "0.5", "WEBHOOK_BACKOFF_MAX": "2",
            "WEBHOOK_TIMEOUT": "1", "WEBHOOK_POLL_INTERVAL": "0.2"}
BUSY_SECONDS = 20.0
VERSIONS = 200


def _client(server: Server, project: int) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(f"{server.url}/api/v4/projects/{project}/ml/mlflow")


def _crash(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(10)


def _events(*names: str) -> list[Any]:
    from mlflow.entities.webhook import WebhookEvent

    return [WebhookEvent(*name.split(".")) for name in names]


def test_a_request_cut_mid_body_is_not_kept_as_a_delivery() -> None:
    """What a sender killed between its headers and its body leaves: the receiver counts it as cut,
    and keeps no delivery whose signature could not verify."""
    receiver = Receiver()
    try:
        host, port = receiver.server.server_address[:2]
        with socket.create_connection((host, port), timeout=10) as cut:
            cut.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{" * 10)
        with socket.create_connection((host, port), timeout=10) as whole:
            whole.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            assert whole.recv(100).startswith(b"HTTP/1.0 200")
        deadline = time.monotonic() + 10
        while receiver.cut < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        receiver.close()
    assert receiver.cut == 1
    assert [r.body for r in receiver.received] == ["{}"]


def test_every_event_arrives_across_two_crashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    receiver = Receiver(status_for=lambda elapsed: 503 if elapsed < BUSY_SECONDS else 200)
    server = start_server(data_dir, SETTINGS)
    try:
        account = create_account(server, "alice")
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", account.token)
        project, _ = account.create_project()
        client = _client(server, project)
        client.create_webhook(name="deployer", url=receiver.url, events=_events("model_version.created"), secret="topsecret")
        receiver.started = time.monotonic()  # the busy period starts with the hook
        client.create_registered_model("churn")
        for number in range(1, VERSIONS + 1):
            client.create_model_version("churn", f"s3://bucket/churn/{number}")
            if number in (70, 140):
                _crash(server)
                server = start_server(data_dir, SETTINGS)
                client = _client(server, project)
        print(f"\n{VERSIONS} versions and two crashes in {time.monotonic() - receiver.started:.1f} s")
        got = receiver.wait_for(lambda r: len({x.headers["X-MLflow-Delivery-Id"] for x in r}) >= VERSIONS, timeout=180)
        time.sleep(2)  # anything sent twice arrives now
        got = receiver.accepted()
    finally:
        stop_server(server)
        receiver.close()
    unique = {r.headers["X-MLflow-Delivery-Id"]: r for r in got}
    assert len(unique) == VERSIONS
    assert sorted(int(r.json["data"]["version"]) for r in unique.values()) == list(range(1, VERSIONS + 1))
    assert all(r.json["entity"] == "model_version" and r.json["action"] == "created" for r in got)
    unverified = [(r.status, r.headers, r.body) for r in receiver.received if not verifies(r, "topsecret")]
    assert unverified == [], f"{len(unverified)} of {len(receiver.received)} deliveries do not verify ({receiver.cut} cut short)"
    refused = [r for r in receiver.received if r.status == 503]
    assert refused, "the receiver refused nothing: the test did not test retries"
    # The same delivery id always carries the same body.
    for r in got:
        assert r.body == unique[r.headers["X-MLflow-Delivery-Id"]].body
    print(f"\n{len(receiver.received)} requests: {len(refused)} answered 503, {len(got)} accepted, "
          f"{len(got) - VERSIONS} duplicates dropped by delivery id, {receiver.cut} cut short by a crash")


def test_a_slow_receiver_does_not_slow_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fast, slow = Receiver(), Receiver(delay=5.0)
    server = start_server(data_dir, {**SETTINGS, "WEBHOOK_TIMEOUT": "10"})
    try:
        account = create_account(server, "alice")
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", account.token)
        timings: dict[str, list[float]] = {}
        for label, receiver in (("no hook", None), ("hook, fast receiver", fast), ("hook, 5 s receiver", slow)):
            project, _ = account.create_project()
            client = _client(server, project)
            if receiver is not None:
                client.create_webhook(name="h", url=receiver.url, events=_events("model_version.created"))
            client.create_registered_model("m")
            client.create_model_version("m", "s3://bucket/m/0")  # warm up
            seconds = []
            for number in range(1, 21):
                started = time.perf_counter()
                client.create_model_version("m", f"s3://bucket/m/{number}")
                seconds.append(time.perf_counter() - started)
            timings[label] = seconds
        slow.wait_for(lambda r: len(r) >= 2, timeout=30)  # the slow hook was being called meanwhile
    finally:
        stop_server(server)
        fast.close()
        slow.close()
    medians = {label: statistics.median(s) * 1000 for label, s in timings.items()}
    worst = {label: max(s) * 1000 for label, s in timings.items()}
    print("\ncreate_model_version, median (max) ms: " + ", ".join(f"{k}: {medians[k]:.1f} ({worst[k]:.1f})" for k in medians))
    assert max(timings["hook, 5 s receiver"]) < 1.0  # never waits for the 5 s receiver
    # The receiver's slowness does not show: a slow receiver's writes cost what a fast one's do.
    assert medians["hook, 5 s receiver"] < medians["hook, fast receiver"] * 1.5 + 10
