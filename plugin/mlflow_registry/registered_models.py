"""Registered models as MLflow sees them: a registered model is a model (``plugin.registry.model_service``) with
tags, aliases and a default experiment; renaming one renames its version packages."""
from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    AlreadyExists,
    DbSession,
    InvalidInput,
    PackageService,
    Project,
    User,
    commit,
    row_id,
    unit_of_work,
    utcnow,
)
from plugin.mlflow_registry import registry_search
from plugin.mlflow_registry.model_versions import ModelVersionService
from plugin.mlflow_registry.models import ModelTag
from plugin.mlflow_registry.sources import VersionRef
from plugin.mlflow_registry.version_rows import ModelRow, VersionRow
from plugin.promotion.aliases import AliasService
from plugin.registry.auditing import change, model_event
from plugin.registry.model_service import Adoption, ModelService, model_name
from plugin.registry.models import Model, ModelOrigin, ModelVersion
from plugin.registry.projection import Projection
from plugin.tracking import filters, search, validation
from plugin.tracking.errors import MissingResource
from plugin.tracking.experiments import ExperimentService, model_experiment_name
from plugin.tracking.tags import put_tag, remove_tag
from plugin.tracking.times import milliseconds

SEARCH_GRAMMAR = filters.Grammar(attributes=frozenset({"name"}), listable=frozenset({"name"}))
ORDER_KEYS = frozenset({"name", "creation_timestamp", "last_updated_timestamp", "timestamp"})
MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT = 100, 1000
LATEST = "latest"


@dataclass(frozen=True)
class ModelView:
    model: ModelRow
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[tuple[str, int]] = field(default_factory=list)  # (alias, version sequence)
    latest_versions: list[VersionRow] = field(default_factory=list)


class RegistryService:
    def __init__(
        self,
        session: DbSession,
        packages: PackageService,
        *,
        actor: Actor = COMMAND_LINE,
        may_adopt: Adoption = lambda project: True,
        aliases: AliasService,
    ) -> None:
        self.session = session
        self.packages = packages
        self.actor = actor  # who makes the changes
        self.aliases = aliases  # the one alias service (``plugin.promotion.aliases``)
        self.models = ModelService(session, packages, actor=actor, may_adopt=may_adopt)
        self.versions = ModelVersionService(session, packages, actor=actor)
        self.experiments = ExperimentService(session, actor=actor)

    def find(self, project: Project, name: str | None) -> Model:
        """The model named ``name``; raise ``InvalidInput`` without a name, ``MissingResource``."""
        if not name:
            raise InvalidInput("Missing value for required parameter 'name'.")
        model = Projection(self.session).find_model(project.id, name)
        if model is None:
            raise MissingResource(f"Registered Model with name={name} not found", "Registered model")
        return model

    def create(
        self,
        project: Project,
        name: str | None,
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
        author: User | None,
    ) -> Model:
        """Create a model (and its default experiment); raise ``InvalidInput`` or ``AlreadyExists``."""
        if not name:
            raise InvalidInput("Missing value for required parameter 'name'.")
        checked = {validation.key(k): validation.registry_tag_value(v) for k, v in (tags or {}).items()}
        if Projection(self.session).find_model(project.id, name) is not None:
            raise AlreadyExists(f"Registered Model (name={name})")
        # One transaction: the model with its tags (its webhook event tells of both).
        with unit_of_work(self.session):
            try:
                model = self.models.create(project, name, description_=description, author=author, origin=ModelOrigin.MLFLOW)
            except AlreadyExists:
                raise AlreadyExists(f"Registered Model (name={name})") from None
            if model.id is None:
                self.session.flush()
            self.session.add_all(ModelTag(model_id=model.id, key=k, value=v) for k, v in checked.items())
        self.experiments.default_for(model)
        return model

    def update(self, model: Model, *, description: str | None) -> Model:
        return self.models.update(model, description_=description)

    def rename(self, project: Project, model: Model, new_name: str | None) -> Model:
        """Rename ``model``, its version packages and its default experiment, all at once.
        Raise ``InvalidInput`` or ``AlreadyExists``."""
        if not new_name:
            raise InvalidInput("Missing value for required parameter 'new_name'.")
        new_name = model_name(new_name)
        if new_name == model.name:
            return model
        projection = Projection(self.session)
        if projection.find_model(project.id, new_name) is not None:
            raise AlreadyExists(f"Registered Model (name={new_name})")
        if projection.live_packages(project.id, new_name):
            # They would become versions of the model without a word: a model takes packages over only
            # when it is made (``ModelService.create``), by someone who may delete them.
            raise AlreadyExists(f"Packages named {new_name}")
        experiment = self.experiments.find_by_name(project.id, model_experiment_name(new_name))
        if experiment is not None and experiment.model_id != model.id:
            raise AlreadyExists(f"Experiment(name={experiment.name})")
        self.experiments.rename_for_model(model, new_name)
        before, model.name = model.name, new_name
        model.updated_at = utcnow()
        model_event(self.session, "updated", model, actor=self.actor, **change("name", before, new_name))
        # One commit renames the packages, the model and its experiment together (and records it once).
        self.packages.rename([v.package for v in self.versions.all_of(model)], new_name, audited=False)
        return model

    def delete(self, model: Model) -> None:
        """Delete the model with its versions and their packages; its experiment stays."""
        self.models.delete(model)

    def set_tag(self, model: Model, key: str | None, value: str | None) -> None:
        key, value = validation.key(key), validation.registry_tag_value(value or "")
        put_tag(self.session, ModelTag.model_id, model.id, key, value)
        model.updated_at = utcnow()
        model_event(self.session, "tag_set", model, actor=self.actor, key=key, value=value)
        commit(self.session)

    def delete_tag(self, model: Model, key: str | None) -> None:
        if remove_tag(self.session, ModelTag.model_id, model.id, key or ""):
            model.updated_at = utcnow()
            model_event(self.session, "tag_deleted", model, actor=self.actor, key=key)
            commit(self.session)

    # -- aliases -----------------------------------------------------------------------------------

    def set_alias(self, model: Model, alias: str | None, version: str | None) -> None:
        """Point ``alias`` at MLflow's version ``version`` through the alias service (its rules,
        history and audit); raise ``InvalidInput`` (``ReservedName``), ``MissingResource``, or
        ``PromotionRequired`` when a protected alias's move waits for approvals."""
        alias = validation.alias(alias)
        self.aliases.move_or_refuse(model, alias, self.versions.get(model, version))

    def delete_alias(self, model: Model, alias: str | None) -> None:
        self.aliases.delete(model, alias)

    # -- versions by reference -----------------------------------------------------------------------

    def version_reference(self, project: Project, source: str) -> VersionRef | None:
        """The version a ``models:/<name>/<N|stage|latest>`` or ``models:/<name>@<alias>`` source
        names (``None`` for other sources and ``models:/m-<id>``); raise ``MissingResource``."""
        parsed = urllib.parse.urlsplit(source)
        if parsed.scheme != "models" or parsed.netloc:
            return None
        parts = [p for p in parsed.path.split("/") if p]
        if len(parts) == 2:
            model = self.find(project, parts[0])
            row = self._by_suffix(model, parts[1])
        elif len(parts) == 1 and "@" in parts[0]:
            name, _, alias = parts[0].rpartition("@")
            model = self.find(project, name)
            row = self.versions.by_alias(model, alias)
        else:
            return None
        return self.versions.reference(project, model, row)

    def _by_suffix(self, model: Model, suffix: str) -> ModelVersion:
        if row_id(suffix) is not None:
            return self.versions.get(model, suffix)
        latest = self.versions.latest(model, [] if suffix.lower() == LATEST else [suffix])
        if not latest:
            raise MissingResource(f"No versions of model with name '{model.name}' found", "Model version")
        return max(latest, key=lambda v: v.version.sequence).version

    # -- read --------------------------------------------------------------------------------------

    def views(self, models: Sequence[Model]) -> list[ModelView]:
        """Each of ``models`` with its tags, aliases and latest versions: two statements (the latest
        versions; their labels with the models')."""
        latest, labels = self.versions.latest_labelled(models)
        return [ModelView(model_row(m), labels[m.id].tags, labels[m.id].aliases, latest[m.id]) for m in models]

    def view(self, model: Model) -> ModelView:
        return self.views([model])[0]

    def view_named(self, project: Project, name: str | None) -> ModelView:
        """``view`` of the model ``name``: read as plain rows with its latest versions in one statement,
        its labels with theirs in another; raise as ``find``."""
        found = self.versions.latest_of_named(project, name) if name else None
        if found is None:  # no such model, or no version of it: the model on its own
            return self.view(self.find(project, name))
        model, latest, labels = found
        return ModelView(model, labels.tags, labels.aliases, latest)

    def search(
        self,
        project: Project,
        *,
        filter_: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> search.Results[ModelView]:
        """Models of ``project`` matching ``filter_``; raise ``InvalidInput``."""
        comparisons = filters.without_prompts(filters.parse(filter_, SEARCH_GRAMMAR))
        filters.check_order_count(order_by)
        orderings = [filters.parse_order_by(o, ORDER_KEYS) for o in order_by]
        size = search.max_results(max_results, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT)
        start = search.offset(page_token)
        statement = registry_search.models(self.session, project, comparisons, orderings)
        models, more = registry_search.page(self.session, statement, start, size)
        return search.Results(self.views(models), search.page_token(start + size) if more else None)


def model_row(model: Model) -> ModelRow:
    """``model`` as the read calls' ``ModelRow``."""
    author = model.author.username if model.author else ""
    return ModelRow(
        model.id, model.name, model.description or "", milliseconds(model.created_at), milliseconds(model.updated_at), author
    )
