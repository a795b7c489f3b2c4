"""Tokens: personal and project access tokens, deploy tokens, and the project CI token.

Every secret is issued once and stored only as its SHA-256 (``digest``); lookups go by digest and
compare again in constant time. Each kind has its own prefix (like GitLab's ``glpat-``) so that
secret scanners and people recognise a leaked token, and so that the resolver knows which table to
ask. CI job tokens live with their jobs (``package_api.access.ci_jobs``). Creating, revoking and rotating
are recorded in the audit trail here, whichever surface asks, and committed with the change; revoking a
revoked token records nothing. Accepting a token (``find_active``) stamps its ``last_used_at`` and
commits the stamp.

Rotating a personal or project access token revokes it and issues its successor, which names it
(``previous_token_id``): a chain of rotations is a token family. A revoked token of a family that is
used again, to authenticate or to be rotated, revokes the family's live token (``revoke_family``).
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, delete, not_, or_, select
from sqlalchemy.orm import joinedload

from package_api import audit, names
from package_api.access.models import CiJob, DeployToken, Membership, PersonalAccessToken, Project, Role, User
from package_api.db import DbSession, prepared, utcnow
from package_api.errors import InvalidInput, InvalidParameter, NotFound
from package_api.identity import COMMAND_LINE, Actor, Principal, PrincipalKind
from package_api.paging import Page, choice, contains, query_page
from package_api.transactions import committed, unit_of_work

SCOPES = ("api", "read_api")
DEPLOY_SCOPES = ("read_package_registry", "write_package_registry")
TOKEN_PREFIX = "mspat-"
DEPLOY_TOKEN_PREFIX = "msdt-"
CI_TOKEN_PREFIX = "msci-"
JOB_TOKEN_PREFIX = "msjob-"
#: Stamp ``last_used_at`` at most this often: a busy CI token must not turn every download into a write.
STAMP_EVERY = datetime.timedelta(minutes=1)
#: The kinds of principal a personal access token authenticates (a project access token is one too).
OWN_TOKEN_KINDS = frozenset({PrincipalKind.PERSONAL_ACCESS_TOKEN, PrincipalKind.PROJECT_ACCESS_TOKEN})
#: How long a rotated token lives when the rotation names no ``expires_at``: GitLab's week, which it
#: gives wherever tokens must expire (its default, ``require_personal_access_token_expiry``). Tokens
#: need no expiry here, yet a rotation never turns a token that would expire into one that never does.
ROTATED_TOKEN_LIFETIME = datetime.timedelta(weeks=1)


def digest(token: str) -> str:
    """The stored form of a token. Tokens carry 256 random bits, so a plain hash is enough."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


#: The tables whose rows are found by a secret's digest (their ``token_digest``).
TokenRow = TypeVar("TokenRow", PersonalAccessToken, DeployToken, CiJob)


#: ``find_by_digest``'s statements, built once each: a token is looked up on every request, and
#: building the statement cost SQLAlchemy more than running it (the compiled form is cached by shape).
_BY_DIGEST: dict[tuple[type[Any], bool], Any] = {}


def find_by_digest(session: DbSession, model: type[TokenRow], secret: str, *, with_user: bool = False) -> TokenRow | None:
    """The row of ``model`` whose ``token_digest`` is the digest of ``secret``, or ``None``; with
    ``with_user``, its ``user`` loaded in the same query (what the caller reads next)."""
    wanted = digest(secret)
    statement = _BY_DIGEST.get((model, with_user))
    if statement is None:
        statement = prepared(select(model).where(model.token_digest == bindparam("digest")))
        if with_user:  # the tables with a user (personal tokens, CI jobs)
            statement = statement.options(joinedload(model.user))  # type: ignore[attr-defined]
        _BY_DIGEST[(model, with_user)] = statement
    row = session.scalar(statement, {"digest": wanted})
    # The lookup is by digest; compare again in constant time so timing says nothing either way.
    if row is None or not hmac.compare_digest(row.token_digest, wanted):
        return None
    return row


def stamp(session: DbSession, row: Any, now: datetime.datetime) -> None:
    """Set ``row.last_used_at`` to ``now`` and commit, unless it was set less than ``STAMP_EVERY`` ago.
    What the request has read stays loaded (the token, its user, the project read with them): the
    commit changed none of it, and reading it all again would cost the stamped request three statements."""
    if row.last_used_at is None or now - row.last_used_at > STAMP_EVERY:
        committed(session, lambda: setattr(row, "last_used_at", now), keep_loaded=True)


def _scopes(values: Iterable[str], allowed: tuple[str, ...]) -> str:
    scope_list = sorted({str(v) for v in values})
    if not scope_list or any(s not in allowed for s in scope_list):
        raise InvalidParameter("scopes", "does not have a valid value")
    return ",".join(scope_list)


def parse_expiry(value: object, param: str = "expires_at") -> datetime.date | None:
    """``YYYY-MM-DD`` (or an ISO 8601 time, of which the date counts), or ``None`` for no expiry."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).date()  # noqa: FURB162  (3.10 reads no Z)
    except ValueError:
        raise InvalidParameter(param, "is invalid") from None


def is_live(row: PersonalAccessToken | DeployToken, now: datetime.datetime) -> bool:
    """Neither revoked nor expired (a token expires at the start of its ``expires_at`` day, UTC)."""
    return not row.revoked and (row.expires_at is None or row.expires_at > now.date())


def _record_personal(
    session: DbSession,
    actor: Actor,
    event: str,
    row: PersonalAccessToken,
    *,
    project: Project | int | None = None,
    **details: object,
) -> None:
    audit.record(
        session,
        event,
        project=project,
        target_type="PersonalAccessToken",
        target_id=row.id,
        target_details=row.name,
        details={"user": row.user.username, **details},
        actor=actor,
    )


def _record_deploy(session: DbSession, actor: Actor, event: str, row: DeployToken, **details: object) -> None:
    audit.record(
        session,
        event,
        project=row.project_id,
        target_type="DeployToken",
        target_id=row.id,
        target_details=row.name,
        details={"username": row.username, **details},
        actor=actor,
    )


class TokenService:
    """Personal access tokens, and project access tokens (a bot member holding a personal token)."""

    def __init__(
        self, session: DbSession, clock: Callable[[], datetime.datetime] = utcnow, *, actor: Actor = COMMAND_LINE
    ) -> None:
        self.session = session
        self.clock = clock
        self.actor = actor  # who makes the changes

    def _expiry(self, expires_at: datetime.date | None) -> datetime.date | None:
        if expires_at is not None and expires_at <= self.clock().date():
            raise InvalidParameter("expires_at", "must be in the future")
        return expires_at

    def create(
        self, user: User, name: str, scopes: Iterable[str], expires_at: datetime.date | None = None
    ) -> tuple[PersonalAccessToken, str]:
        """Issue ``user`` a token and commit; return its row and the secret, which is never
        retrievable again. Raise ``InvalidParameter``, or ``InvalidInput`` for a project bot (its
        tokens are project access tokens: ``create_for_project``)."""
        if user.is_bot:
            raise InvalidInput("a project bot's tokens are made as project access tokens")
        with unit_of_work(self.session):
            return self._create(user, name, scopes, expires_at)

    def _create(
        self, user: User, name: str, scopes: Iterable[str], expires_at: datetime.date | None
    ) -> tuple[PersonalAccessToken, str]:
        secret = new_secret(TOKEN_PREFIX)
        row = PersonalAccessToken(
            user_id=user.id,
            name=names.token_name(name or "token"),
            token_digest=digest(secret),
            scopes=_scopes(scopes, SCOPES),
            expires_at=self._expiry(expires_at),
        )
        self.session.add(row)
        self.session.flush()
        _record_personal(
            self.session,
            self.actor,
            "personal_access_token_created",
            row,
            scopes=row.scope_list,
            expires_at=row.expires_at,
        )
        return row, secret

    def find_active(self, secret: str) -> PersonalAccessToken | None:
        """Return the live token with this secret, stamping ``last_used_at`` (committed); ``None``
        otherwise. A revoked token that was rotated revokes its family (``revoke_family``)."""
        return self.accept(find_by_digest(self.session, PersonalAccessToken, secret, with_user=True))

    def accept(self, row: PersonalAccessToken | None) -> PersonalAccessToken | None:
        """``find_active``'s answer for the token ``row`` found by its secret (``None``: none was)."""
        now = self.clock()
        if row is not None and row.revoked:
            self.revoke_family(row)
            return None
        if row is None or not is_live(row, now):
            return None
        stamp(self.session, row, now)
        return row

    def find_own(self, principal: Principal) -> PersonalAccessToken:
        """The personal or project access token that authenticated ``principal``; raise
        ``NotFound("Token")`` for other credentials."""
        if principal.kind not in OWN_TOKEN_KINDS or principal.token_id is None:
            raise NotFound("Token")
        row = self.session.get(PersonalAccessToken, principal.token_id)
        if row is None:
            raise NotFound("Token")
        return row

    def list_for(self, user: User) -> list[PersonalAccessToken]:
        return list(
            self.session.scalars(
                select(PersonalAccessToken).where(PersonalAccessToken.user_id == user.id).order_by(PersonalAccessToken.id)
            )
        )

    def get(self, token_id: int, user: User) -> PersonalAccessToken:
        """``user``'s token (any token for admins); raise ``NotFound("Token")``."""
        row = self.session.get(PersonalAccessToken, token_id)
        if row is None or (row.user_id != user.id and not user.is_admin):
            raise NotFound("Token")
        return row

    def revoke(self, token_id: int, user: User) -> PersonalAccessToken:
        """Revoke ``user``'s token (any token for admins; a project access token as
        ``revoke_for_project`` does) and commit; raise ``NotFound("Token")``."""
        return self._revoke(self.get(token_id, user))

    def revoke_own(self, token_id: int, user: User) -> PersonalAccessToken:
        """Revoke ``user``'s own token ``token_id`` and commit; raise ``NotFound("Token")`` for
        anyone else's, an admin's included (admins revoke others' tokens with ``revoke``)."""
        row = self.get(token_id, user)
        if row.user_id != user.id:
            raise NotFound("Token")
        return self._revoke(row)

    def revoke_self(self, principal: Principal) -> PersonalAccessToken:
        """Revoke the token that authenticated ``principal`` and commit; raise ``NotFound("Token")``
        for other credentials."""
        return self._revoke(self.find_own(principal))

    def _revoke(self, row: PersonalAccessToken, **details: Any) -> PersonalAccessToken:
        if row.revoked:
            return row
        with unit_of_work(self.session):
            row.revoked = True
            project_id = row.user.bot_project_id
            if project_id is None:
                _record_personal(self.session, self.actor, "personal_access_token_revoked", row, **details)
            else:
                self.session.execute(
                    delete(Membership).where(Membership.project_id == project_id, Membership.user_id == row.user_id)
                )
                _record_personal(
                    self.session, self.actor, "project_access_token_revoked", row, project=project_id, **details
                )
        return row

    # -- rotation -------------------------------------------------------------------------------

    def rotate(
        self, token_id: int, user: User, expires_at: datetime.date | None = None
    ) -> tuple[PersonalAccessToken, str]:
        """Rotate ``user``'s token (any token for admins): see ``_rotate``. Raise ``NotFound("Token")``."""
        return self._rotate(self.get(token_id, user), expires_at)

    def rotate_self(
        self, principal: Principal, expires_at: datetime.date | None = None
    ) -> tuple[PersonalAccessToken, str]:
        """Rotate the token that authenticated ``principal``: see ``_rotate``. Raise
        ``NotFound("Token")`` for other credentials."""
        return self._rotate(self.find_own(principal), expires_at)

    def rotate_for_project(
        self, project: Project, token_id: int, expires_at: datetime.date | None = None
    ) -> tuple[PersonalAccessToken, str]:
        """Rotate a project access token of ``project`` (its bot stays a member with its role): see
        ``_rotate``. Raise ``NotFound("Token")``."""
        return self._rotate(self.get_for_project(project, token_id), expires_at)

    def rotate_self_for_project(
        self, project: Project, principal: Principal, expires_at: datetime.date | None = None
    ) -> tuple[PersonalAccessToken, str]:
        """Rotate the project access token of ``project`` that authenticated ``principal``: see
        ``_rotate``. Raise ``NotFound("Token")`` for any other credential."""
        row = self.find_own(principal)
        if row.user.bot_project_id != project.id:
            raise NotFound("Token")
        return self._rotate(row, expires_at)

    def _rotate(
        self, row: PersonalAccessToken, expires_at: datetime.date | None
    ) -> tuple[PersonalAccessToken, str]:
        """Revoke ``row`` and issue its successor (same owner, name and scopes; a project bot keeps its
        membership), expiring at ``expires_at`` or in ``ROTATED_TOKEN_LIFETIME``, and commit; return
        the successor and its secret. Raise ``InvalidParameter`` for an ``expires_at`` not in the
        future, and ``InvalidInput`` for a revoked token, whose family is revoked then (GitLab's
        automatic reuse detection: a revoked token being rotated was leaked)."""
        if row.revoked:
            self.revoke_family(row)
            raise InvalidInput("Token already revoked")
        expiry = self._expiry(expires_at) if expires_at is not None else self.clock().date() + ROTATED_TOKEN_LIFETIME
        secret = new_secret(TOKEN_PREFIX)
        with unit_of_work(self.session):
            row.revoked = True
            successor = PersonalAccessToken(
                user_id=row.user_id,
                name=row.name,
                token_digest=digest(secret),
                scopes=row.scopes,
                expires_at=expiry,
                previous_token_id=row.id,
            )
            self.session.add(successor)
            self.session.flush()
            project_id = row.user.bot_project_id
            _record_personal(
                self.session,
                self.actor,
                "personal_access_token_rotated" if project_id is None else "project_access_token_rotated",
                successor,
                project=project_id,
                rotated_from=row.id,
                expires_at=expiry,
            )
        return successor, secret

    def revoke_family(self, row: PersonalAccessToken) -> list[PersonalAccessToken]:
        """Revoke every live token rotated from ``row``, directly or not, and commit; return them.
        Called when the revoked ``row`` is used again (to sign in, or to be rotated): it leaked, so
        whoever holds it may hold its successor too (GitLab's automatic reuse detection)."""
        family: list[PersonalAccessToken] = []
        parents = [row.id]
        while parents:
            rotated_from = PersonalAccessToken.previous_token_id.in_(parents)
            children = list(self.session.scalars(select(PersonalAccessToken).where(rotated_from)))
            family += children
            parents = [child.id for child in children]
        live = [token for token in family if not token.revoked]
        if live:
            with unit_of_work(self.session):
                for token in live:
                    self._revoke(token, reason="a revoked token of its family was used", used_token=row.id)
        return live

    def page(
        self,
        user: User | None,
        *,
        state: str | None = None,
        revoked: bool | None = None,
        search: str | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        """A page of ``user``'s tokens (everyone's for ``None``), oldest first; ``state`` is
        ``active`` or ``inactive`` (revoked or expired)."""
        query = select(PersonalAccessToken)
        if user is not None:
            query = query.where(PersonalAccessToken.user_id == user.id)
        today = self.clock().date()
        live = and_(
            PersonalAccessToken.revoked.is_(False),
            or_(PersonalAccessToken.expires_at.is_(None), PersonalAccessToken.expires_at > today),
        )
        if state is not None:
            query = query.where(live if choice("state", state, ("active", "inactive")) == "active" else not_(live))
        if revoked is not None:
            query = query.where(PersonalAccessToken.revoked.is_(revoked))
        if search:
            query = query.where(contains(PersonalAccessToken.name, search))
        return query_page(self.session, query, (PersonalAccessToken.id,), page, per_page)

    # -- project access tokens ----------------------------------------------------------------

    def create_for_project(
        self,
        project: Project,
        name: str,
        scopes: Iterable[str],
        role: Role,
        expires_at: datetime.date | None = None,
    ) -> tuple[PersonalAccessToken, str]:
        """A bot user, member of ``project`` with ``role``, and its token (GitLab's project access
        tokens), committed. Owner-level bots are refused, as in GitLab: raise ``InvalidParameter``."""
        with unit_of_work(self.session):
            return self._create_for_project(project, name, scopes, role, expires_at)

    def _create_for_project(
        self, project: Project, name: str, scopes: Iterable[str], role: Role, expires_at: datetime.date | None
    ) -> tuple[PersonalAccessToken, str]:
        if role not in (Role.GUEST, Role.REPORTER, Role.DEVELOPER, Role.MAINTAINER):
            raise InvalidParameter("access_level", "does not have a valid value")
        scope_value = _scopes(scopes, SCOPES)
        expires = self._expiry(expires_at)
        bot = User(
            username=f"project_{project.id}_bot_{secrets.token_hex(8)}",
            name=names.token_name(name) if name else "project bot",
            bot_project_id=project.id,
        )
        self.session.add(bot)
        self.session.flush()
        self.session.add(Membership(project_id=project.id, user_id=bot.id, access_level=int(role)))
        secret = new_secret(TOKEN_PREFIX)
        row = PersonalAccessToken(
            user_id=bot.id, name=bot.name, token_digest=digest(secret), scopes=scope_value, expires_at=expires
        )
        self.session.add(row)
        self.session.flush()
        _record_personal(
            self.session,
            self.actor,
            "project_access_token_created",
            row,
            project=project,
            access_level=int(role),
            scopes=row.scope_list,
            expires_at=row.expires_at,
        )
        return row, secret

    def list_for_project(self, project: Project) -> list[PersonalAccessToken]:
        return list(
            self.session.scalars(
                select(PersonalAccessToken)
                .join(User, User.id == PersonalAccessToken.user_id)
                .where(User.bot_project_id == project.id)
                .order_by(PersonalAccessToken.id)
            )
        )

    def get_for_project(self, project: Project, token_id: int) -> PersonalAccessToken:
        row = self.session.get(PersonalAccessToken, token_id)
        if row is None or row.user.bot_project_id != project.id:
            raise NotFound("Token")
        return row

    def bot_level(self, row: PersonalAccessToken) -> int | None:
        """The role of a project access token's bot in its project (``None`` once revoked)."""
        return self.session.scalar(
            select(Membership.access_level).where(
                Membership.project_id == row.user.bot_project_id, Membership.user_id == row.user_id
            )
        )

    def revoke_for_project(self, project: Project, token_id: int) -> PersonalAccessToken:
        """Revoke a project access token and end its bot's membership (GitLab blocks the bot), and
        commit; raise ``NotFound("Token")``. The bot user stays, so the audit trail and package
        creators still name it."""
        return self._revoke(self.get_for_project(project, token_id))


class DeployTokenService:
    def __init__(
        self, session: DbSession, clock: Callable[[], datetime.datetime] = utcnow, *, actor: Actor = COMMAND_LINE
    ) -> None:
        self.session = session
        self.clock = clock
        self.actor = actor  # who makes the changes

    def create(
        self,
        project: Project,
        name: str,
        scopes: Iterable[str],
        *,
        username: str | None = None,
        expires_at: datetime.date | None = None,
    ) -> tuple[DeployToken, str]:
        """Issue a deploy token of ``project`` and commit; return its row and the secret, which is
        never retrievable again. Raise ``InvalidParameter``."""
        with unit_of_work(self.session):
            return self._create(project, name, scopes, username, expires_at)

    def _create(
        self,
        project: Project,
        name: str,
        scopes: Iterable[str],
        username: str | None,
        expires_at: datetime.date | None,
    ) -> tuple[DeployToken, str]:
        if expires_at is not None and expires_at <= self.clock().date():
            raise InvalidParameter("expires_at", "must be in the future")
        scope_value = _scopes(scopes, DEPLOY_SCOPES)
        secret = new_secret(DEPLOY_TOKEN_PREFIX)
        row = DeployToken(
            project_id=project.id,
            name=names.token_name(name),
            username="",
            token_digest=digest(secret),
            scopes=scope_value,
            expires_at=expires_at,
        )
        self.session.add(row)
        self.session.flush()
        # GitLab's default username is ``gitlab+deploy-token-<id>``.
        row.username = names.username(username) if username else f"modelshelf+deploy-token-{row.id}"
        _record_deploy(
            self.session, self.actor, "deploy_token_created", row, scopes=row.scope_list, expires_at=row.expires_at
        )
        self.session.flush()
        return row, secret

    def find_active(self, secret: str, username: str | None = None) -> DeployToken | None:
        """The live deploy token with this secret (and this username, for Basic auth), its
        ``last_used_at`` stamped (committed)."""
        row = find_by_digest(self.session, DeployToken, secret)
        now = self.clock()
        if row is None or not is_live(row, now):
            return None
        if username is not None and not hmac.compare_digest(row.username.encode(), username.encode()):
            return None
        stamp(self.session, row, now)
        return row

    def list_for(self, project: Project, *, active: bool | None = None) -> list[DeployToken]:
        """``project``'s deploy tokens, oldest first; only the live (or only the dead) ones with ``active``."""
        rows = list(
            self.session.scalars(select(DeployToken).where(DeployToken.project_id == project.id).order_by(DeployToken.id))
        )
        if active is None:
            return rows
        now = self.clock()
        return [row for row in rows if is_live(row, now) == active]

    def get(self, project: Project, token_id: int) -> DeployToken:
        row = self.session.get(DeployToken, token_id)
        if row is None or row.project_id != project.id:
            raise NotFound("Deploy token")
        return row

    def revoke(self, project: Project, token_id: int) -> DeployToken:
        """Revoke ``project``'s deploy token ``token_id`` and commit; raise ``NotFound("Deploy token")``."""
        row = self.get(project, token_id)
        if not row.revoked:
            with unit_of_work(self.session):
                row.revoked = True
                _record_deploy(self.session, self.actor, "deploy_token_revoked", row)
        return row


class CiTokenService:
    """The project CI token: what an external CI presents to register its jobs. Maintainers rotate it."""

    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor  # who makes the changes

    def rotate(self, project: Project) -> str:
        """Issue a new CI token for ``project`` (the old one stops working) and commit; return it."""
        with unit_of_work(self.session):
            secret = new_secret(CI_TOKEN_PREFIX)
            replaced = project.ci_token_digest is not None
            project.ci_token_digest = digest(secret)
            audit.record(
                self.session,
                "ci_token_rotated",
                project=project,
                target_type="Project",
                target_id=project.id,
                target_details=project.full_path,
                details={"replaced": replaced},
                actor=self.actor,
            )
            return secret

    def find_project(self, secret: str) -> Project | None:
        wanted = digest(secret)
        project = self.session.scalar(select(Project).where(Project.ci_token_digest == wanted))
        if project is None or not hmac.compare_digest(project.ci_token_digest or "", wanted):
            return None
        return project
