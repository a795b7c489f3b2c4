"""Per-request wiring: the caller, the actor it makes changes as, the services, and the project a
URL names."""
from __future__ import annotations

from typing import cast

from flask import current_app, g, request, session

from package_api import services
from package_api.access.authentication import SAFE_METHODS, api_credentials, default_resolver
from package_api.access.ci_jobs import JobService
from package_api.access.members import MemberService
from package_api.access.models import Project
from package_api.access.policy import Policy
from package_api.access.project_settings import ProjectSettingsService
from package_api.access.projects import ProjectService, reference
from package_api.access.tokens import CiTokenService, DeployTokenService, TokenService
from package_api.access.users import UserService
from package_api.db import db
from package_api.errors import NotFound, Unauthorized
from package_api.identity import ANONYMOUS, Actor, Principal
from package_api.packages.archives import ArchiveService
from package_api.packages.models import Package
from package_api.packages.service import PackageService


def principal(project_ref: str | None = None) -> Principal:
    """The caller of this request (cached): its token, or else its browser session. Accepting a
    token commits its ``last_used_at`` stamp. ``project_ref``: the project the request names, which
    the first call may read with the token for ``policy()`` (one statement for both).

    Raise ``Unauthorized`` for a bad token, and ``InvalidCsrfToken`` for a session-authorised
    change without the ``X-CSRF-Token`` header.
    """
    if "principal" not in g:
        credentials = api_credentials(request.headers, request.args, session, request.method)
        resolving = Actor(ANONYMOUS, request.remote_addr or "")  # who is asking is not known yet
        judging = None if project_ref is None else (policy(), reference(project_ref))
        g.principal = default_resolver(db.session, actor=resolving).resolve(credentials, judging=judging)
    return cast(Principal, g.principal)  # ``g`` is untyped: this is what the branch above stored


def actor() -> Actor:
    """Who this request makes its changes as: the caller, from the client's address."""
    return Actor(principal(), request.remote_addr or "")


def policy() -> Policy:
    """This request's policy (cached): what it read to judge the project (the caller's role, the
    features' levels, the package rules' facts) is read once however often the request asks."""
    if "policy" not in g:
        g.policy = services.policy()
    return cast(Policy, g.policy)


def project_services() -> ProjectService:
    return services.project_service(actor=actor())


def settings_services() -> ProjectSettingsService:
    return services.project_settings_service(actor=actor())


def member_services() -> MemberService:
    return services.member_service(actor=actor())


def user_services() -> UserService:
    return services.user_service(actor=actor())


def token_services() -> TokenService:
    return services.token_service(actor=actor())


def deploy_token_services() -> DeployTokenService:
    return services.deploy_token_service(actor=actor())


def ci_token_services() -> CiTokenService:
    return services.ci_token_service(actor=actor())


def job_services() -> JobService:
    return services.job_service(actor=actor())


def package_services() -> PackageService:
    return services.package_service(actor=actor())


def archive_services() -> ArchiveService:
    return services.archive_service()


def authorized_project(ref: str, action: object, *, package: tuple[str, str] | None = None) -> Project:
    """The project ``ref`` names, if the caller may do ``action`` there (to the package ``package``
    names, a name and version, when given); raise otherwise."""
    caller, judge = principal(ref), policy()
    if judge.changes(action, reading=_reading()):
        authenticate_non_get()
    project = project_services().get_judged(ref, judge, caller)
    judge.authorize(caller, project, action, package=package, reading=_reading())
    return project


def visible_project(ref: str) -> Project:
    """The project ``ref`` names, if the caller can see it, before a package in it is looked up and
    judged by ``authorize_package``. Anonymous changes get a 401 first (GitLab's
    ``authenticate_non_get!``)."""
    caller = principal(ref)
    if not _reading():
        authenticate_non_get()
    judge = policy()
    project = project_services().get_judged(ref, judge, caller)
    if not judge.can_see(caller, project):
        raise NotFound("Project")
    return project


def authenticate_non_get() -> None:
    """Raise ``Unauthorized`` for an anonymous caller. Called by every route that changes something
    in a project before it looks the project up, as GitLab's ``authenticate_non_get!``: a 401 whether
    or not the project exists, so anonymous writes cannot probe for private projects."""
    if principal().is_anonymous:
        raise Unauthorized("authentication required")


def authorize_package(project: Project, package: Package, action: object) -> Package:
    """``package``, if the caller may do ``action`` to it; raise otherwise."""
    policy().authorize(principal(), project, action, package=(package.name, package.version), reading=_reading())
    return package


def _reading() -> bool:
    return request.method in SAFE_METHODS


def base_url() -> str:
    configured = current_app.config["MODELSHELF"].get("BASE_URL")
    return str(configured).rstrip("/") if configured else request.host_url.rstrip("/")
