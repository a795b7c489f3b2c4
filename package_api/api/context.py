"""Per-request wiring: the caller, the services, and the project a URL names."""
from __future__ import annotations

import datetime

from flask import current_app, g, request, session

from .. import aliases
from ..archives import ArchiveService
from ..auth import Principal, api_credentials, default_resolver
from ..db import db
from ..models import Package, Project
from ..packages import PackageService
from ..policy import Policy, rules
from ..projects import ProjectService
from ..uploads import UploadLeases


def principal() -> Principal:
    """The caller of this request (cached): its token, or else its browser session.

    Raise ``Unauthorized`` for a bad token, and ``InvalidCsrfToken`` for a session-authorised
    change without the ``X-CSRF-Token`` header.
    """
    if "principal" not in g:
        credentials = api_credentials(request.headers, request.args, session, request.method)
        g.principal = default_resolver(db.session).resolve(credentials)
        if db.session.dirty:  # the token's last_used_at stamp
            db.session.commit()
    return g.principal


def policy() -> Policy:
    return Policy(db.session, rules(current_app))


def project_services() -> ProjectService:
    return ProjectService(db.session)


def package_services() -> PackageService:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = app.config["MODELSHELF"]
    return PackageService(
        db.session,
        app.extensions["modelshelf.storage"],
        max_file_size=int(settings["MAX_FILE_SIZE"]),
        app=app,
        leases=UploadLeases(db.session, lease=datetime.timedelta(seconds=float(settings["UPLOAD_LEASE_SECONDS"]))),
        resolvers=aliases.resolvers(app),
    )


def archive_services() -> ArchiveService:
    return ArchiveService(db.session, current_app.extensions["modelshelf.storage"])


def authorized_project(ref: str, action: object, *, package: tuple[str, str] | None = None) -> Project:
    """The project ``ref`` names, if the caller may do ``action`` there (to the package ``package``
    names, a name and version, when given); raise otherwise."""
    caller = principal()
    project = project_services().get(ref)
    policy().authorize(caller, project, action, package=package)
    return project


def authorize_package(project: Project, package: Package, action: object) -> Package:
    """``package``, if the caller may do ``action`` to it; raise otherwise."""
    policy().authorize(principal(), project, action, package=(package.name, package.version))
    return package


def base_url() -> str:
    configured = current_app.config["MODELSHELF"].get("BASE_URL")
    return str(configured).rstrip("/") if configured else request.host_url.rstrip("/")
