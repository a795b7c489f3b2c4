"""The one alias service: every move of a model's alias (MLflow's ``set_registered_model_alias``,
the REST API, the pages, a roll back, an approved promotion request) goes through ``AliasService``,
which applies the protected alias rules, records the move in the alias's history and the audit
trail in the same transaction, and reads the history back (``history``, ``at``).

A move of a protected alias (``plugin.promotion.rules``) is made at once when the caller has the
rules' role, the version carries their tags and they ask for no approval; a version without the
tags is refused (``Forbidden`` naming the rule); otherwise the move waits in a promotion request
(``plugin.promotion.requests``), which ``move`` returns instead of a move. ``move_or_refuse`` (for
MLflow, which cannot be told "accepted, pending") raises ``PromotionRequired``, a ``Forbidden``
naming the rule and the request's page, once the request is saved.

Audit events (the contract with webhooks): ``model_alias_set`` (``from``, ``to``, ``request_id``,
``rollback``), ``model_alias_deleted``, ``model_alias_promotion_requested``.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    DbSession,
    Forbidden,
    InvalidInput,
    NotFound,
    PackageService,
    Project,
    Role,
    commit,
    unit_of_work,
    utcnow,
)
from plugin.mlflow_registry.models import Alias, VersionTag
from plugin.promotion.models import DELETED, PENDING, ROLLBACK, SET, SUPERSEDED, AliasMove, PromotionRequest
from plugin.promotion.rules import ADMIN, AliasRuleService, Protection, level_name
from plugin.registry.auditing import model_event
from plugin.registry.models import Model, ModelVersion
from plugin.tracking import validation


class Roles(Protocol):
    """What the service asks the access policy: the caller's role in a project (``None``: none)."""

    def role(self, principal: Any, project: Project) -> int | None: ...


class PromotionRequired(Forbidden):
    """The move waits for approvals in ``request`` (saved): what MLflow's client is told."""

    def __init__(self, reason: str, request: PromotionRequest) -> None:
        super().__init__(reason)
        self.request = request


@dataclass(frozen=True)
class Outcome:
    """What asking for a move did: moved the alias (``move``), or opened a promotion request."""

    move: AliasMove | None = None
    request: PromotionRequest | None = None


def parse_time(value: str) -> datetime.datetime:
    """An ISO 8601 instant (``2026-12-01T10:00:00Z``, or with an offset; naive means UTC) as naive
    UTC, the way the database keeps times; raise ``InvalidInput``."""
    try:
        when = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"at must be an ISO 8601 time such as 2026-12-01T10:00:00Z, not {value!r}") from None
    if when.tzinfo is not None:
        try:
            when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first day there is
            raise InvalidInput(f"at is out of range: {value!r}") from None
    return when


def caller_level(roles: Roles, actor: Actor, project: Project) -> int:
    """The actor's role in ``project`` (administrators above every role, non-members 0)."""
    if actor.principal.is_admin and actor.principal.acts_in(project.id):
        return ADMIN
    return roles.role(actor.principal, project) or 0


class AliasService:
    def __init__(
        self,
        session: DbSession,
        roles: Roles,
        packages: PackageService,
        *,
        actor: Actor = COMMAND_LINE,
        request_url: Callable[[PromotionRequest], str] = lambda request: f"promotion request {request.id}",
    ) -> None:
        self.session = session
        self.roles = roles
        self.packages = packages  # seals the versions protected aliases point at
        self.actor = actor
        self.rules = AliasRuleService(session, packages, actor=actor)
        self.request_url = request_url  # where a promotion request is seen and approved (its page)

    # -- moves -------------------------------------------------------------------------------------

    def move(self, model: Model, alias: str | None, row: ModelVersion, *, rollback: bool = False) -> Outcome:
        """Point ``alias`` of ``model`` at ``row`` under the rules that protect it; raise
        ``InvalidInput`` (``ReservedName``) for a name an alias cannot take, ``Forbidden`` naming
        the rule for a version that lacks its tags."""
        alias = validation.alias(alias)
        current = self._alias(model, alias)
        if current is not None and current.version_id == row.id:
            return Outcome()  # already there: nothing moves, nothing to approve
        protection = self.rules.protection(model.project_id, alias)
        if protection is not None:
            self.check_tags(protection, alias, row)
            project = self.session.get(Project, model.project_id)
            assert project is not None
            missing_role = caller_level(self.roles, self.actor, project) < protection.minimum_access_level
            approvals = max(protection.approvals_required, 1 if missing_role else 0)
            if approvals:
                return Outcome(request=self._open(model, alias, row, protection, approvals, rollback=rollback))
        return Outcome(move=self.apply(model, alias, row, rollback=rollback))

    def move_or_refuse(self, model: Model, alias: str | None, row: ModelVersion) -> None:
        """``move``, raising ``PromotionRequired`` once a promotion request is saved."""
        outcome = self.move(model, alias, row)
        if outcome.request is not None:
            request = outcome.request
            raise PromotionRequired(
                f"Alias '{request.alias}' is protected by rule '{request.rule}': moving it to version "
                f"{row.sequence} ({row.version}) needs {request.approvals_required} approval(s) from "
                f"{level_name(request.minimum_access_level)}s other than you and the version's author. "
                f"Promotion request {request.id} is waiting for them: {self.request_url(request)}",
                request,
            )

    def check_tags(self, protection: Protection, alias: str, row: ModelVersion) -> None:
        """Raise ``Forbidden`` naming the rule unless ``row`` carries the tags ``protection`` asks for."""
        query = select(VersionTag.key, VersionTag.value).where(VersionTag.version_id == row.id)
        tags = {key: value for key, value in self.session.execute(query)}
        missing = protection.missing_tags(tags)
        if missing:
            raise Forbidden(
                f"Alias '{alias}' is protected by rule '{protection.names}': version {row.sequence} "
                f"({row.version}) lacks the required tag(s) {', '.join(missing)}"
            )

    def apply(
        self, model: Model, alias: str, row: ModelVersion, *, rollback: bool = False, request: PromotionRequest | None = None
    ) -> AliasMove:
        """Move ``alias`` to ``row`` now, recorded (with ``request``, when one was approved), and
        commit; a protected alias seals ``row``'s package in the same transaction."""
        with unit_of_work(self.session):
            return self._apply(model, alias, row, rollback=rollback, request=request)

    def _apply(
        self, model: Model, alias: str, row: ModelVersion, *, rollback: bool, request: PromotionRequest | None
    ) -> AliasMove:
        current = self._alias(model, alias)
        before = None if current is None else self.session.get(ModelVersion, current.version_id)
        if current is None:
            self.session.add(Alias(model_id=model.id, alias=alias, version_id=row.id))
        else:
            current.version_id = row.id
        move = AliasMove(
            model_id=model.id,
            alias=alias,
            action=ROLLBACK if rollback else SET,
            from_version_id=None if before is None else before.id,
            from_version=None if before is None else before.version,
            to_version_id=row.id,
            to_version=row.version,
            author_id=self.actor.author_id,
            author_name=self.actor.author_name,
            request_id=None if request is None else request.id,
        )
        self.session.add(move)
        model.updated_at = utcnow()
        model_event(
            self.session,
            "alias_set",
            model,
            actor=self.actor,
            alias=alias,
            version=row.version,
            version_number=row.sequence,
            request_id=move.request_id,
            rollback=rollback,
            **{"from": None if before is None else before.version, "to": row.version},
        )
        if self.rules.protection(model.project_id, alias) is not None:
            self.packages.seal(row.package, self.actor)  # a version a protected alias points at is sealed
        self.session.flush()
        return move

    def delete(self, model: Model, alias: str | None) -> None:
        """Delete ``alias`` (nothing happens if there is none); a protected alias takes the rules'
        role and a Maintainer: raise ``Forbidden`` naming the rule."""
        current = self._alias(model, alias or "")
        if current is None:
            return
        protection = self.rules.protection(model.project_id, current.alias)
        if protection is not None:
            project = self.session.get(Project, model.project_id)
            assert project is not None
            needed = max(protection.minimum_access_level, int(Role.MAINTAINER))
            if caller_level(self.roles, self.actor, project) < needed:
                raise Forbidden(
                    f"Alias '{current.alias}' is protected by rule '{protection.names}': only "
                    f"{level_name(needed)}s may delete it"
                )
        pointed = self.session.get(ModelVersion, current.version_id)
        self.session.delete(current)
        self.session.add(
            AliasMove(
                model_id=model.id,
                alias=current.alias,
                action=DELETED,
                from_version_id=None if pointed is None else pointed.id,
                from_version=None if pointed is None else pointed.version,
                author_id=self.actor.author_id,
                author_name=self.actor.author_name,
            )
        )
        model.updated_at = utcnow()
        model_event(
            self.session,
            "alias_deleted",
            model,
            actor=self.actor,
            alias=current.alias,
            version=None if pointed is None else pointed.version,
        )
        commit(self.session)

    def rollback(self, model: Model, alias: str) -> Outcome:
        """Move ``alias`` back to the version it pointed at before its last move, under the same
        rules; raise ``NotFound("Alias")``, ``InvalidInput`` when there is no previous version."""
        current = self._alias(model, alias)
        if current is None:
            raise NotFound("Alias")
        last = self.session.scalar(self._moves(model, alias).limit(1))
        if last is None or last.from_version is None:
            raise InvalidInput(f"Alias '{alias}' has no previous version to roll back to")
        previous = None if last.from_version_id is None else self.session.get(ModelVersion, last.from_version_id)
        if previous is None:
            raise InvalidInput(f"Alias '{alias}' pointed at version {last.from_version} before, which was deleted")
        return self.move(model, alias, previous, rollback=True)

    # -- promotion requests ------------------------------------------------------------------------

    def _open(
        self, model: Model, alias: str, row: ModelVersion, protection: Protection, approvals: int, *, rollback: bool
    ) -> PromotionRequest:
        """The pending request to move ``alias`` to ``row`` (one already open for it, or a new one,
        which supersedes the alias's other pending requests)."""
        pending = list(
            self.session.scalars(
                select(PromotionRequest).where(
                    PromotionRequest.model_id == model.id, PromotionRequest.alias == alias, PromotionRequest.status == PENDING
                )
            )
        )
        for request in pending:
            if request.version_id == row.id and request.requester_id == self.actor.author_id:
                return request
        now = utcnow()
        for request in pending:
            request.status, request.closed_at = SUPERSEDED, now
        current = self._alias(model, alias)
        request = PromotionRequest(
            project_id=model.project_id,
            model_id=model.id,
            alias=alias,
            version_id=row.id,
            rollback=rollback,
            rule=protection.names[:1024],
            minimum_access_level=protection.minimum_access_level,
            approvals_required=approvals,
            requester_id=self.actor.author_id,
            requester_name=self.actor.author_name,
            status=PENDING,
            created_at=now,
        )
        self.session.add(request)
        self.session.flush()
        before = None if current is None else self.session.get(ModelVersion, current.version_id)
        model_event(
            self.session,
            "alias_promotion_requested",
            model,
            actor=self.actor,
            request_id=request.id,
            alias=alias,
            version=row.version,
            version_number=row.sequence,
            rule=request.rule,
            approvals_required=approvals,
            superseded=[r.id for r in pending],
            **{"from": None if before is None else before.version, "to": row.version},
        )
        commit(self.session)
        return request

    # -- reading -----------------------------------------------------------------------------------

    def _alias(self, model: Model, alias: str) -> Alias | None:
        return self.session.scalar(select(Alias).where(Alias.model_id == model.id, Alias.alias == alias))

    def _moves(self, model: Model, alias: str) -> Any:
        return (
            select(AliasMove)
            .where(AliasMove.model_id == model.id, AliasMove.alias == alias)
            .order_by(AliasMove.id.desc())
        )

    def get(self, model: Model, alias: str) -> tuple[Alias, ModelVersion]:
        """The alias named ``alias`` and the version it points at; raise ``NotFound("Alias")``."""
        found = self._alias(model, alias)
        row = None if found is None else self.session.get(ModelVersion, found.version_id)
        if found is None or row is None:
            raise NotFound("Alias")
        return found, row

    def current(self, model: Model) -> list[tuple[Alias, ModelVersion]]:
        """The model's aliases with the versions they point at, by name."""
        query = (
            select(Alias, ModelVersion)
            .join(ModelVersion, ModelVersion.id == Alias.version_id)
            .where(Alias.model_id == model.id)
            .order_by(Alias.alias)
        )
        return [(alias, row) for alias, row in self.session.execute(query)]

    def history(self, model: Model, alias: str, *, limit: int | None = None) -> list[AliasMove]:
        """Every move of ``alias``, the latest first; raise ``NotFound("Alias")`` if it never existed."""
        query = self._moves(model, alias)
        moves = list(self.session.scalars(query if limit is None else query.limit(limit)))
        if not moves and self._alias(model, alias) is None:
            raise NotFound("Alias")
        return moves

    def histories(self, model: Model, *, per_alias: int = 10) -> dict[str, list[AliasMove]]:
        """The latest moves of each alias the model has or had, by alias name."""
        found: dict[str, list[AliasMove]] = {}
        for move in self.session.scalars(select(AliasMove).where(AliasMove.model_id == model.id).order_by(AliasMove.id.desc())):
            kept = found.setdefault(move.alias, [])
            if len(kept) < per_alias:
                kept.append(move)
        return dict(sorted(found.items()))

    def at(self, model: Model, alias: str, when: datetime.datetime) -> tuple[AliasMove, ModelVersion]:
        """The move that set what ``alias`` pointed at at ``when`` (naive UTC), and that version;
        raise ``NotFound`` when the alias pointed nowhere then, or its version is deleted."""
        query = self._moves(model, alias).where(AliasMove.created_at <= when).limit(1)
        move = self.session.scalar(query)
        if move is None or move.to_version is None:
            raise NotFound(f"Alias {alias} at {when.isoformat()}Z")
        row = None if move.to_version_id is None else self.session.get(ModelVersion, move.to_version_id)
        if row is None:
            raise NotFound(f"Model version {move.to_version} (deleted since)")
        return move, row


def record_version_deleted(session: DbSession, actor: Actor, package_id: int) -> None:
    """Record in the aliases' history that those pointing at the version of package ``package_id`` go
    with it (a step of the package's deletion, before the version row and its aliases are deleted).
    The audit trail has the version's deletion; like MLflow, no alias event is sent for it."""
    row = session.scalar(select(ModelVersion).where(ModelVersion.package_id == package_id))
    if row is None:
        return
    for alias in session.scalars(select(Alias).where(Alias.version_id == row.id)):
        session.add(
            AliasMove(
                model_id=row.model_id,
                alias=alias.alias,
                action=DELETED,
                from_version_id=row.id,
                from_version=row.version,
                author_id=actor.author_id,
                author_name=actor.author_name,
            )
        )
