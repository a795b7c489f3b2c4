"""MLflow responses: compact JSON written in one piece (MLflow's own server sends headers and body
in two writes and stalls on kept-alive connections; one body keeps that from happening here)."""
from __future__ import annotations

import json
import math
from typing import Any

from flask import Response

#: The answer to a successful call that returns nothing.
EMPTY = "{}"


#: How MLflow's server writes a double that JSON has no number for: as protobuf's JSON mapping
#: does, a string (``"NaN"``, ``"Infinity"``, ``"-Infinity"``), which the client reads back as the
#: float. Bare ``NaN``/``Infinity`` are not JSON, and the client refuses the whole answer.
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as compact JSON, with non-finite floats written as MLflow writes them (``NON_FINITE``)."""
    if isinstance(body, str):
        text = body
    else:
        try:
            text = json.dumps(body, separators=(",", ":"), allow_nan=False)
        except ValueError:  # a NaN or an infinity somewhere (rare): spell them out, then write again
            text = json.dumps(_finite(body), separators=(",", ":"), allow_nan=False)
    return Response(text.encode(), status=status, mimetype="application/json")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its ``NON_FINITE`` string."""
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def empty() -> Response:
    return json_response(EMPTY)


def page_response(key: str, items: list[Any], next_page_token: str | None, *, omit_empty: bool = False) -> Response:
    """A page of search results under ``key``, with ``next_page_token`` when there is more. With
    ``omit_empty`` an empty page is ``{}`` (what MLflow answers for logged-model searches)."""
    body: dict[str, Any] = {key: items} if items or not omit_empty else {}
    if next_page_token:
        body["next_page_token"] = next_page_token
    return json_response(body)
