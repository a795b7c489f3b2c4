"""The OpenAPI document served at ``/api/v4/openapi.json``: valid OpenAPI 3.1, and in step with the
app's URL map both ways, with every plugin loaded and with none (each piece describes its routes)."""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from package_api import create_app
from package_api.db import db
from package_api.web import openapi

API_PREFIX = "/api/v4"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
#: Methods Flask adds to every rule by itself; the document lists HEAD only where it says more.
IMPLICIT = {"HEAD", "OPTIONS"}


@pytest.fixture(params=["all", "none"], ids=["plugins=all", "plugins=none"])
def loaded_app(request: pytest.FixtureRequest, settings: dict[str, object]) -> Any:
    app = create_app({**settings, "PLUGINS": request.param})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def served(app: Flask) -> dict[str, Any]:
    response = app.test_client().get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


def template(rule: str) -> str:
    """``/api/v4/projects/<project:project_ref>/x`` -> ``/projects/{project_ref}/x``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule[len(API_PREFIX) :])


def shape(path: str) -> str:
    """The URL hierarchy of a template: OpenAPI holds ``/a/{x}`` and ``/a/{y}`` to be the same path."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def piece_for(app: Flask, endpoint: str) -> str:
    """The piece that should describe ``endpoint``: the one its view's top-level package added."""
    package = app.view_functions[endpoint].__module__.split(".")[0]
    root = Path(importlib.import_module(package).__file__ or "").parent
    for piece in app.extensions[openapi.EXTENSION]["pieces"]:
        if root in Path(piece).resolve().parents:
            return str(Path(piece).relative_to(root.parent))
    return f"a piece that {package}'s register() adds with package_api.web.openapi.add_piece()"


def test_the_document_is_valid_openapi_3_1(loaded_app: Flask) -> None:
    document = served(loaded_app)
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": API_PREFIX, "description": "this server"}]
    validate(document)  # openapi-spec-validator, OpenAPI 3.1 rules (JSON Schema 2020-12 included)


def test_the_document_is_served_to_anyone(app: Flask) -> None:
    response = app.test_client().get(f"{API_PREFIX}/openapi.json", headers={"PRIVATE-TOKEN": "not-a-token"})
    # A bad token is a 401 everywhere else; the document needs no identity, so it reads none.
    assert response.status_code == 200
    assert "/projects/{project_ref}/packages" in response.get_json()["paths"]


def test_every_api_route_is_documented_and_every_documented_operation_is_routed(loaded_app: Flask) -> None:
    document = served(loaded_app)
    documented = {
        (shape(path), method.upper()): path
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    }
    routed: dict[tuple[str, str], str] = {}
    missing = []
    for rule in loaded_app.url_map.iter_rules():
        if not rule.rule.startswith(f"{API_PREFIX}/"):
            continue
        view = loaded_app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - IMPLICIT):
            key = (shape(template(rule.rule)), method)
            routed[key] = rule.rule
            if key not in documented:
                missing.append(
                    f"  {method} {rule.rule}  (view {view.__module__}.{view.__qualname__})\n"
                    f'      -> add "{method.lower()}" under paths: "{template(rule.rule)}" in {piece_for(loaded_app, rule.endpoint)}'
                )
    if missing:
        pytest.fail(
            f"{len(missing)} /api/v4 route(s) are not in the OpenAPI document served at /api/v4/openapi.json; "
            "describe each one (parameters, request body, every response status with its schema) in the "
            "piece named:\n" + "\n".join(sorted(missing)),
            pytrace=False,
        )
    stale = [
        f"  {method} {API_PREFIX}{path}"
        for (path_shape, method), path in documented.items()
        if (path_shape, method) not in routed and method not in IMPLICIT
    ]
    if stale:
        pytest.fail(
            "documented in the OpenAPI document, but no route answers them (remove them, or add the route):\n"
            + "\n".join(sorted(stale)),
            pytrace=False,
        )
    # HEAD is documented only where a GET of the same path is routed (Flask answers HEAD for it).
    for (path_shape, method), path in documented.items():
        if method == "HEAD":
            assert (path_shape, "GET") in routed, f"HEAD {path} is documented but there is no GET route"


def test_path_parameters_keep_the_rule_variable_names(loaded_app: Flask) -> None:
    """A documented path names its parameters as the Flask rule does (one exception that OpenAPI
    forces: two rules of one URL hierarchy share one template, so one of them is renamed there)."""
    documented = {shape(path): path for path in served(loaded_app)["paths"]}
    renamed = []
    for rule in loaded_app.url_map.iter_rules():
        if rule.rule.startswith(f"{API_PREFIX}/"):
            path = template(rule.rule)
            if documented.get(shape(path), path) != path:
                renamed.append(f"{path} is documented as {documented[shape(path)]}")
    shared = (
        "/projects/{project_ref}/ml/models/{model_ref}/versions/{version_ref}/files/{file_id} is documented as "
        "/projects/{project_ref}/ml/models/{model_ref}/versions/{version_ref}/files/{file_path}"
    )
    expected = [shared] if any("/ml/" in path for path in documented.values()) else []
    assert renamed == expected


def test_pieces_merge_and_a_conflict_names_what_clashes() -> None:
    core = {"openapi": "3.1.0", "paths": {"/a": {"get": {"responses": {}}}}, "components": {"schemas": {"X": {"type": "string"}}}}
    plugin = {"paths": {"/a": {"post": {"responses": {}}}, "/b": {"get": {"responses": {}}}},
              "components": {"schemas": {"X": {"type": "string"}, "Y": {"type": "integer"}}}}
    merged = openapi.merge([core, plugin])
    assert merged["paths"] == {"/a": {"get": {"responses": {}}, "post": {"responses": {}}}, "/b": {"get": {"responses": {}}}}
    assert merged["components"]["schemas"] == {"X": {"type": "string"}, "Y": {"type": "integer"}}
    clash = {"components": {"schemas": {"X": {"type": "integer"}}}}
    with pytest.raises(openapi.PieceConflict, match="components/schemas/X"):
        openapi.merge([core, clash])
    with pytest.raises(openapi.PieceConflict, match="paths /a get"):
        openapi.merge([core, {"paths": {"/a": {"get": {"responses": {"200": {"description": "x"}}}}}}])
