"""The installed plugins' entry points are looked up once per process (``package_api.app``), and each
app still loads the plugins its ``PLUGINS`` setting names."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

import package_api.app as app_module
from package_api import create_app
from package_api.db import db


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The groups looked up in the installed distributions' metadata from here on."""
    asked: list[str] = []
    real = app_module.entry_points

    def counting(**kwargs: Any) -> Any:
        asked.append(kwargs["group"])
        return real(**kwargs)

    monkeypatch.setattr(app_module, "entry_points", counting)
    app_module._plugin_entry_points.cache_clear()
    yield asked
    app_module._plugin_entry_points.cache_clear()


def _made(settings: dict[str, object], plugins: str, made: list[Flask]) -> set[str]:
    app = create_app({**settings, "PLUGINS": plugins})
    made.append(app)
    return {rule.rule for rule in app.url_map.iter_rules()}


def test_plugins_are_looked_up_once_and_loaded_by_each_app(settings: dict[str, object], lookups: list[str]) -> None:
    made: list[Flask] = []
    try:
        core = _made(settings, "none", made)
        assert lookups == []  # no plugin wanted: nothing to look up
        first = _made(settings, "all", made)
        second = _made(settings, "all", made)
        assert lookups == [app_module.PLUGIN_GROUP]
        assert first == second
        plugin_rules = first - core
        assert any("/ml/mlflow/" in rule for rule in plugin_rules), sorted(plugin_rules)[:5]
        assert _made(settings, "none", made) == core
    finally:
        for app in made:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
