"""Sealed model versions as MLflow sees them: the model version tag ``modelshelf.sealed``.

Setting it to ``true`` seals the version (``PackageService.seal``; Maintainers and Owners, which the
handler asks); a sealed version carries it, however it was sealed (the package pipeline's ``sealed``
step, ``tag_sealed_version``, writes it in the seal's transaction), so MLflow clients and searches
(``tags.`modelshelf.sealed` = 'true'``) see it. A seal is never lifted: setting the tag to ``false``
or deleting it on a sealed version is refused (``Protected``, MLflow's ``PERMISSION_DENIED``).
"""
from __future__ import annotations

from sqlalchemy import select

from package_api.plugin_api import InvalidInput, PackageChange, Protected
from plugin.mlflow_registry.tag_index import put_version_tag
from plugin.registry.models import ModelVersion

SEAL_TAG = "modelshelf.sealed"
SEALED_STEP = "sealed_tag"


def tag_sealed_version(change: PackageChange) -> None:
    """The package pipeline's ``sealed`` step: a sealed model version carries ``modelshelf.sealed=true``."""
    row = change.session.scalar(select(ModelVersion).where(ModelVersion.package_id == change.package.id))
    if row is not None:
        put_version_tag(change.session, row, SEAL_TAG, "true")


def wants_seal(value: str | None) -> bool:
    """What a value of ``modelshelf.sealed`` asks: ``true`` or ``false`` (any case); raise ``InvalidInput``."""
    text = (value or "").strip().lower()
    if text not in ("true", "false"):
        raise InvalidInput(f"Invalid value {value!r} for tag '{SEAL_TAG}': it must be 'true' or 'false'.")
    return text == "true"


def refuse_unsealing(row: ModelVersion) -> None:
    """Raise ``Protected`` if ``row`` is sealed: a seal is never lifted."""
    if row.package.sealed:
        raise Protected(
            f"model version {row.model.name} {row.version} is sealed: a seal is never lifted"
            f" (the tag '{SEAL_TAG}' cannot be set to false or deleted)"
        )
