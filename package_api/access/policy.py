"""Who may do what: every permission decision in one place. Handlers only ask.

An action has a ``Rule``: the least member role it needs, whether it only reads (then anyone who
can see the project and the feature may do it), the project feature it belongs to, the deploy-token
scope that allows it, and whether CI job tokens may do it. Each app has its ``Rules``
(``rules(app)``); plugins register their own actions and features there and may say that some
packages follow another action's rule (``register_package_rule``: a SemVer package of a model the
project has is a model version, so the model registry's rules apply to it on every surface). A
package rule may read the database through the ``PolicyFacts`` it is given, which keeps what it
read for the life of the ``Policy``: judging a page of packages reads each fact once, not once a row.

A caller who may not even see a project gets ``NotFound("Project")`` (so private names do not
leak); one who sees it but lacks the role, the scope or the feature gets ``Forbidden``; anonymous
callers asking for more than they have get ``Unauthorized`` (GitLab's ``authenticate_non_get!``).
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select
from sqlalchemy.orm import QueryableAttribute

from package_api.access.models import FeatureAccess, Membership, Project, ProjectFeature, Role, Visibility
from package_api.db import DbSession, prepared
from package_api.errors import Forbidden, NotFound, Unauthorized
from package_api.identity import Principal, PrincipalKind

PACKAGE_REGISTRY = "package_registry"

#: Deploy-token scopes.
READ_PACKAGE_REGISTRY = "read_package_registry"
WRITE_PACKAGE_REGISTRY = "write_package_registry"

T = TypeVar("T")


class Action(enum.Enum):
    READ_PROJECT = "read_project"
    READ_PACKAGE = "read_package"
    PUBLISH_PACKAGE = "publish_package"
    DELETE_PACKAGE = "delete_package"
    ADMIN_PROJECT = "admin_project"  # settings, members, tokens, audit events
    OWN_PROJECT = "own_project"  # visibility, deleting the project
    REGISTER_JOB = "register_job"  # what a project CI token is for
    READ_JOB = "read_job"  # the registered CI jobs of a project (GitLab's read_build: Reporter)


@dataclass(frozen=True)
class Rule:
    role: Role
    read: bool = False
    feature: str | None = None
    deploy_scope: str | None = None
    job_token: bool = False


#: The package registry's own rules; each app starts from these (``Rules``).
CORE_RULES: dict[object, Rule] = {
    Action.READ_PROJECT: Rule(Role.GUEST, read=True, deploy_scope=READ_PACKAGE_REGISTRY, job_token=True),
    Action.READ_PACKAGE: Rule(
        Role.GUEST, read=True, feature=PACKAGE_REGISTRY, deploy_scope=READ_PACKAGE_REGISTRY, job_token=True
    ),
    Action.PUBLISH_PACKAGE: Rule(
        Role.DEVELOPER, feature=PACKAGE_REGISTRY, deploy_scope=WRITE_PACKAGE_REGISTRY, job_token=True
    ),
    Action.DELETE_PACKAGE: Rule(Role.MAINTAINER, feature=PACKAGE_REGISTRY),
    Action.ADMIN_PROJECT: Rule(Role.MAINTAINER),
    Action.OWN_PROJECT: Rule(Role.OWNER),
    # Only the project CI token (a principal of kind ``ci_token``) registers jobs; see ``Policy``.
    Action.REGISTER_JOB: Rule(Role.MAINTAINER),
    Action.READ_JOB: Rule(Role.REPORTER),
}


class PolicyFacts:
    """What package rules read while judging, each fact read once per ``Policy`` (a ``Policy`` lives
    for a call or a request's list, never across changes)."""

    def __init__(self, session: DbSession) -> None:
        self.session = session
        self._known: dict[Hashable, Any] = {}
        self._expected: dict[int, set[str]] = {}

    def remember(self, key: Hashable, read: Callable[[], T]) -> T:
        """The fact ``key``: ``read()`` the first time it is asked, what that returned after."""
        if key not in self._known:
            self._known[key] = read()
        # The facts are of every type; what is kept under a key is what its ``read`` returned.
        return self._known[key]  # type: ignore[no-any-return]

    def expect(self, project_id: int, names: Iterable[str]) -> None:
        """Note that packages of the project named ``names`` are about to be judged (a page of them),
        so that a rule reading a fact per package name reads theirs in one statement."""
        self._expected.setdefault(project_id, set()).update(names)

    def expected(self, project_id: int) -> frozenset[str]:
        """The package names of the project ``expect`` noted."""
        return frozenset(self._expected.get(project_id, ()))


#: ``(facts, project, action, package name, version) -> action or None``: the rule a package
#: follows instead. The action it returns reads if and only if ``action`` does (``Policy.changes``
#: asks before the project, let alone the package, is known).
PackageRule = Callable[[PolicyFacts, Project, object, str, str], object | None]


class Rules:
    """One app's actions, features and package rules: the core's, plus what its plugins add."""

    def __init__(self) -> None:
        self.actions: dict[object, Rule] = dict(CORE_RULES)
        #: The features a project has, in the order the settings page lists them.
        self.features: list[str] = [PACKAGE_REGISTRY]
        self.package_rules: list[PackageRule] = []

    def register_action(
        self,
        action: object,
        role: Role,
        *,
        read: bool = False,
        feature: str | None = None,
        deploy_scope: str | None = None,
        job_token: bool = False,
    ) -> None:
        """Add an action (``read`` ones are open to anyone who sees the project and feature)."""
        self.actions[action] = Rule(role, read=read, feature=feature, deploy_scope=deploy_scope, job_token=job_token)

    def register_feature(self, name: str) -> None:
        if name not in self.features:
            self.features.append(name)

    def register_package_rule(self, rule: PackageRule) -> None:
        """Let some packages follow another action's rule (``rule`` returns that action, or ``None``)."""
        if rule not in self.package_rules:
            self.package_rules.append(rule)

    def package_action(self, facts: PolicyFacts, project: Project, action: object, name: str, version: str) -> object:
        """The action a package of ``name``/``version`` in ``project`` is judged by when ``action``
        is asked of it."""
        for rule in self.package_rules:
            replaced = rule(facts, project, action, name, version)
            if replaced is not None:
                return replaced
        return action


def rules(app: Flask) -> Rules:
    """``app``'s rules, made on first use."""
    # app.extensions holds Any; only this function puts ``Rules`` under this key.
    return app.extensions.setdefault("modelshelf.rules", Rules())  # type: ignore[no-any-return]


class Policy:
    def __init__(self, session: DbSession, rules: Rules | None = None) -> None:
        self.session = session
        self.rules = rules or Rules()
        # One decision asks for the caller's role and a feature's level more than once (can the
        # caller see the project, is the feature open to them, is their role enough), and a page of
        # packages asks once per package: each is read once per Policy (a Policy lives for a call
        # or a request's list, never across changes).
        self._roles: dict[tuple[int, int], int | None] = {}
        self._features: dict[tuple[int, str], FeatureAccess] = {}
        self.facts = PolicyFacts(session)  # what the package rules read, read once
        # A project read with the caller's token (``prime``), kept for the next ``judged_project``.
        self._primed: dict[tuple[int | None, int | tuple[str, str]], Project | None] = {}

    # -- facts --------------------------------------------------------------------------------

    def role(self, principal: Principal, project: Project) -> int | None:
        """The caller's access level in ``project``, or ``None`` for non-members."""
        if principal.user is None or not principal.acts_in(project.id):
            return None
        key = (principal.user.id, project.id)
        if key not in self._roles:
            self._roles[key] = self.session.scalar(
                select(Membership.access_level).where(
                    Membership.project_id == project.id, Membership.user_id == principal.user.id
                )
            )
        return self._roles[key]

    def feature_access(self, project: Project, feature: str) -> FeatureAccess:
        key = (project.id, feature)
        if key not in self._features:
            level = self.session.scalar(
                select(ProjectFeature.access_level).where(
                    ProjectFeature.project_id == project.id, ProjectFeature.feature == feature
                )
            )
            self._features[key] = level or FeatureAccess.ENABLED
        return self._features[key]

    def judged_project(self, principal: Principal, ref: int | tuple[str, str]) -> Project | None:
        """The project ``ref`` names (its id, or its namespace and path), or ``None``; the same query
        reads the caller's role there and every feature's level, which this Policy then knows
        (``role``, ``feature_access``): judging a request costs one statement, not three."""
        user_id = principal.user.id if principal.user is not None else None
        if (user_id, ref) in self._primed:
            return self._primed.pop((user_id, ref))
        by_id = isinstance(ref, int)
        key = (tuple(self.rules.features), user_id is not None, by_id)
        statement = _JUDGED.get(key)
        if statement is None:
            statement = _JUDGED[key] = _judged_statement(key[0], with_role=user_id is not None, by_id=by_id)
        params = judged_params(ref)
        if user_id is not None:
            params["user"] = user_id
        row = self.session.execute(statement, params).first()
        if row is None:
            return None
        project, *values = row
        self._learn(project, user_id, values)
        return project  # type: ignore[no-any-return]

    def prime(self, user_id: int, ref: int | tuple[str, str], project: Project | None, values: Sequence[Any]) -> None:
        """Keep ``project``, which ``ref`` names, for the next ``judged_project`` of the user ``user_id``:
        read with the caller's token in one statement (``authentication``), with ``values``, the
        columns of ``judged_columns`` (the user's role there, every feature's level), which this Policy
        then knows. ``None``: no project has that reference."""
        if project is not None:
            self._learn(project, user_id, list(values))
        self._primed[(user_id, ref)] = project

    def _learn(self, project: Project, user_id: int | None, values: list[Any]) -> None:
        if user_id is not None:
            self._roles[(user_id, project.id)] = values.pop(0)
        for feature, level in zip(self.rules.features, values, strict=True):
            self._features[(project.id, feature)] = level or FeatureAccess.ENABLED

    def feature_levels(self, project: Project) -> dict[str, FeatureAccess]:
        """Every registered feature's access level in ``project``."""
        stored = dict(
            self.session.execute(
                select(ProjectFeature.feature, ProjectFeature.access_level).where(
                    ProjectFeature.project_id == project.id
                )
            ).all()
        )
        return {name: stored.get(name, FeatureAccess.ENABLED) for name in self.rules.features}

    def set_feature_access(self, project: Project, feature: str, level: FeatureAccess) -> None:
        """Set ``feature``'s access level in ``project``: a step of a settings change
        (``ProjectSettingsService``), whose unit of work commits it; raise ``ValueError`` for an
        unknown feature."""
        if feature not in self.rules.features:
            raise ValueError(f"unknown feature {feature!r}")
        row = self.session.scalar(
            select(ProjectFeature).where(ProjectFeature.project_id == project.id, ProjectFeature.feature == feature)
        )
        if row is None:
            self.session.add(ProjectFeature(project_id=project.id, feature=feature, access_level=level))
        else:
            row.access_level = level
        self._features[(project.id, feature)] = level
        self.session.flush()

    def can_see(self, principal: Principal, project: Project) -> bool:
        if principal.kind in (PrincipalKind.DEPLOY_TOKEN, PrincipalKind.CI_TOKEN):
            return principal.acts_in(project.id) or project.visibility == Visibility.PUBLIC
        if principal.is_admin and principal.acts_in(project.id):
            return True
        if project.visibility == Visibility.PUBLIC:
            return True
        if project.visibility == Visibility.INTERNAL and principal.user is not None and principal.acts_in(project.id):
            return True
        return self.role(principal, project) is not None

    def visible_projects(self, principal: Principal) -> list[Project]:
        """Every project ``principal`` may see (``can_see`` as one query), by path."""
        query = self.visible_query(principal)
        return list(self.session.scalars(query.order_by(Project.namespace, Project.path)))

    def visible_query(self, principal: Principal) -> Select[Any]:
        """The projects ``principal`` may see, as a query to refine (``can_see`` as one query)."""
        query = select(Project)
        if principal.project_id is not None:
            query = query.where(or_(Project.visibility == Visibility.PUBLIC, Project.id == principal.project_id))
        elif not principal.is_admin:
            seen = [Project.visibility == Visibility.PUBLIC]
            if principal.user is not None:
                seen.append(Project.visibility == Visibility.INTERNAL)
                seen.append(
                    Project.id.in_(select(Membership.project_id).where(Membership.user_id == principal.user.id))
                )
            query = query.where(or_(*seen))
        return query

    # -- decisions ----------------------------------------------------------------------------

    def can(
        self,
        principal: Principal,
        project: Project,
        action: object,
        *,
        package: tuple[str, str] | None = None,
        reading: bool = False,
    ) -> bool:
        return self._refusal(principal, project, self._action(project, action, package), reading) is None

    def expect_packages(self, project: Project, packages: Iterable[tuple[str, str]]) -> None:
        """Say that ``packages`` of ``project`` (name and version pairs: a page) are about to be judged
        one by one, so that the package rules read what they need for all of them at once."""
        self.facts.expect(project.id, (name for name, _ in packages))

    def authorize(
        self,
        principal: Principal,
        project: Project,
        action: object,
        *,
        package: tuple[str, str] | None = None,
        reading: bool = False,
    ) -> None:
        """Raise unless ``principal`` may do ``action`` in ``project`` (to ``package``, a name and
        version, when the action is about one). ``reading``: the request only reads (a GET of
        something only Maintainers see, say), so ``read_api`` tokens may make it and anonymous
        callers of hidden projects get a 404, as for every read."""
        refusal = self._refusal(principal, project, self._action(project, action, package), reading)
        if refusal is not None:
            raise refusal

    def authorize_roles(self, principal: Principal, project: Project, *levels: int) -> None:
        """Raise unless ``principal`` may grant, change or take away each of the roles ``levels`` in
        ``project``: anything about the Owner role takes an Owner (``Action.OWN_PROJECT``), the rest
        the Maintainer that ``Action.ADMIN_PROJECT`` asked for already."""
        if Role.OWNER in levels:
            self.authorize(principal, project, Action.OWN_PROJECT)

    def authorize_visibility(self, principal: Principal, project: Project, visibility: str | None) -> None:
        """Raise unless ``principal`` may set ``project``'s visibility to ``visibility`` (``None``:
        left as it is): a new visibility takes an Owner (``Action.OWN_PROJECT``)."""
        if visibility is not None and visibility != project.visibility.value:
            self.authorize(principal, project, Action.OWN_PROJECT)

    def authorize_token_role(self, principal: Principal, project: Project, role: Role) -> None:
        """Raise ``Forbidden`` unless ``principal`` may issue a project access token with ``role`` in
        ``project``: no higher than its own role there (admins any)."""
        if not principal.is_admin and role > (self.role(principal, project) or 0):
            raise Forbidden("a token cannot have a higher access level than its creator")

    def authorize_job_finish(self, principal: Principal, project: Project, job_id: int) -> None:
        """Raise unless ``principal`` may mark ``project``'s CI job ``job_id`` finished: the job's own
        token, the project's CI token (``Action.REGISTER_JOB``), or a Maintainer, who may end a job
        token that leaked (``Action.ADMIN_PROJECT``)."""
        if principal.job_id is not None and principal.job_id == job_id and principal.acts_in(project.id):
            return
        action = Action.REGISTER_JOB if principal.kind is PrincipalKind.CI_TOKEN else Action.ADMIN_PROJECT
        self.authorize(principal, project, action)

    def authorize_namespace(self, principal: Principal, namespace: str) -> None:
        """Raise ``Forbidden`` unless ``principal`` may create a project in ``namespace``: its user's
        own namespace, or any for admins."""
        if not principal.is_admin and (principal.user is None or namespace != principal.user.username):
            raise Forbidden("only administrators create projects outside their own namespace")

    def changes(self, action: object, *, reading: bool = False) -> bool:
        """Whether doing ``action`` changes something (so needs an authenticated, ``api``-scoped
        caller), whichever package it is asked of (a package rule keeps whether an action reads)."""
        return not (self.rules.actions[action].read or reading)

    def _action(self, project: Project, action: object, package: tuple[str, str] | None) -> object:
        return action if package is None else self.rules.package_action(self.facts, project, action, *package)

    def _refusal(self, principal: Principal, project: Project, action: object, reading: bool) -> Exception | None:
        """``None`` if allowed, else the error to answer with."""
        rule = self.rules.actions[action]
        changes = self.changes(action, reading=reading)
        if not self.can_see(principal, project):
            if principal.is_anonymous and changes:
                return Unauthorized("authentication required")
            return NotFound("Project")
        if principal.is_anonymous and changes:
            return Unauthorized("authentication required")
        if action == Action.REGISTER_JOB:
            return None if principal.kind is PrincipalKind.CI_TOKEN and principal.acts_in(project.id) else Forbidden()
        if principal.kind is PrincipalKind.CI_TOKEN:
            return Forbidden()
        if rule.feature is not None:
            refusal = self._feature_refusal(principal, project, rule.feature)
            if refusal is not None:
                return refusal
        if principal.kind is PrincipalKind.DEPLOY_TOKEN:
            if principal.acts_in(project.id) and rule.deploy_scope in principal.scopes:
                return None
            if rule.read and project.visibility == Visibility.PUBLIC:
                return None
            return Forbidden("insufficient_scope" if principal.acts_in(project.id) else "")
        if principal.kind is PrincipalKind.JOB_TOKEN and principal.acts_in(project.id) and not rule.job_token:
            return Forbidden("job tokens may not do this")
        if changes and not principal.can_write:
            if principal.is_anonymous:
                return Unauthorized("authentication required")
            return Forbidden("insufficient_scope")
        if principal.is_admin and principal.acts_in(project.id):
            return None
        level = self.role(principal, project)
        if rule.read and level is None:  # a public or internal project, seen as a non-member
            return None
        if level is not None and level >= rule.role:
            return None
        if principal.is_anonymous:
            return Unauthorized("authentication required")
        return Forbidden()

    def _feature_refusal(self, principal: Principal, project: Project, feature: str) -> Exception | None:
        level = self.feature_access(project, feature)
        if level == FeatureAccess.DISABLED:
            return Forbidden(f"the {feature.replace('_', ' ')} is disabled in this project")
        if level == FeatureAccess.PRIVATE:
            if principal.kind is PrincipalKind.DEPLOY_TOKEN and principal.acts_in(project.id):
                return None
            if (principal.is_admin and principal.acts_in(project.id)) or self.role(principal, project) is not None:
                return None
            if principal.is_anonymous:
                return Unauthorized("authentication required")
            return Forbidden(f"the {feature.replace('_', ' ')} is visible to project members only")
        return None


#: ``Policy.judged_project``'s statements, one per shape (the features registered, a caller with a
#: user or not, the project by id or by path), built once: it runs on every request, and building
#: its scalar subqueries cost SQLAlchemy more than running it.
_JUDGED: dict[tuple[tuple[str, ...], bool, bool], Select[Any]] = {}


def _judged_statement(features: tuple[str, ...], *, with_role: bool, by_id: bool) -> Select[Any]:
    columns, where = judged_columns(features, user=bindparam("user") if with_role else None, by_id=by_id)
    return prepared(select(Project, *columns).where(where))


def judged_columns(
    features: tuple[str, ...], *, user: ColumnElement[int] | QueryableAttribute[int] | None, by_id: bool
) -> tuple[list[Any], ColumnElement[bool]]:
    """What ``judged_project`` reads with a project, as columns correlated with ``Project``: the role of
    the user ``user`` (a parameter, or a column of the statement) when given, then each of
    ``features``' level; and the condition that picks the project by id or by path
    (``judged_params``)."""
    columns: list[Any] = []
    if user is not None:
        columns.append(
            select(Membership.access_level)
            .where(Membership.project_id == Project.id, Membership.user_id == user)
            .scalar_subquery()
        )
    columns += [
        select(ProjectFeature.access_level)
        .where(ProjectFeature.project_id == Project.id, ProjectFeature.feature == feature)
        .scalar_subquery()
        for feature in features
    ]
    if by_id:
        where: ColumnElement[bool] = Project.id == bindparam("id")
    else:
        where = and_(Project.namespace == bindparam("namespace"), Project.path == bindparam("path"))
    return columns, where


def judged_params(ref: int | tuple[str, str]) -> dict[str, Any]:
    """The parameters of ``judged_columns``' condition for the project ``ref`` names."""
    return {"id": ref} if isinstance(ref, int) else {"namespace": ref[0], "path": ref[1]}

