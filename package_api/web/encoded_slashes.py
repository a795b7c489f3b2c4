"""An encoded slash (``%2F``) never moves where one part of a URL ends and the next begins.

WSGI servers decode ``%2F`` to ``/`` before routing (the WSGI ``PATH_INFO`` is decoded), so
``.../generic/fraud/2.0.1-rc%2F2/model.onnx`` would reach the generic API as version ``2.0.1-rc`` and
file ``2/model.onnx``, and store a file under names nobody asked for. So every request whose URL, as
sent, holds an encoded slash is routed a second time with each encoded slash kept inside its part.
Where the route takes a slash anyway, inside a project path (python-gitlab sends ``group%2Fproject``)
or a file path (``weights%2Fmodel.onnx`` is ``weights/model.onnx``), both routings agree and the
request goes on. Where they disagree, the slash would have split a name or a version: 400, naming
the part.

The URL as sent comes from the server: gunicorn's ``RAW_URI``, werkzeug's ``REQUEST_URI`` (its
development server and test client set both). A server that sets neither is not checked.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException

from package_api.errors import InvalidInput, InvalidParameter

#: What the check says of a part that held an encoded slash.
PROBLEM = "must not contain an encoded slash (%2F)"


def register(app: Flask) -> None:
    app.before_request(check)


def raw_path() -> str | None:
    """The request's path as the client sent it (still percent-encoded), below the app's root; or
    ``None`` when the server does not say."""
    sent = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not sent:
        return None
    path = urlsplit(sent).path  # a proxy's absolute form (http://host/path) too
    script_segments = request.root_path.rstrip("/").count("/")
    if script_segments:
        path = "/" + "/".join(path.split("/")[1 + script_segments :])
    return path


def check() -> None:
    """Raise ``InvalidParameter`` (or ``InvalidInput`` when no one part is to blame) if an encoded
    slash in the URL moved the boundaries of the route's parts."""
    rule, view_args = request.url_rule, request.view_args
    if rule is None or view_args is None:
        return  # not routed: the 404 or 405 stands
    path = raw_path()
    if path is None or "%2f" not in path.lower():
        return
    segments = [unquote(segment, errors="replace") for segment in path.split("/")]
    placeholder = next(c for c in "\x00\x01\x02\x03" if not any(c in s for s in segments))
    kept = "/".join(segment.replace("/", placeholder) for segment in segments)
    routed = _route(kept, request.method)
    if routed is not None and routed[0] == rule.endpoint and _restored(routed[1], placeholder) == view_args:
        return
    routed = routed or _route(kept, "GET")  # no route takes it that way: any method's names the part
    if routed is not None:
        args, restored = routed[1], _restored(routed[1], placeholder)
        # The parts that held an encoded slash and came out otherwise (a project path comes out the same).
        split = [k for k, v in args.items() if placeholder in str(v) and restored[k] != view_args.get(k)]
        if split:
            raise InvalidParameter(split[0], PROBLEM)
    raise InvalidInput(f"an encoded slash (%2F) is allowed in a project or a file path only: {path}")


def _route(path: str, method: str) -> tuple[Any, Mapping[str, Any]] | None:
    """The endpoint and arguments the app's routes give ``path``, or ``None`` if none takes it."""
    adapter = current_app.create_url_adapter(request)
    if adapter is None:
        return None
    try:
        return adapter.match(path, method=method)
    except HTTPException:
        return None


def _restored(args: Mapping[str, Any], placeholder: str) -> dict[str, Any]:
    return {k: v.replace(placeholder, "/") if isinstance(v, str) else v for k, v in args.items()}
