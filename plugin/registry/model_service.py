"""Models: create, find, list with their latest version, describe, delete.

A model is made on purpose (the REST API, the pages, MLflow); its versions are then the SemVer
packages of its name (``plugin.registry.projection``). A model made over packages of its name that
exist already takes their SemVer ones as its versions: that hands them from the package registry's
rules to the model registry's, so only a caller who may delete them as packages (``may_adopt``: a
Maintainer) may do it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from package_api.plugin_api import (
    COMMAND_LINE,
    DOT_SEGMENTS,
    Actor,
    AlreadyExists,
    DbSession,
    Forbidden,
    InvalidParameter,
    NotFound,
    PackageService,
    Page,
    Project,
    User,
    choice,
    commit,
    committed,
    contains,
    descending,
    package_name,
    prepared,
    query_page,
    row_id,
)
from plugin.registry.auditing import change, model_event
from plugin.registry.models import LATEST_FIRST, Model, ModelOrigin, ModelVersion, in_precedence_order
from plugin.registry.projection import ARTIFACT_PACKAGE_NAME, HF_STAGING_PACKAGE_NAME, Projection, may_be_version

MAX_DESCRIPTION = 10_000  # GitLab's limit
ORDERS = ("name", "created_at", "updated_at", "latest_version")


@dataclass(frozen=True)
class ModelSummary:
    """A model with what the index shows beside it."""

    model: Model
    latest_version: ModelVersion | None
    version_count: int


def description(value: str | None) -> str:
    value = value or ""
    if len(value) > MAX_DESCRIPTION:
        raise InvalidParameter("description", f"is too long (maximum is {MAX_DESCRIPTION} characters)")
    return value


def model_name(value: str) -> str:
    """A model name is a package name (the model's versions are packages of that name), but not the
    name of MLflow's artifact packages: raise ``InvalidParameter("name")`` for anything else (``.`` and
    ``..`` included), saying it is required when it is empty."""
    if not value.strip():
        raise InvalidParameter("name", "is required")
    try:
        name = package_name(value)
    except InvalidParameter as exc:
        if value in DOT_SEGMENTS:
            raise InvalidParameter("name", exc.problem) from None
        raise InvalidParameter("name", "can contain only letters, digits, '.', '_', '-' and '+'") from None
    if ARTIFACT_PACKAGE_NAME.match(name):
        raise InvalidParameter("name", "is reserved: ml_experiment_<number> packages hold MLflow's artifacts")
    if name == HF_STAGING_PACKAGE_NAME:
        raise InvalidParameter("name", "is reserved: it holds Hugging Face uploads not yet committed")
    return name


#: ``may_adopt(project)``: whether the caller may make packages of ``project`` a model's versions.
Adoption = Callable[[Project], bool]


class ModelService:
    def __init__(
        self,
        session: DbSession,
        packages: PackageService,
        *,
        actor: Actor = COMMAND_LINE,
        may_adopt: Adoption = lambda project: True,
    ) -> None:
        self.session = session
        self.packages = packages
        self.projection = Projection(session)
        self.actor = actor  # who makes the changes
        self.may_adopt = may_adopt  # the policy's word on taking packages over (the command line may)

    def create(
        self, project: Project, name: str, *, description_: str = "", author: User | None, origin: ModelOrigin
    ) -> Model:
        """Create a model, whose versions are the live SemVer packages of its name (usually none yet);
        ``origin`` says which surface made it. Raise ``InvalidParameter``, ``AlreadyExists``, or
        ``Forbidden`` when packages would become versions and the caller may not delete them."""
        name, text = model_name(name), description(description_)
        project_id, author_id = project.id, author.id if author else None

        def work() -> Model:
            # Also how a lost race ends: the redo finds the winner's model.
            if self.projection.find_model(project_id, name) is not None:
                raise AlreadyExists("Model")
            adoptable = [p for p in self.projection.live_packages(project_id, name) if may_be_version(p)]
            if adoptable and not self.may_adopt(project):
                raise Forbidden(
                    f"{name} names packages of this project: making them a model's versions takes someone who may "
                    "delete them (a Maintainer)"
                )
            model = Model(project_id=project_id, name=name, description=text, author_id=author_id, origin=origin)
            self.session.add(model)
            self.session.flush()
            adopted = {"versions": [v.version for v in self.projection.adopt(model)]} if adoptable else {}
            model_event(self.session, "created", model, actor=self.actor, description=text, origin=origin.value, **adopted)
            return model

        return committed(self.session, work)

    def get(self, project: Project, ref: str | int) -> Model:
        """Find a model by id or by name; raise ``NotFound("Model")``."""
        ref = str(ref)
        model_id = row_id(ref)
        model = self.session.get(Model, model_id) if model_id is not None else self.projection.find_model(project.id, ref)
        if model is None or model.project_id != project.id:
            raise NotFound("Model")
        return model

    def versions(self, model: Model) -> Sequence[ModelVersion]:
        """All versions of ``model``, highest precedence first."""
        query = select(ModelVersion).where(ModelVersion.model_id == model.id)
        return self.session.scalars(query.order_by(*in_precedence_order(descending=True))).all()

    def summary(self, model: Model) -> ModelSummary:
        return self.summaries([model])[0]

    def summaries(self, models: Sequence[Model]) -> list[ModelSummary]:
        """``models`` with their latest version and version count, in one statement however many
        models and versions there are (each model's count and latest version are index probes)."""
        if not models:
            return []
        rows = self.session.execute(_SUMMARIES, {"ids": [m.id for m in models]}).all()
        counts = {model_id: count for model_id, count, _ in rows}
        latest = {model_id: version for model_id, _, version in rows}
        return [ModelSummary(m, latest.get(m.id), counts.get(m.id, 0)) for m in models]

    def list(
        self,
        project: Project,
        *,
        search: str | None = None,
        order_by: str = "created_at",
        sort: str = "desc",
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        """Models of ``project`` as ``ModelSummary`` items."""
        choice("order_by", order_by, ORDERS)
        query = select(Model).where(Model.project_id == project.id)
        if search:
            query = query.where(contains(Model.name, search))
        reverse = descending(sort)
        order: tuple[Any, ...]
        if order_by != "latest_version":
            column = getattr(Model, order_by)
            order = (column.desc(), Model.id.desc()) if reverse else (column.asc(), Model.id.asc())
        else:
            # By the latest version's precedence; models without versions come last. The ids break
            # ties (equal latest versions) the same way on every database and every request.
            precedence = _latest_version(ModelVersion.precedence)
            tiebreak = Model.id.desc() if reverse else Model.id.asc()
            order = (precedence.is_(None), precedence.desc() if reverse else precedence.asc(), tiebreak)
        page_ = query_page(self.session, query, order, page, per_page)
        return Page(self.summaries(page_.items), page_.total, page, per_page)

    def update(self, model: Model, *, description_: str | None) -> Model:
        if description_ is not None:
            text = description(description_)
            if text != model.description:
                before, model.description = model.description, text
                model_event(self.session, "updated", model, actor=self.actor, **change("description", before, text))
        commit(self.session)
        return model

    def delete(self, model: Model) -> None:
        """Delete the model, its versions and their packages (storage is reclaimed by gc), in one
        transaction: one ``model_deleted`` event names the versions that went with it."""

        def work() -> None:
            versions = self.versions(model)
            gone = [v.version for v in versions]
            for version in versions:
                # The package pipeline's model_version step drops the version row.
                self.packages.delete(version.package, audited=False)
            model_event(self.session, "deleted", model, actor=self.actor, versions=gone)
            self.session.delete(model)

        committed(self.session, work)


def _latest_version(column: Any) -> Any:
    """``column`` of the latest version of the model of the query (``version_service.latest_of``)."""
    latest = select(column).where(ModelVersion.model_id == Model.id).order_by(*LATEST_FIRST).limit(1)
    return latest.correlate(Model).scalar_subquery()


def _latest_version_id() -> Any:
    return _latest_version(ModelVersion.id)


def _count_of_versions() -> Any:
    return select(func.count()).where(ModelVersion.model_id == Model.id).correlate(Model).scalar_subquery()


_LATEST = aliased(ModelVersion, name="latest")
#: ``summaries``' statement: each model of ``:ids`` with its count of versions and its latest version
#: (joined by the id its subquery finds): index probes whatever the models.
_SUMMARIES = prepared(
    select(Model.id, _count_of_versions(), _LATEST)
    .outerjoin(_LATEST, _LATEST.id == _latest_version_id())
    .where(Model.id.in_(bindparam("ids", expanding=True)))
)
