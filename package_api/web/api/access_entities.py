"""JSON shapes of users, members and tokens, as GitLab's entities (``lib/api/entities``).

A token's secret appears only in the answer that created it (GitLab's ``...WithToken`` entities);
every other answer describes the token without it.
"""
from __future__ import annotations

import datetime
from typing import Any

from package_api.access.members import Member
from package_api.access.models import DeployToken, PersonalAccessToken, User
from package_api.web.api.entities import timestamp, user_basic


def date(value: datetime.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def user_public(item: User, base_url: str, *, admin_view: bool = False) -> dict[str, Any]:
    """``GET /users/:id``: the basic fields, when the account was made and whether it is a project
    bot; admins also see ``is_admin``."""
    body = {**user_basic(item, base_url), "locked": False, "created_at": timestamp(item.created_at), "bot": item.is_bot}
    if admin_view:
        body["is_admin"] = item.is_admin
    return body


def member(item: Member, base_url: str) -> dict[str, Any]:
    """GitLab's ``Member``: the user, with their access level in the project. Memberships here do
    not expire, so ``expires_at`` is always ``null``."""
    return {
        **user_basic(item.user, base_url),
        "locked": False,
        "access_level": item.access_level,
        "created_at": timestamp(item.membership.created_at),
        "expires_at": None,
        "membership_state": "active",
        "bot": item.user.is_bot,
    }


def personal_access_token(row: PersonalAccessToken, *, active: bool, token: str | None = None) -> dict[str, Any]:
    """GitLab's ``PersonalAccessToken`` (``PersonalAccessTokenWithToken`` with ``token``)."""
    body: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "revoked": row.revoked,
        "created_at": timestamp(row.created_at),
        "scopes": row.scope_list,
        "user_id": row.user_id,
        "last_used_at": timestamp(row.last_used_at),
        "active": active,
        "expires_at": date(row.expires_at),
    }
    if token is not None:
        body["token"] = token
    return body


def project_access_token(
    row: PersonalAccessToken, *, access_level: int | None, active: bool, token: str | None = None
) -> dict[str, Any]:
    """GitLab's ``ResourceAccessToken``: a personal access token of the project's bot, with the
    bot's access level (``null`` once revoked: the bot is no longer a member)."""
    return {**personal_access_token(row, active=active, token=token), "access_level": access_level}


def deploy_token(row: DeployToken, *, active: bool, token: str | None = None) -> dict[str, Any]:
    """GitLab's ``DeployToken`` (``DeployTokenWithToken`` with ``token``); ``expires_at`` is a time
    there, midnight UTC of the expiry day here."""
    expires = datetime.datetime.combine(row.expires_at, datetime.time()) if row.expires_at else None
    body: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "username": row.username,
        "expires_at": timestamp(expires),
        "scopes": row.scope_list,
        "revoked": row.revoked,
        "expired": not row.revoked and not active,
    }
    if token is not None:
        body["token"] = token
    return body
