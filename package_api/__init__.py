"""Modelshelf's generic package registry (GitLab-compatible). Works on its own; plugins extend it."""
from __future__ import annotations

from package_api.app import create_app

__all__ = ["create_app"]
