"""The Xet CAS service's access tokens: what ``xet-read-token`` and ``xet-write-token`` hand out and
every CAS request brings back (``Authorization: Bearer``).

A token is not stored: it is signed with the instance's secret key (like the LFS transfer URLs) and
names the project of the repo it was asked for, whether it writes, and who asked (for the audit trail
and the files it records). It works for ``TOKEN_SECONDS``; the client asks for a new one (its refresh
route is the token endpoint) a minute before. A write token is handed only to a caller who may commit
to the repo, a read token to one who may read it; the token is checked on every CAS call."""
from __future__ import annotations

import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from package_api.plugin_api import Forbidden, NotFound, Principal, PrincipalKind, Unauthorized, User

#: How long a CAS token works (the client renews it 60 s before it expires).
TOKEN_SECONDS = 900
SALT = "modelshelf-xet-cas-token"
FETCH_SALT = "modelshelf-xet-xorb-fetch"
GRANT_SALT = "modelshelf-xet-xorb-grant"


@dataclass(frozen=True)
class CasGrant:
    """What a CAS token allows: reading (and with ``write``, adding to) project ``project_id``'s Xet
    store, for the caller who asked (``user_id``: ``None`` for a token without a user)."""

    project_id: int
    write: bool
    user_id: int | None
    kind: str = PrincipalKind.ANONYMOUS.value
    token_id: int | None = None
    name: str = ""

    @staticmethod
    def of(principal: Principal, project_id: int, *, write: bool) -> CasGrant:
        user_id = principal.user.id if principal.user is not None else None
        return CasGrant(project_id, write, user_id, principal.kind.value, principal.token_id, principal.name)

    def principal(self, user: User | None) -> Principal:
        """Who the token acts for, confined to the project (as the token request was judged)."""
        return Principal(
            user=user, scopes=frozenset({"api"}), kind=PrincipalKind(self.kind), project_id=self.project_id,
            token_id=self.token_id, name=self.name,
        )


class CasTokens:
    def __init__(self, secret_key: str | bytes, seconds: int = TOKEN_SECONDS) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.fetches = URLSafeTimedSerializer(secret_key, salt=FETCH_SALT)
        self.grants = URLSafeTimedSerializer(secret_key, salt=GRANT_SALT)
        self.seconds = seconds

    def sign(self, grant: CasGrant) -> tuple[str, int]:
        """The token and when it expires (seconds since the epoch)."""
        g = grant
        token = self.serializer.dumps([g.project_id, g.write, g.user_id, g.kind, g.token_id, g.name])
        return token, int(time.time()) + self.seconds

    def check(self, token: str, *, write: bool = False) -> CasGrant:
        """Raise ``Unauthorized`` for a token that is forged, damaged or expired, ``Forbidden`` for a read
        token where writing is asked."""
        try:
            project_id, may_write, user_id, kind, token_id, name = self.serializer.loads(token, max_age=self.seconds)
            grant = CasGrant(
                int(project_id), bool(may_write), None if user_id is None else int(user_id), PrincipalKind(kind).value,
                None if token_id is None else int(token_id), str(name),
            )
        except (BadSignature, ValueError, TypeError):
            raise Unauthorized("This Xet token is invalid or has expired: ask the Hub API for a new one") from None
        if write and not grant.write:
            raise Forbidden("This Xet token reads only: uploads take a token from xet-write-token")
        return grant

    # -- fetch URLs: where the client reads a xorb's byte ranges (it sends no token there) ---------------

    def sign_fetch(self, project_id: int, xorb: str) -> str:
        return self.fetches.dumps([project_id, xorb])

    def check_fetch(self, token: str) -> tuple[int, str]:
        """The project and xorb a fetch URL opens; raise ``Unauthorized`` for a bad or expired one."""
        try:
            project_id, xorb = self.fetches.loads(token, max_age=self.seconds)
            return int(project_id), str(xorb)
        except (BadSignature, ValueError, TypeError):
            raise Unauthorized("This xorb URL is invalid or has expired: ask for the reconstruction again") from None

    # -- xorb upload grants: the id the client commits a direct upload with ----------------------------

    def sign_grant(self, project_id: int, xorb: str, length: int, nonce: str, handle: str) -> str:
        return self.grants.dumps([project_id, xorb, length, nonce, handle])

    def check_grant(self, grant_id: str, max_age: int) -> tuple[int, str, int, str, str]:
        """The project, xorb, length, nonce and store handle of a grant; raise ``NotFound`` for a bad or
        expired one (the client then asks for a new grant)."""
        try:
            project_id, xorb, length, nonce, handle = self.grants.loads(grant_id, max_age=max_age)
            return int(project_id), str(xorb), int(length), str(nonce), str(handle)
        except (BadSignature, ValueError, TypeError):
            raise NotFound("This xorb upload grant is invalid or has expired: ask for a new one") from None
