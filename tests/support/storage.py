"""What a test looks at to say "nothing was stored": objects, unfinished writes, leases and rows."""
from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from package_api.db import db
from package_api.packages.models import Blob, Package, PackageFile, Upload

MIB = 1024 * 1024


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@dataclass(frozen=True)
class Stored:
    objects: list[str]
    remnants: list[str]
    leases: int
    blobs: int
    files: int
    packages: int


def stored(app: Flask) -> Stored:
    """Everything the store and the database hold for files."""
    storage = app.extensions["modelshelf.storage"]
    def count(model: type) -> int:
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)

    with app.app_context():
        return Stored(
            objects=sorted(storage.keys()),
            remnants=sorted(r.key for r in storage.remnants()),
            leases=count(Upload),
            blobs=count(Blob),
            files=count(PackageFile),
            packages=count(Package),
        )


NOTHING = Stored(objects=[], remnants=[], leases=0, blobs=0, files=0, packages=0)


def make_remnant(storage: object, key: str, data: bytes) -> None:
    """Leave what a writer killed half-way through ``key`` leaves: a temporary file beside the
    target (filesystem), or a multipart upload with one part sent (S3)."""
    from package_api.storage import FilesystemStorage
    from package_api.storage.s3 import S3Storage

    if isinstance(storage, FilesystemStorage):
        directory = Path(storage.root, *key.split("/")[:-1])
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f".tmp-{key.rsplit('/', 1)[-1]}.killed1").write_bytes(data)
    elif isinstance(storage, S3Storage):
        storage.check()
        upload_id = storage.client._create_multipart_upload(storage.bucket, key, {})
        storage.client._upload_part(storage.bucket, key, data, None, upload_id, 1)
    else:
        raise TypeError(f"no remnants in {type(storage).__name__}")
