"""The app's URL rules compile their ``url_for`` builders when each is first used
(``package_api.app.LazyBuildRule``), not when the app is made, and build the URLs werkzeug's own rules
build."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, url_for
from werkzeug.routing import Map, Rule
from werkzeug.routing import rules as werkzeug_rules

from package_api import create_app
from package_api.db import db


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The rules whose builders are asked of werkzeug (``Rule._compile_builder``) from here on. Asked,
    not compiled: the test process shares builders between its apps (tests/support/routing_cache.py),
    so a builder an earlier test compiled is only looked up."""
    asked: list[str] = []
    real = werkzeug_rules.Rule._compile_builder

    def counting(rule: Rule, append_unknown: bool = True) -> Any:
        asked.append(rule.rule)
        return real(rule, append_unknown)

    monkeypatch.setattr(werkzeug_rules.Rule, "_compile_builder", counting)
    return asked


@pytest.fixture
def every_plugin(settings: dict[str, object], compiled: list[str]) -> Iterator[Flask]:
    app = create_app({**settings, "PLUGINS": "all"})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_making_the_app_compiles_no_builder(every_plugin: Flask, compiled: list[str]) -> None:
    assert len(list(every_plugin.url_map.iter_rules())) > 200
    assert compiled == []


def test_a_rule_compiles_each_builder_once_on_first_use(every_plugin: Flask, compiled: list[str]) -> None:
    with every_plugin.test_request_context():
        first = url_for("static", filename="app.css")
        again = url_for("static", filename="other.css")
        with_query = url_for("static", filename="app.css", v="3")
        twice = url_for("static", filename="app.css", v="4")

    assert (first, again, with_query, twice) == ("/static/app.css", "/static/other.css", "/static/app.css?v=3", "/static/app.css?v=4")
    assert compiled == ["/static/<path:filename>"]  # url_for appends unknown values: one builder, kept


@pytest.mark.parametrize(
    ("endpoint", "values"),
    [
        ("static", {"filename": "a b/c%d.css"}),
        ("static", {"filename": "x.js", "v": "1 2", "_anchor": "top"}),
    ],
)
def test_the_urls_built_are_werkzeugs(every_plugin: Flask, endpoint: str, values: dict[str, str]) -> None:
    with every_plugin.test_request_context():
        built = url_for(endpoint, **values)
    plain = Map([Rule(rule.rule, endpoint=rule.endpoint) for rule in every_plugin.url_map.iter_rules(endpoint)])
    anchor = values.get("_anchor")
    expected = plain.bind("localhost").build(endpoint, {k: v for k, v in values.items() if k != "_anchor"})
    assert built == expected + (f"#{anchor}" if anchor else "")


def test_every_route_builds_as_werkzeugs_own_rule_does(every_plugin: Flask) -> None:
    """Each rule of the app, given a value for each of its arguments, builds the URL a plain rule of
    the same pattern and converters builds (with and without an unknown value appended)."""
    samples = {"project": "group/project", "int": 42, "filepath": "dir/file.bin"}
    ours = every_plugin.url_map.bind("localhost")
    plain_map = Map(converters=dict(every_plugin.url_map.converters), merge_slashes=False, strict_slashes=False)
    for rule in every_plugin.url_map.iter_rules():
        plain_map.add(Rule(rule.rule, endpoint=rule.endpoint, methods=rule.methods, defaults=rule.defaults))
    plain = plain_map.bind("localhost")
    checked = 0
    for rule in every_plugin.url_map.iter_rules():
        values: dict[str, Any] = {}
        for name in rule.arguments:
            converter = type(rule._converters[name]).__name__ if name in rule._converters else ""
            kind = {"ProjectRefConverter": "project", "IdConverter": "int", "FilePathConverter": "filepath"}.get(converter)
            values[name] = samples[kind] if kind else "value-1"
        for extra in ({}, {"unknown": "x y"}):
            assert ours.build(rule.endpoint, {**values, **extra}) == plain.build(rule.endpoint, {**values, **extra})
            checked += 1
    assert checked > 400
