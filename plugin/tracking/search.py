"""The rest of a search besides the filter: result limits, page tokens (MLflow's base64 JSON
offsets) and multi-key ordering with a tie-breaker."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from package_api.plugin_api import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class Results(Generic[T]):
    items: list[T]
    next_page_token: str | None


def max_results(value: int | None, default: int, limit: int) -> int:
    """``value`` within ``1..limit`` (``default`` when absent); raise ``InvalidInput``."""
    if value is None:
        return default
    if value < 1:
        raise InvalidInput(f"Invalid value for max_results. It must be a positive integer, but got {value}")
    if value > limit:
        raise InvalidInput(
            f"Invalid value for request parameter max_results. It must be at most {limit}, but got value {value}"
        )
    return value


def offset(page_token: str | None) -> int:
    """The offset a page token carries (0 without one); raise ``InvalidInput``."""
    if not page_token:
        return 0
    try:
        decoded = base64.b64decode(page_token, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("Invalid page token, could not base64-decode") from None
    try:
        parsed = json.loads(decoded)
    except ValueError:
        raise InvalidInput(f"Invalid page token, decoded value={decoded!r}") from None
    value = parsed.get("offset") if isinstance(parsed, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"Invalid page token, parsed value={parsed}")
    return value


def page_token(start: int) -> str:
    return base64.b64encode(json.dumps({"offset": start}).encode()).decode()


def paginate(items: Sequence[T], start: int, size: int) -> Results[T]:
    """The page of ``items`` from ``start``, and the token of the next page if there is one."""
    page = list(items[start : start + size])
    following = start + size
    return Results(page, page_token(following) if following < len(items) else None)


class _Reversed:
    """Wraps a sort key so that it sorts descending inside an ascending tuple sort."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(other.value == self.value)


def sort(items: Sequence[T], keys: Sequence[tuple[Callable[[T], Any], bool]]) -> list[T]:
    """``items`` ordered by ``(key function, ascending)`` pairs. Missing values (``None``) sort
    last in either direction, as MLflow's SQL stores do."""

    def key(item: T) -> tuple[Any, ...]:
        parts: list[Any] = []
        for function, ascending in keys:
            value = function(item)
            parts.append(value is None)
            parts.append(0 if value is None else (value if ascending else _Reversed(value)))
        return tuple(parts)

    return sorted(items, key=key)
