"""Projects and their members."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import names
from .errors import AlreadyExists, InvalidParameter, NotFound
from .models import Membership, Project, Role, User, Visibility


def parse_visibility(value: str) -> Visibility:
    try:
        return Visibility(value)
    except ValueError:
        raise InvalidParameter("visibility", "does not have a valid value") from None


def parse_role(value: str | int) -> Role:
    """Accept a level (``30``) or a name (``developer``)."""
    try:
        return Role(int(value)) if str(value).isdigit() else Role[str(value).upper()]
    except (KeyError, ValueError):
        raise InvalidParameter("access_level", "does not have a valid value") from None


class ProjectService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self, full_path: str, owner: User, *, visibility: Visibility = Visibility.PRIVATE, description: str = ""
    ) -> Project:
        """Create ``namespace/name`` with ``owner`` as Owner; raise ``InvalidParameter``/``AlreadyExists``."""
        namespace, path = names.project_path(full_path)
        if self.find_by_path(f"{namespace}/{path}") is not None:
            raise AlreadyExists("Project")
        project = Project(
            namespace=namespace, path=path, visibility=visibility, description=description, creator_id=owner.id
        )
        self.session.add(project)
        self.session.flush()
        self.add_member(project, owner, Role.OWNER)
        return project

    def find_by_path(self, full_path: str) -> Project | None:
        namespace, _, path = full_path.partition("/")
        return self.session.scalar(select(Project).where(Project.namespace == namespace, Project.path == path))

    def get(self, ref: str | int) -> Project:
        """Find a project by numeric id or ``namespace/name`` path; raise ``NotFound("Project")``."""
        ref = str(ref)
        project = self.session.get(Project, int(ref)) if ref.isdigit() else self.find_by_path(ref)
        if project is None:
            raise NotFound("Project")
        return project

    def add_member(self, project: Project, user: User, role: Role) -> Membership:
        member = self.session.scalar(
            select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
        )
        if member is None:
            member = Membership(project_id=project.id, user_id=user.id, access_level=int(role))
            self.session.add(member)
        else:
            member.access_level = int(role)
        self.session.flush()
        return member

    def update_package_settings(
        self, project: Project, *, duplicates_allowed: bool | None = None, exception_regex: str | None = None
    ) -> Project:
        if duplicates_allowed is not None:
            project.generic_duplicates_allowed = duplicates_allowed
        if exception_regex is not None:
            project.generic_duplicate_exception_regex = names.duplicate_exception_regex(exception_regex)
        self.session.flush()
        return project
