"""The Hugging Face Hub's view of the model registry: a repo ``<project id>/<model name>`` is a model,
its branches are its versions (``main`` the latest), its tags its aliases, and a revision's commit id
the digest of its files (``revisions``). The HTTP surface is ``plugin.web.huggingface``
(``HF_ENDPOINT=<base>/hf``); ``docs/huggingface.md`` tells users what it serves."""
from __future__ import annotations

from flask import Flask

from package_api.plugin_api import PackageChange, register_package_step
from plugin.huggingface import models as _tables  # noqa: F401  (the tables must be known before create_all)
from plugin.huggingface.revisions import RevisionService
from plugin.registry.projection import MODEL_VERSION_STEP

#: The package pipeline's step that rewrites a version's commit id when its files change.
COMMIT_STEP = "hf_commit"


def _refresh(change: PackageChange) -> None:
    RevisionService(change.session).refresh(change.package)


def register(app: Flask) -> None:
    """Keep each version's commit id with its files: a version made with its first file, a file
    added (uploaded, replaced, attached by MLflow) or deleted, on every surface."""
    register_package_step(app, "created", COMMIT_STEP, _refresh, after=MODEL_VERSION_STEP)
    register_package_step(app, "file_added", COMMIT_STEP, _refresh)
    register_package_step(app, "file_deleted", COMMIT_STEP, _refresh)
