"""The composition root: every service built from an app's settings and extensions, in one place.

Handlers, commands and plugins ask here instead of constructing services themselves, so what a
service needs (storage, limits, leases, resolvers, the transfer meter) is wired once. Each factory
takes the app (default: the current one) and a session (default: the app's ``db.session``); none
needs a request.
"""
from __future__ import annotations

import datetime

from flask import Flask, current_app
from sqlalchemy.orm import Session

from package_api.access.ci_jobs import JobService
from package_api.access.policy import Policy, rules
from package_api.access.projects import ProjectService
from package_api.db import db
from package_api.packages import resolvers
from package_api.packages.archives import ArchiveService
from package_api.packages.leases import UploadLeases
from package_api.packages.pipeline import PackagePipeline
from package_api.packages.service import PackageService
from package_api.storage import BlobStorage

STORAGE = "modelshelf.storage"


def _app(app: Flask | None) -> Flask:
    return app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]


def storage(app: Flask | None = None) -> BlobStorage:
    """The app's blob storage (built by ``create_app`` from the ``STORAGE`` setting)."""
    return _app(app).extensions[STORAGE]  # type: ignore[no-any-return]


def package_service(app: Flask | None = None, session: Session | None = None) -> PackageService:
    app = _app(app)
    settings = app.config["MODELSHELF"]
    session = session if session is not None else db.session
    return PackageService(
        session,
        storage(app),
        max_file_size=int(settings["MAX_FILE_SIZE"]),
        app=app,
        leases=UploadLeases(session, lease=datetime.timedelta(seconds=float(settings["UPLOAD_LEASE_SECONDS"]))),
        resolvers=resolvers.resolvers(app),
        meter=app.extensions["modelshelf.metrics"],
        pipeline=PackagePipeline(session, app),
    )


def archive_service(app: Flask | None = None, session: Session | None = None) -> ArchiveService:
    return ArchiveService(session if session is not None else db.session, storage(app))


def project_service(session: Session | None = None) -> ProjectService:
    return ProjectService(session if session is not None else db.session)


def job_service(session: Session | None = None) -> JobService:
    return JobService(session if session is not None else db.session)


def policy(app: Flask | None = None, session: Session | None = None) -> Policy:
    return Policy(session if session is not None else db.session, rules(_app(app)))
