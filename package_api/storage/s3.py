"""S3 storage through the ``minio`` client (MinIO, SeaweedFS, AWS S3, ...).

A blob that fits in one part goes up in one PUT; a larger one as a multipart upload whose parts are
sent by a background thread while the next part is read from the client, through a queue of one, so
the client and the store work at the same time and memory stays at about three parts whatever the
file size. A failed upload is aborted. Every ``S3Error`` and connection error is translated here and
nowhere else.
"""
from __future__ import annotations

import datetime
import io
import queue
import threading
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import MinioException, S3Error

from package_api.storage.base import CHUNK_SIZE, BlobReader, Readable, Remnant, check_key
from package_api.storage.errors import BlobNotFound, StorageUnavailable

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


def _public_client(public_url: str, access_key: str | None, secret_key: str | None, region: str | None) -> Minio:
    """A client that only signs URLs, for the store's public address (``S3_PUBLIC_URL``): a signature
    covers the host, so a URL for clients must be signed for the name they reach the store by. It
    never connects: the region is the configured one (S3's default when unset), because asking the
    store for it would go to an address this server may not reach."""
    parts = urlsplit(public_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path.strip("/") or parts.query:
        raise ValueError(f"MODELSHELF_S3_PUBLIC_URL must be http(s)://host[:port], not {public_url!r}")
    return Minio(
        parts.netloc, access_key=access_key, secret_key=secret_key, region=region or "us-east-1",
        secure=parts.scheme == "https",
    )


#: How long a URL for a part of a direct write works by default (``UPLOAD_URL_EXPIRY``): the client
#: uploads the parts one after another, and a URL handed out keeps working, whoever loses access.
PART_URL_EXPIRY = datetime.timedelta(minutes=15)


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
        check_timeout: float = 2.0,
        redirect_expiry: datetime.timedelta | None = None,
        public_url: str | None = None,
        part_url_expiry: datetime.timedelta = PART_URL_EXPIRY,
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
        # Readiness asks through a client of its own: short timeouts and no retries, so that a hung
        # store fails the probe within ``check_timeout`` instead of holding it for a minute.
        self._probe = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            secure=secure,
            http_client=urllib3.PoolManager(
                num_pools=1,
                maxsize=4,
                timeout=urllib3.Timeout(connect=check_timeout, read=check_timeout),
                retries=False,
            ),
        )
        self._presigner = self.client if public_url is None else _public_client(public_url, access_key, secret_key, region)
        self.bucket = bucket
        self.part_size = max(MIN_PART_SIZE, part_size)
        #: Set: downloads are answered with a presigned URL valid this long (``download_url``).
        self.redirect_expiry = redirect_expiry
        self.part_url_expiry = part_url_expiry
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

    def put(self, key: str, stream: Readable) -> int:
        check_key(key)
        self._ensure_bucket()
        counter = _CountingReader(stream)
        try:
            first = _read_part(counter, self.part_size)
            if len(first) < self.part_size:
                self.client.put_object(self.bucket, key, io.BytesIO(first), len(first), part_size=self.part_size)
            else:
                self._put_multipart(key, counter, first)
        except _VENDOR_ERRORS as exc:
            if counter.error is not None:
                raise counter.error from None  # the client's stream failed, not the store
            raise _translate(exc, key) from exc
        return counter.count

    def _put_multipart(self, key: str, stream: _CountingReader, first: bytearray) -> None:
        # minio's own multipart upload sends a part only after reading it (no overlap), and its
        # parallel mode queues parts without bound; these are the same S3 calls, pipelined.
        upload_id = self.client._create_multipart_upload(self.bucket, key, {"Content-Type": "application/octet-stream"})
        sender = _PartSender(self.client, self.bucket, key, upload_id)
        try:
            part, number = first, 1
            while part:
                sender.send(number, part)
                part, number = _read_part(stream, self.part_size), number + 1
            parts = sender.finish()
            self.client._complete_multipart_upload(self.bucket, key, upload_id, parts)
        except BaseException:
            sender.stop()
            try:
                self.client._abort_multipart_upload(self.bucket, key, upload_id)
            except _VENDOR_ERRORS:
                pass  # the store is down: ``remnants`` lists the upload and gc aborts it later
            raise

    def open(self, key: str, start: int = 0, length: int | None = None) -> BlobReader:
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

    def modified(self, key: str) -> datetime.datetime:
        try:
            when = self.client.stat_object(self.bucket, check_key(key)).last_modified
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, key) from exc
        if when is None:
            raise StorageUnavailable(f"the store gives no modification time for {key}")
        return when.astimezone(datetime.timezone.utc).replace(tzinfo=None) if when.tzinfo else when

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

    def remnants(self, prefix: str = "") -> Iterator[Remnant]:
        self._ensure_bucket()
        key_marker: str | None = None
        try:
            while True:
                listing = self.client._list_multipart_uploads(self.bucket, prefix=prefix, key_marker=key_marker)
                for upload in listing.uploads:
                    size = self._uploaded_size(upload.object_name, str(upload.upload_id))
                    if size is not None:
                        yield Remnant(upload.object_name, size, str(upload.upload_id))
                if not listing.is_truncated or not listing.next_key_marker:
                    return
                key_marker = listing.next_key_marker  # one upload per key: the key alone pages
        except _VENDOR_ERRORS as exc:
            raise _translate(exc) from exc

    def _uploaded_size(self, key: str, upload_id: str) -> int | None:
        """Bytes the parts of a multipart upload hold; ``None`` if it finished or was aborted since it
        was listed."""
        try:
            return sum(p.size or 0 for p in self.client._list_parts(self.bucket, key, upload_id).parts)
        except S3Error as exc:
            if exc.code == "NoSuchUpload":
                return None
            raise

    def discard(self, remnant: Remnant) -> None:
        try:
            self.client._abort_multipart_upload(self.bucket, check_key(remnant.key), remnant.handle)
        except _VENDOR_ERRORS as exc:
            if not (isinstance(exc, S3Error) and exc.code in {"NoSuchUpload", *_MISSING_CODES}):
                raise _translate(exc, remnant.key) from exc

    def download_url(self, key: str, *, filename: str) -> str | None:
        if self.redirect_expiry is None:
            return None
        headers: dict[str, str | list[str] | tuple[str]] = {
            "response-content-disposition": f'attachment; filename="{filename}"',
            "response-content-type": "application/octet-stream",
        }
        try:
            return self._presigner.presigned_get_object(
                self.bucket, check_key(key), expires=self.redirect_expiry, response_headers=headers
            )
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, key) from exc

    def begin_parts(self, key: str, part_size: int) -> str | None:
        if self.redirect_expiry is None or part_size < MIN_PART_SIZE:
            return None  # clients may not reach the store, or S3 would refuse such parts
        self._ensure_bucket()
        try:
            return str(self.client._create_multipart_upload(self.bucket, check_key(key), {"Content-Type": "application/octet-stream"}))
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, key) from exc

    def part_url(self, key: str, handle: str, number: int) -> str:
        try:
            return self._presigner.get_presigned_url(
                "PUT", self.bucket, check_key(key), expires=self.part_url_expiry,
                extra_query_params={"partNumber": str(number), "uploadId": handle},
            )
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, key) from exc

    def finish_parts(self, key: str, handle: str, etags: Sequence[tuple[int, str]] | None = None) -> None:
        try:
            if etags is None:
                listed = self.client._list_parts(self.bucket, check_key(key), handle).parts
                etags = sorted((p.part_number, p.etag) for p in listed)
                if not etags:
                    raise BlobNotFound(key)
            self.client._complete_multipart_upload(
                self.bucket, check_key(key), handle, [Part(number, etag) for number, etag in etags]
            )
        except _VENDOR_ERRORS as exc:
            if isinstance(exc, S3Error) and exc.code in {"NoSuchUpload", "InvalidPart", "InvalidPartOrder", "EntityTooSmall"}:
                raise BlobNotFound(key) from exc
            raise _translate(exc, key) from exc

    def check(self) -> None:
        """Ask the store, every time: never the bucket check the data path caches (a store that went
        down after it must fail the probe at once), within ``check_timeout``. Make the bucket if it is
        missing. Raise ``StorageUnavailable`` unless the store answers."""
        try:
            exists = self._probe.bucket_exists(self.bucket)
        except _VENDOR_ERRORS as exc:
            raise _translate(exc) from exc
        if not exists:
            self._bucket_ready = False
            self._ensure_bucket()


class _EmptyReader:
    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        return None


class _CountingReader:
    """Counts the bytes minio reads and remembers a failure of the source stream, so a dropped
    client is not mistaken for a store failure."""

    def __init__(self, stream: Readable) -> None:
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


def _read_part(stream: _CountingReader, size: int) -> bytearray:
    """Read up to ``size`` bytes (fewer only at the end of the stream) into one buffer, in reads of
    at most ``CHUNK_SIZE``: a WSGI server asked for 16 MiB at once may hold several copies of them."""
    part = bytearray(size)
    view, filled = memoryview(part), 0
    while filled < size:
        data = stream.read(min(CHUNK_SIZE, size - filled))
        if not data:
            break
        view[filled : filled + len(data)] = data
        filled += len(data)
    view.release()
    del part[filled:]
    return part


class _PartSender:
    """Sends the parts of one multipart upload from a thread, one at a time, in order; ``send``
    waits while one part is being sent and another is queued, so at most three are in memory."""

    def __init__(self, client: Minio, bucket: str, key: str, upload_id: str) -> None:
        self._client = client
        self._target = (bucket, key, upload_id)
        self._queue: queue.Queue[tuple[int, bytearray] | None] = queue.Queue(maxsize=1)
        self._parts: list[Part] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"s3-parts-{key}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        bucket, key, upload_id = self._target
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep taking parts so that ``send`` never blocks on a dead sender
            number, data = item
            try:
                # urllib3 sends any buffer as it is: the part is not copied again on its way out (minio
                # types ``data`` as bytes, hence the ignore).
                etag = self._client._upload_part(bucket, key, data, None, upload_id, number)  # type: ignore[arg-type]
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                self._error = exc
            else:
                self._parts.append(Part(number, etag))

    def send(self, number: int, data: bytearray) -> None:
        """Queue part ``number``; raise what sending an earlier part raised."""
        if self._error is not None:
            raise self._error
        self._queue.put((number, data))

    def finish(self) -> list[Part]:
        """Wait for every queued part; return them in order, or raise what sending one raised."""
        self.stop()
        if self._error is not None:
            raise self._error
        return self._parts

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
