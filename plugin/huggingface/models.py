"""The Hugging Face surface's table: each model version's commit id, kept with the version's files."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from package_api.plugin_api import DbModel


class VersionCommit(DbModel):
    """The commit id of a version (``plugin.huggingface.revisions.commit_id`` of its files), rewritten in
    the transaction of every change to its files (the package pipeline's ``hf_commit`` steps). A version
    without a row (one made before revision ``model_registry_0006``, or adopted by a model made over
    packages) gets it the first time a revision is resolved."""

    __tablename__ = "ml_version_commits"
    __table_args__ = (Index("ix_ml_version_commits_model_commit", "model_id", "commit_id"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("ml_model_versions.id", ondelete="CASCADE"), primary_key=True)
    #: The version's model, so that ``revision=<commit id>`` is one indexed look-up per model.
    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"))
    commit_id: Mapped[str] = mapped_column(String(40))
