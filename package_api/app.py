"""The application factory."""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.engine import make_url
from werkzeug.routing import BaseConverter, IntegerConverter, Rule

from package_api import services, webhooks
from package_api.config import load_settings, stored_secret_key
from package_api.db import create_tables, db, end_reads, engine_options
from package_api.names import MAX_ID
from package_api.ops import monitoring
from package_api.packages import cleanup_schedule
from package_api.private_files import create_private_file, make_private_dirs, tighten
from package_api.storage import build_storage
from package_api.web import api, body_limits, encoded_slashes, pages
from package_api.web import errors as surfaces

log = logging.getLogger(__name__)

PLUGIN_GROUP = "package_api.plugins"


class ProjectRefConverter(BaseConverter):
    """A project id (``42``) or full path (``group/project``).

    python-gitlab sends ``group%2Fproject``; WSGI servers decode that to ``group/project`` before
    routing, so the converter accepts one slash and lets the rest of the rule disambiguate.
    """

    regex = r"[^/]+(?:/[^/]+)?"
    part_isolating = False


class FilePathConverter(BaseConverter):
    """Everything after the version, as sent: ``/etc/x`` and ``a//b`` must reach validation and get
    a 400 that names the problem, not fall through to a 404."""

    regex = r".+"
    part_isolating = False


class LazyBuildRule(Rule):
    """A URL rule whose two ``url_for`` builders are compiled when each is first used, not when the
    rule is added. werkzeug writes and compiles Python code for both as it binds each rule: 0.7 ms a
    rule, two thirds of ``create_app`` with every plugin (285 rules), paid by every CLI command,
    every worker's start and every test's app. Most rules are never built into a URL in a process's
    life (the APIs' routes); one that is costs what it did, once."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compile_builder = super()._compile_builder
        name = "_build_unknown" if append_unknown else "_build"

        def build(rule: Rule, **values: Any) -> tuple[str, str]:
            # ``Rule.compile`` binds what this returns to the rule as ``name``; the first call puts
            # werkzeug's own builder there, from the rule as it is now.
            builder: Callable[..., tuple[str, str]] = compile_builder(append_unknown).__get__(rule, None)
            setattr(rule, name, builder)
            return builder(**values)

        return build


class _Flask(Flask):
    url_rule_class = LazyBuildRule


def _at_most(limit: int) -> str:
    """A regex of the decimal numbers from 0 to ``limit``."""
    digits = str(limit)
    parts = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(int(d) for d in digits):
        if digit:
            rest = len(digits) - i - 1
            lower = f"[0-{digit - 1}]" if digit > 1 else "0"
            parts.append(digits[:i] + lower + (rf"\d{{{rest}}}" if rest else ""))
    return "(?:" + "|".join([*parts, digits]) + ")"


class IdConverter(IntegerConverter):
    """``<int:...>`` in every rule: a row id, so at most ``MAX_ID``; a larger number matches no route
    (404) instead of overflowing the database driver (a 500). The bound is in the regex: werkzeug
    answers 405 when a rule's converter refuses a value that another method's rule would take."""

    regex = _at_most(MAX_ID)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, with the signing serializer built once per set of keys
    instead of on every request (a request opens the session whether or not it reads it: about
    15 us of each API request was building the serializer). The same keys, salt and signer: the
    cookies are the same bytes; a changed ``SECRET_KEY`` or fallback list gets a serializer of its own."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[object, ...], URLSafeTimedSerializer] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        keys = (*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key)  # the setting is Flask 3.1's
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            assert serializer is not None  # a secret key: Flask's builds one
            self._serializers = {keys: serializer}  # only the current keys: a replaced key is not kept
        return serializer


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``MODELSHELF_*`` environment, then ``config`` (which wins)."""
    settings = load_settings(config)
    app = _Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config["MODELSHELF"] = settings
    app.config["SQLALCHEMY_DATABASE_URI"] = settings["DATABASE_URL"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(settings["DATABASE_URL"])
    # Keep the URL exactly as sent: ``a//b`` must reach validation, not be redirected to ``a/b``.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.url_map.converters["project"] = ProjectRefConverter
    app.url_map.converters["filepath"] = FilePathConverter
    app.url_map.converters["int"] = IdConverter

    make_private_dirs(settings["DATA_DIR"])
    tighten(settings["DATA_DIR"])  # folders and files older versions made readable by others
    url = make_url(settings["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            make_private_dirs(os.path.dirname(database) or ".")
            create_private_file(database)
    app.config["SECRET_KEY"] = settings.get("SECRET_KEY") or stored_secret_key(settings["DATA_DIR"])
    app.config["SECRET_KEY_FALLBACKS"] = [k.strip() for k in str(settings.get("SECRET_KEY_FALLBACKS") or "").split(",") if k.strip()]
    # The signed session cookie of the web UI: user id, account fingerprint, CSRF token, flashes.
    app.config["SESSION_COOKIE_NAME"] = "_modelshelf_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = str(settings.get("BASE_URL") or "").startswith("https://")
    app.session_interface = CookieSessions()
    db.init_app(app)

    @app.teardown_appcontext
    def _end_reads(exc: BaseException | None) -> None:  # before flask-sqlalchemy's close: registered after it
        if exc is None and db.session.registry.has():  # a request that used the database
            end_reads(db.session)

    app.extensions["modelshelf.storage"] = build_storage(settings)

    monitoring.register(app)  # first: its request hook must see every request
    body_limits.register(app)  # before any hook that may read a body (the pages' CSRF check)
    encoded_slashes.register(app)
    api.register(app)
    pages.register(app)  # before plugins: they extend its navigation
    surfaces.register(app)
    webhooks.register(app)  # before plugins: they map their audit events to webhook events
    load_plugins(app, str(settings["PLUGINS"]))

    if settings["CREATE_SCHEMA"]:
        with app.app_context():
            create_tables()
    webhooks.start_dispatcher(app)
    cleanup_schedule.start(app, services.cleanup_service)
    return app


@functools.cache
def _plugin_entry_points() -> tuple[EntryPoint, ...]:
    """The installed plugins' entry points, looked up once per process: the lookup reads every
    installed distribution's metadata (5 ms), and what is installed does not change under a
    running process (a plugin installed later is loaded by the next one)."""
    return tuple(entry_points(group=PLUGIN_GROUP))


def load_plugins(app: Flask, wanted: str = "all") -> list[str]:
    """Call ``register(app)`` of the ``package_api.plugins`` entry points ``wanted`` names
    (``all``, ``none`` or a comma-separated list); return the names loaded."""
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    if not names - {"none"}:
        return []
    loaded = []
    for entry in _plugin_entry_points():
        if "all" not in names and entry.name not in names:
            continue
        entry.load()(app)
        loaded.append(entry.name)
        log.info("loaded plugin %s", entry.name)
    return loaded
