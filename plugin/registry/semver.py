"""Semantic versions (SemVer 2.0) through the ``semver`` library: validation, precedence, latest."""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import semver as _semver

from package_api.plugin_api import InvalidParameter

T = TypeVar("T")


def parse(value: str) -> _semver.Version | None:
    """The version ``value`` denotes, or ``None`` if it is not a valid semantic version."""
    try:
        return _parsed(value)
    except TypeError:  # not hashable: not a version either
        return None


@functools.lru_cache(maxsize=4096)
def _parsed(value: str) -> _semver.Version | None:
    # Remembered: a registration asks about the same version string some ten times (every step of
    # its package change does), and ``Version`` objects never change.
    try:
        return _semver.Version.parse(value)
    except (ValueError, TypeError):
        return None


def is_semver(value: str) -> bool:
    return parse(value) is not None


def validate(value: str) -> str:
    """Return ``value`` if it is a semantic version; raise ``InvalidParameter("version")``."""
    if not value or parse(value) is None:
        raise InvalidParameter("version", "must be a semantic version (for example 1.4.0 or 2.0.0-rc.1)")
    return value


def sort_key(value: str) -> _semver.Version:
    """SemVer precedence: ``1.0.0-alpha < 1.0.0-beta < 1.0.0 < 1.0.1``."""
    version = parse(value)
    if version is None:
        raise ValueError(f"{value!r} is not a semantic version")
    return version


def ordered(items: Iterable[T], version_of: Callable[[T], str], *, descending: bool = False) -> list[T]:
    return sorted(items, key=lambda item: sort_key(version_of(item)), reverse=descending)


def latest(items: Sequence[T], version_of: Callable[[T], str]) -> T | None:
    """The highest release, or the highest prerelease when there is no release (the spec's order,
    where GitLab ignores prereleases)."""
    releases = [item for item in items if not sort_key(version_of(item)).prerelease]
    candidates = releases or list(items)
    return max(candidates, key=lambda item: sort_key(version_of(item)), default=None)


def next_patch(versions: Iterable[str]) -> str:
    """The latest version with its patch incremented; ``1.0.0`` when there is none."""
    values = [sort_key(v) for v in versions]
    if not values:
        return "1.0.0"
    releases = [v for v in values if not v.prerelease] or values
    top = max(releases)
    return str(_semver.Version(top.major, top.minor, top.patch + 1))


def precedence(value: str) -> bytes:
    """``value``'s precedence as bytes that compare as the versions do (``sort_key``), so that the
    database orders versions (``ModelVersion.precedence``): each number as its digit count and
    digits, then ``0x02`` for a release or ``0x01`` and the prerelease identifiers (a number
    ``0x01`` + digit count + digits, below any word ``0x02`` + UTF-8 + ``0x00``), ended by ``0x00``
    (fewer identifiers first). Build metadata is ignored, as in precedence."""
    version = sort_key(value)
    key = b"".join(_number(str(part)) for part in (version.major, version.minor, version.patch))
    if not version.prerelease:
        return key + b"\x02"
    parts = [key, b"\x01"]
    for identifier in version.prerelease.split("."):
        if identifier.isdecimal():
            digits = "".join(str(int(c)) for c in identifier).lstrip("0") or "0"  # any Unicode digit, as semver does
            parts.append(b"\x01" + _number(digits))
        else:
            parts.append(b"\x02" + identifier.encode() + b"\x00")
    return b"".join(parts) + b"\x00"


def is_release(value: str) -> bool:
    return not sort_key(value).prerelease


def _number(digits: str) -> bytes:
    return len(digits).to_bytes(4, "big") + digits.encode()
