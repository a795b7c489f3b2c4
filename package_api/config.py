"""Settings: defaults, then ``MODELSHELF_*`` environment variables, then the mapping passed in.

Every setting has one name, used by the environment (``MODELSHELF_<NAME>``), by the CLI and by
``create_app(config)`` (``<NAME>`` as the key).
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

GIB = 1024**3

#: Setting name -> default. ``None`` defaults are derived in :func:`load_settings`.
DEFAULTS: dict[str, Any] = {
    "DATA_DIR": "./modelshelf-data",
    "DATABASE_URL": None,  # sqlite:///<DATA_DIR>/modelshelf.db
    "STORAGE": "filesystem",  # filesystem | s3 | memory
    "S3_ENDPOINT": "127.0.0.1:9000",
    "S3_BUCKET": "modelshelf",
    "S3_ACCESS_KEY": None,
    "S3_SECRET_KEY": None,
    "S3_REGION": None,
    "S3_SECURE": False,
    "S3_PART_SIZE": 16 * 1024 * 1024,
    # Answer downloads with a 302 to a presigned URL (GitLab's direct download), valid this long;
    # the redirect keeps X-Checksum-SHA256 and ETag. The S3 endpoint must be reachable by clients.
    # A URL handed out keeps working until it expires even if the file is deleted, hence minutes.
    "S3_REDIRECT_DOWNLOADS": False,
    "S3_REDIRECT_EXPIRY": 300,
    # The store as clients reach it (``https://s3.example.com``, scheme and host[:port]), when it is
    # not S3_ENDPOINT (a cluster-internal MinIO): presigned URLs are signed for this host. Unset:
    # S3_ENDPOINT, which clients must then reach under the same name.
    "S3_PUBLIC_URL": None,
    # An upload renews its lease while bytes flow; one silent for this long is given up, and gc may
    # reclaim what it stored (a crashed server's uploads are reclaimed after this long).
    "UPLOAD_LEASE_SECONDS": 600,
    # URLs that let a client upload without credentials (S3 part URLs of a direct write, the Hugging
    # Face API's LFS transfer URLs) work this long: a URL handed out keeps working for S3 even after
    # its caller loses access, hence minutes. It must cover one commit's uploads (docs/configuration.md).
    "UPLOAD_URL_EXPIRY": 900,
    # How long a CI job token lives unless its job is marked finished first.
    "JOB_TOKEN_TTL": 3 * 3600,
    # GitLab caps generic files at 5 GiB and users outgrow it (gitlab.com #539286).
    "MAX_FILE_SIZE": 20 * GIB,
    # Bytes of a request body other than a file upload (JSON, forms): more is a 413, answered before
    # reading when Content-Length says so. Uploads stream and are bounded by MAX_FILE_SIZE instead.
    "MAX_REQUEST_BODY": 4 * 1024 * 1024,
    "BASE_URL": None,  # derived from the request when unset
    # Signs the session cookie. Unset: a random key kept in <DATA_DIR>/secret_key, shared by every
    # worker on this machine; set it explicitly for nodes that do not share a data directory.
    "SECRET_KEY": None,
    # Former SECRET_KEYs, comma-separated: still accepted for session cookies and to decrypt stored
    # webhook secrets (new ones are encrypted with SECRET_KEY). docs/webhooks.md, "Secrets at rest".
    "SECRET_KEY_FALLBACKS": "",
    "CREATE_SCHEMA": True,
    # Whether `modelshelf` commands upgrade the database themselves: auto = only an SQLite one.
    "AUTO_MIGRATE": "auto",
    #: Entry-point names of ``package_api.plugins`` to load, comma-separated; ``all`` or ``none``.
    "PLUGINS": "all",
    #: Networks that may read ``/-/metrics`` (comma-separated); others get a 404.
    "METRICS_ALLOWED_CIDRS": "127.0.0.0/8,::1",
    #: Failed sign-ins: this many for one account name (or from one client address) within
    #: SIGN_IN_FAILURE_WINDOW seconds refuse further attempts for SIGN_IN_LOCK_SECONDS (0: no limit).
    "SIGN_IN_MAX_FAILURES": 10,
    "SIGN_IN_ADDRESS_MAX_FAILURES": 50,
    "SIGN_IN_FAILURE_WINDOW": 600,
    "SIGN_IN_LOCK_SECONDS": 600,
    #: Reverse proxies (comma-separated networks) whose ``X-Forwarded-For`` names the client whose
    #: failed sign-ins are counted; otherwise every client behind a proxy counts as the proxy.
    "TRUSTED_PROXY_CIDRS": "",
    #: Whether anonymous callers may list users and look them up (``GET /users``, ``/users/:id``), as
    #: on a public GitLab instance; off, they get a 401. Bots of projects a caller cannot see are
    #: never listed to it either way.
    "USERS_PUBLIC": False,
    #: Seconds ``/-/readiness`` waits for the S3 store before it answers 503 (a hung store).
    "READINESS_TIMEOUT": 2.0,
    #: ``modelshelf serve``'s worker: ``gevent`` (a greenlet per connection: slow or idle clients hold
    #: only their own connection) or ``gthread`` (a thread per request: the worker of earlier versions).
    "WORKER_CLASS": "gevent",
    #: Seconds a client has to send a request's line and headers once connected (gevent worker);
    #: past it the connection is closed unanswered.
    "HEADER_TIMEOUT": 10.0,
    #: Seconds a request body may pause between two reads, and a download between two writes, before
    #: the connection is closed (gevent worker); an upload cut there stores nothing.
    "BODY_TIMEOUT": 60.0,
    #: Connections one worker serves at once (gevent worker); more wait in the listen queue.
    "WORKER_CONNECTIONS": 1000,
    #: ``text`` or ``json`` (one object per line): the log lines of ``modelshelf serve``.
    "LOG_FORMAT": "text",
    #: The Hugging Face API (docs/huggingface.md, Publishing): files up to this size are sent inline
    #: (``regular``, base64 in the commit body, which holds one such line in memory at a time), larger
    #: ones through Xet (the default client, with ``hf_xet``) or Git LFS (HF_HUB_DISABLE_XET=1).
    "HF_REGULAR_MAX_SIZE": 10 * 1024 * 1024,
    #: Git LFS objects larger than this are uploaded in parts of this size (the Hub's ``multipart``).
    "HF_LFS_PART_SIZE": 64 * 1024 * 1024,
    #: The largest commit body (NDJSON with the inline files) the Hugging Face API reads.
    "HF_COMMIT_MAX_SIZE": GIB,
    #: Bytes of Xet xorb uploads a worker process holds at once to validate them (each is up to 64 MiB
    #: and read whole); an upload that does not fit waits for one that does to finish.
    "HF_XET_UPLOAD_MEMORY": 256 * 1024 * 1024,
    #: ``modelshelf gc`` packs files of at least this many bytes uploaded without Xet into xorbs, so
    #: that ``hf_xet`` reads them through Xet and deduplicates against them; 0: never.
    "HF_XET_PACK_MIN_SIZE": 0,
    #: Seconds an object uploaded through the Hugging Face API waits for its commit; ``modelshelf gc``
    #: removes one staged longer (a client that died between its uploads and its commit).
    "HF_STAGING_LEASE_SECONDS": 24 * 3600.0,
    #: Webhooks (docs/webhooks.md). A delivery that fails is retried with exponential backoff
    #: (BACKOFF_BASE seconds, doubling, at most BACKOFF_MAX) until RETRY_WINDOW seconds after its event.
    "WEBHOOK_RETRY_WINDOW": 24 * 3600.0,
    "WEBHOOK_BACKOFF_BASE": 10.0,
    "WEBHOOK_BACKOFF_MAX": 3600.0,
    #: Seconds to connect, and again to read the answer, per attempt.
    "WEBHOOK_TIMEOUT": 5.0,
    #: Whether hooks may call loopback, private and link-local addresses (checked at each send).
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": False,
    #: Seconds the dispatcher sleeps when nothing is due, and how many deliveries it sends at once.
    "WEBHOOK_POLL_INTERVAL": 1.0,
    "WEBHOOK_CONCURRENCY": 4,
    #: Days a finished delivery (delivered or given up) stays listed with its attempts.
    "WEBHOOK_KEEP_DAYS": 30.0,
    #: Whether this process runs a dispatcher: ``modelshelf serve`` turns it on for its workers.
    "WEBHOOK_DISPATCHER": False,
    #: Cleanup policies (docs/cleanup.md): whether this process runs the due ones (``modelshelf serve``
    #: turns it on for its workers), and the seconds between two looks for due policies.
    "CLEANUP_RUNNER": False,
    "CLEANUP_POLL_INTERVAL": 60.0,
}

_BOOLS = {
    "S3_SECURE", "CREATE_SCHEMA", "S3_REDIRECT_DOWNLOADS", "USERS_PUBLIC", "WEBHOOK_ALLOW_PRIVATE_TARGETS",
    "WEBHOOK_DISPATCHER", "CLEANUP_RUNNER",
}
_INTS = {
    "MAX_FILE_SIZE", "MAX_REQUEST_BODY", "S3_PART_SIZE", "S3_REDIRECT_EXPIRY", "UPLOAD_URL_EXPIRY", "SIGN_IN_MAX_FAILURES",
    "SIGN_IN_ADDRESS_MAX_FAILURES", "HF_REGULAR_MAX_SIZE", "HF_LFS_PART_SIZE", "HF_COMMIT_MAX_SIZE",
    "HF_XET_UPLOAD_MEMORY", "HF_XET_PACK_MIN_SIZE",
    "WORKER_CONNECTIONS", "WEBHOOK_CONCURRENCY",
}
_FLOATS = {
    "UPLOAD_LEASE_SECONDS", "JOB_TOKEN_TTL", "SIGN_IN_FAILURE_WINDOW", "SIGN_IN_LOCK_SECONDS", "READINESS_TIMEOUT",
    "HEADER_TIMEOUT", "BODY_TIMEOUT", "HF_STAGING_LEASE_SECONDS",
    "WEBHOOK_RETRY_WINDOW", "WEBHOOK_BACKOFF_BASE", "WEBHOOK_BACKOFF_MAX", "WEBHOOK_TIMEOUT", "WEBHOOK_POLL_INTERVAL",
    "WEBHOOK_KEEP_DAYS", "CLEANUP_POLL_INTERVAL",
}


def _coerce(name: str, value: Any) -> Any:
    if name in _BOOLS and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if name in _INTS and isinstance(value, str):
        return int(value)
    if name in _FLOATS and isinstance(value, str):
        return float(value)
    return value


def stored_secret_key(data_dir: str) -> str:
    """The key in ``<data_dir>/secret_key``, created (readable by the owner only) if missing.

    Written aside and hard-linked into place, so that workers starting together agree on one key
    and none reads a half-written file.
    """
    path = os.path.join(data_dir, "secret_key")
    if not os.path.exists(path):
        scratch = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another worker won; use its key
        finally:
            os.unlink(scratch)
    with open(path) as stored:
        return stored.read().strip()


def load_settings(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, ``MODELSHELF_*`` variables and ``config``; derive the database URL."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name in DEFAULTS:
        value = environ.get(f"MODELSHELF_{name}")
        if value not in (None, ""):
            settings[name] = _coerce(name, value)
    for name, value in (config or {}).items():
        settings[name] = _coerce(name, value)
    data_dir = os.path.abspath(str(settings["DATA_DIR"]))
    settings["DATA_DIR"] = data_dir
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{os.path.join(data_dir, 'modelshelf.db')}"
    return settings
