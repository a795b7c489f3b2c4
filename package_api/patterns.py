"""User-supplied regular expressions, evaluated in linear time by RE2 (as GitLab does).

Python's ``re`` backtracks: ``^(a|a)*$`` against 27 characters takes seconds and doubles with each
one more, so a pattern a user typed never reaches it. RE2 (the maintained ``google-re2`` binding)
matches in time linear in the subject and refuses what it cannot do that way (backreferences,
lookaround) at compile time.
"""
from __future__ import annotations

import functools
import logging
from typing import Protocol

import re2

log = logging.getLogger(__name__)

#: Longest pattern a user may store (GitLab's column and validation limit for these settings).
MAX_PATTERN_LENGTH = 255

# RE2 also caps the memory of one compiled program; a pattern over it is refused at compile time.
_MAX_PROGRAM_MEMORY = 8 << 20


class Pattern(Protocol):
    def search(self, text: str) -> object: ...


class PatternError(ValueError):
    """RE2 cannot compile the pattern; the message names the problem (``missing ): (``)."""


def _options() -> object:
    options = re2.Options()
    options.log_errors = False  # the caller reports it; RE2 would print to stderr as well
    options.max_mem = _MAX_PROGRAM_MEMORY
    return options


def compile_pattern(value: str) -> Pattern:
    """Compile ``value`` with RE2; raise :class:`PatternError` with RE2's reason if it cannot."""
    return _compiled(value)


@functools.lru_cache(maxsize=256)
def _compiled(value: str) -> Pattern:
    try:
        pattern: Pattern = re2.compile(value, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise PatternError(text) from None
    return pattern


def stored_pattern_matches(value: str, *subjects: str) -> bool:
    """Whether the stored pattern ``value`` matches any subject; an empty pattern matches nothing.

    A pattern stored before patterns were checked with RE2 (Python's ``re`` accepted lookaround and
    backreferences) matches nothing and is logged; saving the settings again asks for a valid one.
    """
    if not value:
        return False
    try:
        pattern = _compiled(value)
    except PatternError as exc:
        log.warning("stored pattern %r is not valid RE2 syntax (%s); it matches nothing", value, exc)
        return False
    return any(pattern.search(subject) is not None for subject in subjects)
