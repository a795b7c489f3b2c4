"""Users: created by admins, signed in with a password hashed by werkzeug.security."""
from __future__ import annotations

from sqlalchemy import func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from package_api import audit, names
from package_api.access.models import User
from package_api.db import DbSession
from package_api.errors import AlreadyExists, InvalidParameter, NotFound
from package_api.identity import COMMAND_LINE, Actor
from package_api.paging import Page, contains, query_page
from package_api.transactions import unit_of_work

MIN_PASSWORD_LENGTH = 8


class UserService:
    def __init__(self, session: DbSession, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.actor = actor  # who makes the changes

    def create(self, username: str, password: str | None = None, *, admin: bool = False, name: str = "") -> User:
        """Create a user (audited as ``user_created``) and commit; raise ``InvalidParameter`` or
        ``AlreadyExists``."""
        with unit_of_work(self.session):
            return self._create(username, password, admin=admin, name=name)

    def _create(self, username: str, password: str | None, *, admin: bool, name: str) -> User:
        username = names.username(username)
        if self.find(username) is not None:
            raise AlreadyExists("Username")
        if password is not None and len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidParameter("password", f"is too short (minimum is {MIN_PASSWORD_LENGTH} characters)")
        user = User(
            username=username,
            name=names.token_name(name) if name else username,
            is_admin=admin,
            password_hash=generate_password_hash(password) if password else None,
        )
        self.session.add(user)
        self.session.flush()
        audit.record(
            self.session,
            "user_created",
            project=None,
            target_type="User",
            target_id=user.id,
            target_details=user.username,
            details={"admin": user.is_admin},
            actor=self.actor,
        )
        return user

    def find(self, username: str) -> User | None:
        return self.session.scalar(select(User).where(User.username == username))

    def find_by_id(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def set_password(self, user: User, password: str) -> None:
        """Replace the user's password and commit; raise ``InvalidParameter`` if it is too short."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidParameter("password", f"is too short (minimum is {MIN_PASSWORD_LENGTH} characters)")
        with unit_of_work(self.session):
            user.password_hash = generate_password_hash(password)

    def page(
        self,
        *,
        username: str | None = None,
        search: str | None = None,
        without_bots: bool = False,
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        """A page of users by id: the one named ``username``, or those whose username or name
        contains ``search``; without project bots if asked."""
        query = select(User)
        if username is not None:
            query = query.where(func.lower(User.username) == username.lower())
        if search:
            query = query.where(or_(contains(User.username, search), contains(User.name, search)))
        if without_bots:
            query = query.where(User.bot_project_id.is_(None))
        return query_page(self.session, query, (User.id,), page, per_page)

    def get(self, username: str) -> User:
        user = self.find(username)
        if user is None:
            raise NotFound("User")
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        """Return the user if the password matches."""
        user = self.find(username)
        if user is None or not user.password_hash:
            # Hash anyway so that an unknown name takes as long as a wrong password.
            check_password_hash(generate_password_hash("x"), password)
            return None
        return user if check_password_hash(user.password_hash, password) else None
