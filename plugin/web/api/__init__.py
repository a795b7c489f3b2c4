"""The model registry's JSON surfaces."""
from __future__ import annotations

from plugin.web.api import aliases  # noqa: F401  (its routes, on the same blueprint)
from plugin.web.api.routes import bp

__all__ = ["bp"]
