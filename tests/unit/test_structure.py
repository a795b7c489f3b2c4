"""The shape of the source, as a newcomer finds it, kept so (STYLE.md, "Shape"):

- the app serves exactly the routes listed in ``url_map_all.txt`` (every plugin loaded) and
  ``url_map_none.txt`` (``package_api`` alone), so that a route added, renamed or dropped is a
  visible change to those lists;
- ``plugin`` reaches ``package_api`` only through its declared API, ``package_api.plugin_api``, and
  ``package_api`` never reaches ``plugin``;
- the domain packages (and the kernel modules beside them) never reach up into the HTTP layer, the
  operations layer or the app's assembly, nor into Flask's context globals; the composition root
  stays outside the HTTP layer;
- modules do not import each other in a circle;
- no module is past 600 lines.

Imports are read from the source with ``ast`` (``tests/support/imports.py``): nothing is imported,
so a rule holds for code that has not run, imports inside functions included.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from package_api import create_app
from package_api.db import db
from tests.support.imports import (
    FUNCTION,
    MODULE,
    ROOT,
    TYPE_CHECKING,
    Import,
    cycles,
    imports,
    shortest_cycle,
    source_modules,
    within,
)

HERE = Path(__file__).resolve().parent
#: Set to rewrite the checked-in URL maps from the app (when routes change on purpose).
UPDATE_URL_MAPS = "MODELSHELF_UPDATE_URL_MAPS"
MAX_LINES = 600

#: The domain packages of ``package_api``, and the kernel modules next to them (those that exist).
DOMAIN = ("package_api.access", "package_api.packages", "package_api.audit", "package_api.storage")
KERNEL = tuple(
    f"package_api.{name}" for name in ("db", "errors", "names", "paging", "signals", "config", "identity", "transactions")
)
PLUGIN_DOMAIN = ("plugin.registry", "plugin.tracking", "plugin.mlflow_registry", "plugin.promotion")
#: Above the domain: the HTTP layer, operations (CLI, server, migrations), and what assembles the
#: app. The bare package counts as assembly: ``package_api/__init__.py`` imports ``create_app``,
#: ``plugin/__init__.py`` is the plugin's ``register``.
LAYERS_ABOVE = {
    "package_api": ("package_api.web", "package_api.ops", "package_api.app", "package_api.services", "package_api.plugin_api"),
    "plugin": ("plugin.web", "plugin.services"),
}
#: Flask's context globals: a domain module that reads them cannot run without a request (or an
#: app context); it is handed what it needs instead (STYLE.md 4).
CONTEXT_GLOBALS = frozenset(
    {"request", "session", "g", "current_app", "has_request_context", "has_app_context", "after_this_request"}
)
#: Domain modules known to read Flask's context globals, and why; each is a fault to fix, listed so
#: that no other module starts to. The test fails when one is fixed, to have it taken off the list.
@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    return source_modules()


@pytest.fixture(scope="module")
def source_imports(modules: dict[str, Path]) -> list[Import]:
    return imports(modules)


def listing(found: list[Import]) -> str:
    return "".join(f"\n  {imported}" for imported in found)


# -- the URL map -----------------------------------------------------------------------------------


def url_map_lines(settings: dict[str, object], plugins: str) -> list[str]:
    """``rule<TAB>METHODS,SORTED<TAB>endpoint`` for each rule of the app, sorted."""
    app = create_app({**settings, "PLUGINS": plugins})
    try:
        rules = sorted((rule.rule, ",".join(sorted(rule.methods or ())), rule.endpoint) for rule in app.url_map.iter_rules())
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return ["\t".join(rule) for rule in rules]


@pytest.mark.parametrize("plugins", ["all", "none"], ids=["plugins=all", "plugins=none"])
def test_the_app_serves_exactly_the_checked_in_routes(settings: dict[str, object], plugins: str) -> None:
    served = url_map_lines(settings, plugins)
    listed = HERE / f"url_map_{plugins}.txt"
    if os.environ.get(UPDATE_URL_MAPS):
        listed.write_text("".join(f"{line}\n" for line in served), encoding="utf-8")
    expected = listed.read_text(encoding="utf-8").splitlines()
    added = [f"\n  + {line}" for line in served if line not in expected]
    removed = [f"\n  - {line}" for line in expected if line not in served]
    assert served == expected, (
        f"with PLUGINS={plugins} the app's routes differ from {listed.relative_to(ROOT)} "
        f"(rule, methods, endpoint):{''.join(added + removed)}\n"
        f"If the change is on purpose, rewrite the lists and commit them:\n"
        f"  {UPDATE_URL_MAPS}=1 python -m pytest {Path(__file__).relative_to(ROOT)} -k routes"
    )


# -- imports: who may import whom -----------------------------------------------------------------


def test_plugins_import_package_api_only_through_plugin_api(source_imports: list[Import]) -> None:
    # Every kind of import counts, TYPE_CHECKING ones too: the type checker would follow the plugin
    # into package_api's internals, and renaming them would break it.
    found = [
        imported
        for imported in source_imports
        if within(imported.source, "plugin")
        and within(imported.target, "package_api")
        and imported.target != "package_api.plugin_api"
    ]
    assert not found, f"plugin modules import package_api past package_api.plugin_api:{listing(found)}"


def test_package_api_never_imports_the_plugin(source_imports: list[Import]) -> None:
    found = [i for i in source_imports if within(i.source, "package_api") and within(i.target, "plugin")]
    assert not found, f"package_api modules import plugin (it is loaded by its entry point only):{listing(found)}"


@pytest.mark.parametrize("package", ["package_api", "plugin"])
def test_domain_modules_never_import_the_http_operations_or_assembly_layers(
    source_imports: list[Import], modules: dict[str, Path], package: str
) -> None:
    domain = DOMAIN + tuple(name for name in KERNEL if name in modules) if package == "package_api" else PLUGIN_DOMAIN
    above = LAYERS_ABOVE[package]
    found = [
        imported
        for imported in source_imports
        if within(imported.source, *domain)
        and (within(imported.target, *above) or imported.target == package)
    ]
    assert not found, (
        f"domain modules of {package} ({', '.join(domain)}) import what is built on them "
        f"({', '.join(above)}, or the bare package):{listing(found)}"
    )


def test_the_composition_root_never_imports_the_http_layer(source_imports: list[Import]) -> None:
    found = [
        imported
        for imported in source_imports
        if imported.source in ("package_api.services", "plugin.services")
        and within(imported.target, "package_api.web", "plugin.web")
    ]
    assert not found, f"the composition root imports the HTTP layer:{listing(found)}"


def test_domain_modules_never_read_flasks_context_globals(source_imports: list[Import], modules: dict[str, Path]) -> None:
    domain = DOMAIN + tuple(name for name in KERNEL if name in modules) + PLUGIN_DOMAIN
    found = [
        imported
        for imported in source_imports
        if within(imported.source, *domain)
        and (within(imported.target, "flask.globals") or (imported.target == "flask" and imported.name in CONTEXT_GLOBALS))
    ]
    assert not found, (
        "domain modules read Flask's context globals (take what they need as arguments instead):" + listing(found)
    )


def test_modules_never_import_each_other_in_a_circle(source_imports: list[Import], modules: dict[str, Path]) -> None:
    # Every import counts: deferring one to call time hides a cycle, it does not remove it, and a
    # TYPE_CHECKING import ties the same knot for whoever reads (or type-checks) the code.
    edges = [imported for imported in source_imports if imported.target in modules and imported.target != imported.source]
    pairs = [(imported.source, imported.target) for imported in edges]
    found = cycles(pairs)
    described = []
    for members in found:
        way = shortest_cycle(members, pairs)
        steps = [next(i for i in edges if (i.source, i.target) == step) for step in zip(way, way[1:], strict=False)]
        described.append(f"\n{len(members)} modules in a circle ({', '.join(members)}), one way round:{listing(steps)}")
    assert not found, "modules import each other in a circle:" + "".join(described)


# -- size --------------------------------------------------------------------------------------------


def test_no_source_module_is_longer_than_600_lines(modules: dict[str, Path]) -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules.items()}
    found = [
        f"\n  {modules[name].relative_to(ROOT)} ({name}): {lines} lines"
        for name, lines in sorted(lengths.items())
        if lines > MAX_LINES
    ]
    assert not found, f"modules past {MAX_LINES} lines, split them by domain noun:" + "".join(found)


# -- the import reader itself -----------------------------------------------------------------------


def test_the_import_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "package_api"
    (package / "web").mkdir(parents=True)
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "__init__.py").write_text("from package_api import plugin_api\n")
    (package / "__init__.py").write_text("")
    (package / "plugin_api.py").write_text("")
    (package / "web" / "__init__.py").write_text("from . import views\nfrom .views import bp\n")
    (package / "web" / "views.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from flask import request\n"
        "if TYPE_CHECKING:\n"
        "    from ..plugin_api import Thing\n"
        "def view():\n"
        "    import package_api.web\n"
    )
    found = {
        (i.source, i.target, i.name, i.kind)
        for i in imports(source_modules(tmp_path), tmp_path)
        if i.target != "typing"
    }
    assert found == {
        ("plugin", "package_api.plugin_api", "plugin_api", MODULE),
        ("package_api.web", "package_api.web.views", "views", MODULE),
        ("package_api.web", "package_api.web.views", "bp", MODULE),
        ("package_api.web.views", "flask", "request", MODULE),
        ("package_api.web.views", "package_api.plugin_api", "Thing", TYPE_CHECKING),
        ("package_api.web.views", "package_api.web", "", FUNCTION),
    }
    graph = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d"), ("b", "a")]
    assert cycles(graph) == [["a", "b", "c"], ["d"]]
    assert shortest_cycle(["a", "b", "c"], graph) == ["a", "b", "a"]
    assert shortest_cycle(["b", "c", "a"], [("a", "b"), ("b", "c"), ("c", "a")]) == ["b", "c", "a", "b"]
