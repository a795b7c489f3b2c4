"""The plugin's composition root: every service of the model registry, experiment tracking and
the MLflow registry layer, built on the current app's session and ``package_api``'s services.
The REST API, the pages and the MLflow surface ask here; none constructs a service itself. The
services that change things make their changes as the request's actor (``request_actor``: the
API's caller under ``/api/``, the pages' elsewhere), the author of their audit events."""
from __future__ import annotations

from flask import current_app

from package_api.plugin_api import (
    Action,
    Actor,
    PackageService,
    Project,
    access_policy,
    base_storage,
    base_url,
    db,
    package_services,
    request_actor,
)
from plugin.huggingface import storage_use
from plugin.huggingface.cas_tokens import CasTokens
from plugin.huggingface.commits import CommitService
from plugin.huggingface.lfs import LfsService, Transfers
from plugin.huggingface.storage_use import StorageUse
from plugin.huggingface.xet_direct import DirectXorbs
from plugin.huggingface.xet_files import XetFiles
from plugin.mlflow_registry.cards import CardService
from plugin.mlflow_registry.model_versions import ModelVersionService
from plugin.mlflow_registry.registered_models import RegistryService
from plugin.mlflow_registry.run_cards import RunCardService
from plugin.promotion.aliases import AliasService
from plugin.promotion.models import PromotionRequest
from plugin.promotion.requests import PromotionService
from plugin.promotion.rules import AliasRuleService
from plugin.registry.access import ModelAction
from plugin.registry.model_service import Adoption, ModelService
from plugin.registry.models import Model, ModelVersion
from plugin.registry.version_service import VersionService
from plugin.tracking.artifacts import ArtifactService
from plugin.tracking.datasets import DatasetService
from plugin.tracking.experiments import ExperimentService
from plugin.tracking.logged_models import LoggedModelService
from plugin.tracking.runs import RunService


def _packages(actor: Actor) -> PackageService:
    return package_services(actor=actor)


def _may_adopt(actor: Actor) -> Adoption:
    """A model made over packages takes them from the package registry's rules: the caller must be
    allowed to delete them as packages (``ModelService``)."""
    return lambda project: access_policy().can(actor.principal, project, Action.DELETE_PACKAGE)


def model_services() -> ModelService:
    actor = request_actor()
    return ModelService(db.session, _packages(actor), actor=actor, may_adopt=_may_adopt(actor))


def version_services() -> VersionService:
    actor = request_actor()
    return VersionService(db.session, _packages(actor), actor=actor)


def card_services() -> CardService:
    return CardService(db.session)


def run_card_services() -> RunCardService:
    return RunCardService(db.session, ArtifactService(db.session, _packages(request_actor())))


def experiment_services() -> ExperimentService:
    return ExperimentService(db.session, actor=request_actor())


def run_services() -> RunService:
    return RunService(db.session, actor=request_actor())


def dataset_services() -> DatasetService:
    """Datasets and run inputs: ``log_inputs`` (MLflow's ``runs/log-inputs``) and ``inputs(run)``,
    what a run used and produced, for its page."""
    return DatasetService(db.session)


def logged_model_services() -> LoggedModelService:
    return LoggedModelService(db.session, actor=request_actor())


def registry_services() -> RegistryService:
    actor = request_actor()
    return RegistryService(
        db.session, _packages(actor), actor=actor, may_adopt=_may_adopt(actor), aliases=alias_services()
    )


def model_version_services() -> ModelVersionService:
    actor = request_actor()
    return ModelVersionService(db.session, _packages(actor), actor=actor)


def artifact_services() -> ArtifactService:
    return ArtifactService(db.session, _packages(request_actor()))


def hf_commit_services(actor: Actor) -> CommitService:
    """Writes through the Hugging Face API, as ``actor`` (its API caller): preupload, commits,
    branches and tags (a commit that replaces or deletes files of an existing version takes the right
    to delete them)."""
    packages = _packages(actor)
    return CommitService(
        db.session,
        packages,
        VersionService(db.session, packages, actor=actor),
        RegistryService(db.session, packages, actor=actor, may_adopt=_may_adopt(actor), aliases=alias_services(actor)),
        regular_max=int(current_app.config["MODELSHELF"]["HF_REGULAR_MAX_SIZE"]),
        actor=actor,
        may_delete=lambda project: access_policy().can(actor.principal, project, ModelAction.DELETE_MODEL),
    )


def hf_transfers() -> Transfers:
    """The signer of the Hugging Face API's LFS transfer URLs (the instance's secret key)."""
    return Transfers(current_app.secret_key or "", int(current_app.config["MODELSHELF"]["UPLOAD_URL_EXPIRY"]))


def hf_lfs_services(actor: Actor) -> LfsService:
    """The Git LFS batch API and its transfers, as ``actor`` (the API caller, or whom a signed
    transfer URL stores bytes for)."""
    return LfsService(
        db.session,
        _packages(actor),
        hf_transfers(),
        part_size=int(current_app.config["MODELSHELF"]["HF_LFS_PART_SIZE"]),
        actor=actor,
    )


def hf_cas_tokens() -> CasTokens:
    """The signer of the Xet CAS tokens and xorb fetch URLs (the instance's secret key)."""
    return CasTokens(current_app.secret_key or "")


def hf_xet_files(actor: Actor) -> XetFiles:
    """The Xet CAS service's xorbs, shards and reconstructions, as ``actor`` (whom a CAS token acts for)."""
    return XetFiles(db.session, _packages(actor), base_storage())


def hf_direct_xorbs() -> DirectXorbs:
    """Upload grants: xorbs the Xet client puts straight into the store (where it takes direct writes)."""
    return DirectXorbs(db.session, base_storage(), hf_cas_tokens(), int(current_app.config["MODELSHELF"]["UPLOAD_URL_EXPIRY"]))


def model_storage(model: Model) -> StorageUse:
    """The logical and stored size of ``model``'s versions (``plugin.huggingface.storage_use``)."""
    return storage_use.model_storage(db.session, model)


def version_storage(version: ModelVersion) -> StorageUse:
    return storage_use.version_storage(db.session, version)


def promotion_request_url(request: PromotionRequest) -> str:
    """The page where a promotion request is seen, approved or rejected."""
    project = db.session.get(Project, request.project_id)
    path = "" if project is None else project.full_path
    return f"{base_url()}/{path}/-/ml/models/{request.model_id}/promotions/{request.id}"


def alias_services(actor: Actor | None = None) -> AliasService:
    """The one alias service: every surface moves, deletes and reads aliases through it (as
    ``actor``, the request's caller unless given)."""
    actor = actor or request_actor()
    return AliasService(db.session, access_policy(), _packages(actor), actor=actor, request_url=promotion_request_url)


def alias_rule_services() -> AliasRuleService:
    actor = request_actor()
    return AliasRuleService(db.session, _packages(actor), actor=actor)


def promotion_services() -> PromotionService:
    actor = request_actor()
    return PromotionService(db.session, access_policy(), alias_services(), actor=actor)
