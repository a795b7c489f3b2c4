"""A project's members: who holds which role (GitLab's access levels).

Every project keeps at least one Owner: demoting or removing the last one is refused, so a project
can always be administered by someone other than an admin. Who may make a change (Maintainers up
to Maintainer, Owners for anything about the Owner role) is the policy's business; this module
keeps the invariants, records every change in the audit trail (``member_added``,
``member_updated``, ``member_removed``), whichever surface makes it, and commits each change.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select

from package_api import audit
from package_api.access.models import Membership, Project, Role, User
from package_api.db import DbSession
from package_api.errors import AlreadyExists, InvalidInput, NotFound
from package_api.identity import COMMAND_LINE, Actor
from package_api.paging import Page, contains
from package_api.transactions import unit_of_work

LAST_OWNER = "a project must keep at least one Owner: make another member Owner first"


@dataclass(frozen=True)
class Member:
    """A membership and its user."""

    membership: Membership
    user: User

    @property
    def access_level(self) -> int:
        return self.membership.access_level


class MemberService:
    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor  # who makes the changes

    def _query(self, project: Project) -> Select[Membership, User]:
        return (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.project_id == project.id)
        )

    def list(
        self,
        project: Project,
        *,
        query: str | None = None,
        user_ids: Sequence[int] = (),
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        """A page of ``project``'s members (``Member``), oldest membership first; ``query`` matches
        usernames and names."""
        rows = self._query(project)
        if query:
            rows = rows.where(or_(contains(User.username, query), contains(User.name, query)))
        if user_ids:
            rows = rows.where(User.id.in_(list(user_ids)))
        total = self.session.scalar(select(func.count()).select_from(rows.subquery())) or 0
        found = self.session.execute(rows.order_by(Membership.id).offset((page - 1) * per_page).limit(per_page))
        return Page([Member(m, u) for m, u in found], total, page, per_page)

    def find(self, project: Project, user_id: int) -> Member | None:
        row = self.session.execute(self._query(project).where(Membership.user_id == user_id)).first()
        return Member(row[0], row[1]) if row is not None else None

    def get(self, project: Project, user_id: int) -> Member:
        """Raise ``NotFound("Member")``."""
        member = self.find(project, user_id)
        if member is None:
            raise NotFound("Member")
        return member

    def add(self, project: Project, user: User, role: Role) -> Member:
        """Make ``user`` a member with ``role`` and commit; raise ``AlreadyExists("Member")`` if they
        are one, ``InvalidInput`` for a project bot of another project."""
        with unit_of_work(self.session):
            if self.find(project, user.id) is not None:
                raise AlreadyExists("Member")
            if user.bot_project_id is not None and user.bot_project_id != project.id:
                raise InvalidInput("a project access token's bot belongs to its own project only")
            member = self._join(project, user, role)
            self._record("member_added", project, member, access_level=int(role))
            return member

    def add_creator(self, project: Project, creator: User) -> Member:
        """Make the creator of the new ``project`` its first Owner: a step of ``ProjectService.create``,
        whose unit of work (and its ``project_created`` event) this joins, so it commits nothing."""
        return self._join(project, creator, Role.OWNER)

    def _join(self, project: Project, user: User, role: Role) -> Member:
        membership = Membership(project_id=project.id, user_id=user.id, access_level=int(role))
        self.session.add(membership)
        self.session.flush()
        return Member(membership, user)

    def update(self, project: Project, user_id: int, role: Role) -> Member:
        """Give member ``user_id`` ``role`` and commit (the same role changes nothing and records
        nothing); raise ``NotFound("Member")``, and ``InvalidInput`` when that would leave the
        project without an Owner."""
        with unit_of_work(self.session):
            member = self.get(project, user_id)
            before = member.access_level
            if before == int(role):
                return member
            if before == Role.OWNER:
                self._keep_an_owner(project)
            member.membership.access_level = int(role)
            self._record("member_updated", project, member, access_level={"from": before, "to": int(role)})
            return member

    def put(self, project: Project, user: User, role: Role) -> Member:
        """Add ``user`` with ``role``, or change their role if they are a member already."""
        if self.find(project, user.id) is None:
            return self.add(project, user, role)
        return self.update(project, user.id, role)

    def remove(self, project: Project, user_id: int) -> Member:
        """End ``user_id``'s membership and commit; raise ``NotFound("Member")``, and ``InvalidInput``
        for the last Owner."""
        with unit_of_work(self.session):
            member = self.get(project, user_id)
            if member.access_level == Role.OWNER:
                self._keep_an_owner(project)
            self.session.delete(member.membership)
            self._record("member_removed", project, member, access_level=member.access_level)
            return member

    def _record(self, event: str, project: Project, member: Member, **details: object) -> None:
        audit.record(
            self.session,
            event,
            project=project,
            target_type="User",
            target_id=member.user.id,
            target_details=member.user.username,
            details=details,
            actor=self.actor,
        )

    def _keep_an_owner(self, project: Project) -> None:
        """Raise ``InvalidInput`` unless ``project`` has another Owner than the one about to go."""
        # Lock the Owner rows (PostgreSQL) so that two Owners demoting each other cannot both pass.
        owners = self.session.scalars(
            select(Membership.id)
            .where(Membership.project_id == project.id, Membership.access_level == int(Role.OWNER))
            .with_for_update()
        ).all()
        if len(owners) <= 1:
            raise InvalidInput(LAST_OWNER)
