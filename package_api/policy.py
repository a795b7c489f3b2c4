"""Who may do what: every permission decision in one place. Handlers only ask.

A caller who may not even see a project gets ``NotFound("Project")`` (so private names do not
leak); one who sees it but lacks the role gets ``Forbidden``; anonymous callers asking to change
something get ``Unauthorized`` (GitLab's ``authenticate_non_get!``).
"""
from __future__ import annotations

import enum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .auth import Principal
from .errors import Forbidden, NotFound, Unauthorized
from .models import Membership, Project, Role, Visibility


class Action(enum.Enum):
    READ_PROJECT = "read_project"
    READ_PACKAGE = "read_package"
    PUBLISH_PACKAGE = "publish_package"
    DELETE_PACKAGE = "delete_package"
    ADMIN_PROJECT = "admin_project"
    OWN_PROJECT = "own_project"


#: The least role each action needs of a member. Reading public or internal projects needs none.
REQUIRED_ROLE: dict[object, Role] = {
    Action.READ_PROJECT: Role.GUEST,
    Action.READ_PACKAGE: Role.GUEST,
    Action.PUBLISH_PACKAGE: Role.DEVELOPER,
    Action.DELETE_PACKAGE: Role.MAINTAINER,
    Action.ADMIN_PROJECT: Role.MAINTAINER,
    Action.OWN_PROJECT: Role.OWNER,
}
READ_ACTIONS: set[object] = {Action.READ_PROJECT, Action.READ_PACKAGE}


def register_action(action: object, role: Role, *, read: bool = False) -> None:
    """Let a plugin add its own actions (``read`` ones are open to anyone who sees the project)."""
    REQUIRED_ROLE[action] = role  # type: ignore[index]
    if read:
        READ_ACTIONS.add(action)


class Policy:
    def __init__(self, session: Session) -> None:
        self.session = session

    def role(self, principal: Principal, project: Project) -> int | None:
        """The caller's access level in ``project``, or ``None`` for non-members."""
        if principal.user is None:
            return None
        return self.session.scalar(
            select(Membership.access_level).where(
                Membership.project_id == project.id, Membership.user_id == principal.user.id
            )
        )

    def can_see(self, principal: Principal, project: Project) -> bool:
        if principal.is_admin or project.visibility == Visibility.PUBLIC:
            return True
        if project.visibility == Visibility.INTERNAL and not principal.is_anonymous:
            return True
        return self.role(principal, project) is not None

    def visible_projects(self, principal: Principal) -> list[Project]:
        """Every project ``principal`` may see (``can_see`` as one query), by path."""
        query = select(Project)
        if not principal.is_admin:
            seen = [Project.visibility == Visibility.PUBLIC]
            if principal.user is not None:
                seen.append(Project.visibility == Visibility.INTERNAL)
                seen.append(
                    Project.id.in_(select(Membership.project_id).where(Membership.user_id == principal.user.id))
                )
            query = query.where(or_(*seen))
        return list(self.session.scalars(query.order_by(Project.namespace, Project.path)))

    def can(self, principal: Principal, project: Project, action: object) -> bool:
        if not self.can_see(principal, project):
            return False
        if action not in READ_ACTIONS and not principal.can_write:
            return False
        if principal.is_admin:
            return True
        if action in READ_ACTIONS:
            level = self.role(principal, project)
            if level is None:  # public or internal project, seen as a non-member
                return True
            return level >= REQUIRED_ROLE[action]
        level = self.role(principal, project)
        return level is not None and level >= REQUIRED_ROLE[action]

    def authorize(self, principal: Principal, project: Project, action: object) -> None:
        """Raise unless ``principal`` may do ``action`` in ``project``."""
        if self.can(principal, project, action):
            return
        if not self.can_see(principal, project):
            if principal.is_anonymous and action not in READ_ACTIONS:
                raise Unauthorized("authentication required")
            raise NotFound("Project")
        if principal.is_anonymous:
            raise Unauthorized("authentication required")
        raise Forbidden()
