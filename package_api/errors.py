"""Domain errors. They carry no HTTP; each surface maps them to responses in one place.

::

    ModelshelfError
     ├── NotFound            something does not exist, or the caller may not know it does
     ├── AlreadyExists       a unique thing exists already
     ├── InvalidInput        a name, path, parameter or body is malformed
     │    ├── InvalidParameter   a query/form parameter (GitLab answers these in Grape's shape)
     │    ├── DuplicateNotAllowed
     │    ├── FileTooLarge
     │    └── ChecksumMismatch   the bytes received are not the ones the client said it sent
     ├── Unauthorized        no credentials where some are required, or bad ones
     │    └── CredentialsRefused  the request carried a token (or Basic credentials) nobody accepts
     ├── Forbidden           credentials are fine but not enough
     │    └── InvalidCsrfToken   a session-authorised change without the session's CSRF token
     ├── DatabaseFull        the database has no room left to write (``package_api.db.full_database``)
     └── StorageError        (package_api.storage.errors)
          ├── BlobNotFound
          └── StorageUnavailable
               └── UploadAbandoned   (package_api.packages.leases) gc reclaimed an upload that stopped moving
"""
from __future__ import annotations


class ModelshelfError(Exception):
    """Base of every domain error."""


class NotFound(ModelshelfError):
    """``what`` (``"Project"``, ``"Package"``, ...) does not exist or is not visible."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class AlreadyExists(ModelshelfError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} already exists")
        self.what = what


class InvalidInput(ModelshelfError):
    """A reason a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidParameter(InvalidInput):
    """Parameter ``param`` is missing or malformed; ``problem`` is e.g. ``"is invalid"``."""

    def __init__(self, param: str, problem: str = "is invalid") -> None:
        super().__init__(f"{param} {problem}")
        self.param = param
        self.problem = problem


class DuplicateNotAllowed(InvalidInput):
    def __init__(self) -> None:
        super().__init__("Duplicate package is not allowed")


class FileTooLarge(InvalidInput):
    def __init__(self) -> None:
        super().__init__("File is too large")


class ChecksumMismatch(InvalidInput):
    """The client sent ``algorithm`` digest ``expected``; the bytes received hash to ``actual``."""

    def __init__(self, algorithm: str, expected: str, actual: str) -> None:
        super().__init__(f"{algorithm} mismatch: the request declared {expected}, the bytes received hash to {actual}")
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class Unprocessable(InvalidInput):
    """Well-formed input a record refuses (GitLab's 422 with ``{"message": {"error": reason}}``): a
    protection rule's pattern taken, too long, or a rule without any protected action."""


class Unauthorized(ModelshelfError):
    """The request needs credentials, or the ones it carried are not valid."""


class CredentialsRefused(Unauthorized):
    """The request carried credentials, and they are not valid: an unknown, revoked or expired token,
    or malformed Basic credentials (a client that sent none is told to send some instead)."""


class Forbidden(ModelshelfError):
    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class Protected(Forbidden):
    """A package protection rule or a seal refuses the change; the reason names the rule or the seal."""


class InvalidCsrfToken(Forbidden):
    def __init__(self) -> None:
        super().__init__("invalid CSRF token")


class DatabaseFull(ModelshelfError):
    """The database could not write for lack of space; nothing of the change was kept, and retrying
    once the operator has made room will work."""

    def __init__(self) -> None:
        super().__init__("the database is out of disk space")
