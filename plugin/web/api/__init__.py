"""The model registry's JSON surfaces."""
from __future__ import annotations

from plugin.web.api.routes import bp

__all__ = ["bp"]
