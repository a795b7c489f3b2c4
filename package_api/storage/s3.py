"""S3 storage through the ``minio`` client (MinIO, SeaweedFS, AWS S3, ...).

A blob that fits in one part goes up in one PUT; a larger one as a multipart upload whose parts are
sent by ``PARALLEL_PARTS`` background threads (greenlets under the gevent worker) while the next part
is read from the client, so the client and the store work at the same time, and the store is never
idle between one part's answer and the next part's first byte. The parts are read straight into a
few reused buffers (``readinto`` where the body has it: the request's socket), so memory stays at
``PARALLEL_PARTS + 2`` parts whatever the file size. A failed upload is aborted.

The bytes go out with ``UNSIGNED-PAYLOAD`` (a URL the server presigns for itself, sent through the
same connection pool): minio's own calls sign each request's payload over plain HTTP, i.e. SHA-256
every part a second time (the upload is hashed once already, on its way in, for its digest), and
over HTTPS compute its MD5. The headers, the key and the upload id are signed all the same.

Every ``S3Error`` and connection error is translated here and nowhere else.
"""
from __future__ import annotations

import datetime
import mmap
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import MinioException, S3Error, ServerError

from package_api.storage.base import CHUNK_SIZE, BlobReader, Readable, Remnant, check_key, read_into
from package_api.storage.errors import BlobNotFound, StorageUnavailable

_MISSING_CODES = {"NoSuchKey", "NoSuchObject", "NoSuchBucket"}
#: The smallest part S3 accepts is 5 MiB.
MIN_PART_SIZE = 5 * 1024 * 1024
#: Parts of one upload sent at the same time. Two keep the store busy while the answer to the other
#: comes back; each costs a part of memory (bench/transfer.py, docs/performance.md).
PARALLEL_PARTS = 2
#: How long the URL the server signs for each of its own PUTs works: it is used at once.
_OWN_URL_EXPIRY = datetime.timedelta(hours=1)


def _translate(exc: Exception, key: str = "") -> Exception:
    if isinstance(exc, S3Error) and exc.code in _MISSING_CODES:
        return BlobNotFound(key)
    if isinstance(exc, S3Error):
        return StorageUnavailable(f"S3 refused the request: {exc.code}")
    return StorageUnavailable(f"S3 is unreachable: {exc.__class__.__name__}")


_VENDOR_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)
#: Bytes per chunk of a download streamed out of S3.
READ_SIZE = 4 * CHUNK_SIZE


class _ObjectReader:
    def __init__(self, response: urllib3.BaseHTTPResponse, key: str) -> None:
        self._response = response
        self._key = key

    def __iter__(self) -> Iterator[bytes]:
        # Read as stored (no content decoding: the bytes are the file, whatever a client that wrote
        # them to the store directly said of their encoding), in chunks of READ_SIZE: one copy from
        # the socket each, and few enough for the per-chunk work between here and the client.
        read = self._response.read
        try:
            while chunk := read(READ_SIZE, decode_content=False):
                yield chunk
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
        parallel_parts: int = PARALLEL_PARTS,
    ) -> None:
        # Few, quick retries: an unreachable store must become a prompt 503, not a minute of backoff.
        self._http = http = urllib3.PoolManager(
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
        self.parallel_parts = parallel_parts
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
        buffers = _Buffers(self.part_size, self.parallel_parts + 2)
        try:
            first = buffers.take()
            filled = _read_part(counter, first)
            if filled < self.part_size:
                with memoryview(first) as view:
                    self._put_bytes(key, view[:filled])
            else:
                self._put_multipart(key, counter, first, buffers)
        except _VENDOR_ERRORS as exc:
            if counter.failed:
                raise  # the client's stream failed, not the store
            raise _translate(exc, key) from exc
        return counter.count

    def _put_bytes(self, key: str, data: memoryview, query: dict[str, str | list[str] | tuple[str]] | None = None) -> str:
        """PUT ``data`` as ``key`` (or, with ``query``, as a part of a multipart upload) with an
        unsigned payload; return the ETag. Raises what minio would: ``S3Error``, ``ServerError``,
        urllib3's errors (after the pool's retries)."""
        url = self.client.get_presigned_url("PUT", self.bucket, key, expires=_OWN_URL_EXPIRY, extra_query_params=query)
        response = self._http.urlopen(
            "PUT", url, body=data, headers={"Content-Type": "application/octet-stream"}, redirect=False
        )
        if response.status != 200:
            try:
                raise S3Error.fromxml(response)
            except (ParseError, UnicodeDecodeError):  # no S3 error document: a proxy's page
                raise ServerError(f"S3 answered {response.status} to a PUT", response.status) from None
        return str(response.headers.get("ETag", "")).replace('"', "")

    def _put_multipart(self, key: str, stream: _CountingReader, first: mmap.mmap, buffers: _Buffers) -> None:
        # minio's own multipart upload sends a part only after reading it (no overlap), and its
        # parallel mode queues parts without bound; these are the same S3 calls, pipelined.
        upload_id = self.client._create_multipart_upload(self.bucket, key, {"Content-Type": "application/octet-stream"})

        def send(number: int, data: memoryview) -> str:
            return self._put_bytes(key, data, {"partNumber": str(number), "uploadId": upload_id})

        sender = _PartSender(send, buffers, self.parallel_parts, name=f"s3-parts-{key}")
        try:
            part, filled, number = first, self.part_size, 1
            while filled:
                sender.send(number, part, filled)
                part = buffers.take()
                filled, number = _read_part(stream, part), number + 1
            buffers.give(part)
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
            when = _naive_utc(self.client.stat_object(self.bucket, check_key(key)).last_modified)
        except _VENDOR_ERRORS as exc:
            raise _translate(exc, key) from exc
        if when is None:
            raise StorageUnavailable(f"the store gives no modification time for {key}")
        return when

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
                        yield Remnant(upload.object_name, size, str(upload.upload_id), _naive_utc(upload.initiated_time))
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


def _naive_utc(when: datetime.datetime | None) -> datetime.datetime | None:
    return when.astimezone(datetime.timezone.utc).replace(tzinfo=None) if when is not None and when.tzinfo else when


class _EmptyReader:
    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        return None


class _CountingReader:
    """Counts the bytes read from the source stream and remembers that it failed, so a dropped
    client is not mistaken for a store failure. Not the exception itself: its traceback holds the
    frame of ``put``, which holds this reader, and that cycle would keep the upload's part buffers
    (up to ``PARALLEL_PARTS + 2`` parts) alive until the garbage collector's next full pass."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.count = 0
        self.failed = False

    def readinto(self, view: memoryview) -> int:
        """``read_into`` from the stream, counted."""
        try:
            got = read_into(self._stream, view)
        except BaseException:
            self.failed = True
            raise
        self.count += got
        return got


def _read_part(stream: _CountingReader, part: mmap.mmap) -> int:
    """Fill ``part`` from ``stream``; return how many bytes it holds (fewer only at the end of the stream)."""
    filled = 0
    with memoryview(part) as view:
        while filled < len(part):
            got = stream.readinto(view[filled:])
            if not got:
                break
            filled += got
    return filled


class _Buffers:
    """The part buffers of one upload: at most ``count`` of ``size`` bytes, made when first needed
    and reused. Each is an anonymous ``mmap``: its pages are taken as they are written (a small file
    touches a few of them, where a ``bytearray`` zeroes the whole part first) and given back to the
    system when the upload's buffers are dropped, where malloc may keep freed parts in the process's
    heap (glibc raises its mmap threshold to the size of the largest block freed)."""

    def __init__(self, size: int, count: int) -> None:
        self._size = size
        self._left = count
        self._free: queue.Queue[mmap.mmap] = queue.Queue()

    def take(self) -> mmap.mmap:
        """A free buffer; waits for one to be given back when all ``count`` are in use."""
        if self._free.empty() and self._left:
            self._left -= 1
            return mmap.mmap(-1, self._size)
        return self._free.get()

    def give(self, buffer: mmap.mmap) -> None:
        self._free.put(buffer)


class _PartSender:
    """Sends the parts of one multipart upload from ``parallel`` threads (``send_part``: number and
    bytes, gives the ETag); ``send`` waits while every thread is sending and one part is queued.
    Each part's buffer goes back to ``buffers`` once sent. A failure is raised once and then let go
    of (``_raise``): kept, its traceback (which holds the sending threads' frames, and so this
    sender and its parts) would make a cycle that holds the part buffers until a full collection."""

    def __init__(
        self, send_part: Callable[[int, memoryview], str], buffers: _Buffers, parallel: int, *, name: str
    ) -> None:
        self._send_part = send_part
        self._buffers = buffers
        self._queue: queue.Queue[tuple[int, mmap.mmap, int] | None] = queue.Queue(maxsize=1)
        self._parts: list[Part] = []
        self._error: BaseException | None = None
        self._failed = False
        self._threads = [threading.Thread(target=self._run, name=name, daemon=True) for _ in range(max(1, parallel))]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            number, data, length = item
            try:
                if not self._failed:  # else keep taking parts so that ``send`` never blocks on a dead sender
                    # urllib3 sends any buffer as it is: the part is not copied on its way out.
                    with memoryview(data) as view:
                        self._parts.append(Part(number, self._send_part(number, view[:length])))
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                if not self._failed:
                    self._failed, self._error = True, exc
            finally:
                self._buffers.give(data)

    def send(self, number: int, data: mmap.mmap, length: int) -> None:
        """Queue part ``number`` (the first ``length`` bytes of ``data``); raise what sending an
        earlier part raised."""
        if self._failed:
            self._buffers.give(data)
            self._raise()
        self._queue.put((number, data, length))

    def finish(self) -> list[Part]:
        """Wait for every queued part; return them in order, or raise what sending one raised."""
        self.stop()
        if self._failed:
            self._raise()
        return sorted(self._parts, key=lambda part: part.part_number)

    def _raise(self) -> None:
        """Raise what sending a part raised, keeping no reference to it here or in this frame."""
        error, self._error = self._error, None
        if error is None:
            raise RuntimeError("a part of this upload failed to send; its error was raised before")
        try:
            raise error
        finally:
            del error

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []
