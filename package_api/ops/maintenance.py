"""Plugins' parts of ``modelshelf gc`` and ``modelshelf verify``, one step per concern, each part optional:

- ``expire`` runs before the core's collection and marks the plugin's own expired rows for destruction
  (the Hugging Face API's staged uploads no commit took), which the same run then removes like any
  deleted file;
- ``gc`` runs after it: what a plugin keeps in the blob store besides blobs (the xorbs) goes once the
  unreferenced blobs are gone, so what only they used goes in the same run;
- ``verify`` checks what the plugin keeps, after the core's blob verify."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

from package_api.db import DbSession
from package_api.packages.gc import GcStep
from package_api.storage import BlobStorage

STEPS = "modelshelf.maintenance_steps"


@dataclass(frozen=True)
class MaintenanceStep:
    """``name`` labels the step (and ``expire``'s count in gc's summary: ``"Hugging Face uploads never
    committed"``). ``expire(session, dry_run)`` marks expired rows ``PENDING_DESTRUCTION`` and commits
    (with ``dry_run`` only counts them) and returns how many; ``gc(session, store, dry_run)`` removes (or
    counts) what nothing uses any more and returns the lines to print (none when it found nothing to do);
    ``verify(session, store)`` returns the problems it found, one line each, and a summary (empty when it
    had nothing to check)."""

    name: str
    gc: Callable[[DbSession, BlobStorage, bool], list[str]] | None = None
    verify: Callable[[DbSession, BlobStorage], tuple[list[str], str]] | None = None
    expire: GcStep | None = None


def register_maintenance(app: Flask, step: MaintenanceStep) -> None:
    """Run ``step`` in ``modelshelf gc`` and ``modelshelf verify``; call it from a plugin's ``register``."""
    app.extensions.setdefault(STEPS, []).append(step)


def maintenance_steps(app: Flask) -> list[MaintenanceStep]:
    return list(app.extensions.get(STEPS, []))


def expiry_steps(app: Flask) -> dict[str, GcStep]:
    """The steps' ``expire`` parts by name, for ``GarbageCollector(steps=...)``."""
    return {step.name: step.expire for step in maintenance_steps(app) if step.expire is not None}
