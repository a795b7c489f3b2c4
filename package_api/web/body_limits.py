"""Request bodies: a cap for every route but the streaming uploads, and JSON nesting that cannot
exhaust the stack. One place for every surface (each answers in its own error shape).

- ``MAX_REQUEST_BODY`` bytes (a setting) bound the body of every route not marked with
  :func:`streams_body`: one declaring more (``Content-Length``) is answered 413 before a byte is
  read; a chunked one is read up to the cap and answered 413 there (werkzeug's limited stream).
- The upload routes (generic package files, model files, MLflow artifacts) are marked
  :func:`streams_body`: their bodies stream to storage as before, bounded by ``MAX_FILE_SIZE``.
- A JSON body nested deeper than the parser's stack (200,000 ``[``) is ``InvalidInput``, a 400
  naming the problem, on every surface, instead of a ``RecursionError`` (a 500); so is one with a
  lone surrogate escape (``"\\ud800"``), a string no database stores (it was a 500 on every write),
  and so is one with a NUL character (``"\\u0000"``): PostgreSQL holds none in text (a 400 there
  only once the write reached it), while SQLite stored it, so a registry could not move to PostgreSQL.
  For the same reason a NUL in the query string (``%00``) or in a form's fields (once the route reads
  its body as a form: ``CheckedRequest``) is ``InvalidInput`` on every route (GitLab answers such
  parameters 400 too): GitLab's API takes its parameters from either, and SQLite stored them, or its
  ``LIKE`` ended a search pattern at the NUL.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from package_api.errors import InvalidInput

View = TypeVar("View", bound=Callable[..., Any])

#: Set on a view function by :func:`streams_body`.
STREAMS_BODY = "modelshelf_streams_body"
TOO_DEEP = "The JSON body is nested too deeply"


def streams_body(view: View) -> View:
    """Mark ``view`` as an upload that streams its body to storage: ``MAX_REQUEST_BODY`` does not apply."""
    setattr(view, STREAMS_BODY, True)
    return view


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with too deep a nesting and strings no database stores (no UTF-8 holds, or
    with a NUL) refused as ``InvalidInput`` (``request.get_json`` uses it)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise InvalidInput(TOO_DEEP) from None
        surrogates, nul = _may_hold_surrogates(s), _may_hold_nul(s)
        if surrogates or nul:
            _refuse_unstorable(value, surrogates=surrogates, nul=nul)
        return value


#: A ``\uD800``-``\uDFFF`` escape: JSON lets it stand alone, which gives a string no UTF-8 holds (the
#: database driver then fails to encode it: a 500 wherever such a string was stored or searched).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _may_hold_surrogates(s: str | bytes) -> bool:
    """Whether the parsed body may hold a lone surrogate: an escape of one, or (``json.loads`` decodes
    bytes with ``surrogatepass``) bytes that are not strict UTF-8, such as an encoded surrogate."""
    if isinstance(s, str):
        return bool(_SURROGATE_ESCAPE.search(s) or _SURROGATE.search(s))
    if _SURROGATE_ESCAPE_BYTES.search(s):
        return True
    try:
        s.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
_ENCODABLE = "The JSON body holds a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF escape), which is not text"
_NUL_ESCAPE = re.compile(r"\\u0000")
_NUL_ESCAPE_BYTES = re.compile(rb"\\u0000")
_NUL = "The JSON body holds a NUL character (\\u0000), which no stored text can hold"
_NUL_QUERY = "The query string holds a NUL character (%00), which no stored text can hold"
_NUL_FORM = "The form holds a NUL character (%00), which no stored text can hold"


def _may_hold_nul(s: str | bytes) -> bool:
    """Whether the parsed body may hold a NUL: only its escape can give one (JSON refuses a raw
    control character in a string)."""
    if isinstance(s, str):
        return bool(_NUL_ESCAPE.search(s))
    return bool(_NUL_ESCAPE_BYTES.search(s))


def _refuse_unstorable(value: Any, *, surrogates: bool, nul: bool) -> None:
    """Raise ``InvalidInput`` if a string (key or value) of ``value`` has a lone surrogate (when
    ``surrogates``) or a NUL (when ``nul``); iterative, so nesting costs no stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if nul and "\x00" in item:
                raise InvalidInput(_NUL)
            if surrogates:
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise InvalidInput(_ENCODABLE) from None
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def register(app: Flask) -> None:
    """Install the JSON provider, the body cap and the refusal of NUL parameters (before any hook
    that could read a body)."""
    app.json = JSONProvider(app)
    app.request_class = CheckedRequest
    limit = int(app.config["MODELSHELF"]["MAX_REQUEST_BODY"])

    @app.before_request
    def _cap_request_body() -> None:
        if _streams_body(app):
            return
        declared = request.content_length
        if declared is not None and declared > limit:
            raise RequestEntityTooLarge(
                f"The request body has {declared} bytes, more than the {limit} allowed (MAX_REQUEST_BODY)."
            )
        if declared is None and "wsgi.input" in request.environ:
            # Chunked: werkzeug's own cap stops reading at the limit without saying so (the body is
            # silently truncated), so count the bytes read and refuse the first one past the cap.
            request.environ["wsgi.input"] = _Capped(request.environ["wsgi.input"], limit)

    @app.before_request
    def _refuse_nul_parameters() -> None:  # a form's, when it is read: CheckedRequest
        if b"%00" in request.query_string or b"\x00" in request.query_string:
            raise InvalidInput(_NUL_QUERY)


class CheckedRequest(Request):
    """Flask's request, whose form is ``InvalidInput`` when a field's name or value holds a NUL, from
    the moment a view reads it (``form``, ``values``, ``files``): within the body cap, before the view
    has used a parameter. Checked then, not before every view: a JSON body labelled as a form (``curl
    -d``, urllib), which MLflow's routes read as JSON whatever its type, is never parsed as a form,
    so its ``%00`` stays text (a description of ``100%00`` was refused as a NUL)."""

    def _load_form_data(self) -> None:
        super()._load_form_data()
        if any("\x00" in key or "\x00" in value for key, value in self.form.items(multi=True)):
            self.__dict__["form"] = ImmutableMultiDict()  # nothing of it for a caller that goes on
            raise InvalidInput(_NUL_FORM)


def _streams_body(app: Flask) -> bool:
    """Whether the request's view is marked :func:`streams_body`."""
    view = app.view_functions.get(request.endpoint or "")
    return view is not None and bool(getattr(view, STREAMS_BODY, False))


class _Capped:
    """A WSGI input that raises 413 once more than ``limit`` bytes have been read from it."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream, self._limit, self._read = stream, limit, 0

    def _count(self, data: bytes) -> bytes:
        self._read += len(data)
        if self._read > self._limit:
            raise RequestEntityTooLarge(f"The request body is larger than the {self._limit} bytes allowed (MAX_REQUEST_BODY).")
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:  # never all at once: stop at the cap
            chunks = []
            while chunk := self.read(64 * 1024):
                chunks.append(chunk)
            return b"".join(chunks)
        return self._count(self._stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._count(self._stream.readline(size))
