"""Build each URL rule's werkzeug builder once per test process, not once per app.

Most tests make an app of their own (the ``app`` fixture). werkzeug compiles two Python functions per
URL rule to build its URLs (``Rule._compile_builder``: an AST, then ``compile``). The app compiles each
when it is first used (``package_api.app.LazyBuildRule``), which spares a process the rules it never
builds; a test process makes hundreds of apps that build the same few rules (the pages' links), and
this spares it all but the first. What that function is depends only on the rule's text, its parsed
parts and its defaults, so the same rule in the next app gets the function already made (each rule
still binds it to itself, as werkzeug does). ``modelshelf serve`` and the commands make one app.
"""
from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    made: dict[tuple[Any, ...], Any] = {}

    def cached(self: Rule, append_unknown: bool = True) -> Any:
        defaults = self.defaults or {}
        # What the builder is made of: the parts (_trace), the defaults as the rule's converters
        # write them (a default of a dynamic part becomes a constant), their names, and the rule.
        key = (
            self.rule,
            append_unknown,
            tuple(self._trace),
            tuple(
                (name, self._converters[name].to_url(value) if name in self._converters else None)
                for name, value in defaults.items()
            ),
        )
        builder = made.get(key)
        if builder is None:
            builder = made[key] = compile_builder(self, append_unknown)
        return builder

    Rule._compile_builder = cached  # type: ignore[method-assign]
    _installed = True
