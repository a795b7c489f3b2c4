"""Personal access tokens: issued once, stored only as a SHA-256 digest, revocable, expiring."""
from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import utcnow
from .errors import InvalidParameter, NotFound
from .models import PersonalAccessToken, User

SCOPES = ("api", "read_api")
#: Like GitLab's ``glpat-``: lets secret scanners and people recognise a leaked token.
TOKEN_PREFIX = "mspat-"


def digest(token: str) -> str:
    """The stored form of a token. Tokens carry 256 random bits, so a plain hash is enough."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class TokenService:
    def __init__(self, session: Session, clock: Callable[[], datetime.datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def create(
        self, user: User, name: str, scopes: Iterable[str], expires_at: datetime.date | None = None
    ) -> tuple[PersonalAccessToken, str]:
        """Issue a token; return its row and the secret, which is never retrievable again."""
        scope_list = sorted(set(scopes))
        if not scope_list or any(s not in SCOPES for s in scope_list):
            raise InvalidParameter("scopes", "does not have a valid value")
        if expires_at is not None and expires_at <= self.clock().date():
            raise InvalidParameter("expires_at", "must be in the future")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = PersonalAccessToken(
            user_id=user.id,
            name=name or "token",
            token_digest=digest(secret),
            scopes=",".join(scope_list),
            expires_at=expires_at,
        )
        self.session.add(row)
        self.session.flush()
        return row, secret

    def find_active(self, secret: str) -> PersonalAccessToken | None:
        """Return the live token with this secret, stamping ``last_used_at``; ``None`` otherwise."""
        wanted = digest(secret)
        row = self.session.scalar(select(PersonalAccessToken).where(PersonalAccessToken.token_digest == wanted))
        # The lookup is by digest; compare again in constant time so timing says nothing either way.
        if row is None or not hmac.compare_digest(row.token_digest, wanted):
            return None
        now = self.clock()
        if row.revoked or (row.expires_at is not None and row.expires_at <= now.date()):
            return None
        # Stamp at most once a minute: a busy CI token must not turn every download into a write.
        if row.last_used_at is None or now - row.last_used_at > datetime.timedelta(minutes=1):
            row.last_used_at = now
        return row

    def revoke(self, token_id: int, user: User) -> None:
        row = self.session.get(PersonalAccessToken, token_id)
        if row is None or (row.user_id != user.id and not user.is_admin):
            raise NotFound("Token")
        row.revoked = True
