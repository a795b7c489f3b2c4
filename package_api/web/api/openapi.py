"""``GET /api/v4/openapi.json``: the OpenAPI document of this app's ``/api/v4`` surface (the core's
piece and those of the loaded plugins, merged by ``package_api.web.openapi``)."""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app

from package_api.web import openapi

bp = Blueprint("openapi", __name__, url_prefix="/api/v4")


@bp.get("/openapi.json")
def document() -> Response:
    return Response(json.dumps(openapi.document(current_app)), mimetype="application/json")
