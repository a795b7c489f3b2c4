"""Build each URL rule's werkzeug builder once per test process, not once per app.

Most tests make an app of their own (the ``app`` fixture), and binding the app's ~100-270 URL rules
compiles two Python functions per rule (``Rule._compile_builder``: an AST, then ``compile``): about
two thirds of ``create_app``'s time. What that function is depends only on the rule's text, its
parsed parts and its defaults, so the same rule in the next app gets the function already made (each
rule still binds it to itself, as werkzeug does). The app's code is untouched: ``modelshelf serve``
and the commands build their rules as ever.
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
