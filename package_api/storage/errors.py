"""Storage errors: the only ones that leave ``package_api.storage``. Vendor errors become these."""
from __future__ import annotations

from package_api.errors import ModelshelfError


class StorageError(ModelshelfError):
    """The blob store failed."""


class BlobNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"blob {key!r} not found")
        self.key = key


class StorageUnavailable(StorageError):
    """The store cannot be reached or refused the operation; retrying later may help."""
