"""GitLab's offset pagination: ``page``/``per_page`` in, ``X-*`` and ``Link`` headers out."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Response, jsonify, request

from package_api.errors import InvalidParameter
from package_api.paging import Page

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
#: Pages past this would put the query's OFFSET past what the database takes (a 500, not an empty page).
MAX_PAGE = 2**31 - 1


def _int_arg(args: Mapping[str, str], name: str, default: int, maximum: int | None = None) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(name) from None
    if value < 1 or (maximum is not None and value > maximum):
        raise InvalidParameter(name, "does not have a valid value")
    return value


def page_args(args: Mapping[str, str]) -> tuple[int, int]:
    """Return ``(page, per_page)``; ``per_page`` is capped at 100 as GitLab does."""
    return _int_arg(args, "page", 1, MAX_PAGE), min(_int_arg(args, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)


def headers(page: Page, base_url: str, args: Mapping[str, str]) -> dict[str, str]:
    total_pages = max(1, math.ceil(page.total / page.per_page))
    next_page = page.page + 1 if page.page < total_pages else None
    prev_page = page.page - 1 if page.page > 1 else None

    def link(number: int) -> str:
        query = {k: v for k, v in args.items() if k not in ("page", "per_page")}
        query.update(page=str(number), per_page=str(page.per_page))
        return f"{base_url}?{urlencode(query)}"

    links = []
    if prev_page:
        links.append(f'<{link(prev_page)}>; rel="prev"')
    if next_page:
        links.append(f'<{link(next_page)}>; rel="next"')
    links.append(f'<{link(1)}>; rel="first"')
    links.append(f'<{link(total_pages)}>; rel="last"')
    return {
        "X-Total": str(page.total),
        "X-Total-Pages": str(total_pages),
        "X-Per-Page": str(page.per_page),
        "X-Page": str(page.page),
        "X-Next-Page": str(next_page or ""),
        "X-Prev-Page": str(prev_page or ""),
        "Link": ", ".join(links),
    }


def paginated(items: list[Any], page: Page, base_url: str) -> Response:
    """``items`` as JSON with the pagination headers of ``page`` for this request's URL."""
    response = jsonify(items)
    response.headers.update(headers(page, base_url + request.path, request.args))
    return response
