"""The Hugging Face surface's tables: each model version's commit id, kept with the version's files,
and the Xet store (xorbs, their chunks and projects, the files shards described)."""
from __future__ import annotations

import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from package_api.plugin_api import IDS_NEVER_REUSED, DbModel, utcnow


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


class XetXorb(DbModel):
    """A xorb (``plugin.huggingface.xorbs``): compressed chunks, stored whole in the blob store under
    ``storage_key``. ``offsets`` holds, as JSON, the byte offset in the xorb of each chunk and of its
    end, and the unpacked size of each chunk: what a reconstruction's byte ranges are made of."""

    __tablename__ = "ml_xet_xorbs"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)  # bytes stored
    unpacked: Mapped[int] = mapped_column(BigInteger)  # bytes of its chunks, decompressed
    chunks: Mapped[int] = mapped_column(Integer)
    layout: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class XetXorbProject(DbModel):
    """A project that uploaded (or reached through its files) a xorb: deduplication queries and shards
    of a project see only its xorbs, so a chunk hash never opens another project's bytes."""

    __tablename__ = "ml_xet_xorb_projects"

    xorb_id: Mapped[int] = mapped_column(ForeignKey("ml_xet_xorbs.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True)


class XetChunk(DbModel):
    """That a chunk is in a xorb: the index the global deduplication query reads. Only the chunks a
    client asks about are indexed: those the specification makes eligible (``is_global_dedup_eligible``)
    and the first chunk of each file."""

    __tablename__ = "ml_xet_chunks"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    xorb_id: Mapped[int] = mapped_column(ForeignKey("ml_xet_xorbs.id", ondelete="CASCADE"), primary_key=True, index=True)


class XetFile(DbModel):
    """A file a shard described: its Xet hash, SHA-256 and size, and the xorbs it is rebuilt from (the
    terms themselves are the object ``plugin.huggingface.xet_files.manifest_key`` in the store)."""

    __tablename__ = "ml_xet_files"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class XetFileXorb(DbModel):
    """That file ``file_id`` is rebuilt from xorb ``xorb_id`` (what keeps a xorb from gc)."""

    __tablename__ = "ml_xet_file_xorbs"

    file_id: Mapped[int] = mapped_column(ForeignKey("ml_xet_files.id", ondelete="CASCADE"), primary_key=True)
    xorb_id: Mapped[int] = mapped_column(ForeignKey("ml_xet_xorbs.id", ondelete="RESTRICT"), primary_key=True, index=True)
