"""A webhook receiver on 127.0.0.1 for the tests: it keeps every request (headers, body, when), and
answers with the status ``status_for`` gives (503 for a while, then 200...), after ``delay`` seconds.
A request whose body stops short of its ``Content-Length`` (a sender killed mid-request) is not a
delivery: it is counted in ``cut``, not kept."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    at: float
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    status_for: Callable[[float], int] = lambda _elapsed: 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    cut: int = 0  # requests whose sender went away before the whole body came: not kept in ``received``

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:  # the sender went away mid-body (killed): no delivery, nothing to answer
                    receiver.cut += 1
                    self.close_connection = True
                    return
                body = raw.decode()
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.status_for(time.monotonic() - receiver.started)
                receiver.received.append(Received(dict(self.headers.items()), body, time.monotonic(), status))
                answer = b'{"ok": true}' if status < 300 else b"busy"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except ConnectionError:  # the sender gave up waiting (its time-out): what a slow receiver sees
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.accepted()):
                return self.accepted()
            time.sleep(0.1)
        raise AssertionError(f"the receiver got {len(self.accepted())} accepted deliveries: not what was waited for")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verifies(received: Received, secret: str, max_age: float = 300.0) -> bool:
    """MLflow's documented check of a delivery (its docs' verification recipe, written here from the
    scheme, as MLflow ships no verification function): ``X-MLflow-Signature`` is ``v1,`` and the
    base64 HMAC-SHA256 of ``<X-MLflow-Delivery-Id>.<X-MLflow-Timestamp>.<raw body>`` under the secret,
    and the timestamp is recent."""
    headers = {k.lower(): v for k, v in received.headers.items()}
    signature, delivery_id, stamp = (headers.get(h, "") for h in ("x-mlflow-signature", "x-mlflow-delivery-id", "x-mlflow-timestamp"))
    if not signature.startswith("v1,") or not stamp.isdigit() or abs(time.time() - int(stamp)) > max_age:
        return False
    expected = hmac.new(secret.encode(), f"{delivery_id}.{stamp}.{received.body}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(signature[3:], base64.b64encode(expected).decode())
