"""Users: created by admins, signed in with a password hashed by werkzeug.security. Admins change
a user's name, admin flag or password (``update``, the API's ``PUT /users/:id``, ``modelshelf admin
set-password``); users change their own password knowing the current one (``change_own_password``).
Every change is audited: ``user_created``, ``user_updated`` (its details say what changed, never
the password itself)."""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Select, func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from package_api import audit, names
from package_api.access.models import User
from package_api.cpu import off_the_loop
from package_api.db import DbSession
from package_api.errors import AlreadyExists, InvalidParameter, NotFound
from package_api.identity import COMMAND_LINE, Actor
from package_api.paging import Page, contains, query_page
from package_api.transactions import unit_of_work

MIN_PASSWORD_LENGTH = 8
#: Checked against when the name is unknown (or has no password), so that it costs the one hash a
#: known name costs: the time taken says nothing about which names exist. Made on first use.
_dummy_hash: list[str] = []


def _unknown_user_hash() -> str:
    if not _dummy_hash:
        _dummy_hash.append(off_the_loop(generate_password_hash, secrets.token_urlsafe(16)))
    return _dummy_hash[0]
#: What a password change records instead of the password.
PASSWORD_CHANGED = "changed"


def valid_password(password: str) -> str:
    """Return ``password`` if it is long enough; raise ``InvalidParameter``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidParameter("password", f"is too short (minimum is {MIN_PASSWORD_LENGTH} characters)")
    return password


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
        if password is not None:
            password = valid_password(password)
        user = User(
            username=username,
            name=names.token_name(name) if name else username,
            is_admin=admin,
            password_hash=off_the_loop(generate_password_hash, password) if password else None,
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
        """Replace the user's password (audited as ``user_updated``) and commit; raise
        ``InvalidParameter`` if it is too short. Sessions signed in before end (the password bumps the
        user's session generation); personal access tokens keep working."""
        self.update(user, password=password)

    def change_own_password(self, user: User, current: str, password: str, confirmation: str) -> None:
        """The user's own change: ``current`` must be their password and ``confirmation`` repeat the
        new one; raise ``InvalidParameter`` (``current_password``, ``password_confirmation``,
        ``password``) otherwise. Audited and committed as ``set_password``."""
        if not user.password_hash or not off_the_loop(check_password_hash, user.password_hash, current):
            raise InvalidParameter("current_password", "is incorrect")
        valid_password(password)
        if password != confirmation:
            raise InvalidParameter("password_confirmation", "doesn't match the new password")
        self.set_password(user, password)

    def update(
        self, user: User, *, name: str | None = None, admin: bool | None = None, password: str | None = None
    ) -> User:
        """Change what is given (``None``: left as it is) and commit, audited as one ``user_updated``
        event whose details say what changed (a password only that it did); nothing changed, no
        event. Raise ``InvalidParameter`` for a bad name or a short password, before changing any,
        and for a password or the admin flag of a project bot (it acts in its project only: signed in
        to the pages, it would act everywhere)."""
        if user.is_bot and (password is not None or admin):
            raise InvalidParameter("password" if password is not None else "admin", "cannot be set for a project bot")
        new_name = names.token_name(name) if name is not None else None
        new_hash = off_the_loop(generate_password_hash, valid_password(password)) if password is not None else None
        with unit_of_work(self.session):
            changes: dict[str, Any] = {}
            if new_name is not None and new_name != user.name:
                changes["name"] = {"from": user.name, "to": new_name}
                user.name = new_name
            if admin is not None and admin != user.is_admin:
                changes["admin"] = {"from": user.is_admin, "to": admin}
                user.is_admin = admin
            if new_hash is not None:
                changes["password"] = PASSWORD_CHANGED
                user.password_hash = new_hash
                user.session_generation = (user.session_generation or 0) + 1
            if changes:
                audit.record(
                    self.session,
                    "user_updated",
                    project=None,
                    target_type="User",
                    target_id=user.id,
                    target_details=user.username,
                    details=changes,
                    actor=self.actor,
                )
        return user

    def end_sessions(self, user: User, *, everywhere: bool = True) -> None:
        """End every browser session of ``user`` (a copied cookie too), and commit: signing out
        (``everywhere=False``: not audited) or "sign out everywhere" (audited as
        ``user_sessions_ended``)."""
        with unit_of_work(self.session):
            user.session_generation = (user.session_generation or 0) + 1
            if everywhere:
                audit.record(
                    self.session,
                    "user_sessions_ended",
                    project=None,
                    target_type="User",
                    target_id=user.id,
                    target_details=user.username,
                    actor=self.actor,
                )

    def page(
        self,
        *,
        username: str | None = None,
        search: str | None = None,
        without_bots: bool = False,
        bots_of: Select[Any] | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        """A page of users by id: the one named ``username``, or those whose username or name
        contains ``search``; without project bots if asked, and with only the bots of the projects
        ``bots_of`` selects (ids) when given (a bot's name is its token's, its username its project's id)."""
        query = select(User)
        if bots_of is not None:
            query = query.where(or_(User.bot_project_id.is_(None), User.bot_project_id.in_(bots_of)))
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
        """Return the user if the password matches: one password hash, whether the user exists or not."""
        user = self.find(username)
        if user is None or not user.password_hash:
            off_the_loop(check_password_hash, _unknown_user_hash(), password)
            return None
        return user if off_the_loop(check_password_hash, user.password_hash, password) else None
