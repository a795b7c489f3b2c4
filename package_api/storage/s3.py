"""S3 storage through the ``minio`` client (MinIO, SeaweedFS, AWS S3, ...).

Uploads of unknown length go up as a multipart upload, one part in memory at a time, so memory
stays at ``part_size`` whatever the file size; a failed upload is aborted by the client.
Every ``S3Error`` and connection error is translated here and nowhere else.
"""
from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import BinaryIO

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from .base import CHUNK_SIZE, check_key
from .errors import BlobNotFound, StorageUnavailable

_MISSING_CODES = {"NoSuchKey", "NoSuchObject", "NoSuchBucket"}
#: The smallest part S3 accepts is 5 MiB.
MIN_PART_SIZE = 5 * 1024 * 1024


def _translate(exc: Exception, key: str = "") -> Exception:
    if isinstance(exc, S3Error) and exc.code in _MISSING_CODES:
        return BlobNotFound(key)
    if isinstance(exc, S3Error):
        return StorageUnavailable(f"S3 refused the request: {exc.code}")
    return StorageUnavailable(f"S3 is unreachable: {exc.__class__.__name__}")


_VENDOR_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)


class _ObjectReader:
    def __init__(self, response: urllib3.BaseHTTPResponse, key: str) -> None:
        self._response = response
        self._key = key

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._response.stream(CHUNK_SIZE)
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, self._key) from exc
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()
        self._response.release_conn()


class S3Storage:
    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str | None,
        secret_key: str | None,
        *,
        region: str | None = None,
        secure: bool = False,
        part_size: int = 16 * 1024 * 1024,
        timeout: float = 30.0,
    ) -> None:
        # Few, quick retries: an unreachable store must become a prompt 503, not a minute of backoff.
        http = urllib3.PoolManager(
            num_pools=4,
            maxsize=32,
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            retries=urllib3.Retry(total=2, backoff_factor=0.1, status_forcelist=[500, 502, 503, 504]),
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            secure=secure,
            http_client=http,
        )
        self.bucket = bucket
        self.part_size = max(MIN_PART_SIZE, part_size)
        self._bucket_ready = False

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise
        except _VENDOR_ERRORS as exc:
            raise _translate(exc) from exc
        self._bucket_ready = True

    def put(self, key: str, stream: BinaryIO) -> int:
        check_key(key)
        self._ensure_bucket()
        counter = _CountingReader(stream)
        try:
            # num_parallel_uploads=1: a parallel pool queues parts without bound, so memory
            # would follow the file size whenever the client outruns the store.
            self.client.put_object(
                self.bucket, key, counter, length=-1, part_size=self.part_size, num_parallel_uploads=1
            )
        except _VENDOR_ERRORS as exc:
            if counter.error is not None:
                raise counter.error from None  # the client's stream failed, not the store
            raise _translate(exc, key) from exc
        return counter.count

    def open(self, key: str, start: int = 0, length: int | None = None) -> _ObjectReader:
        check_key(key)
        if length == 0:
            # S3 cannot express an empty range; check existence and stream nothing.
            self.size(key)
            return _EmptyReader()
        try:
            response = self.client.get_object(self.bucket, key, offset=start, length=length or 0)
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, key) from exc
        return _ObjectReader(response, key)

    def size(self, key: str) -> int:
        try:
            return int(self.client.stat_object(self.bucket, check_key(key)).size or 0)
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, key) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.remove_object(self.bucket, check_key(key))
        except _VENDOR_ERRORS as exc:
            translated = _translate(exc, key)
            if not isinstance(translated, BlobNotFound):
                raise translated from exc

    def keys(self, prefix: str = "") -> Iterator[str]:
        self._ensure_bucket()
        try:
            for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.object_name:
                    yield obj.object_name
        except _VENDOR_ERRORS as exc:
            raise _translate(exc) from exc

    def check(self) -> None:
        self._ensure_bucket()
        self._bucket_ready = False  # a health check must look at the store every time

    def presigned_get(self, key: str, expires: datetime.timedelta) -> str:
        """Return a URL that reads ``key`` without credentials until ``expires`` passes."""
        try:
            return self.client.presigned_get_object(self.bucket, check_key(key), expires=expires)
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, key) from exc


class _EmptyReader:
    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        return None


class _CountingReader:
    """Counts the bytes minio reads and remembers a failure of the source stream, so a dropped
    client is not mistaken for a store failure."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except BaseException as exc:
            self.error = exc
            raise
        self.count += len(data)
        return data
