"""Operations endpoints and what every request carries: ``/-/health``, ``/-/readiness`` (200, and 503
naming the failing check), ``/-/metrics`` (what it counts, who may read it), request ids and log
lines. The live-server side (several workers, JSON logs from ``modelshelf serve``) is in
``tests/e2e/test_server.py``."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import logging.config
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import TestResponse

from package_api import create_app
from package_api.db import db
from package_api.ops.logs import RequestIdFilter, lean_records, logging_config
from package_api.ops.monitoring import address_allowed, parse_networks
from tests.support.servers import S3_ACCESS_KEY, S3_SECRET_KEY, Relay, free_port
from tests.support.world import MAX_FILE_SIZE, World, generic_url

GENERIC_RULE = "/api/v4/projects/<project:project_ref>/packages/generic/<package_name>/<package_version>/<filepath:file_path>"
ARCHIVE_RULE = "/api/v4/projects/<project:project_ref>/packages/generic/<package_name>/<package_version>"
GENERATED_ID = re.compile(r"\A[0-9a-f]{32}\Z")


def get(client: FlaskClient, path: str, **kwargs: object) -> TestResponse:
    """GET, with the response consumed and closed as a WSGI server does: the request is counted and
    logged when its body has been sent."""
    return client.get(path, buffered=True, **kwargs)  # type: ignore[arg-type]


def samples(client: FlaskClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = get(client, "/-/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


# -- health and readiness -------------------------------------------------------------------------


def test_health_and_readiness_answer_ok(client: FlaskClient) -> None:
    health = get(client, "/-/health")
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok"}

    ready = get(client, "/-/readiness")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ok", "checks": {"database": {"status": "ok"}, "storage": {"status": "ok"}}}


class TestReadinessWhenTheStoreIsDown:
    @pytest.fixture
    def settings(self, settings: dict[str, object]) -> dict[str, object]:
        dead = f"127.0.0.1:{free_port()}"  # a port the OS just handed out and took back: nobody listens
        return {**settings, "STORAGE": "s3", "S3_ENDPOINT": dead, "S3_ACCESS_KEY": S3_ACCESS_KEY, "S3_SECRET_KEY": S3_SECRET_KEY}

    def test_readiness_answers_503_naming_the_store(self, client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.WARNING, logger="package_api.ops.monitoring")
        caplog.handler.addFilter(RequestIdFilter())  # as the handler of ``modelshelf serve`` has
        response = get(client, "/-/readiness", headers={"X-Request-Id": "probe-7"})
        assert response.status_code == 503
        assert response.get_json() == {
            "status": "unavailable",
            "checks": {"database": {"status": "ok"}, "storage": {"status": "error", "error": "StorageUnavailable"}},
        }
        assert b"Traceback" not in response.data
        # The reason goes to the log, under the request's id.
        [record] = [r for r in caplog.records if r.name == "package_api.ops.monitoring"]
        assert "storage" in record.getMessage() and "unreachable" in record.getMessage()
        assert record.request_id == "probe-7"  # type: ignore[attr-defined]

    def test_health_still_answers_ok(self, client: FlaskClient) -> None:
        assert get(client, "/-/health").status_code == 200


@pytest.mark.s3
def test_readiness_asks_the_store_on_every_probe_within_its_timeout(settings: dict[str, object], s3_settings: dict[str, object]) -> None:
    """A store that stops answering after the first probe (and after uploads, which cache that the
    bucket exists) fails every later probe, each within ``READINESS_TIMEOUT``; once it answers again,
    so does readiness."""
    relay = Relay(str(s3_settings["S3_ENDPOINT"]))
    app = create_app({**settings, **s3_settings, "STORAGE": "s3", "S3_ENDPOINT": relay.endpoint, "READINESS_TIMEOUT": 0.5})
    app.config["TESTING"] = True
    client = app.test_client()
    try:
        assert get(client, "/-/readiness").status_code == 200
        app.extensions["modelshelf.storage"].put("warm", io.BytesIO(b"the data path checked the bucket"))

        relay.hang()
        for _ in range(3):  # every probe, not once per worker
            started = time.monotonic()
            response = get(client, "/-/readiness")
            assert response.status_code == 503
            assert response.get_json()["checks"]["storage"] == {"status": "error", "error": "StorageUnavailable"}
            assert time.monotonic() - started < 3  # the timeout, not the data path's 30 s and retries

        relay.resume()
        assert get(client, "/-/readiness").status_code == 200
    finally:
        relay.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


class TestReadinessWhenTheDatabaseIsDown:
    @pytest.fixture
    def settings(self, settings: dict[str, object]) -> dict[str, object]:
        url = f"postgresql+psycopg://modelshelf:secret@127.0.0.1:{free_port()}/modelshelf?connect_timeout=5"
        return {**settings, "DATABASE_URL": url, "CREATE_SCHEMA": False}

    def test_readiness_answers_503_naming_the_database(self, client: FlaskClient) -> None:
        response = get(client, "/-/readiness")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == {"status": "error", "error": "OperationalError"}
        assert body["checks"]["storage"] == {"status": "ok"}
        assert "secret" not in response.get_data(as_text=True)  # no URL, no message: just the class

    def test_health_does_not_touch_the_database(self, client: FlaskClient) -> None:
        assert get(client, "/-/health").get_json() == {"status": "ok"}


class TestReadinessWhenTheDataDirectoryIsUnusable:
    @pytest.fixture
    def settings(self, settings: dict[str, object], tmp_path: Path) -> dict[str, object]:
        return {**settings, "STORAGE": "filesystem"}

    def test_a_blob_root_that_is_not_a_directory_is_not_ready(self, client: FlaskClient, app: Flask) -> None:
        assert get(client, "/-/readiness").status_code == 200
        root = Path(app.config["MODELSHELF"]["DATA_DIR"]) / "blobs"
        if root.exists():
            root.rmdir()
        root.write_bytes(b"not a directory")
        response = get(client, "/-/readiness")
        assert response.status_code == 503
        assert response.get_json()["checks"]["storage"] == {"status": "error", "error": "StorageUnavailable"}


class TestReadinessIsBoundedWhenADependencyHangs:
    """A PostgreSQL that accepts connections and never answers, and a store whose check hangs (an NFS
    mount): ``/-/readiness`` answers 503 within twice ``READINESS_TIMEOUT`` (and half a second) instead
    of hanging."""

    @pytest.fixture
    def silent_database(self) -> Iterator[int]:
        import socket

        listener = socket.create_server(("127.0.0.1", 0))  # never accepts: the handshake waits
        yield listener.getsockname()[1]
        listener.close()

    @pytest.fixture
    def settings(self, settings: dict[str, object], silent_database: int) -> dict[str, object]:
        url = f"postgresql+psycopg://modelshelf:secret@127.0.0.1:{silent_database}/modelshelf"
        return {**settings, "DATABASE_URL": url, "CREATE_SCHEMA": False, "READINESS_TIMEOUT": 0.5, "STORAGE": "filesystem"}

    def test_readiness_answers_503_in_time(self, client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        storage = app.extensions["modelshelf.storage"]
        monkeypatch.setattr(storage, "check", lambda: time.sleep(3))
        started = time.monotonic()
        response = get(client, "/-/readiness")
        assert time.monotonic() - started < 2.5
        assert response.status_code == 503
        assert response.get_json()["checks"] == {
            "database": {"status": "error", "error": "CheckTimedOut"},
            "storage": {"status": "error", "error": "CheckTimedOut"},
        }
        # The hung checks are not started again while they hang: the next probe fails at once.
        started = time.monotonic()
        assert get(client, "/-/readiness").status_code == 503
        assert time.monotonic() - started < 0.5


# -- metrics --------------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_and_bytes_moved(client: FlaskClient, world: World) -> None:
    project = world.projects["private"]
    data = bytes(range(256)) * 12  # 3072 bytes
    url = generic_url(project, "fraud-detector", "1.4.0", "weights/model.onnx")
    before = samples(client)

    put = client.put(url, data=data, headers=world.headers("developer"), buffered=True)
    assert put.status_code == 201
    whole = get(client, url, headers=world.headers("reporter"))
    part = get(client, url, headers={**world.headers("reporter"), "Range": "bytes=100-199"})
    archive = get(client, generic_url(project, "fraud-detector", "1.4.0", "")[:-1], headers=world.headers("reporter"))
    missing = get(client, generic_url(project, "fraud-detector", "1.4.0", "nope.bin"), headers=world.headers("reporter"))
    assert (whole.status_code, part.status_code, archive.status_code, missing.status_code) == (200, 206, 200, 404)
    assert whole.data == data and part.data == data[100:200]
    get(client, "/nowhere/at/all/really")

    after = samples(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "modelshelf_http_requests_total"
    assert delta(requests, route=GENERIC_RULE, method="PUT", status="201") == 1
    assert delta(requests, route=GENERIC_RULE, method="GET", status="200") == 1
    assert delta(requests, route=GENERIC_RULE, method="GET", status="206") == 1
    assert delta(requests, route=GENERIC_RULE, method="GET", status="404") == 1
    assert delta(requests, route=ARCHIVE_RULE, method="GET", status="200") == 1
    assert delta(requests, route="unmatched", method="GET", status="404") == 1
    assert delta("modelshelf_http_request_duration_seconds_count", route=GENERIC_RULE, method="GET") == 3
    assert delta("modelshelf_http_request_duration_seconds_sum", route=GENERIC_RULE, method="PUT") > 0
    # Labels are URL rules: no raw path (with its names and versions) ever becomes a label value.
    routes = {dict(labels).get("route") for (_name, labels) in after}
    assert not any(route and "fraud-detector" in route for route in routes)

    assert delta("modelshelf_uploaded_bytes_total") == len(data)
    assert delta("modelshelf_downloaded_bytes_total") == len(data) + 100 + len(archive.data)
    assert sum(delta("modelshelf_upload_failures_total", reason=r) for r in ("too_large", "client_disconnect")) == 0


def test_metrics_count_every_request_of_the_same_route_method_and_status(client: FlaskClient) -> None:
    before = samples(client)
    for _ in range(3):
        get(client, "/-/health")
    client.open("/-/health", method="HEAD", buffered=True)
    client.open("/-/health", method="BREW", buffered=True)  # any other method counts as "other"
    after = samples(client)
    requests = "modelshelf_http_requests_total"
    assert value(after, requests, route="/-/health", method="GET", status="200") - value(before, requests, route="/-/health", method="GET", status="200") == 3
    assert value(after, requests, route="/-/health", method="HEAD", status="200") - value(before, requests, route="/-/health", method="HEAD", status="200") == 1
    assert value(after, requests, route="unmatched", method="other", status="405") - value(before, requests, route="unmatched", method="other", status="405") == 1
    duration = "modelshelf_http_request_duration_seconds_count"
    assert value(after, duration, route="/-/health", method="GET") - value(before, duration, route="/-/health", method="GET") == 3


def test_metrics_count_failed_uploads_by_reason(client: FlaskClient, world: World) -> None:
    project, headers = world.projects["private"], world.headers("developer")
    before = samples(client)

    declared_too_large = client.put(
        generic_url(project, path="big.bin"), data=b"x" * (MAX_FILE_SIZE + 1), headers=headers, buffered=True
    )
    streamed_too_large = client.put(
        generic_url(project, path="big-stream.bin"),
        input_stream=io.BytesIO(b"y" * (MAX_FILE_SIZE + 10)),
        headers={**headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
        buffered=True,
    )
    wrong_digest = client.put(
        generic_url(project, path="model.bin"),
        data=b"weights",
        headers={**headers, "X-Checksum-SHA256": hashlib.sha256(b"other").hexdigest()},
        buffered=True,
    )
    cut_short = client.put(
        generic_url(project, path="cut.bin"),
        input_stream=io.BytesIO(b"z" * 100),
        headers=headers,
        environ_overrides={"CONTENT_LENGTH": "5000"},  # the client promised more than it sent
        buffered=True,
    )
    assert [r.status_code for r in (declared_too_large, streamed_too_large, wrong_digest, cut_short)] == [400] * 4

    after = samples(client)
    failures = {
        reason: value(after, "modelshelf_upload_failures_total", reason=reason)
        - value(before, "modelshelf_upload_failures_total", reason=reason)
        for reason in ("too_large", "checksum_mismatch", "client_disconnect", "storage", "error")
    }
    assert failures == {"too_large": 2, "checksum_mismatch": 1, "client_disconnect": 1, "storage": 0, "error": 0}
    # Bytes that arrived count even when the upload failed: the stream stopped just past the limit.
    received = value(after, "modelshelf_uploaded_bytes_total") - value(before, "modelshelf_uploaded_bytes_total")
    assert MAX_FILE_SIZE + len(b"weights") < received <= MAX_FILE_SIZE + 10 + len(b"weights") + 100
    assert get(client, f"/api/v4/projects/{project}/packages", headers=headers).get_json() == []


def test_metrics_are_for_allowed_networks_only(client: FlaskClient) -> None:
    for address in ("127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"):
        response = get(client, "/-/metrics", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 200, address
        assert b"modelshelf_http_requests_total" in response.data

    for address in ("10.1.2.3", "192.168.0.7", "2001:db8::1", ""):
        response = get(client, "/-/metrics", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 404, address
        assert b"modelshelf_" not in response.data
        assert b"Page not found" in response.data  # the page of any address that does not exist


class TestMetricsForAConfiguredNetwork:
    @pytest.fixture
    def settings(self, settings: dict[str, object]) -> dict[str, object]:
        return {**settings, "METRICS_ALLOWED_CIDRS": "10.0.0.0/8, 2001:db8::/32"}

    def test_only_those_networks_may_read(self, client: FlaskClient) -> None:
        assert get(client, "/-/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200
        assert get(client, "/-/metrics", environ_base={"REMOTE_ADDR": "2001:db8::5"}).status_code == 200
        assert get(client, "/-/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 404


def test_a_malformed_network_stops_the_app_from_starting(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        create_app({**settings, "METRICS_ALLOWED_CIDRS": "10.0.0.0/8,not-a-network"})


def test_address_matching() -> None:
    networks = parse_networks("127.0.0.0/8,::1")
    assert address_allowed("127.0.0.1", networks)
    assert address_allowed("::ffff:127.0.0.9", networks)
    assert not address_allowed("128.0.0.1", networks)
    assert not address_allowed(None, networks)
    assert not address_allowed("unix:/run/socket", networks)


# -- request ids and logs -------------------------------------------------------------------------


def test_a_sane_request_id_is_kept_and_returned(client: FlaskClient) -> None:
    for sane in ("abc", "req-2024.01_07", "A" * 128):
        assert get(client, "/-/health", headers={"X-Request-Id": sane}).headers["X-Request-Id"] == sane


def test_an_absent_or_insane_request_id_is_replaced(client: FlaskClient) -> None:
    seen = set()
    for incoming in (None, "", "A" * 129, "has space", "tab\there", "semi;colon", "ünï"):
        headers = {} if incoming is None else {"X-Request-Id": incoming}
        answered = get(client, "/-/health", headers=headers).headers["X-Request-Id"]
        assert GENERATED_ID.match(answered), (incoming, answered)
        seen.add(answered)
    assert len(seen) == 7  # a new one each time


def test_errors_answer_with_the_request_id_too(client: FlaskClient) -> None:
    response = get(client, "/api/v4/projects/999/packages", headers={"X-Request-Id": "lost-1"})
    assert response.status_code in (401, 404)
    assert response.headers["X-Request-Id"] == "lost-1"


@pytest.fixture
def configured_logging(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The logging ``modelshelf serve`` sets up (``logging_config``), writing to a buffer; the
    previous handlers are put back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    config = logging_config(request.param)
    config["handlers"]["stderr"]["stream"] = buffer
    logging.config.dictConfig(config)
    yield buffer
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


@pytest.mark.parametrize("configured_logging", ["text"], indirect=True)
def test_text_log_lines_carry_the_request_id(client: FlaskClient, configured_logging: io.StringIO) -> None:
    logging.getLogger("package_api.test").info("outside any request")
    get(client, "/-/health", headers={"X-Request-Id": "text-42"})
    lines = configured_logging.getvalue().splitlines()
    assert lines[0].endswith(" package_api.test [-] outside any request")
    [access] = [line for line in lines if "modelshelf.access" in line]
    assert re.search(r" INFO \[\d+\] modelshelf\.access \[text-42\] GET /-/health 200 16 \d+\.\d+ms$", access), access


@pytest.mark.parametrize("configured_logging", ["text"], indirect=True)
def test_lean_records_keep_what_the_lines_show(client: FlaskClient, configured_logging: io.StringIO) -> None:
    saved = (logging._srcfile, logging.logThreads, logging.logMultiprocessing)  # type: ignore[attr-defined]
    records: list[logging.LogRecord] = []
    keep = logging.Filter()
    keep.filter = lambda record: records.append(record) or True  # type: ignore[method-assign,func-returns-value]
    logging.getLogger("modelshelf.access").addFilter(keep)
    try:
        lean_records()
        get(client, "/-/health", headers={"X-Request-Id": "lean-1"})
    finally:
        logging.getLogger("modelshelf.access").removeFilter(keep)
        logging._srcfile, logging.logThreads, logging.logMultiprocessing = saved  # type: ignore[attr-defined]
    [record] = records
    assert record.pathname == "(unknown file)" and record.thread is None  # no stack walk, no thread looked up
    [access] = [line for line in configured_logging.getvalue().splitlines() if "modelshelf.access" in line]
    assert re.search(rf" INFO \[{os.getpid()}\] modelshelf\.access \[lean-1\] GET /-/health 200 16 \d+\.\d+ms$", access), access


@pytest.mark.parametrize("configured_logging", ["json"], indirect=True)
def test_json_log_lines_are_one_object_each(
    client: FlaskClient, world: World, configured_logging: io.StringIO
) -> None:
    url = generic_url(world.projects["private"], path="a.bin") + "?private_token=" + world.tokens["developer"]
    put = client.put(url, data=b"12345", headers={"X-Request-Id": "json-1"}, buffered=True)
    assert put.status_code == 201
    get(client, "/-/readiness", headers={"X-Request-Id": "json-2"})

    records = [json.loads(line) for line in configured_logging.getvalue().splitlines()]  # every line parses
    access = {r["request_id"]: r for r in records if r["logger"] == "modelshelf.access"}
    upload = access["json-1"]
    assert upload["level"] == "INFO" and upload["method"] == "PUT" and upload["status"] == 201
    assert upload["path"] == generic_url(world.projects["private"], path="a.bin")  # the query (a token) is never logged
    assert world.tokens["developer"] not in configured_logging.getvalue()
    assert upload["route"] == GENERIC_RULE and upload["bytes"] == len(put.data) and upload["complete"] is True
    assert upload["duration_ms"] >= 0 and upload["time"].endswith("+00:00") and isinstance(upload["pid"], int)
    assert access["json-2"]["path"] == "/-/readiness" and access["json-2"]["status"] == 200


def test_a_control_character_in_the_path_cannot_forge_a_log_line(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelshelf.access")
    get(client, "/x%0A2026-01-01 INFO forged")
    [record] = [r for r in caplog.records if r.name == "modelshelf.access"]
    assert "\n" not in record.getMessage() and "/x\\n2026-01-01" in record.getMessage()
