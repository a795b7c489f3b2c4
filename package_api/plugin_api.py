"""What a plugin may use of ``package_api``: this module's ``__all__``, nothing else.

A plugin is a package with a ``register(app)`` function named by an entry point of the group
``package_api.plugins``. It imports ``package_api`` only through this module (a test walks the
imports), and extends the app only through the registration functions below, never by patching.

Extension points (call them from ``register``):

=============================  ===============================================================
``policy_rules(app)``          add actions, features and per-package rules to the one policy
                               (a package rule reads the database through ``PolicyFacts``)
``register_package_step``      a step in the transaction of a package change (``created``,
                               ``file_added``, ``file_deleted``, ``deleted``, ``sealed``): see
                               ``package_api.packages.pipeline`` for the order
``register_package_check``     refuse a package name and version before anything is stored
``register_unprotected_package`` names of a plugin's working storage no protection rule guards
``register_cleanup_keep``      versions no cleanup policy removes (the model registry: aliased ones)
``package_created`` ...        package events (blinker signals): notifications after the commit
                               (``package_sealed``: ``PackageService.seal`` sealed a package)
``register_version_resolver``  resolve ``latest`` (or an alias) in a package download URL
``register_package_noun``      what a package is called in audit event names
``register_migrations``        a directory of Alembic revisions for the plugin's tables
``add_openapi_piece``          the plugin's piece of the ``/api/v4`` OpenAPI document
``add_project_nav``            an entry in a project's sidebar
``add_package_links``          links on a package's page
``register_api_prefix``        serve a path prefix as an API (tokens, no page CSRF guard)
``register_maintenance``       a step of ``modelshelf gc`` and ``modelshelf verify``: rows of the
                               plugin's that expired, what it keeps in the store besides blobs
``register_blob_source``       read the blobs under a storage-key prefix through the plugin's
                               ``BlobSource`` (bytes rebuilt from other objects: Xet files)
=============================  ===============================================================

Building blocks: the extension (``db``), the table base (``DbModel``, which is ``db.Model``) and the
options of every table whose ids the database assigns (``IDS_NEVER_REUSED``), the
type of the session services are handed (``DbSession``) and of an upload's body (``Readable``), the
core tables a plugin's tables may refer to, the domain errors (mapped to each surface's answers in
one place), names and paging helpers, the one access policy (``access_policy``, for a service that
must judge what its caller may do), the one transaction policy (``committed``: a unit of work,
redone after a lost race; ``unit_of_work`` and ``commit`` for work that is not redone, joining a
unit in progress), the service factories of the composition root (``package_services``...), the
audit trail (``record_audit_event``, by an ``Actor``: a plugin's services take it in their
constructor, and ``request_actor`` is the request's, whichever surface serves it), and the helpers
the core's own HTTP surfaces use: the API caller and project (``principal``,
``authorized_project``), file and archive responses, streamed upload bodies, GitLab's pagination,
and the pages' caller, project, forms and listing parameters.
"""
from __future__ import annotations

from package_api.access.ci_jobs import JobService
from package_api.access.models import CiJob, Project, Role, User
from package_api.access.policy import READ_PACKAGE_REGISTRY, WRITE_PACKAGE_REGISTRY, Action, PolicyFacts
from package_api.access.policy import rules as policy_rules
from package_api.audit import record as record_audit_event
from package_api.audit import register_package_noun
from package_api.audit.models import AuditEvent
from package_api.cpu import off_the_loop, start_off_the_loop
from package_api.db import IDS_NEVER_REUSED, DbModel, DbSession, db, full_database, prepared, refused_value, utcnow
from package_api.errors import (
    AlreadyExists,
    CredentialsRefused,
    DatabaseFull,
    Forbidden,
    InvalidInput,
    InvalidParameter,
    ModelshelfError,
    NotFound,
    Protected,
    Unauthorized,
)
from package_api.identity import COMMAND_LINE, Actor, Principal, PrincipalKind
from package_api.names import DOT_SEGMENTS, MAX_ID, package_name, row_id, sha256_digest
from package_api.ops.maintenance import MaintenanceStep, register_maintenance
from package_api.ops.migrate import register_versions as register_migrations
from package_api.packages.cleanup import register_cleanup_keep
from package_api.packages.direct import DirectUploads
from package_api.packages.models import LIVE_PACKAGE, Blob, Package, PackageBuildInfo, PackageFile, PackageStatus
from package_api.packages.pipeline import (
    PackageChange,
    register_package_check,
    register_package_step,
    register_unprotected_package,
)
from package_api.packages.rebuilt import RebuiltFiles
from package_api.packages.resolvers import register_resolver as register_version_resolver
from package_api.packages.service import PackageService, parse_status
from package_api.packages.streams import ChunkReader, ExpectedDigests
from package_api.paging import Page, choice, contains, descending, query_page, slice_page
from package_api.row_writes import insert_row
from package_api.services import archive_service as archive_services
from package_api.services import base_storage, register_blob_source
from package_api.services import job_service as job_services
from package_api.services import package_service as package_services
from package_api.services import policy as access_policy
from package_api.services import webhook_service as webhook_services
from package_api.signals import (
    package_created,
    package_deleted,
    package_file_added,
    package_file_deleted,
    package_sealed,
)
from package_api.storage import BlobNotFound, BlobReader, BlobStorage, Readable, StorageUnavailable
from package_api.storage.sources import BlobSource
from package_api.transactions import LostRace, commit, committed, unit_of_work
from package_api.web.actors import request_actor
from package_api.web.api.context import authorized_project, base_url, principal
from package_api.web.api.downloads import archive_response, file_response
from package_api.web.api.entities import job as job_json
from package_api.web.api.entities import package_file as package_file_json
from package_api.web.api.entities import timestamp
from package_api.web.api.pagination import page_args, paginated
from package_api.web.api.params import request_body
from package_api.web.api.params import text as text_param
from package_api.web.api.upload_bodies import receive, refuse_workhorse_authorization
from package_api.web.body_limits import streams_body
from package_api.web.errors import register_api_prefix
from package_api.web.openapi import add_piece as add_openapi_piece
from package_api.web.pages import (
    CONTENT_SECURITY_POLICY,
    NavEntry,
    PackageLink,
    SettingsLink,
    add_package_links,
    add_project_nav,
    add_registry_settings,
)
from package_api.web.pages.context import authorized_project as page_project
from package_api.web.pages.context import authorized_project_ref as page_project_by_ref
from package_api.web.pages.context import can
from package_api.web.pages.context import principal as page_principal
from package_api.web.pages.forms import FormError, attempt
from package_api.web.pages.listing import listing_query
from package_api.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from package_api.webhooks.outbox import register_event as register_webhook_event
from package_api.webhooks.sending import Outcome as WebhookOutcome

__all__ = [
    # extension points
    "policy_rules",
    "PolicyFacts",
    "Action",
    "READ_PACKAGE_REGISTRY",
    "WRITE_PACKAGE_REGISTRY",
    "register_package_step",
    "PackageChange",
    "register_package_check",
    "register_unprotected_package",
    "register_cleanup_keep",
    "package_created",
    "package_deleted",
    "package_file_added",
    "package_file_deleted",
    "package_sealed",
    "register_version_resolver",
    "register_package_noun",
    "register_webhook_event",
    "AuditEvent",
    "Webhook",
    "WebhookDelivery",
    "WebhookAttempt",
    "WebhookOutcome",
    "webhook_services",
    "register_migrations",
    "add_openapi_piece",
    "add_project_nav",
    "NavEntry",
    "add_package_links",
    "PackageLink",
    "add_registry_settings",
    "SettingsLink",
    "register_api_prefix",
    "register_blob_source",
    "register_maintenance",
    "MaintenanceStep",
    "BlobSource",
    "BlobStorage",
    "BlobReader",
    "base_storage",
    # tables, the table base and the session type
    "db",
    "DbModel",
    "DbSession",
    "IDS_NEVER_REUSED",
    "prepared",
    "utcnow",
    "refused_value",
    "full_database",
    "Blob",
    "CiJob",
    "LIVE_PACKAGE",
    "Package",
    "PackageBuildInfo",
    "PackageFile",
    "PackageStatus",
    "Project",
    "Role",
    "User",
    # domain errors
    "ModelshelfError",
    "AlreadyExists",
    "CredentialsRefused",
    "Forbidden",
    "InvalidInput",
    "DatabaseFull",
    "InvalidParameter",
    "NotFound",
    "Protected",
    "Unauthorized",
    "BlobNotFound",
    "StorageUnavailable",
    # names and paging
    "MAX_ID",
    "DOT_SEGMENTS",
    "package_name",
    "row_id",
    "sha256_digest",
    "Page",
    "choice",
    "contains",
    "descending",
    "query_page",
    "slice_page",
    # transactions
    "commit",
    "committed",
    "insert_row",
    "off_the_loop",
    "start_off_the_loop",
    "unit_of_work",
    "LostRace",
    # services (the composition root) and audit
    "PackageService",
    "ExpectedDigests",
    "DirectUploads",
    "RebuiltFiles",
    "ChunkReader",
    "Readable",
    "JobService",
    "access_policy",
    "parse_status",
    "package_services",
    "archive_services",
    "job_services",
    "record_audit_event",
    "Actor",
    "Principal",
    "PrincipalKind",
    "COMMAND_LINE",
    "request_actor",
    # the /api/v4 surface's helpers
    "principal",
    "authorized_project",
    "base_url",
    "file_response",
    "archive_response",
    "receive",
    "streams_body",
    "refuse_workhorse_authorization",
    "job_json",
    "package_file_json",
    "timestamp",
    "page_args",
    "paginated",
    "request_body",
    "text_param",
    # the pages' helpers
    "CONTENT_SECURITY_POLICY",
    "page_principal",
    "page_project",
    "page_project_by_ref",
    "can",
    "FormError",
    "attempt",
    "listing_query",
]
