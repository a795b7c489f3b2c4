"""The tracking layer's errors: ``package_api``'s domain errors, with MLflow's sentences as their
messages where MLflow clients and users expect those words.

::

    NotFound (package_api.errors)
     └── MissingResource      the message is the whole sentence (``No such artifact: '...'``)
    InvalidInput (package_api.errors)
     └── ReservedName         an alias or experiment name that the registry keeps for itself
    ModelshelfError
     └── Unsupported          a request the server understands but does not do (multipart uploads)
"""
from __future__ import annotations

from package_api.plugin_api import InvalidInput, ModelshelfError, NotFound


class MissingResource(NotFound):
    """``NotFound`` whose message is ``message`` as given, not ``"<what> not found"``."""

    def __init__(self, message: str, what: str = "Resource") -> None:
        super().__init__(what)
        self.args = (message,)


class ReservedName(InvalidInput):
    pass


class Unsupported(ModelshelfError):
    """The server knows the request but does not do it; ``reason`` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
