"""Request bodies are bounded (MAX_REQUEST_BODY, 413 before reading) but for the streaming uploads,
and a deeply nested JSON body is a 400 naming the problem on both surfaces, never a 500."""
from __future__ import annotations

import io
import socket
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from package_api.config import DEFAULTS
from tests.support.world import World, generic_url

CAP = 256 * 1024  # above the 200,000 nested brackets below
DECLARED = 400 * 1024 * 1024


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all", "MAX_REQUEST_BODY": CAP}


class Counted(io.RawIOBase):
    """A body that counts what the server reads of it (``left`` bytes, then the end)."""

    def __init__(self, left: int) -> None:
        self.left, self.read_bytes = left, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = b"[" * n
        self.left -= n
        self.read_bytes += n
        return n


def _mlflow(world: World, method: str) -> str:
    return f"/api/v4/projects/{world.projects['private']}/ml/mlflow/api/2.0/mlflow/{method}"


def test_the_default_cap_is_within_1_to_16_mib() -> None:
    assert 1 << 20 <= DEFAULTS["MAX_REQUEST_BODY"] <= 16 << 20


@pytest.mark.parametrize("surface", ["api", "mlflow"])
def test_a_declared_400_mb_body_is_413_before_a_byte_is_read(client: FlaskClient, world: World, surface: str) -> None:
    body = Counted(DECLARED)
    url = _mlflow(world, "runs/search") if surface == "mlflow" else f"/api/v4/projects/{world.projects['private']}"
    method = "POST" if surface == "mlflow" else "PUT"
    r = client.open(
        url,
        method=method,
        headers={**world.headers("owner"), "Content-Type": "application/json"},
        environ_overrides={"wsgi.input": io.BufferedReader(body, buffer_size=1), "CONTENT_LENGTH": str(DECLARED)},
    )
    assert r.status_code == 413, r.data
    assert body.read_bytes == 0
    if surface == "mlflow":
        assert r.json["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "MAX_REQUEST_BODY" in r.json["message"]
    else:
        assert "MAX_REQUEST_BODY" in r.json["message"]


def test_a_chunked_body_is_read_only_up_to_the_cap(client: FlaskClient, world: World) -> None:
    body = Counted(DECLARED)
    r = client.post(
        _mlflow(world, "runs/search"),
        headers={**world.headers("owner"), "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": io.BufferedReader(body), "wsgi.input_terminated": True},
    )
    assert r.status_code == 413, r.data
    assert body.read_bytes <= CAP + 64 * 1024  # the cap and one buffer, not 400 MB
    print(f"chunked 400 MB body: {body.read_bytes} bytes read before the 413")


@pytest.mark.parametrize("route", ["generic", "mlflow-artifact"])
def test_uploads_still_stream_past_the_cap(client: FlaskClient, world: World, route: str) -> None:
    size = 4 * CAP
    if route == "generic":
        url = generic_url(world.projects["private"])
        expected = 201
    else:
        headers = world.headers("owner")
        experiment = client.post(_mlflow(world, "experiments/create"), json={"name": "big"}, headers=headers).json
        run = client.post(_mlflow(world, "runs/create"), json=experiment, headers=headers).json["run"]["info"]
        url = (
            f"/api/v4/projects/{world.projects['private']}/ml/mlflow/api/2.0/mlflow-artifacts/artifacts/"
            f"{experiment['experiment_id']}/{run['run_id']}/artifacts/big.bin"
        )
        expected = 200
    body = Counted(size)
    r = client.put(
        url,
        headers={**world.headers("owner"), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": io.BufferedReader(body), "wsgi.input_terminated": True},
    )
    assert r.status_code == expected, r.data
    assert body.read_bytes == size


DEEP = b"[" * 200_000


def test_deep_json_is_a_400_on_the_api(client: FlaskClient, world: World) -> None:
    r = client.put(
        f"/api/v4/projects/{world.projects['private']}",
        data=DEEP,
        headers={**world.headers("owner"), "Content-Type": "application/json"},
    )
    assert (r.status_code, r.json) == (400, {"message": "400 Bad request - The JSON body is nested too deeply"})


@pytest.mark.parametrize("method", ["runs/search", "experiments/search", "experiments/create", "runs/create", "runs/log-batch"])
def test_deep_json_is_a_400_on_mlflow(client: FlaskClient, world: World, method: str) -> None:
    r = client.post(_mlflow(world, method), data=DEEP, headers={**world.headers("owner"), "Content-Type": "application/json"})
    assert r.status_code == 400, r.data
    assert r.json == {"error_code": "INVALID_PARAMETER_VALUE", "message": "The JSON body is nested too deeply"}


#: Strings no database stores, and the word the 400 names them by: a lone surrogate (no UTF-8 holds
#: it: the database driver failed to encode it, a 500), and a NUL (PostgreSQL holds none in text;
#: SQLite stored one, so a registry made on SQLite could not move).
UNSTORABLE = [
    (b'{"name": "m\\ud800"}', "surrogate"),  # an escape of one half of a pair
    (b'{"name": "m", "description": "\\uDC00x"}', "surrogate"),
    (b'{"name": "m", "tags": [{"key": "k", "value": "\xed\xa0\x80"}]}', "surrogate"),  # encoded as UTF-8 (json.loads lets it pass)
    (b'{"name": "m\\u0000x"}', "NUL"),
    (b'{"name": "m", "description": "a\\u0000"}', "NUL"),
    (b'{"name": "m", "tags": [{"key": "k", "value": "v\\u0000"}]}', "NUL"),
    (b'{"name": "m", "tags": [{"key": "k\\u0000", "value": "v"}]}', "NUL"),
]


@pytest.mark.parametrize(("body", "named"), UNSTORABLE)
def test_a_string_no_database_stores_is_a_400_on_mlflow_and_stores_nothing(
    client: FlaskClient, world: World, body: bytes, named: str
) -> None:
    headers = {**world.headers("owner"), "Content-Type": "application/json"}
    r = client.post(_mlflow(world, "registered-models/create"), data=body, headers=headers)
    assert r.status_code == 400, r.data
    assert r.json is not None and r.json["error_code"] == "INVALID_PARAMETER_VALUE" and named in r.json["message"]
    listed = client.get(_mlflow(world, "registered-models/search"), headers=world.headers("owner"))
    assert listed.status_code == 200 and listed.json == {"registered_models": []}


def test_a_lone_surrogate_is_a_400_on_the_api_and_a_pair_is_text(client: FlaskClient, world: World) -> None:
    url, headers = f"/api/v4/projects/{world.projects['private']}", {**world.headers("owner"), "Content-Type": "application/json"}
    r = client.put(url, data=b'{"description": "\\ud83d"}', headers=headers)
    assert r.status_code == 400 and "surrogate" in r.json["message"], r.data
    r = client.put(url, data=b'{"description": "\\ud83d\\ude00 ok"}', headers=headers)
    assert r.status_code == 200 and r.json["description"] == "\U0001f600 ok", r.data


def test_a_nul_is_a_400_on_the_api_and_an_escaped_backslash_is_text(client: FlaskClient, world: World) -> None:
    url, headers = f"/api/v4/projects/{world.projects['private']}", {**world.headers("owner"), "Content-Type": "application/json"}
    before = client.get(url, headers=headers).json["description"]
    r = client.put(url, data=b'{"description": "x\\u0000y"}', headers=headers)
    assert r.status_code == 400 and "NUL" in r.json["message"], r.data
    assert client.get(url, headers=headers).json["description"] == before
    r = client.put(url, data=b'{"description": "C:\\\\u0000 is text"}', headers=headers)
    assert r.status_code == 200 and r.json["description"] == "C:\\u0000 is text", r.data


NUL_PARAMETERS = [  # GitLab's API takes its parameters from the query string or a form, as well as JSON
    ("PUT", "/api/v4/projects/{project}?description=x%00y", None, "rest"),
    ("PUT", "/api/v4/projects/{project}", {"description": "x\x00y"}, "rest"),
    ("PUT", "/api/v4/projects/{project}", {"descr\x00iption": "x"}, "rest"),
    ("GET", "/api/v4/projects/{project}/ml/models?search=a%00zzz", None, "rest"),
    ("GET", "/api/v4/projects/{project}/packages?package_version=1.0%00", None, "rest"),
    ("PUT", "/api/v4/projects/{project}/packages/generic/pkg/1.0.0/file.bin?status=default%00", None, "rest"),
    ("GET", "/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/registered-models/search?filter=name%3D%27m%00%27", None, "mlflow"),
    ("POST", "/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/registered-models/create?name=m%00", None, "mlflow"),
    ("GET", "/users/sign_in?redirect_to=/%00x", None, "page"),
]


@pytest.mark.parametrize(("method", "path", "form", "surface"), NUL_PARAMETERS)
def test_a_nul_in_a_query_string_or_a_form_is_a_400_in_each_surfaces_shape_and_stores_nothing(
    client: FlaskClient, world: World, method: str, path: str, form: dict[str, str] | None, surface: str
) -> None:
    """SQLite stored such a parameter (PostgreSQL refused it only at the write), and its ``LIKE``
    ended a search pattern at the NUL: one 400 on both databases, before anything is read or stored."""
    project = f"/api/v4/projects/{world.projects['private']}"
    before = client.get(project, headers=world.headers("owner")).json
    r = client.open(path.format(project=world.projects["private"]), method=method, data=form or b"x", headers=world.headers("owner"))
    assert r.status_code == 400, r.data
    if surface == "rest":
        assert r.json is not None and "NUL" in r.json["message"], r.data
    elif surface == "mlflow":
        assert r.json is not None and r.json["error_code"] == "INVALID_PARAMETER_VALUE" and "NUL" in r.json["message"]
    else:
        assert "NUL" in r.text and r.mimetype == "text/html", r.text
    assert client.get(project, headers=world.headers("owner")).json == before
    assert client.get(f"{project}/packages", headers=world.headers("owner")).json == []
    listed = client.get(_mlflow(world, "registered-models/search"), headers=world.headers("owner"))
    assert listed.json == {"registered_models": []}


def test_a_json_body_sent_as_a_form_is_still_read_as_json(client: FlaskClient, world: World) -> None:
    """``curl -d '{...}'`` (and urllib) label a JSON body as a form; MLflow's routes read it as JSON
    whatever its type. The NUL check parses such a form from a copy of the body, not from the stream
    (it once left the view an empty body: the Xet grant tests got 400s)."""
    headers = {**world.headers("owner"), "Content-Type": "application/x-www-form-urlencoded"}
    r = client.post(_mlflow(world, "registered-models/create"), data=b'{"name": "sent-as-a-form"}', headers=headers)
    assert r.status_code == 200 and r.json["registered_model"]["name"] == "sent-as-a-form", r.data


def test_a_json_body_sent_as_a_form_may_hold_percent_00_as_text(client: FlaskClient, world: World) -> None:
    """Its ``%00`` is text in JSON: the form check applies to the routes that read a form (it refused
    this body, which no route reads as a form, for a NUL it does not hold)."""
    headers = {**world.headers("owner"), "Content-Type": "application/x-www-form-urlencoded"}
    body = b'{"name": "m-percent", "description": "a%00b 100%00"}'
    r = client.post(_mlflow(world, "registered-models/create"), data=body, headers=headers)
    assert r.status_code == 200, r.data
    model = client.get(_mlflow(world, "registered-models/get"), query_string={"name": "m-percent"}, headers=world.headers("owner"))
    assert model.json["registered_model"]["description"] == "a%00b 100%00", model.data


def test_an_encoded_percent_before_00_is_text(client: FlaskClient, world: World) -> None:
    url = f"/api/v4/projects/{world.projects['private']}"
    r = client.put(url, data={"description": "100%00"}, headers=world.headers("owner"))
    assert r.status_code == 200 and r.json["description"] == "100%00", r.data
    r = client.get(url + "/ml/models?search=100%2500", headers=world.headers("owner"))
    assert r.status_code == 200 and r.json == [], r.data


@pytest.mark.server
def test_a_running_server_answers_a_declared_400_mb_body_at_once(serve: Any) -> None:
    """Through ``modelshelf serve``: the 413 comes back while the client has sent one byte of 400 MB."""
    server = serve()
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        started = time.perf_counter()
        sock.sendall(
            b"POST /api/v4/projects/1/ml/mlflow/api/2.0/mlflow/runs/search HTTP/1.1\r\n"
            + f"Host: {host}\r\nContent-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n".encode()
            + b"{"
        )
        answer = sock.recv(65536)
        elapsed = time.perf_counter() - started
        while not answer.endswith(b"}") and (more := sock.recv(65536)):  # the body may follow the head
            answer += more
    print(f"413 for a declared 400 MB body in {elapsed * 1000:.1f} ms")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"MAX_REQUEST_BODY" in answer
    # A server that waited for the body would answer only at its 60 s body timeout; milliseconds on a
    # quiet machine, seconds when the machine is loaded (it once took over 1 s at load 10).
    assert elapsed < 10.0
