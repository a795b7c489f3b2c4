"""The composition root: every service built from an app's settings and extensions, in one place.

Handlers, commands and plugins ask here instead of constructing services themselves, so what a
service needs (storage, limits, leases, resolvers, the transfer meter, the job token lifetime) is
wired once. Each factory takes the app (default: the current one) and a session (default: the app's
``db.session``); none needs a request. Services that change state (and record it in the audit trail)
also take the ``actor`` who makes the changes: the request contexts pass the request's caller, the
``modelshelf`` command ``identity.COMMAND_LINE``. Every service commits its own changes.
"""
from __future__ import annotations

import dataclasses
import datetime

from flask import Flask, current_app

from package_api.access.ci_jobs import JobService
from package_api.access.members import MemberService
from package_api.access.policy import Policy, rules
from package_api.access.project_settings import ProjectSettingsService
from package_api.access.projects import ProjectService
from package_api.access.sign_in_throttle import Limits, SignInThrottle, client_address, parse_networks
from package_api.access.tokens import CiTokenService, DeployTokenService, TokenService
from package_api.access.users import UserService
from package_api.db import DbSession, db
from package_api.identity import COMMAND_LINE, Actor
from package_api.packages import resolvers
from package_api.packages.archives import ArchiveService
from package_api.packages.cleanup import CLEANUP_ACTOR, CleanupService
from package_api.packages.cleanup_policies import CleanupPolicyService
from package_api.packages.leases import UploadLeases
from package_api.packages.pipeline import PackagePipeline
from package_api.packages.protection_rules import ProtectionRuleService
from package_api.packages.service import PackageService
from package_api.storage import BlobStorage
from package_api.storage.sources import BlobSource, RoutedStorage
from package_api.webhooks.service import WebhookService

STORAGE = "modelshelf.storage"


def _app(app: Flask | None) -> Flask:
    # ``current_app`` is a werkzeug LocalProxy, typed as the Flask app it stands for.
    return app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]


def register_blob_source(app: Flask, prefix: str, source: BlobSource) -> None:
    """Read the blobs whose storage key starts with ``prefix`` through ``source``
    (``package_api.storage.sources``); call it from a plugin's ``register``."""
    store = app.extensions[STORAGE]
    if not isinstance(store, RoutedStorage):
        store = app.extensions[STORAGE] = RoutedStorage(store)
    store.sources[prefix] = source


def base_storage(app: Flask | None = None) -> BlobStorage:
    """The store itself, without the registered blob sources (where a source keeps its objects)."""
    store = storage(app)
    return store.base if isinstance(store, RoutedStorage) else store


def storage(app: Flask | None = None) -> BlobStorage:
    """The app's blob storage (built by ``create_app`` from the ``STORAGE`` setting)."""
    return _app(app).extensions[STORAGE]  # type: ignore[no-any-return]  # app.extensions holds Any; create_app sets it


def package_service(
    app: Flask | None = None, session: DbSession | None = None, *, actor: Actor = COMMAND_LINE
) -> PackageService:
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
        actor=actor,
    )


def protection_rule_service(session: DbSession | None = None, *, actor: Actor = COMMAND_LINE) -> ProtectionRuleService:
    """A project's package protection rules, as its Maintainers manage them."""
    return ProtectionRuleService(session if session is not None else db.session, actor=actor)


def cleanup_policy_service(session: DbSession | None = None, *, actor: Actor = COMMAND_LINE) -> CleanupPolicyService:
    """A project's cleanup policy, as its Maintainers read and change it."""
    return CleanupPolicyService(session if session is not None else db.session, actor=actor)


def cleanup_service(app: Flask | None = None, session: DbSession | None = None) -> CleanupService:
    """Plans and runs cleanup policies; its deletions and runs are the ``cleanup policy``'s in the audit trail."""
    app = _app(app)
    session = session if session is not None else db.session
    return CleanupService(session, app, package_service(app, session, actor=CLEANUP_ACTOR))


def archive_service(app: Flask | None = None, session: DbSession | None = None) -> ArchiveService:
    return ArchiveService(session if session is not None else db.session, storage(app))


def policy(app: Flask | None = None, session: DbSession | None = None) -> Policy:
    return Policy(session if session is not None else db.session, rules(_app(app)))


def project_service(session: DbSession | None = None, *, actor: Actor = COMMAND_LINE) -> ProjectService:
    return ProjectService(session if session is not None else db.session, actor=actor)


def project_settings_service(
    app: Flask | None = None, session: DbSession | None = None, *, actor: Actor = COMMAND_LINE
) -> ProjectSettingsService:
    session = session if session is not None else db.session
    return ProjectSettingsService(session, policy(app, session), actor=actor)


def member_service(session: DbSession | None = None, *, actor: Actor = COMMAND_LINE) -> MemberService:
    return MemberService(session if session is not None else db.session, actor=actor)


def user_service(session: DbSession | None = None, *, actor: Actor = COMMAND_LINE) -> UserService:
    return UserService(session if session is not None else db.session, actor=actor)


def token_service(session: DbSession | None = None, *, actor: Actor = COMMAND_LINE) -> TokenService:
    return TokenService(session if session is not None else db.session, actor=actor)


def deploy_token_service(session: DbSession | None = None, *, actor: Actor = COMMAND_LINE) -> DeployTokenService:
    return DeployTokenService(session if session is not None else db.session, actor=actor)


def ci_token_service(session: DbSession | None = None, *, actor: Actor = COMMAND_LINE) -> CiTokenService:
    return CiTokenService(session if session is not None else db.session, actor=actor)


def job_service(
    session: DbSession | None = None, *, app: Flask | None = None, actor: Actor = COMMAND_LINE
) -> JobService:
    """CI jobs, whose tokens live ``JOB_TOKEN_TTL`` seconds."""
    ttl = datetime.timedelta(seconds=float(_app(app).config["MODELSHELF"]["JOB_TOKEN_TTL"]))
    return JobService(session if session is not None else db.session, ttl=ttl, actor=actor)


def sign_in_throttle(
    session: DbSession | None = None,
    *,
    app: Flask | None = None,
    actor: Actor = COMMAND_LINE,
    forwarded_for: str | None = None,
) -> SignInThrottle:
    """Failed sign-ins, counted within the ``SIGN_IN_*`` limits for ``actor``'s address, or, when
    that is a trusted proxy (``TRUSTED_PROXY_CIDRS``), for the client ``forwarded_for`` names."""
    settings = _app(app).config["MODELSHELF"]
    limits = Limits(
        account_max=int(settings["SIGN_IN_MAX_FAILURES"]),
        address_max=int(settings["SIGN_IN_ADDRESS_MAX_FAILURES"]),
        window=float(settings["SIGN_IN_FAILURE_WINDOW"]),
        lock=float(settings["SIGN_IN_LOCK_SECONDS"]),
        proxies=parse_networks(str(settings["TRUSTED_PROXY_CIDRS"] or "")),
    )
    address = client_address(actor.ip_address, forwarded_for, limits.proxies)
    actor = dataclasses.replace(actor, ip_address=address)
    return SignInThrottle(session if session is not None else db.session, limits, actor=actor)


def webhook_service(
    app: Flask | None = None, session: DbSession | None = None, *, actor: Actor = COMMAND_LINE
) -> WebhookService:
    return WebhookService(session if session is not None else db.session, _app(app), actor=actor)
