"""Request parameters as MLflow's client sends them: the query string of a GET (lists repeat the
key), the JSON body of everything else (DELETE included). Typed accessors raise ``InvalidInput``
with the MLflow server's sentences."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict

from package_api.plugin_api import InvalidInput

_SEE_DOCS = "See the API docs for more information about request parameters."
#: The range of MLflow's int64 fields (and of the BIGINT columns they are stored in).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _missing(name: str) -> InvalidInput:
    return InvalidInput(f"Missing value for required parameter '{name}'. {_SEE_DOCS}")


def _wrong_type(name: str, value: object) -> InvalidInput:
    return InvalidInput(
        f"Invalid value {value!r} for parameter '{name}' supplied:  Hint: Value was of type '{type(value).__name__}'. {_SEE_DOCS}"
    )


def field(item: Mapping[str, Any], name: str, path: str) -> str | None:
    """Text field ``name`` of one message of a repeated field (``path``: ``metrics.key``); raise
    ``InvalidInput`` for a list or an object."""
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise _wrong_type(path, value)
    return value if isinstance(value, str) else str(value)


class Params:
    def __init__(self, body: Mapping[str, Any], query: MultiDict[str, str] | None = None) -> None:
        self.body = body
        self.query = query

    @classmethod
    def from_request(cls) -> Params:
        """GET/HEAD: the query string. Otherwise the JSON body (an empty or non-JSON body is ``{}``,
        so required parameters are reported missing); raise ``InvalidInput`` for a non-object."""
        if request.method in ("GET", "HEAD"):
            return cls({k: v for k, v in request.args.items()}, request.args)
        body = request.get_json(force=True, silent=True)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise InvalidInput(f"Malformed request body: expected a JSON object. {_SEE_DOCS}")
        return cls(body)

    def _raw(self, name: str) -> Any:
        return self.body.get(name)

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self._raw(name)
        if value is None or (required and value == ""):
            if required:
                raise _missing(name)
            return None
        if isinstance(value, (dict, list)):
            raise _wrong_type(name, value)
        return value if isinstance(value, str) else str(value)

    def required(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None
        return value

    def run_id(self) -> str:
        """``run_id``, or the legacy ``run_uuid`` (the client sends both)."""
        value = self.string("run_id") or self.string("run_uuid")
        if not value:
            raise _missing("run_id")
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """An int64 field (MLflow's protos): past its range is as wrong as text."""
        value = self._raw(name)
        if value is None or value == "":
            if required:
                raise _missing(name)
            return None
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                pass
        if number is None or not INT64_MIN <= number <= INT64_MAX:
            raise _wrong_type(name, value)
        return number

    def boolean(self, name: str) -> bool:
        value = self._raw(name)
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _wrong_type(name, value)

    def strings(self, name: str) -> list[str]:
        """A repeated string field: a JSON list, or the repeated query key of a GET."""
        if self.query is not None:
            return [v for v in self.query.getlist(name) if v != ""]
        value = self._raw(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise _wrong_type(name, value)
        return [str(v) for v in value]

    def objects(self, name: str) -> list[Mapping[str, Any]]:
        """A repeated message field (``tags``, ``metrics``...): a JSON list of objects."""
        value = self._raw(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _wrong_type(name, value)
        return value

    def pairs(self, name: str = "tags") -> list[tuple[str | None, str | None]]:
        """``[{"key": ..., "value": ...}]`` as ``(key, value)`` pairs, in order; a list or an object
        as a key or value is ``InvalidInput`` (``field``), as ``set-tag`` says of one."""
        return [(field(item, "key", f"{name}.key"), field(item, "value", f"{name}.value")) for item in self.objects(name)]

    def mapping(self, name: str = "tags") -> dict[str, str]:
        """``pairs`` as a dict; raise ``InvalidInput`` for a pair without a key."""
        found: dict[str, str] = {}
        for key, value in self.pairs(name):
            if not key:
                raise _missing(f"{name}.key")
            found[key] = value or ""
        return found
