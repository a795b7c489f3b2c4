"""Prometheus metrics: requests by route, method and status, their durations, file bytes received
and sent, and uploads that failed.

Each app owns a ``Metrics`` (in ``app.extensions["modelshelf.metrics"]``) on a registry of its own,
so that apps built side by side (tests) do not share counts. ``modelshelf serve`` runs several
worker processes; it calls :func:`use_multiprocess_dir` before they start, so that each writes its
counts to files in that directory and ``/-/metrics``, whichever worker answers it, adds up all of
them (prometheus_client's multiprocess mode).
"""
from __future__ import annotations

import glob
import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values
from prometheus_client.exposition import choose_encoder
from werkzeug.exceptions import ClientDisconnected

from package_api.errors import ChecksumMismatch, FileTooLarge
from package_api.storage import StorageError

__all__ = ["MULTIPROCESS_ENV", "Metrics", "mark_worker_dead", "upload_failure", "use_multiprocess_dir"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Requests take from milliseconds (metadata) to an hour (a 20 GiB file over a slow link).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
#: Label values are bounded: a method outside these is ``other``, a path no rule matches ``unmatched``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
#: Why an upload failed (:func:`upload_failure` picks one).
UPLOAD_FAILURES = ("too_large", "checksum_mismatch", "client_disconnect", "storage", "error")


def upload_failure(error: BaseException) -> str:
    """The ``reason`` label of an upload that ended in ``error``. The stores raise only storage
    errors of their own and re-raise what reading the request failed with, so werkzeug's
    ``ClientDisconnected`` (a body cut short) or an ``OSError`` (a reset socket) is the client's."""
    if isinstance(error, FileTooLarge):
        return "too_large"
    if isinstance(error, ChecksumMismatch):
        return "checksum_mismatch"
    if isinstance(error, StorageError):
        return "storage"
    if isinstance(error, (OSError, ClientDisconnected)):
        return "client_disconnect"
    return "error"


class Metrics:
    """The app's metrics; also the ``TransferMeter`` that ``PackageService`` and the download
    responses report bytes to (``package_api.packages.streams``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelshelf_http_requests",
            "HTTP requests answered, by URL rule, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "modelshelf_http_request_duration_seconds",
            "Seconds from receiving a request to sending the last byte of its response.",
            ["route", "method"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.uploaded = Counter(
            "modelshelf_uploaded_bytes",
            "File bytes received from clients, counted as they arrive (failed uploads included).",
            registry=self.registry,
        )
        self.downloaded = Counter(
            "modelshelf_downloaded_bytes",
            "File and archive bytes handed to the server for sending, counted as they go.",
            registry=self.registry,
        )
        self.upload_failures = Counter(
            "modelshelf_upload_failures",
            "Uploads that ended in an error instead of a stored file, by reason.",
            ["reason"],
            registry=self.registry,
        )
        #: (route, method, status) -> its request counter and duration histogram: finding a labelled
        #: metric (``labels``) checks and joins its labels under a lock, twice a request otherwise.
        #: As many keys as URL rules times methods times statuses answered.
        self._observed: dict[tuple[str | None, str, int], tuple[Any, Any]] = {}
        for reason in UPLOAD_FAILURES:
            self.upload_failures.labels(reason)  # present at 0, so that rate() works from the start

    def observe_request(self, route: str | None, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        key = (route, method, status)
        children = self._observed.get(key)
        if children is None:  # a new route, method and status: their labelled metrics, kept
            route = route or UNMATCHED
            children = self._observed[key] = (self.requests.labels(route, method, str(status)), self.duration.labels(route, method))
        children[0].inc()
        children[1].observe(seconds)

    # -- TransferMeter ------------------------------------------------------------------------------

    def received(self, size: int) -> None:
        self.uploaded.inc(size)

    def sent(self, size: int) -> None:
        self.downloaded.inc(size)

    def upload_failed(self, error: BaseException) -> None:
        self.upload_failures.labels(upload_failure(error)).inc()

    # -- exposition ---------------------------------------------------------------------------------

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The body and content type for a scraper that sends ``accept``: the Prometheus text
        format, or OpenMetrics when asked for. Every worker's counts in multiprocess mode, else
        this app's."""
        registry = self.registry
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        encode, content_type = choose_encoder(accept or "")
        return encode(registry), content_type


def use_multiprocess_dir(directory: str) -> None:
    """Make metrics created from now on (in this process and the ones it forks) count in files
    under ``directory``, emptied first: counts of a previous run must not be added to this one's.

    prometheus_client picks how values are kept when it is first imported, from
    ``PROMETHEUS_MULTIPROC_DIR``; by the time ``modelshelf serve`` runs, the app (and so this
    module) has been imported already, so the choice is made again here.
    """
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.unlink(stale)
    os.environ[MULTIPROCESS_ENV] = directory
    values.ValueClass = values.get_value_class()


def mark_worker_dead(pid: int) -> None:
    """Forget what only a live process reports (live gauges); a dead worker's counts stay in the
    totals, as counters must."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(pid)
