"""Blob storage: a small protocol and three backends, chosen by the ``STORAGE`` setting.

Nothing outside this package imports ``minio``.
"""
from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from typing import Any

from package_api.storage.base import CHUNK_SIZE, BlobReader, BlobStorage, Readable, Remnant, check_key, read_into
from package_api.storage.errors import BlobNotFound, StorageError, StorageUnavailable
from package_api.storage.filesystem import FilesystemStorage
from package_api.storage.memory import MemoryStorage

__all__ = [
    "CHUNK_SIZE",
    "BlobNotFound",
    "BlobReader",
    "BlobStorage",
    "FilesystemStorage",
    "MemoryStorage",
    "Readable",
    "Remnant",
    "StorageError",
    "StorageUnavailable",
    "build_storage",
    "check_key",
    "read_into",
]


def build_storage(settings: Mapping[str, Any]) -> BlobStorage:
    """Build the backend ``settings["STORAGE"]`` names; raise ``ValueError`` for an unknown one."""
    kind = str(settings.get("STORAGE", "filesystem")).lower()
    if kind == "filesystem":
        return FilesystemStorage(os.path.join(settings["DATA_DIR"], "blobs"))
    if kind == "memory":
        return MemoryStorage()
    if kind == "s3":
        from package_api.storage.s3 import S3Storage

        return S3Storage(
            settings["S3_ENDPOINT"],
            settings["S3_BUCKET"],
            settings.get("S3_ACCESS_KEY"),
            settings.get("S3_SECRET_KEY"),
            region=settings.get("S3_REGION"),
            secure=bool(settings.get("S3_SECURE")),
            part_size=int(settings.get("S3_PART_SIZE") or 16 * 1024 * 1024),
            check_timeout=float(settings.get("READINESS_TIMEOUT") or 2),
            public_url=settings.get("S3_PUBLIC_URL") or None,
            part_url_expiry=datetime.timedelta(seconds=int(settings.get("UPLOAD_URL_EXPIRY") or 900)),
            redirect_expiry=(
                datetime.timedelta(seconds=int(settings.get("S3_REDIRECT_EXPIRY") or 300))
                if settings.get("S3_REDIRECT_DOWNLOADS")
                else None
            ),
        )
    raise ValueError(f"unknown MODELSHELF_STORAGE {kind!r}: use filesystem, s3 or memory")
