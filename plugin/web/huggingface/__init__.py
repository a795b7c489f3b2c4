"""The Hugging Face Hub API: a team sets ``HF_ENDPOINT=<base>/hf`` and ``HF_TOKEN`` (a token of this
server, sent as ``Authorization: Bearer``), and ``huggingface_hub`` and the ``hf`` CLI read (``reads``)
and publish model versions. Repo ``<project id>/<model name>`` is a model (``plugin.huggingface``);
errors in the Hub's shape (``errors``). ``docs/huggingface.md`` says what is served."""
from __future__ import annotations

from flask import Flask, Response

from package_api.plugin_api import register_api_prefix
from plugin.web.huggingface import cas, errors, reads, writes  # noqa: F401  (they attach their routes)
from plugin.web.huggingface.blueprint import bp

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@bp.route("/<path:unknown>", methods=ALL_METHODS)
def unknown_endpoint(unknown: str) -> Response:
    """The Hub's answer for what is not served: the client asks for datasets and spaces under
    ``/api/datasets`` and ``/api/spaces`` (and ``/datasets/<repo>/resolve/...``), so they are missing
    repos; the rest is a plain 404."""
    parts = unknown.split("/")
    kind = parts[1] if parts[0] == "api" and len(parts) > 1 else parts[0]
    if kind in ("datasets", "spaces"):
        return errors.error(404, f"Only models are served here, not {kind}.", errors.REPO_NOT_FOUND)
    return errors.error(404, f"No API endpoint {unknown!r} here.")


errors.register(bp)


def register(app: Flask) -> None:
    """Serve the Hugging Face Hub API under ``/hf``: an API, whose caller is the request's token."""
    register_api_prefix(app, f"{bp.url_prefix}/")
    app.register_blueprint(bp)
