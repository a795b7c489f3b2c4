"""Pages of results and the checks of the parameters that order them, shared by every listing."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, false, func, select

from package_api.db import DbSession
from package_api.errors import InvalidParameter

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int


def choice(name: str, value: str, allowed: Collection[str]) -> str:
    """Return ``value`` if ``allowed``; raise ``InvalidParameter`` in Grape's words otherwise."""
    if value not in allowed:
        raise InvalidParameter(name, "does not have a valid value")
    return value


def descending(sort: str) -> bool:
    """``True`` for ``desc``, ``False`` for ``asc``; raise ``InvalidParameter`` otherwise."""
    return choice("sort", sort, ("asc", "desc")) == "desc"


def slice_page(items: Sequence[T], page: int, per_page: int) -> Page:
    """A page of items already in order in memory."""
    start = (page - 1) * per_page
    return Page(list(items[start : start + per_page]), len(items), page, per_page)


#: A search string longer than this matches nothing without asking the database: no searchable
#: column holds more than 1,024 characters, and SQLite refuses LIKE patterns over 50,000 bytes.
#: Nor does one with a NUL: PostgreSQL holds none in text, and SQLite's LIKE ends the pattern there
#: (``a\x00zzz`` matched every name with an ``a``).
MAX_SEARCH_LENGTH = 2048


def contains(column: Any, text: str) -> Any:
    """A case-insensitive substring match where ``%`` and ``_`` in ``text`` are literal."""
    if len(text) > MAX_SEARCH_LENGTH or "\x00" in text:
        return false()
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def query_page(session: DbSession, query: Select[Any], order: Sequence[Any], page: int, per_page: int) -> Page:
    """A page of ``query`` in ``order``, with the total count."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(session.scalars(query.order_by(*order).offset((page - 1) * per_page).limit(per_page)))
    return Page(items, total, page, per_page)
