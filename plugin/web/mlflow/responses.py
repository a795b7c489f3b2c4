"""MLflow responses: compact JSON written in one piece (MLflow's own server sends headers and body
in two writes and stalls on kept-alive connections; one body keeps that from happening here)."""
from __future__ import annotations

import json
from typing import Any

from flask import Response

#: The answer to a successful call that returns nothing.
EMPTY = "{}"


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as compact JSON (``NaN`` allowed: metrics may be NaN, and the client reads it)."""
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return Response(text.encode(), status=status, mimetype="application/json")


def empty() -> Response:
    return json_response(EMPTY)


def page_response(key: str, items: list[Any], next_page_token: str | None, *, omit_empty: bool = False) -> Response:
    """A page of search results under ``key``, with ``next_page_token`` when there is more. With
    ``omit_empty`` an empty page is ``{}`` (what MLflow answers for logged-model searches)."""
    body: dict[str, Any] = {key: items} if items or not omit_empty else {}
    if next_page_token:
        body["next_page_token"] = next_page_token
    return json_response(body)
