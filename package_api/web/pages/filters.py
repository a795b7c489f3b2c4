"""Jinja filters and globals every page template may use (plugin templates too).

- ``{{ n | filesize }}``: ``1.5 MiB``.
- ``{{ when | timestamp }}``: ``<time datetime="…Z" title="…">3 days ago</time>``.
- ``{{ url_with(page=2) }}``: this page's URL with some query arguments replaced (``None`` drops one).
- ``{{ token | token_state }}``: ``active``, ``revoked`` or ``expired`` (any token row with
  ``revoked`` and ``expires_at``).
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Flask, request
from markupsafe import Markup, escape

from package_api.access.tokens import is_live
from package_api.db import utcnow

UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")
#: (seconds per unit, unit): the largest unit that fits names the age.
AGES = (
    (365 * 86400, "year"),
    (30 * 86400, "month"),
    (7 * 86400, "week"),
    (86400, "day"),
    (3600, "hour"),
    (60, "minute"),
)


def filesize(size: int) -> str:
    if size < 1024:
        return f"{size} bytes" if size != 1 else "1 byte"
    value = float(size)
    for unit in UNITS[1:]:
        value /= 1024
        if value < 1024 or unit == UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def age(when: datetime.datetime, now: datetime.datetime) -> str:
    seconds = (now - when).total_seconds()
    for length, unit in AGES:
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def timestamp(when: datetime.datetime | None, clock: Callable[[], datetime.datetime] = utcnow) -> Markup:
    """An HTML ``<time>``: the age as text, the exact UTC time in the tooltip."""
    if when is None:
        return Markup("never")
    machine, exact = when.strftime("%Y-%m-%dT%H:%M:%SZ"), when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup(f'<time datetime="{machine}" title="{exact}">{escape(age(when, clock()))}</time>')


def token_state(row: Any, clock: Callable[[], datetime.datetime] = utcnow) -> str:
    if row.revoked:
        return "revoked"
    return "active" if is_live(row, clock()) else "expired"


def url_with(**changes: Any) -> str:
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v is not None})
    query = urlencode(args)
    return f"{request.path}?{query}" if query else request.path


def register(app: Flask) -> None:
    app.jinja_env.filters.update(filesize=filesize, timestamp=timestamp, token_state=token_state)
    app.jinja_env.globals.update(url_with=url_with)
