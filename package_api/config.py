"""Settings: defaults, then ``MODELSHELF_*`` environment variables, then the mapping passed in.

Every setting has one name, used by the environment (``MODELSHELF_<NAME>``), by the CLI and by
``create_app(config)`` (``<NAME>`` as the key).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

GIB = 1024**3

#: Setting name -> default. ``None`` defaults are derived in :func:`load_settings`.
DEFAULTS: dict[str, Any] = {
    "DATA_DIR": "./modelshelf-data",
    "DATABASE_URL": None,  # sqlite:///<DATA_DIR>/modelshelf.db
    "STORAGE": "filesystem",  # filesystem | s3 | memory
    "S3_ENDPOINT": "127.0.0.1:9000",
    "S3_BUCKET": "modelshelf",
    "S3_ACCESS_KEY": None,
    "S3_SECRET_KEY": None,
    "S3_REGION": None,
    "S3_SECURE": False,
    "S3_PART_SIZE": 16 * 1024 * 1024,
    # GitLab caps generic files at 5 GiB and users outgrow it (gitlab.com #539286).
    "MAX_FILE_SIZE": 20 * GIB,
    "BASE_URL": None,  # derived from the request when unset
    "SECRET_KEY": None,  # a random per-process key when unset
    "CREATE_SCHEMA": True,
}

_BOOLS = {"S3_SECURE", "CREATE_SCHEMA"}
_INTS = {"MAX_FILE_SIZE", "S3_PART_SIZE"}


def _coerce(name: str, value: Any) -> Any:
    if name in _BOOLS and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if name in _INTS and isinstance(value, str):
        return int(value)
    return value


def load_settings(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, ``MODELSHELF_*`` variables and ``config``; derive the database URL."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name in DEFAULTS:
        value = environ.get(f"MODELSHELF_{name}")
        if value not in (None, ""):
            settings[name] = _coerce(name, value)
    for name, value in (config or {}).items():
        settings[name] = _coerce(name, value)
    data_dir = os.path.abspath(str(settings["DATA_DIR"]))
    settings["DATA_DIR"] = data_dir
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{os.path.join(data_dir, 'modelshelf.db')}"
    return settings
