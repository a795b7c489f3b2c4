"""Webhook secrets at rest: each hook's secret is stored encrypted (Fernet: AES-128-CBC and
HMAC-SHA256, from ``cryptography``) under a key derived from the instance's ``SECRET_KEY`` with
HKDF-SHA256, so a copy of the database (a backup, a replica, a dump attached to a ticket) does not
give away the keys receivers verify signatures with. The secret is decrypted only where a delivery is
signed (the dispatcher's send, a Test), never to be shown: pages and APIs say only whether a hook has
one.

Keys: ``SECRET_KEY`` encrypts; it and each of ``SECRET_KEY_FALLBACKS`` decrypt (Flask's rotation
setting, which the session cookie honours too). A secret that none of them opens (``SECRET_KEY``
changed without keeping the old one as a fallback) raises ``UnreadableSecret``: its deliveries fail
with that message until a Maintainer sets the secret again. After a rotation, ``modelshelf admin
reencrypt-webhook-secrets`` encrypts every stored secret with the new key, so the old one can go.
docs/webhooks.md, "Secrets at rest".
"""
from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask

from package_api.errors import ModelshelfError

#: HKDF's context: a key for this use only, never the session cookie's (change it and every stored
#: secret is unreadable: a new scheme takes a data migration).
CONTEXT = b"modelshelf webhook secrets v1"
UNREADABLE = (
    "the hook's secret cannot be decrypted with this instance's SECRET_KEY (nor SECRET_KEY_FALLBACKS):"
    " set the secret again"
)


class UnreadableSecret(ModelshelfError):
    """A stored secret that no key of this instance decrypts."""

    def __init__(self) -> None:
        super().__init__(UNREADABLE)


def derive(secret_key: str) -> bytes:
    """The Fernet key of ``secret_key`` (32 bytes from HKDF-SHA256, URL-safe base64)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CONTEXT).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, secret_key: str, fallbacks: Sequence[str] = ()) -> None:
        if not secret_key:
            raise ValueError("SECRET_KEY is empty: webhook secrets cannot be encrypted")
        self._fernet = MultiFernet([Fernet(derive(key)) for key in (secret_key, *fallbacks) if key])

    @classmethod
    def of(cls, app: Flask) -> SecretBox:
        return cls(str(app.config["SECRET_KEY"]), [str(k) for k in app.config.get("SECRET_KEY_FALLBACKS") or ()])

    def seal(self, secret: str) -> str:
        """``secret`` encrypted (a Fernet token, ASCII); the empty secret stays empty (no secret)."""
        return self._fernet.encrypt(secret.encode()).decode("ascii") if secret else ""

    def open(self, sealed: str) -> str:
        """The secret ``sealed`` holds; raise ``UnreadableSecret`` if no key of ours opens it."""
        if not sealed:
            return ""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise UnreadableSecret() from None

    def reseal(self, sealed: str) -> str:
        """``sealed`` encrypted again with the first key (opened with any); raise ``UnreadableSecret``."""
        if not sealed:
            return ""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise UnreadableSecret() from None
