"""Who is asking: credentials are read off a request, then each authenticator is asked in turn.

A request may carry a secret in several places (GitLab's five styles). ``credentials_from``
lists them; an ``Authenticator`` turns one into a ``Principal`` or passes. Personal access tokens
are the first authenticator; job tokens and deploy tokens slot in as more authenticators with no
change to the handlers. A secret that no authenticator accepts is a 401, even where anonymous
access would have worked, as in GitLab.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from .errors import Unauthorized
from .models import User
from .tokens import TokenService


@dataclass(frozen=True)
class Credential:
    """A secret and where the request carried it."""

    source: str  # private-token | bearer | basic | query | job-token | deploy-token
    secret: str
    username: str | None = None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``user`` is ``None`` for anonymous requests."""

    user: User | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    kind: str = "anonymous"  # anonymous | personal_access_token | session | ...

    @property
    def is_anonymous(self) -> bool:
        return self.user is None

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user.is_admin)

    @property
    def can_write(self) -> bool:
        """Whether the token scopes allow changes (``read_api`` does not)."""
        return "api" in self.scopes


ANONYMOUS = Principal()


def credentials_from(headers: Mapping[str, str], args: Mapping[str, str]) -> list[Credential]:
    """List every credential the request carries, in GitLab's order of precedence."""
    found: list[Credential] = []
    if token := headers.get("PRIVATE-TOKEN"):
        found.append(Credential("private-token", token.strip()))
    if token := headers.get("JOB-TOKEN"):
        found.append(Credential("job-token", token.strip()))
    if token := headers.get("DEPLOY-TOKEN"):
        found.append(Credential("deploy-token", token.strip()))
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(Credential("bearer", value.strip()))
    elif scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        username, _, password = decoded.partition(":")
        found.append(Credential("basic", password, username))
    if token := args.get("private_token"):
        found.append(Credential("query", token.strip()))
    return found


class Authenticator(Protocol):
    def authenticate(self, credential: Credential) -> Principal | None:
        """Return the principal this credential proves, or ``None`` if it is not this kind's."""
        ...


class PersonalAccessTokenAuthenticator:
    SOURCES = frozenset({"private-token", "bearer", "basic", "query"})

    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens

    def authenticate(self, credential: Credential) -> Principal | None:
        if credential.source not in self.SOURCES:
            return None
        row = self.tokens.find_active(credential.secret)
        if row is None:
            return None
        return Principal(user=row.user, scopes=frozenset(row.scope_list), kind="personal_access_token")


class CredentialResolver:
    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = list(authenticators)

    def resolve(self, credentials: Sequence[Credential]) -> Principal:
        """Return the principal of the first credential; raise ``Unauthorized`` if it is invalid."""
        if not credentials:
            return ANONYMOUS
        credential = credentials[0]
        for authenticator in self.authenticators:
            principal = authenticator.authenticate(credential)
            if principal is not None:
                return principal
        raise Unauthorized("invalid token")


def default_resolver(session: Session) -> CredentialResolver:
    """The resolver every API surface uses."""
    return CredentialResolver([PersonalAccessTokenAuthenticator(TokenService(session))])
