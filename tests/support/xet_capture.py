"""The real Xet client (``hf_xet``) uploading to a capturing CAS: a small HTTP server on 127.0.0.1,
in a thread of the test process, that hands out a token, answers deduplication queries with the
shards a test gives it ("unknown" otherwise) and keeps the xorbs and shards it receives, so tests can check our reading of the bytes
the client really sends."""
from __future__ import annotations

import json
import random
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Capture:
    url: str
    #: Xorbs by the hash (hex) they were uploaded under, and shards in the order received.
    xorbs: dict[str, bytes] = field(default_factory=dict)
    shards: list[bytes] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: Global deduplication answers: a shard for a chunk hash (hex); other chunks are unknown.
    dedup: dict[str, bytes] = field(default_factory=dict)


def _handler(capture: Capture) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _body(self) -> bytes:
            if "Content-Length" in self.headers:
                return self.rfile.read(int(self.headers["Content-Length"]))
            out = b""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    out += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
            return out

        def _send(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            capture.requests.append(("GET", self.path))
            if self.path.startswith("/token"):
                token = {"accessToken": "capture", "exp": int(time.time()) + 3600, "casUrl": capture.url}
                self._send(200, json.dumps(token).encode())
            elif self.path.startswith("/v1/chunks/") and self.path.rsplit("/", 1)[-1] in capture.dedup:
                self._send(200, capture.dedup[self.path.rsplit("/", 1)[-1]])
            else:  # global deduplication queries for chunks no shard knows
                self._send(404, b"{}")

        def do_HEAD(self) -> None:  # noqa: N802
            capture.requests.append(("HEAD", self.path))
            self._send(404)

        def do_POST(self) -> None:  # noqa: N802
            body = self._body()
            capture.requests.append(("POST", self.path))
            if self.path.startswith("/v1/xorbs/"):
                capture.xorbs[self.path.rsplit("/", 1)[-1]] = body
                self._send(200, b'{"was_inserted": true}')
            elif self.path == "/v1/shards":
                capture.shards.append(body)
                self._send(200, b'{"result": 1}')
            elif self.path == "/v1/telemetry":
                self._send(200, b"{}")
            else:  # /v2/shards, /v1/xorb-grants/...: the client falls back to the v1 routes
                self._send(404, b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def capturing_cas() -> Iterator[Capture]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Capture("")))
    capture = Capture(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def upload(capture: Capture, paths: list[Path]) -> list[Any]:
    """Upload files with hf_xet, as huggingface_hub does (SHA-256 computed by the client); return
    each file's XetFileInfo (``.hash``, ``.sha256``, ``.file_size``)."""
    import hf_xet

    session = hf_xet.XetSession()
    with session.new_upload_commit(token_refresh_url=f"{capture.url}/token") as commit:
        handles = [commit.start_upload_file(str(p), sha256=hf_xet.COMPUTE_SHA256) for p in paths]
    return [h.result().xet_info for h in handles]


def sample_files(directory: Path, seed: int = 18) -> list[Path]:
    """Write three small files the client compresses three ways: random bytes (stored as they are),
    float32 weights (byte-grouped, then LZ4) and text (LZ4); 190 KB in all."""
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"etaoinshrdlu") for _ in range(rng.randint(2, 9))) for _ in range(300)]
    contents = {
        "random.bin": rng.randbytes(100_000),
        "weights.bin": b"".join(struct.pack("<f", rng.gauss(0, 0.02)) for _ in range(15_000)),
        "notes.txt": b" ".join(rng.choice(words) for _ in range(5_000))[:30_000],
    }
    paths = []
    for name, data in contents.items():
        (directory / name).write_bytes(data)
        paths.append(directory / name)
    return paths
