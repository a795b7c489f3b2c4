"""Promotion requests: moves of a protected alias that wait for approvals (opened by
``AliasService.move``). An eligible member approves or rejects one: a member with the rules' role
(administrators too) who is neither the requester nor the author of the version to promote, once.
One rejection closes the request; the approval that reaches the count moves the alias (recorded
with the request) in the same transaction, after checking again that the version carries the tags
the rules ask for now.

Audit events: ``model_alias_promotion_approval`` (one member's approval, short of the count),
``model_alias_promotion_approved`` (the count reached: followed by ``model_alias_set`` with the
request's id), ``model_alias_promotion_rejected``.

Errors: ``NotFound("Promotion request")``, ``InvalidInput`` for a request that is closed,
``Forbidden`` for a member who may not review it, ``AlreadyExists`` for a second review by one member.
"""
from __future__ import annotations

from sqlalchemy import select

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    AlreadyExists,
    DbSession,
    Forbidden,
    InvalidInput,
    NotFound,
    Project,
    committed,
    utcnow,
)
from plugin.promotion.aliases import AliasService, Roles, caller_level
from plugin.promotion.models import APPROVED, PENDING, REJECTED, PromotionRequest, PromotionReview
from plugin.promotion.rules import level_name
from plugin.registry.auditing import model_event
from plugin.registry.models import Model

STATUSES = ("pending", "approved", "rejected", "superseded")
MAX_COMMENT = 2000


class PromotionService:
    def __init__(self, session: DbSession, roles: Roles, aliases: AliasService, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.roles = roles
        self.aliases = aliases
        self.actor = actor

    def list(self, project: Project, *, model: Model | None = None, status: str | None = None) -> list[PromotionRequest]:
        """The project's (or ``model``'s) requests, the latest first; raise ``InvalidInput`` for an unknown status."""
        query = select(PromotionRequest).where(PromotionRequest.project_id == project.id)
        if model is not None:
            query = query.where(PromotionRequest.model_id == model.id)
        if status:
            if status not in STATUSES:
                raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
            query = query.where(PromotionRequest.status == status)
        return list(self.session.scalars(query.order_by(PromotionRequest.id.desc())))

    def get(self, project: Project, request_id: int, *, model: Model | None = None) -> PromotionRequest:
        request = self.session.get(PromotionRequest, request_id)
        if request is None or request.project_id != project.id or (model is not None and request.model_id != model.id):
            raise NotFound("Promotion request")
        return request

    def refusal(self, project: Project, request: PromotionRequest) -> str | None:
        """Why the actor may not review ``request`` (``None``: they may)."""
        user_id = self.actor.author_id
        if request.status != PENDING:
            return f"the request is {request.status}"
        if user_id is None:
            return "only members review promotion requests"
        if user_id == request.requester_id:
            return "the requester may not approve their own request"
        if user_id == request.version.author_id:
            return "the version's author may not approve its promotion"
        if caller_level(self.roles, self.actor, project) < request.minimum_access_level:
            return f"only {level_name(request.minimum_access_level)}s review requests under rule '{request.rule}'"
        if any(review.user_id == user_id for review in request.reviews):
            return "you reviewed this request already"
        return None

    def review(self, project: Project, request: PromotionRequest, *, approve: bool, comment: str = "") -> PromotionRequest:
        """Approve or reject ``request`` as the actor; the approval that reaches the count moves the
        alias. The request is read again, locked (``FOR UPDATE`` on PostgreSQL; SQLite has one
        writer), so that two approvals at once both count: the second sees the first."""
        if len(comment) > MAX_COMMENT:
            raise InvalidInput(f"comment is longer than {MAX_COMMENT} characters")
        request_id = request.id

        def work() -> PromotionRequest:
            found = self.session.get(PromotionRequest, request_id, with_for_update=True, populate_existing=True)
            assert found is not None
            self.session.expire(found, ["reviews"])
            self._refuse(project, found)
            return self._review(found, approve=approve, comment=comment)

        return committed(self.session, work)  # the review, and the move it may make, in one transaction

    def _refuse(self, project: Project, request: PromotionRequest) -> None:
        refusal = self.refusal(project, request)
        if refusal is None:
            return
        if request.status != PENDING:
            raise InvalidInput(f"Promotion request {request.id} is {request.status}")
        if "already" in refusal:
            raise AlreadyExists("A review of this request by you")
        raise Forbidden(refusal)

    def _review(self, request: PromotionRequest, *, approve: bool, comment: str) -> PromotionRequest:
        user_id = self.actor.author_id
        assert user_id is not None
        request.reviews.append(PromotionReview(user_id=user_id, approved=approve, comment=comment))
        model, row = request.model, request.version
        details = {
            "request_id": request.id,
            "alias": request.alias,
            "version": row.version,
            "version_number": row.sequence,
            "approvals": request.approvals,
            "approvals_required": request.approvals_required,
            "comment": comment,
        }
        if not approve:
            request.status, request.closed_at = REJECTED, utcnow()
            model_event(self.session, "alias_promotion_rejected", model, actor=self.actor, **details)
            return request
        if request.approvals < request.approvals_required:
            model_event(self.session, "alias_promotion_approval", model, actor=self.actor, **details)
            return request
        protection = self.aliases.rules.protection(model.project_id, request.alias)
        if protection is not None:
            self.aliases.check_tags(protection, request.alias, row)
        request.status, request.closed_at = APPROVED, utcnow()
        model_event(self.session, "alias_promotion_approved", model, actor=self.actor, **details)
        self.aliases.apply(model, request.alias, row, rollback=request.rollback, request=request)  # joins this unit
        return request
