"""Request ids and log lines: every record logged while a request is answered carries its id, and
``modelshelf serve`` writes records as plain text (the default) or as one JSON object per line.

The id is the client's ``X-Request-Id`` when it is sane, so that a proxy's or a client's id follows
the request into our logs; otherwise a new one. ``package_api.ops.monitoring`` binds it for the request.
"""
from __future__ import annotations

import contextvars
import datetime
import json
import logging
import os
import re
from typing import Any

REQUEST_ID_HEADER = "X-Request-Id"
#: At most this long, and only these characters: the id is copied into log lines and headers.
MAX_REQUEST_ID_LENGTH = 128
_REQUEST_ID_RE = re.compile(rf"\A[A-Za-z0-9._-]{{1,{MAX_REQUEST_ID_LENGTH}}}\Z")
#: What a record logged outside any request shows as its request id.
NO_REQUEST = "-"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s [%(request_id)s] %(message)s"

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("modelshelf_request_id", default=None)


def request_id_for(incoming: str | None) -> str:
    """``incoming`` (an ``X-Request-Id`` header) when it is 1-128 of ``[A-Za-z0-9._-]``, else a new
    id: 32 random hex digits (what ``uuid.uuid4().hex`` gives, less the version digits and the object)."""
    if incoming and _REQUEST_ID_RE.match(incoming):
        return incoming
    return os.urandom(16).hex()


def bind_request_id(request_id: str | None) -> None:
    """Make ``request_id`` the id of the records this thread logs from now on (``None``: none)."""
    _request_id.set(request_id)


def current_request_id() -> str | None:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Give every record a ``request_id`` attribute: the bound request's id, or ``-``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id() or NO_REQUEST
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``pid``,
    ``message``, ``request_id``, the fields of an access record (``http``, see ``package_api.ops.monitoring``) and, for a
    record with an exception, ``exception`` (the traceback, escaped onto the one line)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id() or NO_REQUEST,
        }
        fields = getattr(record, "http", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, separators=(",", ":"))


def lean_records() -> None:
    """Make log records skip what neither format shows, in this process: the caller's file, line
    and function (a walk up the stack for every record, each access line included), the thread's
    name and the multiprocessing process name. ``modelshelf serve`` calls it; the process id stays."""
    logging._srcfile = None  # the logging module's documented switch (its docs, "Optimization")
    logging.logThreads = False
    logging.logMultiprocessing = False


def logging_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping that sends every logger, gunicorn's included, to
    stderr in ``log_format`` (``text`` or ``json``) with request ids. gunicorn's own access log is
    silenced: ``package_api.ops.monitoring`` writes one line per request, with its id."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown MODELSHELF_LOG_FORMAT {log_format!r}: use text or json")
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT, "class": "logging.Formatter"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"modelshelf": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "modelshelf",
                "filters": ["request_id"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
