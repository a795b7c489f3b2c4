"""The permission matrix: every route of the app (all plugins loaded), every method, asked by every
kind of caller of projects of every visibility, and compared with what the rules below say.

The routes come from the app's URL map: a route without an entry in ``EXPECTATIONS`` fails
``test_every_route_has_an_expectation``, and so does an entry whose route is gone. An entry names
the action the route needs and, where the seed's ids are not enough, how to make a valid request
(a body, a throwaway object to delete). The outcome each caller should get is worked out from the
rules written out in this file (``expected``), not from ``package_api.access.policy``; the response is
read as allowed / unauthenticated / forbidden / hidden (``permission_support.classify``), and an
allowed request must also have succeeded, so that what is tested is the permission decision.

Each route is asked by (``cases``): anonymous, a non-member, Guest, Reporter, Developer, Maintainer,
Owner and an administrator on private, internal and public projects (personal access tokens with
``api`` on the API, browser sessions on pages); on the private project also a ``read_api`` token of
a Maintainer, a project access token (a Developer bot), read and write deploy tokens, a CI job
token of a Developer's job, the project CI token and the browser session calling the API; the
deploy token and job token of another project on every visibility; and, for the actions of a
feature, anonymous, a non-member and a Reporter of public projects whose model registry is
disabled or for members only. A package route is asked of a package of each kind: a plain package, a
plain SemVer package (no model has its name), a model version, the package of an MLflow run's
artifacts and, where its URL names a version, ``latest`` of a model (judged once it has resolved).
Destructive requests take throwaway objects (kept for the next caller when refused); a request
that changes the project itself puts it back (``Req.after``), or the project is made anew.

The callers, the seeded world and the request machinery are in ``tests/support/permissions.py``;
the request builders of the table in ``tests/permission_requests.py``. Run alone, the module prints
the matrix's size and time.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from package_api import create_app
from package_api.access.models import Role
from package_api.db import db
from package_api.web.api.upload_bodies import WORKHORSE_ONLY as WORKHORSE_REASON
from tests.support.databases import database_settings
from tests.support.permission_requests import (
    LFS_PART,
    NDJSON,
    add_member,
    alias_rule,
    at,
    body,
    change_member,
    delete_project,
    experiment,
    flip_visibility,
    form,
    hf,
    hf_commit,
    hf_repo_body,
    hf_tag,
    hf_version_change,
    hook_delivery,
    kept_delivery,
    lfs_complete,
    lfs_object,
    lfs_part,
    lfs_verify,
    mlflow_version,
    model,
    moved_alias,
    new_hook,
    own_fresh_token,
    page_throwaway_experiment,
    page_throwaway_model,
    page_throwaway_version,
    pending_request,
    revoke,
    rotate_ci_token,
    run,
    same_feature_level,
    throwaway_alias,
    throwaway_hook,
    throwaway_package,
    throwaway_version_file,
    unique,
    webhook,
    with_alias,
    with_tag,
    xet_commit_xorb,
    xet_fetch,
    xet_grant_xorb,
    xet_query_chunk,
    xet_reconstruction,
    xet_upload_shard,
    xet_upload_xorb,
)
from tests.support.permissions import (
    ALLOWED,
    FORBIDDEN,
    HIDDEN,
    LATEST,
    MLFLOW_ARTIFACT,
    MODEL_VERSION,
    PACKAGE_KINDS,
    PROJECT_NOT_FOUND,
    PROJECTS,
    SAFE_METHODS,
    SIGNER_PASSWORD,
    UNAUTHENTICATED,
    Builder,
    Ctx,
    ProjectSpec,
    Who,
    World,
    build_world,
    classify,
    describe,
    is_page,
    other_project_tokens,
    page_token_callers,
    role_callers,
    token_callers,
)

# == the rules ======================================================================================

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
ROLES = {"guest": GUEST, "reporter": REPORTER, "developer": DEVELOPER, "maintainer": MAINTAINER, "owner": OWNER}

READ_PROJECT, READ_PACKAGE, PUBLISH_PACKAGE, DELETE_PACKAGE = "READ_PROJECT", "READ_PACKAGE", "PUBLISH_PACKAGE", "DELETE_PACKAGE"
READ_MODEL, WRITE_MODEL, DELETE_MODEL = "READ_MODEL", "WRITE_MODEL", "DELETE_MODEL"
ADMIN_PROJECT, OWN_PROJECT = "ADMIN_PROJECT", "OWN_PROJECT"
SEAL_VERSION = "SEAL_VERSION"
REGISTER_JOB, READ_JOB, FINISH_JOB = "REGISTER_JOB", "READ_JOB", "FINISH_JOB"
#: A project access token rotating itself: a credential that speaks for a person, with ``api``, in a
#: project it sees (only a bot's token of that project is then found: everyone else's is a 404).
OWN_PROJECT_TOKEN = "OWN_PROJECT_TOKEN"


@dataclass(frozen=True)
class Needs:
    """What an action in a project needs."""

    role: int  # the least member role
    open: bool  # anyone who can see the project (and the feature) may do it, member or not
    feature: str | None = None  # the project feature it belongs to
    deploy_scope: str | None = None  # the deploy-token scope that allows it
    job_token: bool = False  # whether CI job tokens may do it (package and model reads and writes only)


NEEDS = {
    READ_PROJECT: Needs(GUEST, True, None, "read_package_registry", True),
    READ_PACKAGE: Needs(GUEST, True, "package_registry", "read_package_registry", True),
    PUBLISH_PACKAGE: Needs(DEVELOPER, False, "package_registry", "write_package_registry", True),
    DELETE_PACKAGE: Needs(MAINTAINER, False, "package_registry"),
    READ_MODEL: Needs(GUEST, True, "model_registry", "read_package_registry", True),
    # The seed document: "at least the Reporter role to modify or delete models and model versions".
    WRITE_MODEL: Needs(REPORTER, False, "model_registry", "write_package_registry", True),
    # Tokens that only push (deploy tokens, CI job tokens) never delete, packages or models.
    DELETE_MODEL: Needs(REPORTER, False, "model_registry"),
    ADMIN_PROJECT: Needs(MAINTAINER, False),  # settings, members, tokens, audit events, protection rules
    SEAL_VERSION: Needs(MAINTAINER, False, "model_registry"),  # never a token that only pushes
    OWN_PROJECT: Needs(OWNER, False),  # visibility, deleting the project, the Owner role
    READ_JOB: Needs(REPORTER, False),  # GitLab's read_build
}
READS = {READ_PROJECT, READ_PACKAGE, READ_MODEL, READ_JOB}
#: A model version (a SemVer package of a model the project has) and the package of an MLflow run's
#: artifacts are the model registry's: its rules judge them on every surface.
AS_MODEL = {READ_PACKAGE: READ_MODEL, PUBLISH_PACKAGE: WRITE_MODEL, DELETE_PACKAGE: DELETE_MODEL}
#: The kinds of package (``permissions.PACKAGE_KINDS``) the model registry's rules judge.
MODEL_KINDS = {MODEL_VERSION, MLFLOW_ARTIFACT, LATEST}


@dataclass(frozen=True)
class Account:
    """What a route about no project needs. Account routes answer only credentials that speak for
    a person (personal and project access tokens, the browser session): no user behind the
    request is a 401; a job token, confined to its project's packages and models, a 403."""

    write: bool = False  # the api scope (read_api cannot write)
    admin: bool = False
    no_bots: bool = False
    owner: str | None = None  # about a thing of this user's: anyone else gets a 404 ...
    admins_see: bool = True  # ... but administrators


PUBLIC = "public"  # nothing at all (sign-in, static files, health)
SIGNED_IN = "signed in"  # any caller but an anonymous one (the user lookups, USERS_PUBLIC being off)
ACCOUNT, ACCOUNT_WRITE = "account", "account:write"
PERSON_WRITE = "account:write, no bots"
DEVELOPERS_TOKEN, DEVELOPERS_TOKEN_WRITE = "developer's token", "developer's token:write"
DEVELOPERS_OWN_TOKEN_WRITE = "developer's token:write, not even admins"
ADMIN, ADMIN_WRITE = "admin", "admin:write"
ACCOUNT_NEEDS = {
    ACCOUNT: Account(),
    ACCOUNT_WRITE: Account(write=True),
    PERSON_WRITE: Account(write=True, no_bots=True),
    DEVELOPERS_TOKEN: Account(owner="developer"),
    DEVELOPERS_TOKEN_WRITE: Account(write=True, owner="developer"),
    DEVELOPERS_OWN_TOKEN_WRITE: Account(write=True, owner="developer", admins_see=False),
    ADMIN: Account(admin=True),
    ADMIN_WRITE: Account(write=True, admin=True),
}


def member_role(who: Who, project: ProjectSpec) -> int | None:
    """The seeded roles: each role user holds its role in every project of the matrix; the project
    bot is a Developer of ``acme/private``; a token confined to another project has no role here."""
    if who.confined_elsewhere(project.key):
        return None
    if who.kind == "bot":
        return DEVELOPER if project.key == "private" else None
    return ROLES.get(who.user or "")


def sees(who: Who, project: ProjectSpec) -> bool:
    """Public projects: everyone. Internal: any signed-in user, token users included (not a token
    of another project). Private: members and administrators. Deploy and CI tokens: their own
    project, and public ones."""
    elsewhere = who.confined_elsewhere(project.key)
    if who.kind in ("deploy", "ci"):
        return not elsewhere or project.visibility == "public"
    if who.is_admin or project.visibility == "public":
        return True
    if project.visibility == "internal":
        return who.kind != "anonymous" and not elsewhere
    return member_role(who, project) is not None


def expected(action: str, who: Who, project: ProjectSpec | None, *, method: str, page: bool) -> str:
    """The outcome the rules give ``who`` asking ``action`` of ``project`` by ``method``."""
    if action == PUBLIC:
        return ALLOWED
    if action == SIGNED_IN:
        return UNAUTHENTICATED if who.kind == "anonymous" else ALLOWED
    if action in ACCOUNT_NEEDS:
        return expected_of_account(ACCOUNT_NEEDS[action], who)
    assert project is not None
    if action == OWN_PROJECT_TOKEN:
        account = expected_of_account(ACCOUNT_NEEDS[ACCOUNT_WRITE], who)
        return account if account != ALLOWED else expected(READ_PROJECT, who, project, method=method, page=page)
    if action == FINISH_JOB:  # the project's CI token, or a Maintainer who ends a leaked job token
        return expected(REGISTER_JOB if who.kind == "ci" else ADMIN_PROJECT, who, project, method=method, page=page)
    anonymous, elsewhere = who.kind == "anonymous", who.confined_elsewhere(project.key)
    # A read is a read by any method (MLflow searches by POST); anything else changes something
    # unless it is a GET (a settings page, a list of tokens).
    writes = action not in READS and method not in SAFE_METHODS
    if action == REGISTER_JOB:
        if not sees(who, project):
            return UNAUTHENTICATED if anonymous else HIDDEN
        if anonymous:
            return UNAUTHENTICATED
        return ALLOWED if who.kind == "ci" and not elsewhere else FORBIDDEN
    needs = NEEDS[action]
    role = member_role(who, project)
    if anonymous and writes:
        return UNAUTHENTICATED  # any anonymous change asks for sign-in (GitLab's authenticate_non_get!)
    if not sees(who, project):
        return HIDDEN  # private names do not leak
    if who.kind == "ci":
        return FORBIDDEN  # a CI token registers jobs and nothing else
    level = project.features.get(needs.feature or "", "enabled")
    if level == "disabled":
        return FORBIDDEN
    if level == "private" and not (role is not None or who.is_admin or (who.kind == "deploy" and not elsewhere)):
        return UNAUTHENTICATED if anonymous else FORBIDDEN
    if who.kind == "deploy":
        if not elsewhere and needs.deploy_scope in who.scopes:
            return ALLOWED
        return ALLOWED if needs.open and project.visibility == "public" else FORBIDDEN
    if who.kind == "job" and not elsewhere and not needs.job_token:
        return FORBIDDEN
    if writes:
        if anonymous:
            return UNAUTHENTICATED
        if "api" not in who.scopes:
            return FORBIDDEN  # read_api reads everything its role may read, and changes nothing
    if who.is_admin:
        return ALLOWED
    if needs.open and role is None:
        return ALLOWED  # a public or internal project, seen by a non-member
    if role is not None and role >= needs.role:
        return ALLOWED
    return UNAUTHENTICATED if anonymous else FORBIDDEN


def expected_of_account(needs: Account, who: Who) -> str:
    if who.kind in ("anonymous", "deploy", "ci"):
        return UNAUTHENTICATED  # no person behind the request
    if who.kind == "job":
        return FORBIDDEN  # job tokens are for their project's packages and models only
    if needs.write and "api" not in who.scopes:
        return FORBIDDEN
    if needs.admin and not who.is_admin:
        return FORBIDDEN
    if needs.no_bots and who.kind == "bot":
        return FORBIDDEN
    if needs.owner is not None and who.user != needs.owner and not (who.is_admin and needs.admins_see):
        return HIDDEN
    return ALLOWED


# == the expectations ===============================================================================


@dataclass(frozen=True)
class Variant:
    """One way to call a route: the action it needs, how to build a valid request (default: the
    route's URL with the seed's ids), the package it is about, the API messages of a 404 that
    hides something, and the statuses besides 1xx-3xx that mean an allowed request did what it
    should (``ok``; ``ok_for``: for one kind of caller only)."""

    name: str
    action: str
    build: Builder | None = None
    package: str | None = None  # one of permissions.PACKAGE_KINDS
    hidden: frozenset[str] = PROJECT_NOT_FOUND
    ok: frozenset[int] = frozenset()
    ok_for: tuple[tuple[str, int], ...] = ()
    answers: frozenset[str] = frozenset()  # 403 messages that are the route's answer when allowed

    def succeeded(self, who: Who, status: int) -> bool:
        return status < 400 or status in self.ok or (who.kind, status) in self.ok_for or (status == 403 and bool(self.answers))


def expect(
    action: str,
    build: Builder | None = None,
    *,
    ok: tuple[int, ...] = (),
    ok_for: tuple[tuple[str, int], ...] = (),
    hidden: tuple[str, ...] = (),
    answers: tuple[str, ...] = (),
) -> tuple[Variant, ...]:
    found = PROJECT_NOT_FOUND | frozenset(hidden)
    return (Variant("", action, build, None, found, frozenset(ok), ok_for, frozenset(answers)),)


def on_package(
    action: str, build: Builder | None = None, *, latest: bool = False, answers: tuple[str, ...] = ()
) -> tuple[Variant, ...]:
    """A route about one package: asked of a package of each kind (``latest``: and of ``latest`` of a
    model, for a route whose URL names the version)."""
    kinds = [k for k in PACKAGE_KINDS if k != LATEST or latest]
    return tuple(
        Variant(kind, AS_MODEL[action] if kind in MODEL_KINDS else action, build, kind, answers=frozenset(answers))
        for kind in kinds
    )


def variants(**named: tuple[str, Builder]) -> tuple[Variant, ...]:
    return tuple(Variant(name.replace("_", " "), action, build) for name, (action, build) in named.items())


def _throwaway_rule(c: Any) -> int:
    """A package protection rule of its own name (it protects no package the matrix touches)."""
    rule = {"package_name_pattern": c.unique("rule"), "package_type": "generic", "minimum_access_level_for_push": "owner"}
    return c.throwaway("protection rule", lambda: c.admin("POST", f"{c.api}/packages/protection/rules", json=rule).get_json()["id"])


def _version_to_seal(c: Any) -> Any:
    """A version of its own to seal (a sealed one is never handed to another request)."""
    base = f"{c.api}/ml/models/{c.seed.model_id}/versions"
    version_id = c.throwaway("version to seal", lambda: c.admin("POST", base, json={"version": f"5.0.{c.number()}"}).get_json()["id"])
    return c.req({"version_id": version_id}, form={}) if c.page else c.req({"version_ref": version_id})


# -- the table ------------------------------------------------------------------------------------------

WORKHORSE_ONLY = f"403 Forbidden - {WORKHORSE_REASON}"
#: Who may write to the model registry but not review the matrix's promotion requests: the
#: administrator who opened them, and callers without a user (deploy tokens).
REQUESTER_REVIEWS = "403 Forbidden - the requester may not approve their own request"
USERLESS_REVIEWS = "403 Forbidden - only members review promotion requests"

P = "/api/v4/projects/<project:project_ref>"
GENERIC = f"{P}/packages/generic/<package_name>/<package_version>"
ML = f"{P}/ml/models"
VERSION = f"{ML}/<model_ref>/versions/<version_ref>"
ML_FILES = f"{P}/packages/ml_models/<int:version_id>/files/<filepath:file_path>"
MLFLOW = f"{P}/ml/mlflow"
REST = f"{MLFLOW}/api/2.0/mlflow"
ARTIFACTS = f"{MLFLOW}/api/2.0/mlflow-artifacts"
PAGE = "/<namespace>/<project>"
MODEL_PAGE = f"{PAGE}/-/ml/models/<int:model_id>"
VERSION_PAGE = f"{MODEL_PAGE}/versions/<int:version_id>"
EXPERIMENT_PAGE = f"{PAGE}/-/ml/experiments/<int:iid>"
RUN_PAGE = f"{PAGE}/-/ml/runs/<run_id>"
HF_REPO = "/hf/api/models/<namespace>/<name>"
HF_RESOLVE = "/hf/<namespace>/<name>/resolve/<revision>/<path:path>"
HF_LFS = "/hf/<namespace>/<name>.git/info/lfs"
#: Routes about a project that their URL does not name: the Hub's repo id is in the body.
PROJECT_IN_BODY = frozenset({"/hf/api/repos/create", "/hf/api/repos/delete"})

version_file = at(file_path=lambda c: c.seed.version_file)
upload = lambda c: c.req({"file_path": c.unique("upload") + ".bin"}, data=b"uploaded")
model_version = body(name=model, version=mlflow_version)
artifact_at = lambda c: c.req({"artifact_path": f"{c.seed.run_root}/mpu.bin"}, json={"path": "mpu.bin"})

#: "METHOD rule" -> the ways to call it. Every route of the URL map needs one (HEAD and OPTIONS
#: aside). Add yours here with the action it needs; see ``Variant`` and the builders above.
EXPECTATIONS: dict[str, tuple[Variant, ...]] = {
    # -- projects, members, tokens, CI jobs, audit events -----------------------------------------
    "GET /api/v4/projects": expect(PUBLIC),  # the projects the caller can see
    "POST /api/v4/projects": expect(ACCOUNT_WRITE, body(path=unique("made"))),
    f"GET {P}": expect(READ_PROJECT),
    f"PUT {P}": variants(
        settings=(ADMIN_PROJECT, body(generic_duplicates_allowed=True)),
        features=(ADMIN_PROJECT, same_feature_level),
        visibility=(OWN_PROJECT, flip_visibility),
    ),
    f"DELETE {P}": expect(OWN_PROJECT, delete_project),
    f"GET {P}/members": expect(READ_PROJECT),
    f"GET {P}/members/all": expect(READ_PROJECT),
    f"GET {P}/members/<int:user_id>": expect(READ_PROJECT),
    f"GET {P}/members/all/<int:user_id>": expect(READ_PROJECT),
    f"POST {P}/members": variants(
        developer=(ADMIN_PROJECT, add_member(Role.DEVELOPER)), owner=(OWN_PROJECT, add_member(Role.OWNER))
    ),
    f"PUT {P}/members/<int:user_id>": variants(
        developer_to_reporter=(ADMIN_PROJECT, change_member(Role.DEVELOPER, Role.REPORTER)),
        developer_to_owner=(OWN_PROJECT, change_member(Role.DEVELOPER, Role.OWNER)),
        owner_to_developer=(OWN_PROJECT, change_member(Role.OWNER, Role.DEVELOPER)),
    ),
    f"DELETE {P}/members/<int:user_id>": variants(
        developer=(ADMIN_PROJECT, change_member(Role.DEVELOPER, None)), owner=(OWN_PROJECT, change_member(Role.OWNER, None))
    ),
    f"GET {P}/access_tokens": expect(ADMIN_PROJECT),
    f"GET {P}/access_tokens/<int:token_id>": expect(ADMIN_PROJECT, at(token_id=lambda c: c.seed.bot_token_id)),
    f"POST {P}/access_tokens": expect(ADMIN_PROJECT, body(name=unique("bot"), scopes=["read_api"], access_level=10)),
    f"DELETE {P}/access_tokens/<int:token_id>": expect(ADMIN_PROJECT, revoke(lambda c: c.new_project_token())),
    f"POST {P}/access_tokens/<int:token_id>/rotate": expect(ADMIN_PROJECT, revoke(lambda c: c.new_project_token())),
    # Only a bot's own token of the project is found; anyone else's credential is not one (404).
    f"POST {P}/access_tokens/self/rotate": expect(
        OWN_PROJECT_TOKEN, own_fresh_token, ok_for=(("user", 404), ("session", 404))
    ),
    f"GET {P}/deploy_tokens": expect(ADMIN_PROJECT),
    f"GET {P}/deploy_tokens/<int:token_id>": expect(ADMIN_PROJECT, at(token_id=lambda c: c.seed.deploy_token_id)),
    f"POST {P}/deploy_tokens": expect(ADMIN_PROJECT, body(name=unique("deploy"), scopes=["read_package_registry"])),
    f"DELETE {P}/deploy_tokens/<int:token_id>": expect(ADMIN_PROJECT, revoke(lambda c: c.new_deploy_token())),
    f"POST {P}/ci_token": expect(ADMIN_PROJECT, rotate_ci_token),
    f"POST {P}/jobs": expect(REGISTER_JOB, body(user="developer", job_id=unique("job"), ci_system="gitlab")),
    f"PUT {P}/jobs/<int:job_id>": expect(
        FINISH_JOB, lambda c: c.req({"job_id": c.new_job()}, json={"status": "success"})
    ),
    f"GET {P}/jobs": expect(READ_JOB),
    f"GET {P}/jobs/<int:job_id>": expect(READ_JOB),
    f"GET {P}/audit_events": expect(ADMIN_PROJECT),
    f"GET {P}/packages/protection/rules": expect(ADMIN_PROJECT),
    f"POST {P}/packages/protection/rules": expect(
        ADMIN_PROJECT,
        body(package_name_pattern=unique("rule"), package_type="generic", minimum_access_level_for_push="owner"),
    ),
    f"PATCH {P}/packages/protection/rules/<int:rule_id>": expect(
        ADMIN_PROJECT, lambda c: c.req({"rule_id": _throwaway_rule(c)}, json={"minimum_access_level_for_push": "admin"})
    ),
    f"DELETE {P}/packages/protection/rules/<int:rule_id>": expect(
        ADMIN_PROJECT, lambda c: c.req({"rule_id": _throwaway_rule(c)})
    ),
    f"GET {P}/packages/cleanup_policy": expect(ADMIN_PROJECT),
    f"PUT {P}/packages/cleanup_policy": expect(ADMIN_PROJECT, body(enabled=False, keep_n=5)),
    f"GET {P}/packages/cleanup_policy/dry_run": expect(ADMIN_PROJECT),
    f"GET {P}/audit_events/<int:event_id>": expect(ADMIN_PROJECT),
    # -- webhooks: Maintainers manage them (GitLab's project hooks API: admin_project) --------------
    f"GET {P}/hooks": expect(ADMIN_PROJECT),
    f"GET {P}/hooks/events": expect(ADMIN_PROJECT),
    f"POST {P}/hooks": expect(ADMIN_PROJECT, new_hook),
    f"GET {P}/hooks/<int:hook_id>": expect(ADMIN_PROJECT, webhook),
    f"PUT {P}/hooks/<int:hook_id>": expect(ADMIN_PROJECT, webhook),
    f"DELETE {P}/hooks/<int:hook_id>": expect(ADMIN_PROJECT, throwaway_hook),
    f"GET {P}/hooks/<int:hook_id>/events": expect(ADMIN_PROJECT, webhook),
    f"POST {P}/hooks/<int:hook_id>/events/<int:delivery_id>/resend": expect(ADMIN_PROJECT, hook_delivery),
    # -- users and personal access tokens -----------------------------------------------------------
    "GET /api/v4/user": expect(ACCOUNT),
    "GET /api/v4/users": expect(SIGNED_IN),
    "GET /api/v4/users/<int:user_id>": expect(SIGNED_IN),
    "POST /api/v4/users": expect(ADMIN_WRITE, body(username=unique("made-user"))),
    "PUT /api/v4/users/<int:user_id>": expect(
        ADMIN_WRITE, lambda c: c.req({"user_id": c.world.user_ids["outsider"]}, json={"name": c.unique("Outsider")})
    ),
    "POST /api/v4/users/<int:user_id>/personal_access_tokens": expect(
        ADMIN_WRITE,
        lambda c: c.req({"user_id": c.world.user_ids["outsider"]}, json={"name": "given", "scopes": ["read_api"]}),
    ),
    "POST /api/v4/user/personal_access_tokens": expect(PERSON_WRITE, body(name="mine", scopes=["read_api"])),
    "GET /api/v4/personal_access_tokens": expect(ACCOUNT),
    # The browser session holds no token: "self" is not found for it.
    "GET /api/v4/personal_access_tokens/self": expect(ACCOUNT, ok_for=(("session", 404),)),
    "DELETE /api/v4/personal_access_tokens/self": expect(ACCOUNT, own_fresh_token, ok_for=(("session", 404),)),
    "POST /api/v4/personal_access_tokens/self/rotate": expect(ACCOUNT_WRITE, own_fresh_token, ok_for=(("session", 404),)),
    "GET /api/v4/personal_access_tokens/<int:token_id>": expect(
        DEVELOPERS_TOKEN, at(token_id=lambda c: c.world.developer_token_id), hidden=("404 Token Not Found",)
    ),
    "DELETE /api/v4/personal_access_tokens/<int:token_id>": expect(
        DEVELOPERS_TOKEN_WRITE, revoke(lambda c: c.new_personal_token()), hidden=("404 Token Not Found",)
    ),
    "POST /api/v4/personal_access_tokens/<int:token_id>/rotate": expect(
        DEVELOPERS_TOKEN_WRITE, revoke(lambda c: c.new_personal_token()), hidden=("404 Token Not Found",)
    ),
    "GET /api/v4/openapi.json": expect(PUBLIC),
    # -- packages API and generic packages ------------------------------------------------------
    f"GET {P}/packages": expect(READ_PACKAGE),
    f"GET {P}/packages/<int:package_id>": on_package(READ_PACKAGE),
    f"DELETE {P}/packages/<int:package_id>": on_package(DELETE_PACKAGE, throwaway_package),
    f"GET {P}/packages/<int:package_id>/package_files": on_package(READ_PACKAGE),
    f"DELETE {P}/packages/<int:package_id>/package_files/<int:file_id>": on_package(DELETE_PACKAGE, throwaway_package),
    f"GET {GENERIC}": on_package(READ_PACKAGE, latest=True),
    f"PUT {GENERIC}/<filepath:file_path>": on_package(PUBLISH_PACKAGE, upload),
    # Workhorse's pre-authorization: who may publish is told that only Workhorse is answered.
    f"PUT {GENERIC}/<filepath:file_path>/authorize": on_package(PUBLISH_PACKAGE, upload, answers=(WORKHORSE_ONLY,)),
    f"GET {GENERIC}/<filepath:file_path>": on_package(READ_PACKAGE, latest=True),
    # -- model registry REST and ml_models files --------------------------------------------------
    f"GET {ML}": expect(READ_MODEL),
    f"POST {ML}": expect(WRITE_MODEL, body(name=unique("model"))),
    f"GET {ML}/<model_ref>": expect(READ_MODEL),
    f"PUT {ML}/<model_ref>": expect(WRITE_MODEL, body(description="new words")),
    f"DELETE {ML}/<model_ref>": expect(DELETE_MODEL, at(model_ref=lambda c: c.new_model()[0])),
    f"GET {ML}/<model_ref>/versions": expect(READ_MODEL),
    f"POST {ML}/<model_ref>/versions": expect(WRITE_MODEL, body(version=lambda c: f"4.0.{c.unique('v').split('-')[1]}")),
    f"GET {VERSION}": expect(READ_MODEL),
    f"PUT {VERSION}": expect(WRITE_MODEL, body(description="new words")),
    f"DELETE {VERSION}": expect(DELETE_MODEL, at(version_ref=lambda c: c.new_version()[0])),
    f"POST {VERSION}/seal": expect(SEAL_VERSION, _version_to_seal),
    f"GET {VERSION}/archive": expect(READ_MODEL),
    f"GET {VERSION}/files": expect(READ_MODEL),
    f"DELETE {VERSION}/files": expect(DELETE_MODEL, throwaway_version_file),
    f"GET {VERSION}/files/<filepath:file_path>": expect(READ_MODEL, version_file),
    f"DELETE {VERSION}/files/<int:file_id>": expect(DELETE_MODEL, throwaway_version_file),
    # -- aliases, promotion requests (any member from the Reporter up reviews the matrix's, except the
    # administrator who opened them, and callers without a user) and protected alias rules ------------
    f"GET {ML}/<model_ref>/aliases": expect(READ_MODEL),
    f"GET {ML}/<model_ref>/aliases/<alias>": expect(READ_MODEL, at(alias="champion")),
    f"PUT {ML}/<model_ref>/aliases/<alias>": expect(
        WRITE_MODEL, lambda c: c.req({"alias": c.unique("alias")}, json={"version": c.seed.version})
    ),
    f"DELETE {ML}/<model_ref>/aliases/<alias>": expect(WRITE_MODEL, throwaway_alias),
    f"GET {ML}/<model_ref>/aliases/<alias>/history": expect(READ_MODEL, at(alias="champion")),
    f"POST {ML}/<model_ref>/aliases/<alias>/rollback": expect(WRITE_MODEL, moved_alias),
    f"GET {ML}/<model_ref>/promotion_requests": expect(READ_MODEL),
    f"GET {ML}/<model_ref>/promotion_requests/<int:request_id>": expect(READ_MODEL, pending_request),
    **{
        f"POST {ML}/<model_ref>/promotion_requests/<int:request_id>/{verdict}": expect(
            WRITE_MODEL, pending_request, answers=(REQUESTER_REVIEWS, USERLESS_REVIEWS)
        )
        for verdict in ("approve", "reject")
    },
    f"GET {P}/ml/protected_aliases": expect(ADMIN_PROJECT),
    f"POST {P}/ml/protected_aliases": expect(ADMIN_PROJECT, body(alias_pattern=lambda c: f"{c.unique('pat')}-*")),
    f"GET {P}/ml/protected_aliases/<int:rule_id>": expect(ADMIN_PROJECT, alias_rule),
    f"PATCH {P}/ml/protected_aliases/<int:rule_id>": expect(ADMIN_PROJECT, alias_rule),
    f"DELETE {P}/ml/protected_aliases/<int:rule_id>": expect(ADMIN_PROJECT, alias_rule),
    f"PUT {ML_FILES}": expect(WRITE_MODEL, upload),
    f"PUT {ML_FILES}/authorize": expect(WRITE_MODEL, upload, answers=(WORKHORSE_ONLY,)),
    f"GET {ML_FILES}": expect(READ_MODEL, version_file),
    # -- MLflow ---------------------------------------------------------------------------------------
    f"GET {MLFLOW}/api/3.0/mlflow/server-info": expect(READ_MODEL),
    # The page at the tracking URI, where MLflow's printed links land: a page (the session's caller).
    f"GET {MLFLOW}/": expect(READ_MODEL),
    **{
        # MLflow's answer for a route it does not have: the same for everyone, project or not.
        f"{method} {MLFLOW}/<path:unknown>": expect(PUBLIC, at(unknown="api/2.0/mlflow/no-such-endpoint"), ok=(404,))
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    },
    f"GET {ARTIFACTS}/artifacts": expect(READ_MODEL, body(path=lambda c: c.seed.run_root)),
    f"GET {ARTIFACTS}/artifacts/<path:artifact_path>": expect(READ_MODEL, at(artifact_path=lambda c: c.seed.artifact)),
    f"PUT {ARTIFACTS}/artifacts/<path:artifact_path>": expect(
        WRITE_MODEL, lambda c: c.req({"artifact_path": f"{c.seed.run_root}/{c.unique('up')}.txt"}, data=b"uploaded")
    ),
    f"DELETE {ARTIFACTS}/artifacts/<path:artifact_path>": expect(DELETE_MODEL, at(artifact_path=lambda c: c.new_artifact())),
    # Multipart and presigned URLs are not offered: an allowed caller learns that (501).
    f"POST {ARTIFACTS}/mpu/create/<path:artifact_path>": expect(WRITE_MODEL, artifact_at, ok=(501,)),
    f"POST {ARTIFACTS}/mpu/complete/<path:artifact_path>": expect(WRITE_MODEL, artifact_at, ok=(501,)),
    f"POST {ARTIFACTS}/mpu/abort/<path:artifact_path>": expect(WRITE_MODEL, artifact_at, ok=(501,)),
    f"GET {ARTIFACTS}/presigned/<path:artifact_path>": expect(READ_MODEL, artifact_at, ok=(501,)),
    f"GET {REST}/artifacts/list": expect(READ_MODEL, body(run_id=run)),
    f"POST {REST}/experiments/create": expect(WRITE_MODEL, body(name=unique("experiment"))),
    f"POST {REST}/experiments/delete": expect(WRITE_MODEL, body(experiment_id=lambda c: c.new_experiment())),
    f"GET {REST}/experiments/get": expect(READ_MODEL, body(experiment_id=experiment)),
    f"GET {REST}/experiments/get-by-name": expect(READ_MODEL, body(experiment_name=lambda c: c.seed.experiment_name)),
    f"POST {REST}/experiments/restore": expect(WRITE_MODEL, body(experiment_id=lambda c: c.new_experiment(deleted=True))),
    f"GET {REST}/experiments/search": expect(READ_MODEL),
    f"POST {REST}/experiments/search": expect(READ_MODEL, body()),
    f"POST {REST}/experiments/set-experiment-tag": expect(WRITE_MODEL, body(experiment_id=experiment, key="k", value="v")),
    f"POST {REST}/experiments/update": expect(
        WRITE_MODEL, body(experiment_id=lambda c: c.new_experiment(), new_name=unique("renamed"))
    ),
    f"POST {REST}/logged-models": expect(WRITE_MODEL, body(experiment_id=experiment)),
    f"GET {REST}/logged-models/<model_id>": expect(READ_MODEL, at(model_id=lambda c: c.seed.logged_model_id)),
    f"PATCH {REST}/logged-models/<model_id>": expect(
        WRITE_MODEL, lambda c: c.req({"model_id": c.new_logged_model()}, json={"status": "LOGGED_MODEL_READY"})
    ),
    f"DELETE {REST}/logged-models/<model_id>": expect(WRITE_MODEL, at(model_id=lambda c: c.new_logged_model())),
    f"POST {REST}/logged-models/<model_id>/params": expect(
        WRITE_MODEL,
        lambda c: c.req({"model_id": c.seed.logged_model_id}, json={"params": [{"key": c.unique("p"), "value": "1"}]}),
    ),
    f"PATCH {REST}/logged-models/<model_id>/tags": expect(
        WRITE_MODEL, lambda c: c.req({"model_id": c.seed.logged_model_id}, json={"tags": [{"key": "k", "value": "v"}]})
    ),
    f"DELETE {REST}/logged-models/<model_id>/tags/<path:key>": expect(WRITE_MODEL, with_tag("logged model")),
    f"POST {REST}/logged-models/search": expect(READ_MODEL, body(experiment_ids=lambda c: [c.seed.experiment_id])),
    f"GET {REST}/metrics/get-history": expect(READ_MODEL, body(run_id=run, metric_key="loss")),
    f"POST {REST}/model-versions/create": expect(WRITE_MODEL, body(name=model, source="s3://bucket/model")),
    f"DELETE {REST}/model-versions/delete": expect(
        DELETE_MODEL, body(name=model, version=lambda c: c.new_mlflow_version())
    ),
    f"DELETE {REST}/model-versions/delete-tag": expect(WRITE_MODEL, with_tag("model version")),
    f"GET {REST}/model-versions/get": expect(READ_MODEL, model_version),
    f"GET {REST}/model-versions/get-download-uri": expect(READ_MODEL, model_version),
    f"GET {REST}/model-versions/search": expect(READ_MODEL),
    f"POST {REST}/model-versions/set-tag": expect(
        WRITE_MODEL, body(name=model, version=mlflow_version, key="k", value="v")
    ),
    f"POST {REST}/model-versions/transition-stage": expect(
        WRITE_MODEL, body(name=model, version=mlflow_version, stage="Staging", archive_existing_versions=False)
    ),
    f"PATCH {REST}/model-versions/update": expect(
        WRITE_MODEL, body(name=model, version=mlflow_version, description="new words")
    ),
    f"POST {REST}/registered-models/alias": expect(
        WRITE_MODEL, body(name=model, alias="champion", version=mlflow_version)
    ),
    f"GET {REST}/registered-models/alias": expect(READ_MODEL, body(name=model, alias="champion")),
    f"DELETE {REST}/registered-models/alias": expect(WRITE_MODEL, with_alias),
    f"POST {REST}/registered-models/create": expect(WRITE_MODEL, body(name=unique("registered"))),
    f"DELETE {REST}/registered-models/delete": expect(DELETE_MODEL, body(name=lambda c: c.new_model()[1])),
    f"DELETE {REST}/registered-models/delete-tag": expect(WRITE_MODEL, with_tag("registered model")),
    f"GET {REST}/registered-models/get": expect(READ_MODEL, body(name=model)),
    f"GET {REST}/registered-models/get-latest-versions": expect(READ_MODEL, body(name=model)),
    f"POST {REST}/registered-models/get-latest-versions": expect(READ_MODEL, body(name=model)),
    f"POST {REST}/registered-models/rename": expect(
        WRITE_MODEL, body(name=lambda c: c.new_model()[1], new_name=unique("renamed"))
    ),
    f"GET {REST}/registered-models/search": expect(READ_MODEL),
    f"POST {REST}/registered-models/set-tag": expect(WRITE_MODEL, body(name=model, key="k", value="v")),
    f"PATCH {REST}/registered-models/update": expect(WRITE_MODEL, body(name=model, description="new words")),
    f"POST {REST}/runs/create": expect(WRITE_MODEL, body(experiment_id=experiment)),
    f"POST {REST}/runs/delete": expect(WRITE_MODEL, body(run_id=lambda c: c.new_run())),
    f"POST {REST}/runs/delete-tag": expect(WRITE_MODEL, with_tag("run")),
    f"GET {REST}/runs/get": expect(READ_MODEL, body(run_id=run)),
    f"POST {REST}/runs/log-batch": expect(
        WRITE_MODEL, body(run_id=run, metrics=[{"key": "loss", "value": 0.4, "timestamp": 2, "step": 1}])
    ),
    f"POST {REST}/runs/log-inputs": expect(
        WRITE_MODEL,
        body(
            run_id=run,
            datasets=[{"dataset": {"name": "iris", "digest": "d1", "source_type": "local", "source": "{}"}}],
            models=lambda c: [{"model_id": c.seed.logged_model_id}],
        ),
    ),
    f"POST {REST}/runs/log-metric": expect(WRITE_MODEL, body(run_id=run, key="loss", value=0.3, timestamp=3, step=2)),
    f"POST {REST}/runs/log-parameter": expect(WRITE_MODEL, body(run_id=run, key=unique("param"), value="1")),
    f"POST {REST}/runs/log-model": expect(
        WRITE_MODEL,
        body(
            run_id=run,
            model_json=json.dumps(
                {"run_id": "r", "artifact_path": "model", "flavors": {}, "utc_time_created": "2026-12-05 00:00:00"}
            ),
        ),
    ),
    f"POST {REST}/runs/outputs": expect(
        WRITE_MODEL, body(run_id=run, models=lambda c: [{"model_id": c.seed.logged_model_id, "step": 0}])
    ),
    f"POST {REST}/runs/restore": expect(WRITE_MODEL, body(run_id=lambda c: c.new_run(deleted=True))),
    f"POST {REST}/runs/search": expect(READ_MODEL, body(experiment_ids=lambda c: [c.seed.experiment_id])),
    f"POST {REST}/runs/set-tag": expect(WRITE_MODEL, body(run_id=run, key="k", value="v")),
    f"POST {REST}/runs/update": expect(WRITE_MODEL, body(run_id=run, run_name="renamed-run")),
    # MLflow's webhook API: the project's hooks, so its Maintainers' (as /hooks). A Test sends at once,
    # to a closed loopback port: its answer (200, success false) is the handler's.
    f"GET {REST}/webhooks": expect(ADMIN_PROJECT),
    f"POST {REST}/webhooks": expect(ADMIN_PROJECT, new_hook),
    f"GET {REST}/webhooks/<webhook_id>": expect(ADMIN_PROJECT, webhook),
    f"PATCH {REST}/webhooks/<webhook_id>": expect(ADMIN_PROJECT, webhook),
    f"DELETE {REST}/webhooks/<webhook_id>": expect(ADMIN_PROJECT, throwaway_hook),
    f"POST {REST}/webhooks/<webhook_id>/test": expect(ADMIN_PROJECT, webhook),
    # -- the Hugging Face Hub API: reads as the model registry's, writes as creating models and
    # versions, deletes as deleting them; a hidden project is a missing repo (RepoNotFound) ---------
    f"GET {HF_REPO}": expect(READ_MODEL, hf()()),
    f"GET {HF_REPO}/revision/<revision>": variants(
        version=(READ_MODEL, hf()()), main=(READ_MODEL, hf(revision="main")()), tag=(READ_MODEL, hf(revision="champion")())
    ),
    f"GET {HF_REPO}/tree/<revision>": expect(READ_MODEL, hf()()),
    f"GET {HF_REPO}/tree/<revision>/<path:path>": expect(READ_MODEL, hf(path=lambda c: c.seed.version_folder)()),
    # A read by POST (the paths are a form or JSON).
    f"POST {HF_REPO}/paths-info/<revision>": expect(READ_MODEL, hf()(json=lambda c: {"paths": [c.seed.version_file]})),
    f"GET {HF_REPO}/refs": expect(READ_MODEL, hf()()),
    f"GET {HF_REPO}/commits/<revision>": expect(READ_MODEL, hf(revision="main")()),
    f"GET {HF_RESOLVE}": variants(
        version=(READ_MODEL, hf(path=lambda c: c.seed.version_file)()),
        # main of a model whose only version the matrix never adds to (the seed's model gains versions).
        main=(READ_MODEL, hf(name=lambda c: c.seed.packages[LATEST].name, revision="main", path=lambda c: c.seed.packages[LATEST].file_name)()),
    ),
    # Any credential may ask who it is (hf auth whoami); only anonymous is told to send one.
    "GET /hf/api/whoami-v2": expect(SIGNED_IN),
    "POST /hf/api/repos/create": expect(
        WRITE_MODEL, lambda c: c.req(json=hf_repo_body(unique("hf-model"))(c))
    ),
    "DELETE /hf/api/repos/delete": expect(DELETE_MODEL, lambda c: c.req(json=hf_repo_body(lambda c: c.new_model()[1])(c))),
    # The model card's metadata check reads nothing of a project.
    "POST /hf/api/validate-yaml": expect(PUBLIC, body(content="---\nlicense: mit\n---\n# A model\n")),
    f"POST {HF_REPO}/preupload/<path:revision>": expect(
        WRITE_MODEL, hf(revision="main")(json={"files": [{"path": "a.bin", "size": 3, "sample": "YWJj"}]})
    ),
    # Xet: a write token for whoever may commit, a read token for whoever may read; the CAS API's
    # permission is that token (signed for the administrator here), whoever sends it, as a transfer URL's.
    f"GET {HF_REPO}/xet-write-token/<path:revision>": expect(WRITE_MODEL, hf(revision="main")()),
    f"GET {HF_REPO}/xet-read-token/<path:revision>": expect(READ_MODEL, hf(revision="main")()),
    "POST /hf/cas/v1/xorbs/<prefix>/<xorb>": expect(PUBLIC, xet_upload_xorb),
    # Upload grants: this store takes no direct writes, so a grant is a 404 (the client uploads through
    # /v1/xorbs), and so is the commit of a grant never given; tests/huggingface/test_xet_grants.py has S3's.
    "POST /hf/cas/v1/xorb-grants/<prefix>/<xorb>": expect(PUBLIC, xet_grant_xorb, ok=(404,)),
    "POST /hf/cas/v1/xorb-commits/<prefix>/<xorb>/grant/<grant_id>": expect(PUBLIC, xet_commit_xorb, ok=(404,)),
    "POST /hf/cas/v1/shards": expect(PUBLIC, xet_upload_shard),
    "GET /hf/cas/v1/chunks/<prefix>/<chunk>": expect(PUBLIC, xet_query_chunk),
    "GET /hf/cas/v1/reconstructions/<file>": expect(PUBLIC, xet_reconstruction),
    "GET /hf/cas/v1/fetch/<token>": expect(PUBLIC, xet_fetch, ok=(206,)),
    f"POST {HF_REPO}/commit/<path:revision>": variants(
        main=(WRITE_MODEL, hf(revision="main")(data=hf_commit, headers=NDJSON)),
        new_version=(WRITE_MODEL, hf(revision=lambda c: f"8.0.{c.number()}")(data=hf_commit, headers=NDJSON)),
        # A file of an existing version deleted or replaced: deleting it, which pushing tokens may not.
        delete_in_version=(DELETE_MODEL, hf_version_change(delete=True)),
        replace_in_version=(DELETE_MODEL, hf_version_change(delete=False)),
    ),
    # A copy from another repo: read the source, write the target (here the same repo, so writing it).
    f"POST {HF_REPO}/lfs-files/duplicate": expect(
        WRITE_MODEL, hf()(json=lambda c: {"target": {"type": "model", "name": f"{c.seed.id}/{c.seed.model_name}"}, "files": []})
    ),
    f"POST {HF_REPO}/branch/<path:branch>": expect(WRITE_MODEL, hf(branch=lambda c: f"7.0.{c.number()}")(json={})),
    f"POST {HF_REPO}/tag/<path:revision>": expect(WRITE_MODEL, hf()(json=lambda c: {"tag": c.unique("tag")})),
    # A tag is an alias: deleting one is MLflow's registered-models/alias DELETE.
    f"DELETE {HF_REPO}/tag/<path:tag>": expect(WRITE_MODEL, hf_tag),
    f"POST {HF_LFS}/objects/batch": expect(
        WRITE_MODEL,
        hf()(json=lambda c: {"operation": "upload", "transfers": ["basic"], "objects": [
            {"oid": hashlib.sha256(c.unique("batch").encode()).hexdigest(), "size": 9}
        ]}),
    ),
    f"POST {HF_LFS}/verify": expect(WRITE_MODEL, lfs_verify),
    # The transfers carry no credentials, as presigned S3 URLs: the URL, signed for whoever was
    # allowed the batch request (here the administrator), is the permission, whoever sends it.
    f"PUT {HF_LFS}/objects/<token>": expect(PUBLIC, lfs_object),
    f"PUT {HF_LFS}/parts/<token>/<int:number>": expect(PUBLIC, lfs_part),
    f"POST {HF_LFS}/complete/<token>": expect(PUBLIC, lfs_complete),
    **{
        # The Hub's answer for what is not served: the same for everyone.
        f"{method} /hf/<path:unknown>": expect(PUBLIC, at(unknown="api/no-such-endpoint"), ok=(404,))
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    },
    # -- pages ------------------------------------------------------------------------------------------
    "GET /": expect(PUBLIC),  # the projects the caller may see
    "GET /projects/new": expect(ACCOUNT),
    "POST /projects": expect(ACCOUNT_WRITE, form(path=unique("made"))),  # in the caller's own namespace
    "GET /users/sign_in": expect(PUBLIC),
    "POST /users/sign_in": expect(PUBLIC, form(username="signer", password=SIGNER_PASSWORD)),
    "POST /users/sign_out": expect(PUBLIC, form()),
    "GET /static/<path:filename>": expect(PUBLIC, at(filename="modelshelf.css")),
    "GET /-/model_registry/static/<path:filename>": expect(PUBLIC, at(filename="model_registry.css")),
    f"GET {PAGE}": expect(READ_PROJECT),
    f"GET {PAGE}/-/packages": expect(READ_PACKAGE),
    f"GET {PAGE}/-/packages/<int:package_id>": on_package(READ_PACKAGE),
    f"POST {PAGE}/-/packages/<int:package_id>/delete": on_package(DELETE_PACKAGE, throwaway_package),
    f"POST {PAGE}/-/packages/<int:package_id>/package_files/<int:file_id>/delete": on_package(
        DELETE_PACKAGE, throwaway_package
    ),
    f"GET {PAGE}/-/package_files/<int:file_id>/download": on_package(READ_PACKAGE),
    f"GET {PAGE}/-/ml/models": expect(READ_MODEL),
    f"GET {PAGE}/-/ml/models/new": expect(WRITE_MODEL),
    f"POST {PAGE}/-/ml/models/new": expect(WRITE_MODEL, form(name=unique("model"), description="words")),
    f"GET {MODEL_PAGE}": expect(READ_MODEL),
    f"GET {MODEL_PAGE}/edit": expect(WRITE_MODEL),
    f"POST {MODEL_PAGE}/edit": expect(WRITE_MODEL, form(description="new words")),
    f"POST {MODEL_PAGE}/delete": expect(DELETE_MODEL, page_throwaway_model),
    f"GET {MODEL_PAGE}/versions/new": expect(WRITE_MODEL),
    f"POST {MODEL_PAGE}/versions/new": expect(
        WRITE_MODEL, form(version=lambda c: f"5.0.{c.unique('v').split('-')[1]}", description="words")
    ),
    f"POST {MODEL_PAGE}/aliases": expect(WRITE_MODEL, form(alias=unique("alias"), version=lambda c: c.seed.version_id)),
    f"POST {MODEL_PAGE}/aliases/<alias>/rollback": expect(WRITE_MODEL, moved_alias),
    f"POST {MODEL_PAGE}/aliases/<alias>/delete": expect(WRITE_MODEL, throwaway_alias),
    f"GET {MODEL_PAGE}/promotions/<int:request_id>": expect(READ_MODEL, pending_request),
    # A review the service refuses is flashed on the request's page: the page answers alike.
    f"POST {MODEL_PAGE}/promotions/<int:request_id>/approve": expect(WRITE_MODEL, pending_request),
    f"POST {MODEL_PAGE}/promotions/<int:request_id>/reject": expect(WRITE_MODEL, pending_request),
    f"GET {PAGE}/-/ml/protected_aliases": expect(ADMIN_PROJECT),
    f"POST {PAGE}/-/ml/protected_aliases": expect(
        ADMIN_PROJECT, form(alias_pattern=lambda c: f"{c.unique('pat')}-*", minimum_access_level="maintainer",
                            approvals_required="0", required_tags="")
    ),
    f"POST {PAGE}/-/ml/protected_aliases/<int:rule_id>/delete": expect(ADMIN_PROJECT, alias_rule),
    f"POST {PAGE}/-/ml/protected_aliases/<int:rule_id>/edit": expect(ADMIN_PROJECT, alias_rule),
    f"GET {VERSION_PAGE}": expect(READ_MODEL),
    f"GET {VERSION_PAGE}/edit": expect(WRITE_MODEL),
    f"POST {VERSION_PAGE}/edit": expect(WRITE_MODEL, form(description="new words")),
    f"POST {VERSION_PAGE}/delete": expect(DELETE_MODEL, page_throwaway_version),
    f"POST {VERSION_PAGE}/seal": expect(SEAL_VERSION, _version_to_seal),
    f"GET {PAGE}/-/ml/experiments": expect(READ_MODEL),
    f"GET {EXPERIMENT_PAGE}": expect(READ_MODEL, at(iid=experiment)),
    # As MLflow's experiments/delete: who may change the model registry.
    f"POST {EXPERIMENT_PAGE}/delete": expect(WRITE_MODEL, page_throwaway_experiment),
    f"GET {PAGE}/-/ml/runs/compare": expect(READ_MODEL, body(run=run)),
    f"GET {RUN_PAGE}": expect(READ_MODEL, at(run_id=run)),
    # Promoting registers a version: the New version form's right.
    f"POST {RUN_PAGE}/promote": expect(
        WRITE_MODEL,
        lambda c: c.req(
            {"run_id": c.seed.run_id},
            form={"model_id": c.seed.model_id, "source": "run", "version": f"6.0.{c.number()}"},
        ),
    ),
    # -- settings pages -----------------------------------------------------------------------------
    f"GET {PAGE}/-/settings": expect(ADMIN_PROJECT),
    f"POST {PAGE}/-/settings/general": expect(ADMIN_PROJECT, form(description="new words")),
    f"POST {PAGE}/-/settings/packages": expect(ADMIN_PROJECT, form(generic_duplicates_allowed="1")),
    f"POST {PAGE}/-/settings/permissions": variants(
        features=(ADMIN_PROJECT, same_feature_level), visibility=(OWN_PROJECT, flip_visibility)
    ),
    f"POST {PAGE}/-/settings/delete": expect(OWN_PROJECT, delete_project),
    f"GET {PAGE}/-/settings/members": expect(ADMIN_PROJECT),
    f"POST {PAGE}/-/settings/members": variants(
        developer=(ADMIN_PROJECT, add_member(Role.DEVELOPER)), owner=(OWN_PROJECT, add_member(Role.OWNER))
    ),
    f"POST {PAGE}/-/settings/members/<int:user_id>": variants(
        developer_to_reporter=(ADMIN_PROJECT, change_member(Role.DEVELOPER, Role.REPORTER)),
        developer_to_owner=(OWN_PROJECT, change_member(Role.DEVELOPER, Role.OWNER)),
        owner_to_developer=(OWN_PROJECT, change_member(Role.OWNER, Role.DEVELOPER)),
    ),
    f"POST {PAGE}/-/settings/members/<int:user_id>/remove": variants(
        developer=(ADMIN_PROJECT, change_member(Role.DEVELOPER, None)), owner=(OWN_PROJECT, change_member(Role.OWNER, None))
    ),
    f"GET {PAGE}/-/settings/access_tokens": expect(ADMIN_PROJECT),
    f"POST {PAGE}/-/settings/access_tokens": expect(
        ADMIN_PROJECT, form(name=unique("bot"), scopes="read_api", access_level="10")
    ),
    f"POST {PAGE}/-/settings/access_tokens/<int:token_id>/revoke": expect(
        ADMIN_PROJECT, revoke(lambda c: c.new_project_token())
    ),
    f"GET {PAGE}/-/settings/deploy_tokens": expect(ADMIN_PROJECT),
    f"POST {PAGE}/-/settings/deploy_tokens": expect(
        ADMIN_PROJECT, form(name=unique("deploy"), scopes="read_package_registry")
    ),
    f"POST {PAGE}/-/settings/deploy_tokens/<int:token_id>/revoke": expect(
        ADMIN_PROJECT, revoke(lambda c: c.new_deploy_token())
    ),
    f"GET {PAGE}/-/settings/ci_cd": expect(ADMIN_PROJECT),
    f"POST {PAGE}/-/settings/ci_cd/ci_token": expect(ADMIN_PROJECT, rotate_ci_token),
    f"POST {PAGE}/-/settings/packages_and_registries/cleanup_policy": expect(
        ADMIN_PROJECT, form(cadence="7d", keep_n="10", older_than="90d", name_regex_delete=".*")
    ),
    f"GET {PAGE}/-/settings/audit_events": expect(ADMIN_PROJECT),
    f"GET {PAGE}/-/settings/packages_and_registries": expect(ADMIN_PROJECT),
    f"POST {PAGE}/-/settings/packages_and_registries/protection_rules": expect(
        ADMIN_PROJECT,
        form(package_name_pattern=unique("rule"), package_type="generic", minimum_access_level_for_push="owner",
             minimum_access_level_for_delete=""),
    ),
    f"POST {PAGE}/-/settings/packages_and_registries/protection_rules/<int:rule_id>": expect(
        ADMIN_PROJECT,
        lambda c: c.req({"rule_id": _throwaway_rule(c)}, form={
            "package_name_pattern": c.unique("rule"), "package_type": "generic",
            "minimum_access_level_for_push": "admin", "minimum_access_level_for_delete": "owner",
        }),
    ),
    f"POST {PAGE}/-/settings/packages_and_registries/protection_rules/<int:rule_id>/delete": expect(
        ADMIN_PROJECT, lambda c: c.req({"rule_id": _throwaway_rule(c)}, form={})
    ),
    f"GET {PAGE}/-/settings/webhooks": expect(ADMIN_PROJECT, lambda c: c.req(query={"hook": kept_delivery(c)[0]})),
    f"POST {PAGE}/-/settings/webhooks": expect(ADMIN_PROJECT, new_hook),
    f"POST {PAGE}/-/settings/webhooks/<int:hook_id>/delete": expect(ADMIN_PROJECT, throwaway_hook),
    f"POST {PAGE}/-/settings/webhooks/<int:hook_id>/deliveries/<int:delivery_id>/redeliver": expect(
        ADMIN_PROJECT, hook_delivery
    ),
    # -- user settings pages ------------------------------------------------------------------------
    "GET /-/user_settings/personal_access_tokens": expect(ACCOUNT),
    "POST /-/user_settings/personal_access_tokens": expect(ACCOUNT_WRITE, form(name="mine", scopes="read_api")),
    # Administrators revoke other people's tokens through the API, not on their own settings page.
    "POST /-/user_settings/personal_access_tokens/<int:token_id>/revoke": expect(
        DEVELOPERS_OWN_TOKEN_WRITE, revoke(lambda c: c.new_personal_token())
    ),
    "GET /-/user_settings/password/edit": expect(ACCOUNT),
    # A wrong current password: the form answers anyone signed in (400), and no seeded session ends.
    "POST /-/user_settings/password": expect(
        ACCOUNT_WRITE, form(current_password="not it", password="a new password", password_confirmation="a new password"), ok=(400,)
    ),
    # Ends every session of the caller's (the matrix signs them in afresh for each request).
    "POST /-/user_settings/sign_out_everywhere": expect(ACCOUNT_WRITE, form()),
    # -- operations (by network, not by caller: /-/metrics answers the allowed networks, loopback here)
    "GET /-/health": expect(PUBLIC),
    "GET /-/readiness": expect(PUBLIC),
    "GET /-/metrics": expect(PUBLIC),
}


# == the matrix ========================================================================================


def routes(app: Flask) -> set[str]:
    """``METHOD rule`` of every route of ``app``, HEAD and OPTIONS aside."""
    return {
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    }


def cases(app: Flask, rule: str, action: str) -> list[tuple[str | None, Who]]:
    """(project, caller) pairs a route is asked by: about no project, every caller once; otherwise
    each role on each visibility, every token kind on the private project, the tokens of another
    project on every visibility, and, for an action of a project feature, a Reporter, a non-member
    and anonymous where the model registry is disabled or for members only.

    Pages know the browser session alone: the roles call them by their sessions, and the tokens
    asked of them (one of each header) must count for nothing."""
    page = is_page(rule, app)
    tokens = page_token_callers() if page else token_callers()
    about_project = "<project:project_ref>" in rule or "<namespace>" in rule or rule in PROJECT_IN_BODY
    if not about_project:
        return [(None, w) for w in [*role_callers(), *tokens]]
    found: list[tuple[str | None, Who]] = [("private", w) for w in [*role_callers(), *tokens]]
    for key in ("internal", "public"):
        found += [(key, w) for w in [*role_callers(), *([] if page else other_project_tokens())]]
    if action in NEEDS and NEEDS[action].feature is not None:
        few = [w for w in role_callers() if w.name in ("anonymous", "outsider", "reporter")]
        for key in ("public-mr-disabled", "public-mr-private"):
            found += [(key, w) for w in few]
    return found


@dataclass
class Matrix:
    app: Flask
    world: World
    routes: set[str]
    requests: int = 0


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    started = time.perf_counter()
    data = Path(tmp_path_factory.mktemp("matrix")) / "data"
    settings = {
        "DATA_DIR": str(data),
        "STORAGE": "memory",
        "SECRET_KEY": "test",
        "PLUGINS": "all",
        "HF_LFS_PART_SIZE": LFS_PART,
        # The matrix's hooks point at a closed loopback port (permission_requests.closed_url).
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": True,
        **database_settings(data),
    }
    app = create_app(settings)
    app.config["TESTING"] = True
    found = Matrix(app, build_world(app), routes(app))
    yield found
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and found.requests:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\npermission matrix: {len(found.routes)} routes (method and rule), {found.requests} requests, "
                f"{time.perf_counter() - started:.0f} s"
            )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_every_route_has_an_expectation(matrix: Matrix) -> None:
    missing = sorted(matrix.routes - EXPECTATIONS.keys())
    gone = sorted(EXPECTATIONS.keys() - matrix.routes)
    problems = []
    if missing:
        problems.append(
            "Routes without an expectation: add each to EXPECTATIONS in tests/api/test_permission_matrix.py with "
            "the action it needs (and a request builder if the seed's ids do not make a valid request):"
        )
        problems += [f"  {key}" for key in missing]
    if gone:
        problems.append("Expectations of routes the app no longer has: remove them from EXPECTATIONS:")
        problems += [f"  {key}" for key in gone]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", sorted(EXPECTATIONS))
def test_permissions(matrix: Matrix, key: str) -> None:
    if key not in matrix.routes:
        pytest.fail(f"{key} is not a route of the app any more: remove its expectation")
    method, rule = key.split(" ", 1)
    page, world = is_page(rule, matrix.app), matrix.world
    problems = []
    for variant in EXPECTATIONS[key]:
        for project_key, who in cases(matrix.app, rule, variant.action):
            seed = world.seeds[project_key or "private"]
            ctx = Ctx(world, seed, method, rule, variant.package, who)
            request = variant.build(ctx) if variant.build else ctx.req()
            response = world.send(who, request, page=page)
            matrix.requests += 1
            got = classify(response, page=page, method=method, hidden=variant.hidden, answers=variant.answers)
            if got != ALLOWED:
                world.give_back(ctx)
            caller = who.on_pages() if page else who
            project = PROJECTS[project_key] if project_key else None
            want = expected(variant.action, caller, project, method=method, page=page)
            where = f"{project_key or '-'} · {who}" + (f" [{variant.name}]" if variant.name else "")
            if got != want:
                problems.append(f"{where}: expected {want} ({variant.action}), got {got}: {describe(response)}")
            elif got == ALLOWED and not variant.succeeded(who, response.status_code):
                problems.append(
                    f"{where}: allowed, but the request failed (fix its builder, or the handler): {describe(response)}"
                )
    assert not problems, f"{key}: {len(problems)} unexpected answers\n" + "\n".join(problems)


#: GET routes whose HEAD is asked too (Flask answers HEAD with the GET view): downloads, where a
#: HEAD tells a client the size and checksum of what it may not read.
HEAD_SAMPLE = (
    f"GET {GENERIC}/<filepath:file_path>",
    f"GET {HF_RESOLVE}",
    f"GET {ML_FILES}",
    f"GET {ARTIFACTS}/artifacts/<path:artifact_path>",
    f"GET {PAGE}/-/package_files/<int:file_id>/download",
)


@pytest.mark.parametrize("key", HEAD_SAMPLE)
def test_head_is_judged_as_get(matrix: Matrix, key: str) -> None:
    method, rule = key.split(" ", 1)
    page, world = is_page(rule, matrix.app), matrix.world
    problems = []
    for variant in EXPECTATIONS[key]:
        for project_key, who in cases(matrix.app, rule, variant.action):
            seed = world.seeds[project_key or "private"]
            ctx = Ctx(world, seed, method, rule, variant.package, who)
            request = variant.build(ctx) if variant.build else ctx.req()
            got = world.send(who, request, page=page)
            request.method = "HEAD"
            head = world.send(who, request, page=page)
            matrix.requests += 2
            if (head.status_code, head.headers.get("Location")) != (got.status_code, got.headers.get("Location")) or head.data:
                where = f"{project_key} · {who}" + (f" [{variant.name}]" if variant.name else "")
                problems.append(f"{where}: GET {got.status_code}, HEAD {head.status_code} with {len(head.data)} bytes")
    assert not problems, f"HEAD of {rule}:\n" + "\n".join(problems)
