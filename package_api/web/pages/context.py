"""Per-request wiring of the pages: the signed-in caller, the actor it makes changes as, the
services, and the project a page URL names.

Pages know the caller only by the browser session (``auth.SessionAuthenticator``). CSRF tokens of
state-changing requests are checked before any view runs (``csrf.py``), so a view never does.
"""
from __future__ import annotations

from typing import cast

from flask import g, request, session

from package_api import services
from package_api.access.authentication import SAFE_METHODS, default_resolver, session_credential
from package_api.access.ci_jobs import JobService
from package_api.access.members import MemberService
from package_api.access.models import Project, User
from package_api.access.project_settings import ProjectSettingsService
from package_api.access.projects import ProjectService
from package_api.access.tokens import CiTokenService, DeployTokenService, TokenService
from package_api.access.users import UserService
from package_api.db import db
from package_api.errors import NotFound, Unauthorized
from package_api.identity import Actor, Principal
from package_api.packages.models import Package
from package_api.packages.service import PackageService
from package_api.web.api.context import policy

__all__ = [
    "actor",
    "authorized_project",
    "authorized_project_ref",
    "can",
    "ci_token_services",
    "current_user",
    "deploy_token_services",
    "job_services",
    "member_services",
    "package_services",
    "policy",
    "principal",
    "project_services",
    "settings_services",
    "token_services",
    "user_services",
]


def principal() -> Principal:
    """The signed-in caller of this page request (cached), or ``ANONYMOUS``."""
    if "page_principal" not in g:
        credential = session_credential(session)
        g.page_principal = default_resolver(db.session).resolve([credential] if credential else [])
    return cast(Principal, g.page_principal)  # ``g`` is untyped: this is what the branch above stored


def actor() -> Actor:
    """Who this page request makes its changes as: the signed-in caller, from the client's address."""
    return Actor(principal(), request.remote_addr or "")


def package_services() -> PackageService:
    return services.package_service(actor=actor())


def project_services() -> ProjectService:
    return services.project_service(actor=actor())


def settings_services() -> ProjectSettingsService:
    return services.project_settings_service(actor=actor())


def member_services() -> MemberService:
    return services.member_service(actor=actor())


def token_services() -> TokenService:
    return services.token_service(actor=actor())


def user_services() -> UserService:
    return services.user_service(actor=actor())


def deploy_token_services() -> DeployTokenService:
    return services.deploy_token_service(actor=actor())


def ci_token_services() -> CiTokenService:
    return services.ci_token_service(actor=actor())


def job_services() -> JobService:
    return services.job_service(actor=actor())


def current_user() -> User | None:
    return principal().user


def authorized_project(
    namespace: str, path: str, action: object, *, package: tuple[str, str] | None = None
) -> Project:
    """The project ``namespace/path``, if the caller may do ``action`` there.

    Raise ``NotFound`` (also for projects the caller may not see), ``Unauthorized`` or ``Forbidden``.
    """
    project = project_services().get(f"{namespace}/{path}")
    policy().authorize(principal(), project, action, package=package, reading=request.method in SAFE_METHODS)
    return project


def authorized_project_ref(ref: str, action: object) -> Project:
    """``authorized_project`` for a page served at an API URL, which names the project by its id or
    path (``ref``) as the API does: the caller is still the browser session's alone."""
    project = project_services().get(ref)
    policy().authorize(principal(), project, action, reading=request.method in SAFE_METHODS)
    return project


def visible_project(namespace: str, path: str) -> Project:
    """The project ``namespace/path``, if the caller can see it, before a package in it is looked
    up and judged by ``authorize_package``."""
    project = project_services().get(f"{namespace}/{path}")
    if not policy().can_see(principal(), project):
        if principal().is_anonymous and request.method not in SAFE_METHODS:
            raise Unauthorized("authentication required")
        raise NotFound("Project")
    return project


def authorize_package(project: Project, package: Package, action: object) -> Package:
    """``package``, if the caller may do ``action`` to it; raise otherwise."""
    reading = request.method in SAFE_METHODS
    policy().authorize(principal(), project, action, package=(package.name, package.version), reading=reading)
    return package


def can(project: Project, action: object, *, package: Package | None = None) -> bool:
    """Whether the caller may do ``action`` in ``project`` (to show or hide a button)."""
    judged = None if package is None else (package.name, package.version)
    return policy().can(principal(), project, action, package=judged)
