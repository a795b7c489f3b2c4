"""Sending one delivery: where to (the address checked against loopback, private and link-local
ranges when it is sent, and then connected to, so that DNS cannot swap it in between), signed as
MLflow signs (``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">``),
with short time-outs, and what came back."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from package_api.errors import InvalidInput

SIGNATURE = "X-MLflow-Signature"
TIMESTAMP = "X-MLflow-Timestamp"
DELIVERY_ID = "X-MLflow-Delivery-Id"
EVENT = "X-Modelshelf-Event"
#: Characters of an answer's body kept with its attempt.
RESPONSE_EXCERPT = 1000


class RefusedTarget(InvalidInput):
    """A hook's URL that may not be called: not http(s), or an address in a refused range."""


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """``X-MLflow-Signature``'s value: ``v1,`` and the base64 HMAC-SHA256 of ``<id>.<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def check_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path?query)`` of an http(s) URL; raise ``RefusedTarget``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedTarget(f"url is invalid: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("url must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise RefusedTarget("url must not carry credentials (use the hook's secret)")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), target


def refused_reason(address: str) -> str | None:
    """Why ``address`` is refused (loopback, private, link-local...), or ``None``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, bad in (
        ("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("private", ip.is_private),
        ("reserved", ip.is_reserved), ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
    ):
        if bad:
            return reason
    return None


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for ``host``: the first one it resolves to; raise ``RefusedTarget``
    when any of its addresses is in a refused range (unless ``allow_private``) or it resolves to none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedTarget(f"{host} does not resolve: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise RefusedTarget(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refused_reason(address)
            if reason is not None:
                raise RefusedTarget(
                    f"{host} resolves to {address}, a {reason} address (WEBHOOK_ALLOW_PRIVATE_TARGETS allows it)"
                )
    return addresses[0]


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to ``address``, whatever ``host`` (the ``Host`` header) resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedTLS(_Pinned):
    """HTTPS to ``address``, the certificate checked against ``host``."""

    def connect(self) -> None:
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


@dataclass
class Outcome:
    status: int | None
    latency_ms: float
    response: str = ""
    error: str = ""
    address: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send(
    url: str, body: str, headers: dict[str, str], *, secret: str, delivery_id: str, timeout: float, allow_private: bool
) -> Outcome:
    """POST ``body`` to ``url`` once, signed with ``secret`` (if any) under ``delivery_id``."""
    started = time.monotonic()
    address = ""
    try:
        scheme, host, port, target = check_url(url)
        address = resolve(host, port, allow_private=allow_private)
        timestamp = str(int(time.time()))
        sent = {"Content-Type": "application/json", DELIVERY_ID: delivery_id, TIMESTAMP: timestamp, **headers}
        if secret:
            sent[SIGNATURE] = sign(secret, delivery_id, timestamp, body)
        kind = _PinnedTLS if scheme == "https" else _Pinned
        connection = kind(host, port, address, timeout)
        try:
            connection.request("POST", target, body=body.encode(), headers=sent)
            answer = connection.getresponse()
            text = answer.read(RESPONSE_EXCERPT * 4).decode("utf-8", "replace")[:RESPONSE_EXCERPT]
            return Outcome(answer.status, _ms(started), text, "", address)
        finally:
            connection.close()
    except RefusedTarget as exc:
        return Outcome(None, _ms(started), "", str(exc), address)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, _ms(started), "", f"{type(exc).__name__}: {exc}"[:1000], address)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
