"""Who is acting: the authenticated caller (``Principal``), how it authenticated (``PrincipalKind``),
and the ``Actor`` that the audit trail records for a change (a principal and the address it came from).

A kernel module: it imports no service and no Flask. ``access.authentication`` turns credentials into
principals; the request contexts (``web.api.context``, ``web.pages.context``) and the ``modelshelf``
command make actors, which services receive in their constructor.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from package_api.access.models import User


class PrincipalKind(str, enum.Enum):
    """How a caller authenticated. The value is what the audit trail stores as ``token_type`` and
    the API shows, so it never changes."""

    ANONYMOUS = "anonymous"
    PERSONAL_ACCESS_TOKEN = "personal_access_token"
    PROJECT_ACCESS_TOKEN = "project_access_token"  # the personal token of a project's bot user
    SESSION = "session"  # the browser's signed session cookie
    DEPLOY_TOKEN = "deploy_token"
    JOB_TOKEN = "job_token"  # a registered CI job's token
    CI_TOKEN = "ci_token"  # the project CI token, which registers and finishes jobs
    CLI = "cli"  # the ``modelshelf`` command, run by whoever operates the installation


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``user`` is ``None`` for anonymous requests, deploy tokens, the
    project CI token and the command line.

    ``project_id`` confines a principal to one project (deploy tokens, job tokens, the project CI
    token): elsewhere it is no more than an anonymous caller. ``token_id`` is the row that
    authenticated it (a token or a CI job), for provenance and the audit trail.
    """

    user: User | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    kind: PrincipalKind = PrincipalKind.ANONYMOUS
    project_id: int | None = None
    token_id: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        # A kind given as its string value ("session") is the same kind; raise ``ValueError`` for others.
        object.__setattr__(self, "kind", PrincipalKind(self.kind))

    @property
    def is_anonymous(self) -> bool:
        return self.kind is PrincipalKind.ANONYMOUS

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user.is_admin and self.project_id is None)

    @property
    def can_write(self) -> bool:
        """Whether the token scopes allow changes (``read_api`` does not)."""
        return "api" in self.scopes

    @property
    def job_id(self) -> int | None:
        """The CI job whose token this is."""
        return self.token_id if self.kind is PrincipalKind.JOB_TOKEN else None

    @property
    def display_name(self) -> str:
        if self.user is not None:
            return self.user.username
        return self.name

    def acts_in(self, project_id: int) -> bool:
        """Whether this principal's powers reach ``project_id`` (tokens of one project do not
        reach others)."""
        return self.project_id is None or self.project_id == project_id


ANONYMOUS = Principal()


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit trail records it: the principal, and the client address the
    request came from (``""`` for the command line)."""

    principal: Principal
    ip_address: str = ""

    @property
    def author_id(self) -> int | None:
        return self.principal.user.id if self.principal.user is not None else None

    @property
    def author_name(self) -> str:
        return self.principal.display_name

    @property
    def token_type(self) -> str:
        return self.principal.kind.value


#: The ``modelshelf`` command's actor: its events say ``cli``, with no author and no address.
COMMAND_LINE = Actor(Principal(kind=PrincipalKind.CLI))
