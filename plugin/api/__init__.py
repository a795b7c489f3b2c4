"""The model registry's JSON surfaces."""
from __future__ import annotations

from .routes import bp

__all__ = ["bp"]
