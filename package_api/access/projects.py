"""Projects (their members are ``package_api.access.members``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, delete, select

from package_api import audit, names
from package_api.access.members import MemberService
from package_api.access.models import Membership, Project, Role, User, Visibility
from package_api.db import DbSession
from package_api.errors import AlreadyExists, InvalidParameter, NotFound
from package_api.identity import COMMAND_LINE, Actor, Principal
from package_api.paging import Page, choice, contains, descending, query_page
from package_api.transactions import unit_of_work

if TYPE_CHECKING:
    from package_api.access.policy import Policy

#: ``order_by`` values of the projects list (GitLab's, those we keep columns for).
PROJECT_ORDERS = {"id": Project.id, "name": Project.path, "path": Project.path, "created_at": Project.created_at}

#: ``projects.description`` holds this many characters.
MAX_DESCRIPTION_LENGTH = 2000


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


def reference(ref: str | int) -> int | tuple[str, str]:
    """What ``ref`` names a project by: a numeric id, or a ``namespace/name`` path's two parts."""
    ref = str(ref)
    project_id = names.row_id(ref)
    if project_id is not None:
        return project_id
    namespace, _, path = ref.partition("/")
    return namespace, path


class ProjectService:
    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor  # who makes the changes

    def create(
        self, full_path: str, owner: User, *, visibility: Visibility = Visibility.PRIVATE, description: str = ""
    ) -> Project:
        """Create ``namespace/name`` with ``owner`` as Owner (audited as ``project_created``) and
        commit; raise ``InvalidParameter``/``AlreadyExists``."""
        with unit_of_work(self.session):
            return self._create(full_path, owner, visibility, description)

    def _create(self, full_path: str, owner: User, visibility: Visibility, description: str) -> Project:
        namespace, path = names.project_path(full_path)
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidParameter("description", f"is too long (maximum is {MAX_DESCRIPTION_LENGTH} characters)")
        if self.find_by_path(f"{namespace}/{path}") is not None:
            raise AlreadyExists("Project")
        project = Project(
            namespace=namespace, path=path, visibility=visibility, description=description, creator_id=owner.id
        )
        self.session.add(project)
        self.session.flush()
        MemberService(self.session, actor=self.actor).add_creator(project, owner)
        audit.record(
            self.session,
            "project_created",
            project=project,
            target_type="Project",
            target_id=project.id,
            target_details=project.full_path,
            details={"visibility": visibility.value, "owner": owner.username},
            actor=self.actor,
        )
        self.session.flush()
        return project

    def find_by_path(self, full_path: str) -> Project | None:
        namespace, _, path = full_path.partition("/")
        return self.session.scalar(select(Project).where(Project.namespace == namespace, Project.path == path))

    def get(self, ref: str | int) -> Project:
        """Find a project by numeric id or ``namespace/name`` path; raise ``NotFound("Project")``."""
        ref = str(ref)
        project_id = names.row_id(ref)
        project = self.session.get(Project, project_id) if project_id is not None else self.find_by_path(ref)
        if project is None:
            raise NotFound("Project")
        return project

    def get_judged(self, ref: str | int, policy: Policy, principal: Principal) -> Project:
        """``get``, reading in the same query what ``policy`` needs to judge ``principal`` there (its
        role, the features' levels: ``Policy.judged_project``); raise ``NotFound("Project")``."""
        project = policy.judged_project(principal, reference(ref))
        if project is None:
            raise NotFound("Project")
        return project

    def page(
        self,
        visible: Select[Any],
        *,
        user: User | None = None,
        search: str | None = None,
        visibility: Visibility | None = None,
        min_access_level: Role | None = None,
        order_by: str = "created_at",
        sort: str = "desc",
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        """A page of the projects ``visible`` selects (``Policy.visible_query``): those whose path
        contains ``search``, of ``visibility``, where ``user`` holds at least ``min_access_level``."""
        column = PROJECT_ORDERS[choice("order_by", order_by, PROJECT_ORDERS)]
        query = visible
        if search:
            query = query.where(contains(Project.namespace + "/" + Project.path, search))
        if visibility is not None:
            query = query.where(Project.visibility == visibility)
        if min_access_level is not None:
            member_of = select(Membership.project_id).where(
                Membership.user_id == (user.id if user is not None else None),
                Membership.access_level >= int(min_access_level),
            )
            query = query.where(Project.id.in_(member_of))
        order = (column.desc(), Project.id.desc()) if descending(sort) else (column.asc(), Project.id.asc())
        return query_page(self.session, query, order, page, per_page)

    def delete(self, project: Project) -> None:
        """Delete ``project`` with everything in it (audited as ``project_deleted``) and commit. The
        database cascades to its members, tokens and their bot users, features, jobs, packages and
        files, and what plugins keep per project. The bytes of its files stay in the store until
        ``modelshelf gc`` finds no file using them; its audit events stay too."""
        with unit_of_work(self.session):
            audit.record(
                self.session,
                "project_deleted",
                project=project,
                target_type="Project",
                target_id=project.id,
                target_details=project.full_path,
                actor=self.actor,
            )
            self.session.execute(
                delete(Project).where(Project.id == project.id), execution_options={"synchronize_session": False}
            )
            self.session.expunge(project)
