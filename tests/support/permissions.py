"""The machinery of the permission matrix (``tests/api/test_permission_matrix.py``): one seeded world
with every kind of caller, valid requests with real ids, throwaway objects for destructive
requests, and the reading of a response as allowed, unauthenticated, forbidden or hidden.

Nothing here decides what a caller may do: the test states the rules and its expectation table.

The world: users ``owner``, ``guest``, ``reporter``, ``developer``, ``maintainer`` (members of every
``acme/*`` project with the role of their name; ``owner`` is Owner), ``outsider`` (no role anywhere),
``root`` (an administrator) and ``signer`` (no role; has a password, for the sign-in form). Projects
``acme/private``, ``acme/internal``, ``acme/public``, ``acme/public-mr-disabled`` and
``acme/public-mr-private`` (public, with the model registry disabled / for members only), and
``acme/other`` (private; ``developer`` is a member), whose deploy token and CI job are the tokens
"of another project". Each matrix project holds a package of each kind (``PACKAGE_KINDS``): a plain
package (``plain-pkg/build-7/file.bin``), a plain SemVer package (``release-tarball/2.3.4/file.bin``:
no model has its name), a model ``fraud-detector`` with version ``1.0.0`` (its package holds
``model.onnx`` and ``config/settings.json``), the package of an MLflow run's artifacts (``ml_experiment_<iid>/candidate_<id>``,
holding ``out.txt``), and a model ``mymodel`` whose only version holds ``model.bin`` (asked for as
``mymodel/latest``); besides, the run has a metric and a tag, a logged model a tag, the registered
model an alias ``champion`` and a tag, its version a tag (all made through the API by ``root``), and
the project a CI job of ``developer``, a deploy token, a project access token (a Developer bot) and
a CI token. Those of ``acme/private`` are the callers'.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask
from sqlalchemy import select
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from package_api.access.authentication import session_fingerprint
from package_api.access.ci_jobs import JobService
from package_api.access.members import MemberService
from package_api.access.models import FeatureAccess, Project, Role, User, Visibility
from package_api.access.policy import Policy, rules
from package_api.access.projects import ProjectService
from package_api.access.tokens import CiTokenService, DeployTokenService, TokenService
from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.web.errors import API_PREFIX, API_PREFIXES

# -- outcomes ---------------------------------------------------------------------------------------

ALLOWED = "allowed"
UNAUTHENTICATED = "unauthenticated"  # 401 from the API, a redirect to sign-in (or a 401 page for a POST) from a page
FORBIDDEN = "forbidden"  # 403
HIDDEN = "hidden"  # a 404 that hides what the caller may not know of ("404 Project Not Found")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN = "/users/sign_in"
SIGNER_PASSWORD = "signer-password"
#: The messages of a hidden project on the GitLab surface and on the MLflow surface.
PROJECT_NOT_FOUND = frozenset({"404 Project Not Found", "Project not found"})


#: Pages served at API URLs: the page at the MLflow tracking URI, where MLflow's printed links land.
PAGES_UNDER_API = frozenset({"/api/v4/projects/<project:project_ref>/ml/mlflow/"})


def is_page(rule: str, app: Flask) -> bool:
    """Whether ``rule`` is a page (browser session, HTML errors) rather than an API: the app serves
    ``/api/`` and the prefixes its plugins register (``register_api_prefix``: ``/hf/``) as APIs."""
    prefixes = (API_PREFIX, *app.extensions.get(API_PREFIXES, ()))
    return not rule.startswith(prefixes) or rule in PAGES_UNDER_API


#: The Hugging Face Hub's error (``/hf``): its code header says what the client raises; a hidden
#: project and a missing repo are both ``RepoNotFound`` (every repo id the matrix sends is real).
HUB_ERROR_CODE, HUB_HIDDEN = "X-Error-Code", "RepoNotFound"


def api_message(response: TestResponse) -> str | None:
    """The message of an API error: GitLab's and MLflow's ``message``, the Hub's ``error``."""
    body = response.get_json(silent=True) or {}
    if not isinstance(body, dict):
        return None
    message = body.get("message", body.get("error"))
    return message if isinstance(message, str) else None


def classify(
    response: TestResponse,
    *,
    page: bool,
    method: str,
    hidden: frozenset[str] = PROJECT_NOT_FOUND,
    answers: frozenset[str] = frozenset(),
) -> str:
    """What the response says about the permission decision (anything else is ``ALLOWED``: the
    test then checks separately that the request did succeed). ``hidden``: the API messages of a
    404 that hides something (other 404s, a missing model, say, are answers of an allowed request);
    ``answers``: the API messages of a 403 that is what the route answers a caller it allows (GitLab
    Workhorse's pre-authorization refuses everyone who is not Workhorse). On the Hub's surface a 404
    hides when its ``X-Error-Code`` is ``RepoNotFound``."""
    status = response.status_code
    if page:
        if status in (301, 302, 303, 307, 308) and urlsplit(response.headers.get("Location", "")).path == SIGN_IN:
            return UNAUTHENTICATED
        if status == 401:
            # A browser GET is sent to the sign-in page; only a form post may answer a 401 page.
            return UNAUTHENTICATED if method not in SAFE_METHODS else "401 page instead of a redirect to sign-in"
        if status == 403:
            return FORBIDDEN
        if status == 404:  # every id in the request is real, and the page does not say more
            return HIDDEN
        return ALLOWED
    if status == 401:
        return UNAUTHENTICATED
    if status == 403:
        return ALLOWED if api_message(response) in answers else FORBIDDEN
    if status == 404 and (api_message(response) in hidden or response.headers.get(HUB_ERROR_CODE) == HUB_HIDDEN):
        return HIDDEN
    return ALLOWED


def describe(response: TestResponse) -> str:
    """The status and the start of the body, for a failure message."""
    body = response.get_data(as_text=True)
    if not response.is_json:
        body = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
    return f"{response.status_code} {body.strip()[:160]}"


# -- callers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    """A caller. ``kind``:

    - ``user``: a seeded user; on the API by a personal access token with the ``api`` scope, on
      pages by the browser session
    - ``read_api``: a personal access token with only ``read_api``
    - ``pat``: a personal access token with ``api``, sent to pages (which must ignore it)
    - ``session``: the browser session calling the API (with ``X-CSRF-Token``)
    - ``bot``: a project access token (its bot user is a Developer of ``acme/private``)
    - ``deploy``, ``job``, ``ci``: a deploy token, a CI job token, a project CI token, of ``home``
    - ``anonymous``
    """

    name: str
    kind: str
    user: str | None = None
    scopes: frozenset[str] = frozenset()
    home: str | None = None  # the project a token is confined to

    @property
    def is_admin(self) -> bool:
        return self.user == "root" and self.home is None

    def confined_elsewhere(self, project: str) -> bool:
        return self.home is not None and self.home != project

    def on_pages(self) -> Who:
        """Who this caller is to a page: pages know only the browser session."""
        if self.kind == "user":
            return Who(self.name, "session", self.user, frozenset({"api"}))
        return ANONYMOUS

    def __str__(self) -> str:
        return self.name


ANONYMOUS = Who("anonymous", "anonymous")
ROLE_USERS = ("guest", "reporter", "developer", "maintainer", "owner")
PRIVATE = "private"


def role_callers() -> list[Who]:
    """Anonymous, a non-member, each role and an administrator (by a personal access token with
    the ``api`` scope, or on pages by the browser session)."""
    users = ["outsider", *ROLE_USERS, "root"]
    return [ANONYMOUS, *(Who(u if u != "root" else "admin", "user", u, frozenset({"api"})) for u in users)]


def token_callers() -> list[Who]:
    """Every other kind of credential, on ``acme/private``; and the tokens of ``acme/other``."""
    return [
        Who("maintainer-read_api", "read_api", "maintainer", frozenset({"read_api"})),
        Who("project-bot-developer", "bot", "bot", frozenset({"api"})),
        Who("deploy-read", "deploy", None, frozenset({"read_package_registry"}), PRIVATE),
        Who("deploy-write", "deploy", None, frozenset({"write_package_registry"}), PRIVATE),
        Who("job-of-developer", "job", "developer", frozenset({"api"}), PRIVATE),
        Who("ci-token", "ci", None, frozenset(), PRIVATE),
        Who("session-developer", "session", "developer", frozenset({"api"})),
        *other_project_tokens(),
    ]


def page_token_callers() -> list[Who]:
    """A token in each header, sent to pages: the owner's ``api`` personal access token, a deploy
    token, a job token and the CI token."""
    by_name = {w.name: w for w in token_callers()}
    owner = Who("owner-api-token", "pat", "owner", frozenset({"api"}))
    return [owner, by_name["deploy-read"], by_name["job-of-developer"], by_name["ci-token"]]


def other_project_tokens() -> list[Who]:
    both = frozenset({"read_package_registry", "write_package_registry"})
    return [
        Who("deploy-of-other-project", "deploy", None, both, "other"),
        Who("job-of-other-project", "job", "developer", frozenset({"api"}), "other"),
    ]


@dataclass(frozen=True)
class ProjectSpec:
    key: str
    path: str
    visibility: str
    features: dict[str, str] = field(default_factory=dict)  # feature -> disabled | private (absent: enabled)


PROJECTS = {
    "private": ProjectSpec("private", "acme/private", "private"),
    "internal": ProjectSpec("internal", "acme/internal", "internal"),
    "public": ProjectSpec("public", "acme/public", "public"),
    "public-mr-disabled": ProjectSpec("public-mr-disabled", "acme/public-mr-disabled", "public", {"model_registry": "disabled"}),
    "public-mr-private": ProjectSpec("public-mr-private", "acme/public-mr-private", "public", {"model_registry": "private"}),
}
OTHER = ProjectSpec("other", "acme/other", "private")


# -- requests ---------------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, Any] | None = None
    json: Any = None
    form: dict[str, Any] | None = None
    data: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Headers to send instead of the caller's own token (a throwaway token of the same kind).
    credential: dict[str, str] | None = None
    #: Called with the response: to put the world back as it was (a visibility, a CI token).
    after: Callable[[TestResponse], None] | None = None


@dataclass(frozen=True)
class PackageRef:
    id: int
    name: str
    version: str
    file_id: int
    file_name: str


#: The kinds of package a package route is asked of (``Seed.packages``, ``Ctx.new_package``).
PLAIN, PLAIN_SEMVER, MODEL_VERSION, MLFLOW_ARTIFACT, LATEST = (
    "plain package", "plain semver package", "model version", "mlflow artifact", "latest of a model"
)
PACKAGE_KINDS = (PLAIN, PLAIN_SEMVER, MODEL_VERSION, MLFLOW_ARTIFACT, LATEST)


@dataclass
class Seed:
    """What one project holds."""

    spec: ProjectSpec
    id: int
    #: A package of each of ``PACKAGE_KINDS`` (``LATEST``: its version is ``latest``).
    packages: dict[str, PackageRef] = field(default_factory=dict)
    model_id: int = 0
    model_name: str = "fraud-detector"
    version_id: int = 0
    version: str = "1.0.0"
    version_file: str = "model.onnx"
    version_folder: str = "config"
    experiment_id: str = ""
    experiment_name: str = "exp"
    run_id: str = ""
    run_root: str = ""
    artifact: str = ""
    logged_model_id: str = ""
    mlflow_version: str = "1"
    job_id: int = 0
    deploy_token_id: int = 0
    bot_token_id: int = 0
    audit_event_id: int = 0

    @property
    def namespace(self) -> str:
        return self.spec.path.split("/")[0]

    @property
    def name(self) -> str:
        return self.spec.path.split("/")[1]


PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


class Ctx:
    """What a request builder gets: the project's seed, the package under test (for package
    routes), the route, the caller, and throwaway objects made on demand."""

    def __init__(self, world: World, seed: Seed, method: str, rule: str, package_kind: str | None, who: Who) -> None:
        self.world = world
        self.seed = seed
        self.method = method
        self.rule = rule
        #: The kind of package a package route is asked of (one of ``PACKAGE_KINDS``).
        self.package_kind = package_kind
        self.package = seed.packages.get(package_kind or "")
        self.who = who
        #: The throwaway objects this request uses: given back to the pool if it is refused.
        self.taken: list[tuple[tuple[str, str], Any]] = []

    @property
    def page(self) -> bool:
        return is_page(self.rule, self.world.app)

    @property
    def api(self) -> str:
        return f"/api/v4/projects/{self.seed.id}"

    @property
    def mlflow(self) -> str:
        return f"{self.api}/ml/mlflow/api/2.0/mlflow"

    def values(self) -> dict[str, Any]:
        s, p = self.seed, self.package or self.seed.packages[PLAIN]
        assert p is not None
        return {
            "project_ref": s.id,
            "namespace": s.namespace,
            "project": s.name,
            "package_id": p.id,
            "package_name": p.name,
            "package_version": p.version,
            "file_path": p.file_name,
            "file_id": p.file_id,
            "model_ref": s.model_id,
            "model_id": s.model_id,
            "version_ref": s.version_id,
            "version_id": s.version_id,
            "job_id": s.job_id,
            "event_id": s.audit_event_id,
            "user_id": self.world.user_ids["developer"],
        }

    def url(self, at: dict[str, Any] | None = None) -> str:
        values = {**self.values(), **(at or {})}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"no value for <{name}> in {self.rule}: give it in the builder's at={{...}}")
            return quote(str(values[name]), safe="/")

        return PLACEHOLDER.sub(fill, self.rule)

    def req(self, at: dict[str, Any] | None = None, **kwargs: Any) -> Req:
        """This route's request, its placeholders filled with the seed's ids (``at`` overrides)."""
        return Req(self.method, self.url(at), **kwargs)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.world.counter)}"

    def number(self) -> int:
        return next(self.world.counter)

    # -- throwaway objects ----------------------------------------------------------------------

    def throwaway(self, kind: str, make: Callable[[], Any], *, project_wide: bool = True) -> Any:
        """An object of ``kind`` for this request to change or delete: a spare one (left by a
        refused request, which changed nothing) or a new one from ``make``."""
        key = (self.seed.spec.key if project_wide else "-", kind)
        spares = self.world.spares.setdefault(key, [])
        value = spares.pop() if spares else make()
        self.taken.append((key, value))
        return value

    def admin(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        return self.world.admin(self.seed, method, path, **kwargs)

    def new_package(self, kind: str) -> PackageRef:
        """A package of ``kind`` (``PACKAGE_KINDS``) to delete."""

        def make() -> PackageRef:
            n, seed = self.number(), self.seed
            if kind == MODEL_VERSION:
                return self.world.upload_package(seed, seed.model_name, f"2.0.{n}", "file.bin")
            if kind == MLFLOW_ARTIFACT:
                run = self.admin("POST", f"{self.mlflow}/runs/create", json={"experiment_id": seed.experiment_id})
                return self.world.run_artifact(seed, run.get_json()["run"]["info"]["run_id"], "file.txt")
            return self.world.upload_package(seed, f"tmp-{n}", f"2.0.{n}" if kind == PLAIN_SEMVER else f"build-{n}", "file.bin")

        return self.throwaway(kind, make)

    def new_model(self) -> tuple[int, str]:
        def make() -> tuple[int, str]:
            name = self.unique("tmp-model")
            return self.admin("POST", f"{self.api}/ml/models", json={"name": name}).get_json()["id"], name

        return self.throwaway("model", make)

    def own_version(self) -> int:
        """A new version of the seed's model, never pooled: for an object that needs its version to
        stay (a throwaway goes back to the pool when a request is refused, and another route may
        then delete it)."""
        base = f"{self.api}/ml/models/{self.seed.model_id}/versions"
        return int(self.admin("POST", base, json={"version": f"3.0.{self.number()}"}).get_json()["id"])

    def new_version(self, with_file: bool = False) -> tuple[int, int | None]:
        def make() -> tuple[int, int | None]:
            version_id = self.own_version()
            if not with_file:
                return version_id, None
            self.admin("PUT", f"{self.api}/packages/ml_models/{version_id}/files/f.bin", data=b"tmp")
            base = f"{self.api}/ml/models/{self.seed.model_id}/versions"
            return version_id, self.admin("GET", f"{base}/{version_id}/files").get_json()[0]["id"]

        return self.throwaway("version with a file" if with_file else "version", make)

    def new_experiment(self, deleted: bool = False) -> str:
        def make() -> str:
            created = self.admin("POST", f"{self.mlflow}/experiments/create", json={"name": self.unique("tmp-exp")})
            experiment_id = str(created.get_json()["experiment_id"])
            if deleted:
                self.admin("POST", f"{self.mlflow}/experiments/delete", json={"experiment_id": experiment_id})
            return experiment_id

        return self.throwaway("deleted experiment" if deleted else "experiment", make)

    def new_run(self, deleted: bool = False) -> str:
        def make() -> str:
            body = self.admin("POST", f"{self.mlflow}/runs/create", json={"experiment_id": self.seed.experiment_id})
            run_id = str(body.get_json()["run"]["info"]["run_id"])
            if deleted:
                self.admin("POST", f"{self.mlflow}/runs/delete", json={"run_id": run_id})
            return run_id

        return self.throwaway("deleted run" if deleted else "run", make)

    def new_mlflow_version(self) -> str:
        def make() -> str:
            body = {"name": self.seed.model_name, "source": "s3://bucket/model"}
            created = self.admin("POST", f"{self.mlflow}/model-versions/create", json=body).get_json()
            return str(created["model_version"]["version"])

        return self.throwaway("mlflow version", make)

    def new_logged_model(self) -> str:
        def make() -> str:
            body = {"experiment_id": self.seed.experiment_id}
            return str(self.admin("POST", f"{self.mlflow}/logged-models", json=body).get_json()["model"]["info"]["model_id"])

        return self.throwaway("logged model", make)

    def new_artifact(self) -> str:
        def make() -> str:
            path = f"{self.seed.run_root}/{self.unique('tmp')}.txt"
            self.admin("PUT", f"{self.api}/ml/mlflow/api/2.0/mlflow-artifacts/artifacts/{path}", data=b"tmp")
            return path

        return self.throwaway("artifact", make)

    def new_user(self) -> tuple[int, str]:
        """A user who is not a member of this project."""

        def make() -> tuple[int, str]:
            with self.world.app.app_context():
                user = UserService(db.session).create(self.unique("tmp-user"))
                db.session.commit()
                return user.id, user.username

        return self.throwaway("non-member", make)

    def new_member(self, role: Role) -> int:
        """The id of a user who is a member of this project with ``role``."""

        def make() -> int:
            with self.world.app.app_context():
                user = UserService(db.session).create(self.unique("tmp-member"))
                MemberService(db.session).add(db.session.get_one(Project, self.seed.id), user, role)
                db.session.commit()
                return user.id

        return self.throwaway(f"member {role.name}", make)

    def new_job(self) -> int:
        def make() -> int:
            with self.world.app.app_context():
                project = db.session.get_one(Project, self.seed.id)
                job, _ = JobService(db.session).register(project, {"user": "developer", "job_id": str(self.number())})
                db.session.commit()
                return job.id

        return self.throwaway("job", make)

    def new_deploy_token(self) -> int:
        def make() -> int:
            with self.world.app.app_context():
                project = db.session.get_one(Project, self.seed.id)
                row, _ = DeployTokenService(db.session).create(project, self.unique("tmp"), ["read_package_registry"])
                db.session.commit()
                return row.id

        return self.throwaway("deploy token", make)

    def new_project_token(self) -> int:
        def make() -> int:
            with self.world.app.app_context():
                project = db.session.get_one(Project, self.seed.id)
                row, _ = TokenService(db.session).create_for_project(project, self.unique("tmp"), ["read_api"], Role.GUEST)
                db.session.commit()
                return row.id

        return self.throwaway("project access token", make)

    def new_personal_token(self, username: str = "developer") -> int:
        def make() -> int:
            return self.world.personal_token(username, ["api"])[0]

        return self.throwaway(f"personal access token of {username}", make, project_wide=False)

    def own_fresh_token(self) -> dict[str, str] | None:
        """A new token of the caller's kind and user, for a request that revokes the token it
        carries (``None``: the caller has no such token; it sends its usual credential)."""
        who = self.who
        if who.kind in ("user", "read_api") and who.user is not None:
            scopes = ["read_api"] if who.kind == "read_api" else ["api"]
            return {"PRIVATE-TOKEN": self.world.personal_token(who.user, scopes)[1]}
        if who.kind == "bot":
            with self.world.app.app_context():
                project = db.session.get_one(Project, self.world.seeds[PRIVATE].id)
                _, secret = TokenService(db.session).create_for_project(project, "fresh bot", ["api"], Role.DEVELOPER)
                db.session.commit()
            return {"PRIVATE-TOKEN": secret}
        return None


# -- the world --------------------------------------------------------------------------------------


class World:
    def __init__(self, app: Flask) -> None:
        self.app = app
        # No cookie jar: each request carries exactly the session cookie its caller has.
        self.client = app.test_client(use_cookies=False)
        self.counter = itertools.count(1)
        self.seeds: dict[str, Seed] = {}
        #: Throwaway objects that refused requests left as they were: (project, kind) -> objects.
        self.spares: dict[tuple[str, str], list[Any]] = {}
        self.headers: dict[str, dict[str, str]] = {}  # caller name -> token headers
        self.user_ids: dict[str, int] = {}
        self.developer_token_id = 0  # a personal access token of developer's that no caller uses

    # -- sending ----------------------------------------------------------------------------------

    def session_cookie(self, username: str | None) -> tuple[str, str]:
        """A signed session cookie for ``username`` (``None``: an anonymous session) and its CSRF
        token, made as sign-in would make them (without hashing a password each time). Made afresh
        each time: signing out ends every session of the user (its session generation)."""
        csrf = f"csrf-{username or 'anonymous'}"
        content: dict[str, Any] = {"csrf_token": csrf}
        if username is not None:
            with self.app.app_context():
                user = UserService(db.session).get(username)
                content.update(user_id=user.id, user_fingerprint=session_fingerprint(user))
        signer = self.app.session_interface.get_signing_serializer(self.app)  # type: ignore[attr-defined]
        return f"{self.app.config['SESSION_COOKIE_NAME']}={signer.dumps(content)}", csrf

    def send(self, who: Who, req: Req, *, page: bool) -> TestResponse:
        headers = dict(req.headers)
        form = None if req.form is None else dict(req.form)
        token = req.credential if req.credential is not None else self.headers.get(who.name, {})
        if page:
            # Pages know the caller by the browser session alone; a token header must change nothing.
            headers.update(token)
            cookie, csrf = self.session_cookie(who.user if who.kind == "user" else None)
            headers["Cookie"] = cookie
            if req.method not in SAFE_METHODS:
                if form is not None:
                    form["csrf_token"] = csrf
                else:
                    headers["X-CSRF-Token"] = csrf
        elif who.kind == "session":
            cookie, csrf = self.session_cookie(who.user)
            headers["Cookie"] = cookie
            headers["X-CSRF-Token"] = csrf
        else:
            headers.update(token)
        response = self.client.open(
            req.path,
            method=req.method,
            query_string=req.query,
            json=req.json,
            data=form if form is not None else req.data,
            headers=headers,
        )
        if req.after is not None:
            req.after(response)
        return response

    def admin(self, seed: Seed | None, method: str, path: str, **kwargs: Any) -> TestResponse:
        """A request by the administrator that must succeed (setting the scene, not under test)."""
        with self.unlocked(seed):
            response = self.client.open(path, method=method, headers=self.headers["admin"], **kwargs)
        assert response.status_code < 400, f"setup {method} {path}: {describe(response)}"
        return response

    def give_back(self, ctx: Ctx) -> None:
        """The throwaway objects of a refused request are as they were: keep them for the next."""
        for key, value in ctx.taken:
            self.spares.setdefault(key, []).append(value)

    # -- the scene --------------------------------------------------------------------------------

    @contextmanager
    def unlocked(self, seed: Seed | None) -> Iterator[None]:
        """Enable the project's disabled features while the administrator sets the scene."""
        disabled = [f for f, level in (seed.spec.features if seed else {}).items() if level == "disabled"]
        if not disabled or seed is None:
            yield
            return
        self.set_features(seed, {f: FeatureAccess.ENABLED for f in disabled})
        try:
            yield
        finally:
            self.set_features(seed, {f: FeatureAccess(seed.spec.features[f]) for f in disabled})

    def set_features(self, seed: Seed, levels: dict[str, FeatureAccess]) -> None:
        with self.app.app_context():
            project = db.session.get_one(Project, seed.id)
            policy = Policy(db.session, rules(self.app))
            for feature, level in levels.items():
                policy.set_feature_access(project, feature, level)
            db.session.commit()

    def personal_token(self, username: str, scopes: list[str]) -> tuple[int, str]:
        with self.app.app_context():
            user = UserService(db.session).get(username)
            row, secret = TokenService(db.session).create(user, "matrix", scopes)
            db.session.commit()
            return row.id, secret

    def rotate_ci_token(self, seed: Seed) -> None:
        """A new CI token for ``seed``'s project (after a request rotated it): the caller's again."""
        with self.app.app_context():
            secret = CiTokenService(db.session).rotate(db.session.get_one(Project, seed.id))
            db.session.commit()
        if seed.spec.key == PRIVATE:
            self.headers["ci-token"] = {"CI-TOKEN": secret}

    def upload_package(self, seed: Seed, name: str, version: str, file_name: str) -> PackageRef:
        url = f"/api/v4/projects/{seed.id}/packages/generic/{name}/{version}/{file_name}"
        stored = self.admin(seed, "PUT", url, query_string={"select": "package_file"}, data=b"bytes of " + name.encode())
        record = stored.get_json()
        return PackageRef(record["package_id"], name, version, record["id"], record["file_name"])

    def run_artifact(self, seed: Seed, run_id: str, file_name: str) -> PackageRef:
        """Upload ``file_name`` into run ``run_id``'s artifacts through MLflow: the package
        ``ml_experiment_<iid>/candidate_<id>`` (the newest of that name) holds it."""
        root = self.admin(seed, "GET", f"/api/v4/projects/{seed.id}/ml/mlflow/api/2.0/mlflow/runs/get",
                          query_string={"run_id": run_id}).get_json()["run"]["info"]["artifact_uri"]
        path = f"{root.removeprefix('mlflow-artifacts:/')}/{file_name}"
        self.admin(seed, "PUT", f"/api/v4/projects/{seed.id}/ml/mlflow/api/2.0/mlflow-artifacts/artifacts/{path}", data=b"run")
        name = f"ml_experiment_{seed.experiment_id}"
        listed = self.admin(seed, "GET", f"/api/v4/projects/{seed.id}/packages",
                            query_string={"package_name": name, "order_by": "created_at", "sort": "desc"})
        newest = next(p for p in listed.get_json() if p["name"] == name)
        return self.package_ref(seed, name, newest["version"])

    def package_ref(self, seed: Seed, name: str, version: str) -> PackageRef:
        api = f"/api/v4/projects/{seed.id}"
        listed = self.admin(seed, "GET", f"{api}/packages", query_string={"package_name": name, "package_version": version})
        (package,) = [p for p in listed.get_json() if p["name"] == name and p["version"] == version]
        (package_file,) = self.admin(seed, "GET", f"{api}/packages/{package['id']}/package_files").get_json()[:1]
        return PackageRef(package["id"], name, version, package_file["id"], package_file["file_name"])

    def make_project(self, spec: ProjectSpec) -> Seed:
        """Create the project of ``spec`` with its members, tokens and content (again, after a
        request deleted it)."""
        with self.app.app_context():
            session = db.session
            users, projects, tokens = UserService(session), ProjectService(session), TokenService(session)
            project = projects.create(spec.path, users.get("owner"), visibility=Visibility(spec.visibility))
            for name in ROLE_USERS[:-1]:
                MemberService(session).add(project, users.get(name), Role[name.upper()])
            job, job_secret = JobService(session).register(project, {"user": "developer", "job_id": "77", "ci_system": "gitlab"})
            deploy_read, deploy_read_secret = DeployTokenService(session).create(project, "deploy-read", ["read_package_registry"])
            _, deploy_write_secret = DeployTokenService(session).create(project, "deploy-write", ["write_package_registry"])
            bot, bot_secret = tokens.create_for_project(project, "matrix bot", ["api"], Role.DEVELOPER)
            ci_secret = CiTokenService(session).rotate(project)
            session.commit()
            seed = Seed(spec, project.id, job_id=job.id, deploy_token_id=deploy_read.id, bot_token_id=bot.id)
        if spec.key == PRIVATE:
            self.headers["job-of-developer"] = {"JOB-TOKEN": job_secret}
            self.headers["deploy-read"] = {"DEPLOY-TOKEN": deploy_read_secret}
            self.headers["deploy-write"] = {"DEPLOY-TOKEN": deploy_write_secret}
            self.headers["project-bot-developer"] = {"PRIVATE-TOKEN": bot_secret}
            self.headers["ci-token"] = {"CI-TOKEN": ci_secret}
        self.seeds[spec.key] = seed
        seed_project(self, seed)
        with self.app.app_context():
            seed.audit_event_id = db.session.scalar(
                select(AuditEvent.id).where(AuditEvent.project_id == seed.id).order_by(AuditEvent.id).limit(1)
            ) or 0
        assert seed.audit_event_id, f"seeding {spec.path} recorded no audit event"
        if spec.features:
            self.set_features(seed, {f: FeatureAccess(level) for f, level in spec.features.items()})
        return seed

    def reseed(self, key: str) -> None:
        """``key``'s project was deleted by a request: make it anew (its spares went with it)."""
        self.spares = {k: v for k, v in self.spares.items() if k[0] != key}
        self.make_project(PROJECTS[key])


def build_world(app: Flask) -> World:
    world = World(app)
    with app.app_context():
        session = db.session
        users, tokens = UserService(session), TokenService(session)
        people: dict[str, User] = {name: users.create(name) for name in [*ROLE_USERS, "outsider"]}
        people["root"] = users.create("root", admin=True)
        # A cheap hash: the sign-in form checks it on every request of the matrix.
        signer = users.create("signer")
        signer.password_hash = generate_password_hash(SIGNER_PASSWORD, method="pbkdf2:sha256:1000")
        other = ProjectService(session).create(OTHER.path, people["owner"], visibility=Visibility(OTHER.visibility))
        MemberService(session).add(other, people["developer"], Role.DEVELOPER)
        for caller in role_callers():
            if caller.user is not None:
                world.headers[caller.name] = {"PRIVATE-TOKEN": tokens.create(people[caller.user], "matrix", ["api"])[1]}
        world.headers["owner-api-token"] = world.headers["owner"]
        world.headers["maintainer-read_api"] = {"PRIVATE-TOKEN": tokens.create(people["maintainer"], "read", ["read_api"])[1]}
        both = ["read_package_registry", "write_package_registry"]
        world.headers["deploy-of-other-project"] = {"DEPLOY-TOKEN": DeployTokenService(session).create(other, "other", both)[1]}
        _, secret = JobService(session).register(other, {"user": "developer", "job_id": "78", "ci_system": "gitlab"})
        world.headers["job-of-other-project"] = {"JOB-TOKEN": secret}
        world.developer_token_id = tokens.create(people["developer"], "spare", ["api"])[0].id
        session.commit()
        world.user_ids = {name: user.id for name, user in people.items()}
    for spec in PROJECTS.values():
        world.make_project(spec)
    return world


def seed_project(world: World, seed: Seed) -> None:
    """Fill a project through the API, as the administrator."""

    def admin(method: str, path: str, **kwargs: Any) -> Any:
        return world.admin(seed, method, path, **kwargs).get_json(silent=True)

    api = f"/api/v4/projects/{seed.id}"
    mlflow = f"{api}/ml/mlflow/api/2.0/mlflow"
    seed.packages[PLAIN] = world.upload_package(seed, "plain-pkg", "build-7", "file.bin")
    seed.packages[PLAIN_SEMVER] = world.upload_package(seed, "release-tarball", "2.3.4", "file.bin")
    seed.model_id = admin("POST", f"{api}/ml/models", json={"name": seed.model_name})["id"]
    seed.version_id = admin("POST", f"{api}/ml/models/{seed.model_id}/versions", json={"version": seed.version})["id"]
    admin("PUT", f"{api}/packages/ml_models/{seed.version_id}/files/{seed.version_file}", data=b"weights")
    seed.packages[MODEL_VERSION] = world.package_ref(seed, seed.model_name, seed.version)
    # A folder in the version, for the Hugging Face tree of a path.
    admin("PUT", f"{api}/packages/ml_models/{seed.version_id}/files/{seed.version_folder}/settings.json", data=b"{}")
    admin("POST", f"{api}/ml/models", json={"name": "mymodel"})
    latest = world.upload_package(seed, "mymodel", "1.0.0", "model.bin")
    seed.packages[LATEST] = PackageRef(latest.id, latest.name, "latest", latest.file_id, latest.file_name)
    created = admin("POST", f"{mlflow}/experiments/create", json={"name": seed.experiment_name})
    seed.experiment_id = str(created["experiment_id"])
    run = admin("POST", f"{mlflow}/runs/create", json={"experiment_id": seed.experiment_id})["run"]["info"]
    seed.run_id = run["run_id"]
    seed.run_root = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    metric = {"run_id": seed.run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
    admin("POST", f"{mlflow}/runs/log-metric", json=metric)
    admin("POST", f"{mlflow}/runs/set-tag", json={"run_id": seed.run_id, "key": "team", "value": "fraud"})
    seed.artifact = f"{seed.run_root}/out.txt"
    seed.packages[MLFLOW_ARTIFACT] = world.run_artifact(seed, seed.run_id, "out.txt")
    logged = admin("POST", f"{mlflow}/logged-models", json={"experiment_id": seed.experiment_id})
    seed.logged_model_id = logged["model"]["info"]["model_id"]
    tags = {"tags": [{"key": "team", "value": "fraud"}]}
    admin("PATCH", f"{mlflow}/logged-models/{seed.logged_model_id}/tags", json=tags)
    versions = admin("GET", f"{mlflow}/model-versions/search", query_string={"filter": f"name='{seed.model_name}'"})
    (seed.mlflow_version,) = [v["version"] for v in versions["model_versions"]]
    named = {"name": seed.model_name}
    admin("POST", f"{mlflow}/registered-models/alias", json={**named, "alias": "champion", "version": seed.mlflow_version})
    admin("POST", f"{mlflow}/registered-models/set-tag", json={**named, "key": "team", "value": "fraud"})
    version_tag = {**named, "version": seed.mlflow_version, "key": "team", "value": "fraud"}
    admin("POST", f"{mlflow}/model-versions/set-tag", json=version_tag)


Builder = Callable[[Ctx], Req]
