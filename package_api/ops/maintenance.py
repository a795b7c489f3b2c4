"""Plugins' parts of ``modelshelf gc`` and ``modelshelf verify``: what a plugin keeps in the blob store
besides blobs (the Hugging Face API's xorbs) is collected and checked by the plugin's step, run after
the core's (``gc``: once unreferenced blobs are gone, so what only they used goes in the same run)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

from package_api.db import DbSession
from package_api.storage import BlobStorage

STEPS = "modelshelf.maintenance_steps"


@dataclass(frozen=True)
class MaintenanceStep:
    """``gc(session, store, dry_run)`` removes (or counts) what nothing uses any more and returns the
    lines to print (none when it found nothing to do); ``verify(session, store)`` returns the problems it
    found, one line each, and a summary (empty when it had nothing to check)."""

    name: str
    gc: Callable[[DbSession, BlobStorage, bool], list[str]]
    verify: Callable[[DbSession, BlobStorage], tuple[list[str], str]]


def register_maintenance(app: Flask, step: MaintenanceStep) -> None:
    """Run ``step`` in ``modelshelf gc`` and ``modelshelf verify``; call it from a plugin's ``register``."""
    app.extensions.setdefault(STEPS, []).append(step)


def maintenance_steps(app: Flask) -> list[MaintenanceStep]:
    return list(app.extensions.get(STEPS, []))
