"""The ``modelshelf`` command: ``serve``, ``admin ...``, ``cleanup``, ``gc`` and ``verify``. Every command reads
``MODELSHELF_*``. The ``admin`` commands change things as ``identity.COMMAND_LINE`` (their audit
events say ``cli``), through services that commit their own changes."""
from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask

from package_api import services
from package_api.access.projects import parse_role, parse_visibility
from package_api.app import create_app
from package_api.db import db
from package_api.errors import ModelshelfError
from package_api.identity import COMMAND_LINE
from package_api.ops import migrate as migrations


def _app(data_dir: str | None, *, migrate: bool = True, **overrides: Any) -> Flask:
    """The app of a command, its database checked (and, when allowed, upgraded) first: see
    ``package_api.ops.migrate``. Commands never make tables with ``create_all``."""
    config: dict[str, Any] = {"CREATE_SCHEMA": False, **overrides}
    if data_dir:
        config["DATA_DIR"] = data_dir
    app = create_app(config)
    if migrate:
        try:
            migrations.prepare(app)
        except migrations.SchemaOutOfDate as exc:
            raise _Fail(str(exc)) from None
    return app


def data_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--data-dir", envvar="MODELSHELF_DATA_DIR", default=None, help="Data directory (MODELSHELF_DATA_DIR)."
    )(command)


class _Fail(click.ClickException):
    """A domain error, printed as one line with exit code 1."""


@click.group()
def main() -> None:
    """Modelshelf: a model registry on a GitLab-compatible generic package registry."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="MODELSHELF_HOST")
@click.option("--port", default=8080, show_default=True, type=int, envvar="MODELSHELF_PORT")
@click.option("--workers", default=1, show_default=True, type=int, envvar="MODELSHELF_WORKERS")
@click.option(
    "--threads", default=8, show_default=True, type=int, envvar="MODELSHELF_THREADS", help="Threads a worker (gthread only)."
)
@click.option(
    "--worker-class",
    type=click.Choice(["gevent", "gthread"]),
    default=None,
    help="gevent (default: a greenlet per connection) or gthread (MODELSHELF_WORKER_CLASS).",
)
@click.option(
    "--graceful-timeout",
    default=120,
    show_default=True,
    type=int,
    envvar="MODELSHELF_GRACEFUL_TIMEOUT",
    help="Seconds in-flight requests get to finish on SIGTERM before their worker is killed.",
)
@data_dir_option
def serve(
    host: str, port: int, workers: int, threads: int, worker_class: str | None, graceful_timeout: int, data_dir: str | None
) -> None:
    """Run the registry under gunicorn (gevent workers; uploads and downloads stream)."""
    from package_api.ops.server import run

    if data_dir:
        os.environ["MODELSHELF_DATA_DIR"] = data_dir
    app = _app(data_dir)  # check (or upgrade) the schema once, before workers start
    with app.app_context():
        db.engine.dispose()  # no connection of the master's is inherited by the workers it forks
    os.environ["MODELSHELF_CREATE_SCHEMA"] = "false"  # the workers' apps: the schema is ready
    os.environ["MODELSHELF_WEBHOOK_DISPATCHER"] = "true"  # each worker delivers webhooks
    os.environ["MODELSHELF_CLEANUP_RUNNER"] = "true"  # and runs the due cleanup policies
    run(host=host, port=port, workers=workers, threads=threads, graceful_timeout=graceful_timeout, worker_class=worker_class)


@main.group()
def admin() -> None:
    """Manage users, projects and tokens."""


def _read_password() -> str:
    """A password for the web UI: typed twice without echo on a terminal, else one line of stdin
    (``printf '%s\\n' "$PASSWORD" | modelshelf admin ...``)."""
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))
    return sys.stdin.readline().rstrip("\r\n")


@admin.command("create-user")
@click.argument("username")
@click.option("--admin", "is_admin", is_flag=True, help="Make the user an administrator.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Give the user a password for the web UI: typed twice without echo on a terminal, else read from stdin.",
)
@data_dir_option
def create_user(username: str, is_admin: bool, password_stdin: bool, data_dir: str | None) -> None:
    """Create a user."""
    with _app(data_dir).app_context():
        users = services.user_service(actor=COMMAND_LINE)
        if users.find(username) is not None:  # before asking for a password it would not take
            raise _Fail(f"Username already exists (a new password: modelshelf admin set-password {username})")
        password = _read_password() if password_stdin else None
        try:
            user = users.create(username, password, admin=is_admin)
        except ModelshelfError as exc:
            raise _Fail(str(exc)) from None
        click.echo(f"created user {user.username} (id {user.id})", err=True)


@admin.command("set-password")
@click.argument("username", metavar="USER")
@data_dir_option
def set_password(username: str, data_dir: str | None) -> None:
    """Give USER a new password for the web UI: typed twice without echo on a terminal, else read
    as one line from stdin. USER's browser sessions end; their tokens keep working."""
    with _app(data_dir).app_context():
        users = services.user_service(actor=COMMAND_LINE)
        try:
            user = users.get(username)
            users.set_password(user, _read_password())
        except ModelshelfError as exc:
            raise _Fail(str(exc)) from None
        click.echo(f"password of {user.username} changed", err=True)


@admin.command("unlock-user")
@click.argument("username", metavar="USER")
@data_dir_option
def unlock_user(username: str, data_dir: str | None) -> None:
    """Lift the lock that failed sign-ins put on USER (and forget their count) at once."""
    with _app(data_dir).app_context():
        unlocked = services.sign_in_throttle(actor=COMMAND_LINE).unlock(username)
        click.echo(f"{username} unlocked" if unlocked else f"{username} had no failed sign-ins", err=True)


@admin.command("sign-out-user")
@click.argument("username", metavar="USER")
@data_dir_option
def sign_out_user(username: str, data_dir: str | None) -> None:
    """End every browser session of USER ("sign out everywhere"); their tokens keep working."""
    with _app(data_dir).app_context():
        users = services.user_service(actor=COMMAND_LINE)
        try:
            user = users.get(username)
        except ModelshelfError as exc:
            raise _Fail(str(exc)) from None
        users.end_sessions(user)
        click.echo(f"every session of {user.username} ended", err=True)


@admin.command("reencrypt-webhook-secrets")
@data_dir_option
def reencrypt_webhook_secrets(data_dir: str | None) -> None:
    """Encrypt every stored webhook secret again with SECRET_KEY (after a rotation, with the old key in
    SECRET_KEY_FALLBACKS), so the old key can be dropped. Exits with 1 if a secret no key opens is left."""
    from package_api.webhooks.secret_box import SecretBox
    from package_api.webhooks.service import reencrypt_secrets

    app = _app(data_dir)
    with app.app_context():
        done, unreadable = reencrypt_secrets(db.session, SecretBox.of(app))
        click.echo(f"{done} webhook secrets encrypted with the current SECRET_KEY", err=True)
        for hook in unreadable:
            click.echo(f"webhook {hook.id} ({hook.name}, project {hook.project_id}): no key opens its secret; set it again", err=True)
    if unreadable:
        sys.exit(1)


@admin.command("create-project")
@click.argument("full_path", metavar="NAMESPACE/NAME")
@click.option("--owner", required=True, help="Username of the owner.")
@click.option("--visibility", type=click.Choice(["private", "internal", "public"]), default="private", show_default=True)
@data_dir_option
def create_project(full_path: str, owner: str, visibility: str, data_dir: str | None) -> None:
    """Create a project; print its id."""
    with _app(data_dir).app_context():
        try:
            user = services.user_service().get(owner)
            projects = services.project_service(actor=COMMAND_LINE)
            project = projects.create(full_path, user, visibility=parse_visibility(visibility))
        except ModelshelfError as exc:
            raise _Fail(str(exc)) from None
        click.echo(project.id)


@admin.command("add-member")
@click.argument("full_path", metavar="NAMESPACE/NAME")
@click.argument("username", metavar="USER")
@click.argument("role", metavar="ROLE")
@data_dir_option
def add_member(full_path: str, username: str, role: str, data_dir: str | None) -> None:
    """Give USER the ROLE (guest, reporter, developer, maintainer, owner, or 10..50) in a project,
    adding them as a member or changing the role they have."""
    with _app(data_dir).app_context():
        try:
            project = services.project_service().get(full_path)
            user = services.user_service().get(username)
            level = parse_role(role)
            member = services.member_service(actor=COMMAND_LINE).put(project, user, level)
        except ModelshelfError as exc:
            raise _Fail(str(exc)) from None
        click.echo(f"{user.username} is {level.name.lower()} ({member.access_level}) in {project.full_path}", err=True)


@admin.command("create-token")
@click.option("--user", "username", required=True)
@click.option("--scopes", default="api", show_default=True, help="Comma-separated: api, read_api.")
@click.option("--scope", "scope_list", multiple=True, help="A scope (repeatable); replaces --scopes.")
@click.option("--name", default="cli", show_default=True)
@click.option("--expires", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="YYYY-MM-DD")
@data_dir_option
def create_token(
    username: str,
    scopes: str,
    scope_list: tuple[str, ...],
    name: str,
    expires: datetime.datetime | None,
    data_dir: str | None,
) -> None:
    """Create a personal access token; print only the token."""
    with _app(data_dir).app_context():
        try:
            user = services.user_service().get(username)
            _, secret = services.token_service(actor=COMMAND_LINE).create(
                user, name, list(scope_list) or scopes.split(","), expires.date() if expires else None
            )
        except ModelshelfError as exc:
            raise _Fail(str(exc)) from None
        click.echo(secret)


def _run_policies(project_ref: str | None, dry_run: bool) -> int:
    """Run the enabled cleanup policies (of one project), printing each version removed (or that would
    be); how many."""
    cleanup = services.cleanup_service()
    project_id = None
    if project_ref is not None:
        project = services.project_service().get(project_ref)
        project_id = project.id
    count = 0
    verb = "would remove" if dry_run else "removed"
    for policy in cleanup.enabled(project_id):
        report = cleanup.run(policy, dry_run=dry_run)
        project = services.project_service().get(report.project_id)
        for candidate in report.plan.remove if dry_run else report.removed:
            click.echo(f"{verb} {project.full_path} {candidate.name} {candidate.version}")
        for candidate in report.skipped:
            click.echo(f"skipped {project.full_path} {candidate.name} {candidate.version} (protected since the plan)", err=True)
        click.echo(f"cleanup policy of {project.full_path}: {report.summary()}", err=True)
        count += len(report.plan.remove) if dry_run else len(report.removed)
    return count


@main.command()
@click.option("--project", "project_ref", default=None, metavar="ID_OR_PATH", help="Only this project's policy.")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@data_dir_option
def cleanup(project_ref: str | None, dry_run: bool, data_dir: str | None) -> None:
    """Run the enabled cleanup policies now (docs/cleanup.md), whatever their cadence: print each
    version removed, one a line (``removed <project> <name> <version>``). ``modelshelf gc`` runs them
    too, then reclaims the bytes."""
    with _app(data_dir).app_context():
        try:
            _run_policies(project_ref, dry_run)
        except ModelshelfError as exc:
            raise _Fail(str(exc)) from None


@main.command()
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option("--no-cleanup", is_flag=True, help="Do not run the projects' cleanup policies first.")
@data_dir_option
def gc(dry_run: bool, no_cleanup: bool, data_dir: str | None) -> None:
    """Run the projects' enabled cleanup policies (each version they remove on a line), then remove
    deleted packages and files, blobs no file references, and what uploads that never finished left in
    the store (once their lease, MODELSHELF_UPLOAD_LEASE_SECONDS, has expired)."""
    from package_api.ops.maintenance import expiry_steps, maintenance_steps
    from package_api.packages.gc import GarbageCollector

    app = _app(data_dir)
    with app.app_context():
        try:
            if not no_cleanup:
                _run_policies(None, dry_run)
            report = GarbageCollector(db.session, services.storage(app), steps=expiry_steps(app)).collect(dry_run=dry_run)
            store = services.base_storage(app)
            lines = [line for step in maintenance_steps(app) if step.gc for line in step.gc(db.session, store, dry_run)]
        except ModelshelfError as exc:
            raise _Fail(str(exc)) from None
    click.echo(report.summary(dry_run=dry_run))
    for line in lines:
        click.echo(line)
    for key in report.failed_keys:
        click.echo(f"could not delete object {key}; it will be retried", err=True)


@main.command()
@click.option("--sha256", "sha256_prefix", default="", metavar="PREFIX", help="Only blobs whose SHA-256 starts with this.")
@data_dir_option
def verify(sha256_prefix: str, data_dir: str | None) -> None:
    """Re-read stored blobs and report any whose bytes no longer match their SHA-256 and size.
    Exits with 1 when any blob is corrupted, missing or unreadable."""
    from package_api.ops.maintenance import maintenance_steps
    from package_api.packages.verification import Verifier

    app = _app(data_dir)
    with app.app_context():
        report = Verifier(db.session, services.storage(app)).run(
            sha256_prefix=sha256_prefix, on_problem=lambda problem: click.echo(str(problem))
        )
        store = services.base_storage(app)
        checked = [step.verify(db.session, store) for step in maintenance_steps(app) if step.verify]
    click.echo(report.summary())
    for problems, summary in checked:
        for problem in problems:
            click.echo(problem)
        if summary:
            click.echo(summary)
    if report.problems or any(problems for problems, _ in checked):
        sys.exit(1)


@main.group("db")
def db_group() -> None:
    """Schema migrations (Alembic)."""


@db_group.command("upgrade")
@click.option("--revision", default="heads", show_default=True, help="Target revision.")
@data_dir_option
def db_upgrade(revision: str, data_dir: str | None) -> None:
    """Bring the database schema up to date (run once, from one node, before starting new nodes)."""
    app = _app(data_dir, migrate=False)
    migrations.upgrade(app, revision)
    click.echo(f"database at {', '.join(sorted(migrations.applied(app))) or 'base'}")


@db_group.command("current")
@data_dir_option
def db_current(data_dir: str | None) -> None:
    """Print the database's revisions and whether they are this version's heads (exit 1 if not)."""
    app = _app(data_dir, migrate=False)
    found, wanted = migrations.applied(app), migrations.heads(app)
    click.echo(f"database at {', '.join(sorted(found)) or 'base'}; this version needs {', '.join(sorted(wanted))}")
    if not migrations.is_current(app):
        sys.exit(1)


@db_group.command("stamp")
@click.argument("revision", default="heads")
@data_dir_option
def db_stamp(revision: str, data_dir: str | None) -> None:
    """Record REVISION as the database's schema without changing it (a database made before
    migrations whose schema is this version's)."""
    app = _app(data_dir, migrate=False)
    migrations.stamp(app, revision)
    click.echo(f"database stamped at {', '.join(sorted(migrations.applied(app)))}")


if __name__ == "__main__":
    main()
