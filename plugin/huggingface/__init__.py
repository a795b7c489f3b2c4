"""The Hugging Face Hub's view of the model registry: a repo ``<project id>/<model name>`` is a model,
its branches are its versions (``main`` the latest), its tags its aliases, and a revision's commit id
the digest of its files (``revisions``). The HTTP surface is ``plugin.web.huggingface``
(``HF_ENDPOINT=<base>/hf``); ``docs/huggingface.md`` tells users what it serves."""
from __future__ import annotations

import datetime
import functools

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from package_api.plugin_api import (
    MaintenanceStep,
    PackageChange,
    register_blob_source,
    register_maintenance,
    register_package_step,
    register_unprotected_package,
)
from plugin.huggingface import models as _tables  # noqa: F401  (the tables must be known before create_all)
from plugin.huggingface import staging, xet_maintenance, xet_packing
from plugin.huggingface.revisions import RevisionService
from plugin.huggingface.xet_files import KEY_PREFIX as XET_FILES
from plugin.huggingface.xet_files import XetSource
from plugin.registry.projection import HF_STAGING_PACKAGE_NAME, MODEL_VERSION_STEP, may_be_version

#: The package pipeline's step that rewrites a version's commit id when its files change.
COMMIT_STEP = "hf_commit"


#: ``session.info`` key: the packages whose files changed in the session's transaction, by id.
_PENDING = "modelshelf.hf_commit_pending"
#: ``session.info`` key: those of them made in the transaction (their version row is new), by id, each
#: with the files it received there, in order; ``None`` once one of them was deleted again.
_NEW = "modelshelf.hf_commit_new"


def _refresh(change: PackageChange) -> None:
    """Note the package: its commit id is rewritten once, when the transaction commits, however
    many of its files the change adds (an MLflow version of 30 files is one rewrite, not 30)."""
    if may_be_version(change.package):  # a plain package costs nothing
        change.session.info.setdefault(_PENDING, {})[change.package.id] = change.package
        received = change.session.info.get(_NEW, {}).get(change.package.id)
        if received is not None and change.package_file is not None:
            received.append(change.package_file)


def _refresh_new(change: PackageChange) -> None:
    """Note a package made in this transaction: its version row is as new, so it has no commit id yet,
    and its files are those the transaction gives it (every file added goes through a step here)."""
    if may_be_version(change.package):
        change.session.info.setdefault(_NEW, {})[change.package.id] = []
        _refresh(change)


def _refresh_deleted(change: PackageChange) -> None:
    """Note a file deleted: a package made in this transaction then has its files read at commit."""
    new = change.session.info.get(_NEW, {})
    if change.package.id in new:
        new[change.package.id] = None
    _refresh(change)


@event.listens_for(Session, "before_commit")
def _refresh_pending(session: Session) -> None:
    """Rewrite the noted versions' commit ids, in the transaction that changed their files."""
    pending = session.info.pop(_PENDING, None)
    new = session.info.pop(_NEW, {})
    if pending:
        service = RevisionService(session)
        for package in pending.values():
            made = package.id in new
            service.refresh(package, new=made, received=new[package.id] if made else None)


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    """A change rolled back (and redone after a lost race) notes its packages again."""
    session.info.pop(_PENDING, None)
    session.info.pop(_NEW, None)


def register(app: Flask) -> None:
    """Keep each version's commit id with its files: a version made with its first file, a file
    added (uploaded, replaced, attached by MLflow) or deleted, on every surface."""
    register_package_step(app, "created", COMMIT_STEP, _refresh_new, after=MODEL_VERSION_STEP)
    register_package_step(app, "file_added", COMMIT_STEP, _refresh)
    register_package_step(app, "file_deleted", COMMIT_STEP, _refresh_deleted)
    # Staged uploads are working storage: a protection rule guards the version they are committed to.
    register_unprotected_package(app, lambda name: name == HF_STAGING_PACKAGE_NAME)
    # Uploads no commit took are reclaimed by ``modelshelf gc`` once their lease is over.
    lease = datetime.timedelta(seconds=float(app.config["MODELSHELF"]["HF_STAGING_LEASE_SECONDS"]))
    register_maintenance(app, MaintenanceStep(staging.GC_LABEL, expire=functools.partial(staging.expire, lease=lease)))
    # Files uploaded through Xet are rebuilt from their chunks on every read, by every surface.
    register_blob_source(app, XET_FILES, XetSource())
    # Files uploaded another way packed into xorbs (HF_XET_PACK_MIN_SIZE), before the xorbs' gc.
    register_maintenance(app, xet_packing.STEP)
    register_maintenance(app, xet_maintenance.STEP)  # gc and verify of the xorbs
