"""One function per kind of name: each normalises and validates, and raises ``InvalidParameter``.

The regexes are GitLab's (``lib/gitlab/regex/packages.rb``) so that what GitLab accepts we accept.
"""
from __future__ import annotations

import base64
import binascii
import re

from package_api.errors import InvalidParameter
from package_api.patterns import MAX_PATTERN_LENGTH, PatternError, compile_pattern

PACKAGE_NAME_RE = re.compile(r"\A[A-Za-z0-9._+-]+\Z")
#: ``maven_version_regex``: word characters, ``+ . -``, never ``..``.
PACKAGE_VERSION_RE = re.compile(r"\A(?!.*\.\.)[A-Za-z0-9_+.-]+\Z")
#: The current ``generic_package_file_name_regex``: no leading or trailing ``~``.
FILE_NAME_RE = re.compile(r"\A(?!~)[A-Za-z0-9._+~-]+(?<!~)\Z")
PROJECT_SEGMENT_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
USERNAME_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}\Z")

HEX_RE = re.compile(r"\A[0-9a-fA-F]+\Z")
#: Names that are path segments of their own: clients rewrite a URL that holds them (``curl`` drops
#: ``./`` and resolves ``../``), so a package, version or model so named could never be asked for
#: by its URL. GitLab's regexes let ``.`` through.
DOT_SEGMENTS = frozenset({".", ".."})
DOT_SEGMENT_PROBLEM = "cannot be '.' or '..'"

MAX_NAME_LENGTH = 255
MAX_PATH_LENGTH = 1024
MAX_PATH_DEPTH = 32
#: Row ids are INTEGER columns: 32-bit signed on PostgreSQL (SQLite's are wider).
MAX_ID = 2**31 - 1


def package_name(value: str) -> str:
    """Return a valid generic package name."""
    if not value or len(value) > MAX_NAME_LENGTH or not PACKAGE_NAME_RE.match(value):
        raise InvalidParameter("package_name")
    if value in DOT_SEGMENTS:
        raise InvalidParameter("package_name", DOT_SEGMENT_PROBLEM)
    return value


def package_version(value: str) -> str:
    """Return a valid generic package version (not restricted to semver: ``latest`` is fine)."""
    if not value or len(value) > MAX_NAME_LENGTH or not PACKAGE_VERSION_RE.match(value):
        raise InvalidParameter("package_version")
    if value in DOT_SEGMENTS:
        raise InvalidParameter("package_version", DOT_SEGMENT_PROBLEM)
    return value


def file_path(value: str, *, spaces_in_name: bool = False, any_characters: bool = False) -> str:
    """Return a valid file path inside a package: ``name`` or ``dir/sub/name``.

    Every segment must match GitLab's file name regex, which already excludes ``\\``, NUL, spaces
    and ``%``; ``.`` and ``..`` segments, empty segments (``a//b``) and absolute paths are traversal
    and are refused with GitLab's ``file_path`` message. ``spaces_in_name`` admits spaces in the last
    segment, as GitLab's model registry file API does (folders never take spaces). ``any_characters``
    admits every character but ``\\`` and control characters in every segment, as MLflow's artifact
    paths do (``résumé.txt``, ``100%.txt``): only traversal and the bounds are checked.
    """
    if not value or len(value) > MAX_PATH_LENGTH:
        raise InvalidParameter("file_name")
    segments = value.split("/")
    if len(segments) > MAX_PATH_DEPTH or any(s in ("", ".", "..") for s in segments):
        raise InvalidParameter("file_name", "should be a valid file path")
    if any(("\\" in s or "\x00" in s) for s in segments):
        raise InvalidParameter("file_name", "should be a valid file path")
    if any_characters:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise InvalidParameter("file_name", "should be a valid file path")
        return value
    *folders, name = segments
    if spaces_in_name:
        name = name.replace(" ", "_")
    if not all(FILE_NAME_RE.match(s) for s in (*folders, name)):
        raise InvalidParameter("file_name")
    return value


def project_path(value: str) -> tuple[str, str]:
    """Split ``namespace/name`` into its two valid segments."""
    parts = value.strip("/").split("/") if value else []
    if len(parts) != 2 or not all(PROJECT_SEGMENT_RE.match(p) and len(p) <= MAX_NAME_LENGTH for p in parts):
        raise InvalidParameter("path")
    if any(p.endswith((".git", ".atom")) or ".." in p for p in parts):
        raise InvalidParameter("path")
    return parts[0], parts[1]


def row_id(value: str) -> int | None:
    """``value`` as a row id when it is one (ASCII digits within ``MAX_ID``), else ``None``: a
    reference that may be an id or a name (``42`` or ``team/project``) is a name otherwise.
    ``str.isdigit`` alone is not enough: ``"²".isdigit()`` is true and ``int("²")`` fails, and a
    larger number overflows the database driver."""
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_ID)):
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def username(value: str) -> str:
    """Return a valid username."""
    if not value or not USERNAME_RE.match(value) or ".." in value:
        raise InvalidParameter("username")
    return value


def token_name(value: str, param: str = "name") -> str:
    """A token's (or a job's) display name: 1 to 255 printable characters."""
    value = value.strip()
    if not value or len(value) > 255 or not value.isprintable():
        raise InvalidParameter(param)
    return value


def duplicate_exception_regex(value: str) -> str:
    """Return a pattern RE2 compiles, of at most 255 characters (GitLab's limit and message)."""
    if len(value) > MAX_PATTERN_LENGTH:
        raise InvalidParameter(
            "generic_duplicate_exception_regex", f"is too long (maximum is {MAX_PATTERN_LENGTH} characters)"
        )
    try:
        compile_pattern(value)
    except PatternError as exc:
        raise InvalidParameter("generic_duplicate_exception_regex", f"not valid RE2 syntax: {exc}") from None
    return value


def _digest(value: str, size: int, param: str) -> str:
    """Lower-case hex of a ``size``-byte digest given as hex or as base64 (S3 and RFC 1864 send base64)."""
    value = value.strip()
    if len(value) == 2 * size and HEX_RE.match(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise InvalidParameter(param, f"must be a {size * 8}-bit digest in hex or base64")
    return raw.hex()


def sha256_digest(value: str, param: str = "sha256") -> str:
    """Return a SHA-256 digest (64 hex digits, or 44 characters of base64) as lower-case hex."""
    return _digest(value, 32, param)


def md5_digest(value: str, param: str = "Content-MD5") -> str:
    """Return an MD5 digest (RFC 1864's base64, or 32 hex digits) as lower-case hex."""
    return _digest(value, 16, param)
