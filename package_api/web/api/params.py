"""Request parameters as Grape reads them: from the query string, a form body or a JSON body (the
later wins), with GitLab's array encodings (``scopes[]=api&scopes[]=read_api``, a JSON list, or
``api,read_api``). Each reader raises ``InvalidParameter`` in Grape's words."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, overload

from flask import request
from werkzeug.datastructures import MultiDict

from package_api.errors import InvalidInput, InvalidParameter

ARRAY_SUFFIX = "[]"
#: The integers SQL databases hold (SQLite's and PostgreSQL's ``bigint``): a larger number in a
#: parameter is refused, not sent to the database to fail there.
INTEGER_RANGE = range(-(2**63), 2**63)


def _merge(into: dict[str, Any], source: MultiDict[str, str]) -> None:
    for key in source:
        values = source.getlist(key)
        if key.endswith(ARRAY_SUFFIX):
            into[key[: -len(ARRAY_SUFFIX)]] = values
        else:
            into[key] = values[-1]


def request_params() -> dict[str, Any]:
    """This request's parameters."""
    found: dict[str, Any] = {}
    _merge(found, request.args)
    _merge(found, request.form)
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        found.update(body)
    return found


def request_body() -> dict[str, Any]:
    """The JSON object or the form the request sends (not its query string); raise ``InvalidInput``
    for a JSON body that is not an object."""
    data = request.get_json(silent=True)
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return dict(data or request.form or {})


@overload
def text(params: Mapping[str, Any], name: str, *, required: Literal[True], keep_blank: bool = False) -> str: ...


@overload
def text(params: Mapping[str, Any], name: str, *, required: bool = False, keep_blank: bool = False) -> str | None: ...


def text(params: Mapping[str, Any], name: str, *, required: bool = False, keep_blank: bool = False) -> str | None:
    """Parameter ``name`` as text (a number is taken as its digits), ``None`` when absent or blank
    (``keep_blank``: an empty string is a value, as a description cleared by ``""``); raise
    ``InvalidParameter`` when it is missing but ``required``, or a list or an object."""
    value = params.get(name)
    if value is None or (value == "" and not keep_blank):
        if required:
            raise InvalidParameter(name, "is missing")
        return None
    if isinstance(value, (list, dict)):
        raise InvalidParameter(name, "is invalid")
    return str(value)


def integer(params: Mapping[str, Any], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise InvalidParameter(name, "is missing")
        return None
    if isinstance(value, bool):
        raise InvalidParameter(name, "is invalid")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidParameter(name, "is invalid") from None
    if number not in INTEGER_RANGE:
        raise InvalidParameter(name, "is invalid")
    return number


def flag(params: Mapping[str, Any], name: str) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidParameter(name, "is invalid")


def strings(params: Mapping[str, Any], name: str, *, required: bool = False) -> list[str]:
    """A list parameter: a JSON list, ``name[]`` repeated, or one comma-separated string."""
    value = params.get(name)
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    elif value is None:
        value = []
    elif not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise InvalidParameter(name, "is invalid")
    items = [str(v).strip() for v in value if str(v).strip()]
    if required and not items:
        raise InvalidParameter(name, "is missing")
    return items


def ids(params: Mapping[str, Any], name: str) -> list[int]:
    """A list of row ids (``user_ids=1,2``, ``user_ids[]=1&user_ids[]=2`` or a JSON list)."""
    found = []
    for raw in strings(params, name):
        # Twenty digits hold any id; longer numbers would also trip int()'s 4300-digit limit.
        number = int(raw) if raw.isdecimal() and len(raw) <= 20 else -1
        if number not in INTEGER_RANGE or number < 0:
            raise InvalidParameter(name, "is invalid")
        found.append(number)
    return found
