"""A version's tags kept as one JSON object on its row (``ModelVersion.tag_index``), beside the rows of
``ml_model_version_tags`` that stay the truth, so that PostgreSQL answers a search's ``tags.k = 'v'``
filters from one GIN index (``jsonb_path_ops``): it intersects the filters' posting lists without
reading any tag row, where the (key, value prefix, version) b-tree had it merge a quarter of the
registry's tags for ``tags.stage = 'prod'``.

Whoever writes a version tag writes the object in the same flush, with an expression on the row's
own value (``||`` / ``-`` on PostgreSQL, ``json_patch`` on SQLite), never read into Python, so two
concurrent writers on one version each add their key to what the other committed. Revision
``model_registry_0016`` filled the objects of the versions made before it. ``jsonb @>`` compares
the whole value, byte for byte as ``=`` does, whatever its length (the GIN index keeps hashes).
SQLite has no inverted index: its searches keep the tag rows (``registry_search``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Text, and_, bindparam, cast, func, literal_column, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from package_api.plugin_api import DbSession
from plugin.mlflow_registry.models import VersionTag
from plugin.registry.models import ModelVersion
from plugin.tracking import filters
from plugin.tracking.tags import put_tag, remove_tag


def _dialect(session: DbSession) -> str:
    return session.get_bind().dialect.name


def _changed(session: DbSession, key: str, value: str | None) -> Any:
    """The row's object with ``key`` set to ``value`` (removed for ``None``), as SQL on the row's value."""
    if _dialect(session) == "postgresql":
        column = type_coerce(ModelVersion.tag_index, JSONB)
        if value is None:
            return column.op("-")(cast(key, Text))
        empty = literal_column("'{}'::jsonb", JSONB)
        return func.coalesce(column, empty).op("||")(func.jsonb_build_object(cast(key, Text), cast(value, Text)))
    patch = func.json_object(key, value if value is not None else literal_column("json('null')"))
    return func.json_patch(func.coalesce(ModelVersion.tag_index, literal_column("'{}'")), patch)


def put_version_tag(session: DbSession, row: ModelVersion, key: str, value: str) -> None:
    """Set tag ``key`` of version ``row`` to ``value``, in its rows and its object. Does not commit."""
    put_tag(session, VersionTag.version_id, row.id, key, value)
    row.tag_index = _changed(session, key, value)


def remove_version_tag(session: DbSession, row: ModelVersion, key: str) -> bool:
    """Delete tag ``key`` of version ``row``; return whether there was one. Does not commit."""
    if not remove_tag(session, VersionTag.version_id, row.id, key):
        return False
    row.tag_index = _changed(session, key, None)
    return True


def add_new_version_tags(session: DbSession, row: ModelVersion, tags: Mapping[str, str]) -> None:
    """The first tags of a version just made (it has none yet). Does not commit."""
    if tags:
        session.add_all(VersionTag(version_id=row.id, key=k, value=v) for k, v in tags.items())
        row.tag_index = dict(tags)


def contain(comparisons: Sequence[filters.Comparison]) -> ColumnElement[bool]:
    """PostgreSQL: the versions whose object holds every ``tags.k = 'v'`` of ``comparisons`` (each
    one a tag that must be there: ``absent_passes`` comparisons are not given), one ``@>`` for the
    GIN index; a key asked twice gets an ``@>`` per value (one object keeps one value a key)."""
    objects: list[dict[str, str]] = []
    for comparison in comparisons:
        target = next((o for o in objects if comparison.key not in o), None)
        if target is None:
            objects.append(target := {})
        target[comparison.key] = str(comparison.value)
    column = type_coerce(ModelVersion.tag_index, JSONB)
    conditions = [column.op("@>")(bindparam(None, json.dumps(o), type_=Text).cast(JSONB)) for o in objects]
    return and_(*conditions) if len(conditions) > 1 else conditions[0]
