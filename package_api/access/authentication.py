"""Who is asking: credentials are read off a request, then each authenticator is asked in turn.

A request may carry a secret in several places (GitLab's five styles). ``credentials_from``
lists them; an ``Authenticator`` turns one into a ``Principal`` (``package_api.identity``) or
passes: personal and project access tokens, deploy tokens, CI job tokens, the project CI token and
the browser session, each told apart by its prefix. A secret that no authenticator accepts is a
401, even where anonymous access would have worked, as in GitLab. Accepting a token stamps its
``last_used_at`` and commits the stamp (the token services' ``find_active``), so resolving a caller
is the one write a request may make before its handler runs. On a route that names a project, a
personal, project or CI job token is read with that project in one statement (``find_with_project``),
which the request's ``Policy`` then judges it by.

The browser session is one more credential: Flask's signed session cookie holds the user id and a
fingerprint of the account (``session_fingerprint``: signing out, a new password, "sign out
everywhere" (each bumps the user's ``session_generation``), or a new user that reuses a deleted
user's id, ends older sessions, copies of the cookie included), and ``SessionAuthenticator`` turns them into a principal
with the full ``api`` scope. A cookie is sent by the browser whatever page made the request, so every
state-changing request that relies on it must also present the session's CSRF token
(``check_csrf``): the pages accept it as a form field or the ``X-CSRF-Token`` header, the API
only as the header (GitLab's UI calls its API the same way). A request that carries a token is
never judged by its cookie.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, overload

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import contains_eager

from package_api.access.ci_jobs import JobService
from package_api.access.models import CiJob, PersonalAccessToken, Project, User
from package_api.access.policy import Policy, judged_columns, judged_params
from package_api.access.tokens import (
    CI_TOKEN_PREFIX,
    DEPLOY_TOKEN_PREFIX,
    JOB_TOKEN_PREFIX,
    TOKEN_PREFIX,
    CiTokenService,
    DeployTokenService,
    TokenService,
    digest,
)
from package_api.access.users import UserService
from package_api.db import DbSession, prepared
from package_api.errors import CredentialsRefused, InvalidCsrfToken
from package_api.identity import ANONYMOUS, COMMAND_LINE, Actor, Principal, PrincipalKind

#: Keys of the signed session cookie.
SESSION_USER_ID = "user_id"
SESSION_FINGERPRINT = "user_fingerprint"
SESSION_CSRF_TOKEN = "csrf_token"
#: Where a request presents the CSRF token: this header (fetch, API) or this form field (pages).
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
#: Methods that change nothing, so need no CSRF token (RFC 9110 safe methods).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class RequestHeaders(Protocol):
    """A request's headers as credentials are read from them: werkzeug's ``Headers`` (no
    ``Mapping``), or a plain mapping."""

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, default: str, /) -> str: ...


@dataclass(frozen=True)
class Credential:
    """A secret and where the request carried it."""

    source: str  # private-token | bearer | basic | query | job-token | deploy-token | ci-token | session
    secret: str
    username: str | None = None


def credentials_from(headers: RequestHeaders, args: Mapping[str, str]) -> list[Credential]:
    """List every credential the request carries, in GitLab's order of precedence."""
    found: list[Credential] = []
    if token := headers.get("PRIVATE-TOKEN"):
        found.append(Credential("private-token", token.strip()))
    if token := headers.get("JOB-TOKEN"):
        found.append(Credential("job-token", token.strip()))
    if token := headers.get("DEPLOY-TOKEN"):
        found.append(Credential("deploy-token", token.strip()))
    if token := headers.get("CI-TOKEN"):
        found.append(Credential("ci-token", token.strip()))
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(Credential("bearer", value.strip()))
    elif scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsRefused("malformed Basic credentials") from None
        username, _, password = decoded.partition(":")
        found.append(Credential("basic", password, username))
    if token := args.get("private_token"):
        found.append(Credential("query", token.strip()))
    if token := args.get("job_token"):
        found.append(Credential("job-token", token.strip()))
    return found


#: The project a request names (``projects.reference``) and the policy that will judge the caller
#: there: an authenticator may read it in the same statement as the credential (``Policy.prime``).
Judging = tuple[Policy, "int | tuple[str, str]"]


class Authenticator(Protocol):
    def authenticate(self, credential: Credential, judging: Judging | None = None) -> Principal | None:
        """Return the principal this credential proves, or ``None`` if it is not this kind's."""
        ...


class PersonalAccessTokenAuthenticator:
    """Personal access tokens, and project access tokens (the token of a project's bot user)."""

    SOURCES = frozenset({"private-token", "bearer", "basic", "query"})

    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens

    def authenticate(self, credential: Credential, judging: Judging | None = None) -> Principal | None:
        if credential.source not in self.SOURCES or not credential.secret.startswith(TOKEN_PREFIX):
            return None
        if judging is None:
            row = self.tokens.find_active(credential.secret)
        else:
            row = find_with_project(self.tokens.session, PersonalAccessToken, credential.secret, *judging, self.tokens.accept)
        if row is None:
            return None
        kind = PrincipalKind.PROJECT_ACCESS_TOKEN if row.user.is_bot else PrincipalKind.PERSONAL_ACCESS_TOKEN
        # A bot's powers end at its project's edge: elsewhere it is no more than an anonymous caller.
        return Principal(
            user=row.user, scopes=frozenset(row.scope_list), kind=kind, project_id=row.user.bot_project_id, token_id=row.id
        )


#: A row found by its secret (a personal access token or a CI job: their ``user`` is read with them).
Holder = TypeVar("Holder", PersonalAccessToken, CiJob)


def find_with_project(
    session: DbSession,
    model: type[Holder],
    secret: str,
    policy: Policy,
    ref: int | tuple[str, str],
    accept: Callable[[Holder], Holder | None],
) -> Holder | None:
    """The row of ``model`` whose secret is ``secret``, with its user, and, in the same statement, the
    project ``ref`` names with what ``policy`` judges that user there by (``judged_columns``): the
    caller and the project of a request in one statement, not two. Return what ``accept`` (the
    service's own checks and stamp, as its ``find_active``) makes of the row; once it accepts it,
    ``policy`` is told the project (``Policy.prime``). ``None`` when no row with a user has that
    secret, or ``accept`` refuses it."""
    key = (model, tuple(policy.rules.features), isinstance(ref, int))
    statement = _WITH_PROJECT.get(key)
    if statement is None:
        statement = _WITH_PROJECT[key] = _with_project(*key)
    wanted = digest(secret)
    row = session.execute(statement, {"digest": wanted, **judged_params(ref)}).first()
    # The lookup is by digest; compare again in constant time (as ``tokens.find_by_digest``).
    if row is None or not hmac.compare_digest(row[0].token_digest, wanted):
        return None
    holder, project, *values = row
    user_id = holder.user.id
    accepted = accept(holder)
    if accepted is not None:
        policy.prime(user_id, ref, project, values)
    return accepted


#: ``find_with_project``'s statements, one per shape (the table, the features registered, the project
#: by id or by path), built once: they run on every request.
_WITH_PROJECT: dict[tuple[type[Any], tuple[str, ...], bool], Select[Any]] = {}


def _with_project(model: type[Holder], features: tuple[str, ...], by_id: bool) -> Select[Any]:
    """The row of ``model`` of ``:digest`` with its user (none without one), and the project the
    parameters of ``judged_params`` name (``None`` when there is none) with the user's role there and
    ``features``' levels."""
    columns, where = judged_columns(features, user=User.id, by_id=by_id)
    user: Any = model.user  # both tables' ``user`` relationship (a CI job's may be empty: no row then)
    return prepared(
        select(model, Project, *columns)
        .join(user)
        .options(contains_eager(user))
        .outerjoin(Project, where)
        .where(model.token_digest == bindparam("digest"))
    )


class DeployTokenAuthenticator:
    """``DEPLOY-TOKEN: <token>``, Basic ``<deploy token username>:<token>``, or ``Authorization: Bearer
    <token>`` (the only way ``huggingface_hub`` and the MLflow client send a token; the prefix tells it
    from the other kinds)."""

    SOURCES = frozenset({"deploy-token", "basic", "bearer"})

    def __init__(self, tokens: DeployTokenService) -> None:
        self.tokens = tokens

    def authenticate(self, credential: Credential, judging: Judging | None = None) -> Principal | None:
        if credential.source not in self.SOURCES or not credential.secret.startswith(DEPLOY_TOKEN_PREFIX):
            return None
        username = credential.username if credential.source == "basic" else None
        row = self.tokens.find_active(credential.secret, username)
        if row is None:
            return None
        return Principal(
            scopes=frozenset(row.scope_list),
            kind=PrincipalKind.DEPLOY_TOKEN,
            project_id=row.project_id,
            token_id=row.id,
            name=row.username,
        )


class JobTokenAuthenticator:
    """``JOB-TOKEN: <token>`` or ``?job_token=<token>``, Basic ``gitlab-ci-token:<token>`` (what
    GitLab CI jobs send), or ``Authorization: Bearer <token>`` (what the MLflow client sends with the
    job token as ``MLFLOW_TRACKING_TOKEN``, which GitLab accepts). Wherever it comes from, a job token
    has the same rights: its project's packages and models, with its user's role there."""

    BASIC_USERNAME = "gitlab-ci-token"
    SOURCES = frozenset({"job-token", "basic", "bearer"})

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def authenticate(self, credential: Credential, judging: Judging | None = None) -> Principal | None:
        if credential.source == "basic" and credential.username != self.BASIC_USERNAME:
            return None
        if credential.source not in self.SOURCES or not credential.secret.startswith(JOB_TOKEN_PREFIX):
            return None
        if judging is None:
            job = self.jobs.find_active(credential.secret)
        else:
            job = find_with_project(self.jobs.session, CiJob, credential.secret, *judging, self.jobs.accept)
        if job is None or job.user is None:
            return None
        return Principal(
            user=job.user,
            scopes=frozenset({"api"}),
            kind=PrincipalKind.JOB_TOKEN,
            project_id=job.project_id,
            token_id=job.id,
        )


class CiTokenAuthenticator:
    """A project's CI token (``Authorization: Bearer``, ``PRIVATE-TOKEN`` or ``CI-TOKEN``): it may only
    register and finish that project's jobs."""

    SOURCES = frozenset({"private-token", "bearer", "ci-token"})

    def __init__(self, tokens: CiTokenService) -> None:
        self.tokens = tokens

    def authenticate(self, credential: Credential, judging: Judging | None = None) -> Principal | None:
        if credential.source not in self.SOURCES or not credential.secret.startswith(CI_TOKEN_PREFIX):
            return None
        project = self.tokens.find_project(credential.secret)
        if project is None:
            return None
        return Principal(kind=PrincipalKind.CI_TOKEN, project_id=project.id, name=f"{project.full_path} CI")


class SessionAuthenticator:
    """The browser session: the user id a signed cookie holds, with the full ``api`` scope."""

    SOURCE = "session"

    def __init__(self, users: UserService) -> None:
        self.users = users

    def authenticate(self, credential: Credential, judging: Judging | None = None) -> Principal | None:
        if credential.source != self.SOURCE:
            return None
        user_id, _, fingerprint = credential.secret.partition(":")
        user = self.users.find_by_id(int(user_id)) if user_id.isdigit() else None
        # The cookie is signed, so a mismatch is a session the account has outlived (deleted, signed
        # out, its password changed): treat it as signed out rather than as a bad credential.
        if user is None or not hmac.compare_digest(session_fingerprint(user), fingerprint):
            return ANONYMOUS
        return Principal(user=user, scopes=frozenset({"api"}), kind=PrincipalKind.SESSION)


class CredentialResolver:
    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = list(authenticators)

    def resolve(self, credentials: Sequence[Credential], *, judging: Judging | None = None) -> Principal:
        """Return the principal of the first credential; raise ``CredentialsRefused`` if it is invalid.
        ``judging``: the project the request names, which an authenticator may read with the credential."""
        if not credentials:
            return ANONYMOUS
        credential = credentials[0]
        for authenticator in self.authenticators:
            principal = authenticator.authenticate(credential, judging)
            if principal is not None:
                return principal
        raise CredentialsRefused("invalid token")


def default_resolver(session: DbSession, *, actor: Actor = COMMAND_LINE) -> CredentialResolver:
    """The resolver every surface uses. ``actor``: who the audit trail says made what resolving
    changes (a leaked rotated token revokes its family: ``TokenService.revoke_family``), the
    request's anonymous caller from its address."""
    return CredentialResolver(
        [
            PersonalAccessTokenAuthenticator(TokenService(session, actor=actor)),
            DeployTokenAuthenticator(DeployTokenService(session)),
            JobTokenAuthenticator(JobService(session)),
            CiTokenAuthenticator(CiTokenService(session)),
            SessionAuthenticator(UserService(session)),
        ]
    )


# -- browser sessions -----------------------------------------------------------------------------


def session_fingerprint(user: User) -> str:
    """What a session remembers of the account besides its id, to notice that it has changed."""
    # The password hash is salted, so even a re-created user of the same name differs; the session
    # generation is bumped by signing out, a new password and "sign out everywhere".
    identity = f"{user.id}:{user.username}:{user.password_hash or ''}:{user.session_generation or 0}"
    return hashlib.sha256(identity.encode()).hexdigest()


def session_credential(cookie: Mapping[str, Any]) -> Credential | None:
    """The signed-in browser session as a credential, or ``None`` when nobody is signed in."""
    user_id = cookie.get(SESSION_USER_ID)
    if user_id is None:
        return None
    return Credential(SessionAuthenticator.SOURCE, f"{user_id}:{cookie.get(SESSION_FINGERPRINT, '')}")


def api_credentials(
    headers: RequestHeaders, args: Mapping[str, str], cookie: Mapping[str, Any], method: str
) -> list[Credential]:
    """The credentials of an API request: its tokens, or failing those its browser session.

    Raise ``InvalidCsrfToken`` when the session would authorise a state-changing request that lacks
    the ``X-CSRF-Token`` header (a form on another site can send the cookie, never the header).
    """
    found = credentials_from(headers, args)
    if found:
        return found
    browser = session_credential(cookie)
    if browser is None:
        return []
    check_csrf(cookie, method, headers.get(CSRF_HEADER))
    return [browser]


def csrf_token(cookie: MutableMapping[str, Any]) -> str:
    """This session's CSRF token, issued on first use (anonymous sessions get one too: the
    sign-in form needs it)."""
    token = cookie.get(SESSION_CSRF_TOKEN)
    if not token:
        token = cookie[SESSION_CSRF_TOKEN] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf(cookie: Mapping[str, Any], method: str, presented: str | None) -> None:
    """Raise ``InvalidCsrfToken`` unless ``method`` is safe or ``presented`` is the session's token."""
    if method.upper() in SAFE_METHODS:
        return
    expected = cookie.get(SESSION_CSRF_TOKEN)
    if not expected or not presented or not hmac.compare_digest(str(expected), presented):
        raise InvalidCsrfToken()


def start_session(cookie: MutableMapping[str, Any], user: User) -> None:
    """Sign ``user`` in: a fresh session, so nothing from before (a CSRF token included) carries over."""
    cookie.clear()
    cookie[SESSION_USER_ID] = user.id
    cookie[SESSION_FINGERPRINT] = session_fingerprint(user)
    cookie[SESSION_CSRF_TOKEN] = secrets.token_urlsafe(32)


def end_session(cookie: MutableMapping[str, Any]) -> None:
    """Sign out: forget everything the session held."""
    cookie.clear()
