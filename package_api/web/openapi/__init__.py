"""The OpenAPI 3.1 document of the ``/api/v4`` surface, kept by hand in pieces.

``package_api`` owns ``core.yaml`` (its own routes, the security schemes, GitLab's error bodies and
the shared parameters and schemas); a plugin that adds ``/api/v4`` routes describes them in a piece
of its own and adds it with ``add_piece(app, path)`` from its ``register``. The served document
(``GET /api/v4/openapi.json``) merges the pieces of the plugins this app loaded, so it describes
exactly the routes that answer. A piece may ``$ref`` what another piece defines (the core's
components, typically): after the merge they are one document.

A piece may keep YAML anchors for its own repeated parts under the top-level key ``x-anchors``,
which is dropped when the piece is loaded.

``tests/api/test_openapi.py`` checks the merged document against the app's URL map, both ways.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from flask import Flask

#: Where an app keeps its pieces and, once built, its document.
EXTENSION = "modelshelf.openapi"
CORE = Path(__file__).with_name("core.yaml")
#: A piece's YAML anchors, not part of the document.
ANCHORS = "x-anchors"
#: libyaml's safe loader when PyYAML was built with it (ten times faster), else the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Top-level keys whose entries the pieces add up (each name defined once).
_MAPPINGS = ("paths", "webhooks")


class PieceConflict(ValueError):
    """Two pieces define the same path, operation or component differently."""


def add_piece(app: Flask, path: Path) -> None:
    """Add the YAML (or JSON: YAML reads it) piece at ``path`` to ``app``'s document."""
    state = app.extensions.setdefault(EXTENSION, {"pieces": [], "document": None})
    state["pieces"].append(Path(path))
    state["document"] = None


def load_piece(path: Path) -> dict[str, Any]:
    """The piece at ``path``, without its ``x-anchors``; raise ``TypeError`` if it is no mapping."""
    with open(path, encoding="utf-8") as stream:
        piece = yaml.load(stream, Loader=_LOADER)
    if not isinstance(piece, dict):
        raise TypeError(f"{path}: an OpenAPI piece must be a mapping")
    piece.pop(ANCHORS, None)
    return piece


def merge(pieces: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One document from ``pieces``: the first gives ``openapi``, ``info``, ``servers`` and
    ``security``; ``paths`` and each ``components`` section add up; ``tags`` concatenate.
    Raise ``PieceConflict`` when two pieces define one operation or component differently."""
    document: dict[str, Any] = {}
    for piece in pieces:
        for key, value in piece.items():
            if key in _MAPPINGS:
                target = document.setdefault(key, {})
                for path, item in value.items():
                    operations = target.setdefault(path, {})
                    for method, operation in item.items():
                        _put(operations, method, operation, f"{key} {path} {method}")
            elif key == "components":
                components = document.setdefault("components", {})
                for section, entries in value.items():
                    target = components.setdefault(section, {})
                    for name, entry in entries.items():
                        _put(target, name, entry, f"components/{section}/{name}")
            elif key == "tags":
                known = {tag["name"] for tag in document.get("tags", [])}
                document.setdefault("tags", []).extend(t for t in value if t["name"] not in known)
            else:
                document.setdefault(key, copy.deepcopy(value))
    return document


def _put(target: dict[str, Any], name: str, value: Any, where: str) -> None:
    if name in target and target[name] != value:
        raise PieceConflict(f"{where} is defined by two OpenAPI pieces")
    target[name] = copy.deepcopy(value)


def document(app: Flask) -> dict[str, Any]:
    """The merged document of ``app``'s pieces (built once, then kept)."""
    state = app.extensions.setdefault(EXTENSION, {"pieces": [], "document": None})
    if state["document"] is None:
        state["document"] = merge(load_piece(p) for p in state["pieces"])
    return state["document"]  # type: ignore[no-any-return]  # app.extensions holds Any; set just above
