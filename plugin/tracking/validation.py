"""MLflow's rules for names and values (``mlflow/utils/validation.py`` of 3.17), one function per
kind, each returning the value or raising ``InvalidInput`` with MLflow's words."""
from __future__ import annotations

import math
import posixpath
import re
import urllib.parse

from package_api.plugin_api import MAX_ID, InvalidInput
from plugin.mlflow_registry.models import STAGES
from plugin.registry import semver
from plugin.tracking.errors import ReservedName

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
#: The prefix of a model's default experiment (GitLab's): users cannot take such names.
MODEL_EXPERIMENT_PREFIX = "[model]"
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


def _invalid_value(path: str, value: object, suffix: str = "") -> str:
    return f"Invalid value {value!r} for parameter '{path}' supplied" + (f": {suffix}" if suffix else ".")


def key(name: str | None, path: str = "key") -> str:
    """A param, metric or tag key: characters, length, and no path tricks (``a/../b``)."""
    if name is None or name == "":
        raise InvalidInput(f"Missing value for required parameter '{path}'.")
    if not _KEY_RE.match(name):
        raise InvalidInput(
            _invalid_value(
                path,
                name,
                "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ),"
                " colon(:) and slashes (/).",
            )
        )
    normalised = posixpath.normpath(name)
    if normalised != name or normalised == "." or normalised.startswith(("..", "/")):
        raise InvalidInput(
            _invalid_value(
                path,
                name,
                "Names may be treated as files in certain cases, and must not resolve to other names when"
                f" treated as such. This name would resolve to {normalised!r}",
            )
        )
    return length(f"'{path}'", name, MAX_ENTITY_KEY_LENGTH)


def length(what: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidInput(f"{what} exceeds the maximum length of {limit} characters")
    return value


def param_value(value: str) -> str:
    return length("Param value", value, MAX_PARAM_VALUE_LENGTH)


def tag_value(value: str) -> str:
    return length("Tag value", value, MAX_TAG_VALUE_LENGTH)


def registry_tag_value(value: str) -> str:
    return length("Tag value", value, MAX_REGISTRY_TAG_VALUE_LENGTH)


def metric_value(value: object, key_: str) -> float:
    """A metric value: a JSON number, or one of the strings protobuf's JSON allows for floats."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    try:
        return float(str(value))
    except ValueError:
        raise InvalidInput(
            f"Got invalid value {value} for metric '{key_}'. Please specify value as a valid double"
            " (64-bit floating point)"
        ) from None


def is_nan(value: float) -> bool:
    return math.isnan(value)


def experiment_name(name: str | None) -> str:
    if name is None or name.strip() == "":
        raise InvalidInput("Invalid experiment name: ''. Experiment name must be a non-empty string.")
    length("Experiment name", name, MAX_EXPERIMENT_NAME_LENGTH)
    if name.startswith(MODEL_EXPERIMENT_PREFIX):
        raise ReservedName(f"Experiment names starting with '{MODEL_EXPERIMENT_PREFIX}' are reserved for models.")
    return name


def run_status(status: str) -> str:
    if status not in RUN_STATUSES:
        raise InvalidInput(f"Invalid value {status!r} for parameter 'status'. Valid values are {list(RUN_STATUSES)}")
    return status


def alias(name: str | None) -> str:
    """A name an alias may take: MLflow's characters and reservations, and never a semantic
    version (those name the versions themselves, so ``models:/m@1.4.0`` resolves)."""
    if name is None or name == "":
        raise InvalidInput("Registered model alias name cannot be empty.")
    if not _ALIAS_RE.match(name):
        raise InvalidInput(
            f"Invalid alias name: '{name}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    length("Registered model alias name", name, MAX_ALIAS_LENGTH)
    if name.lower() == "latest":
        raise ReservedName("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS_RE.match(name):
        raise ReservedName(f"Version alias name '{name}' is reserved.")
    if semver.is_semver(name):
        raise ReservedName(f"Alias name '{name}' is reserved: semantic versions name model versions.")
    return name


def stage(value: str | None) -> str:
    """MLflow's canonical stage name for ``value`` (any case); raise ``InvalidInput``."""
    for known in STAGES:
        if value is not None and value.lower() == known.lower():
            return known
    raise InvalidInput(f"Invalid Model Version stage: {value}. Value must be one of {', '.join(STAGES)}.")


def version_number(value: str | int | None) -> int:
    """MLflow's integer version (sent as a string)."""
    try:
        number = int(str(value))
    except ValueError:
        number = None
    if number is None or abs(number) > MAX_ID:  # past the INTEGER column, a database error otherwise
        raise InvalidInput(f"Parameter 'version' must be an integer, got '{value}'.")
    return number


def artifact_path(path: str) -> list[str]:
    """The segments of an artifact path; raise ``InvalidInput("Invalid path")`` for traversal, also
    once percent-decoded (``%2e%2e``), absolute paths, ``#``, backslashes and control characters
    (MLflow's ``validate_path_is_safe``, which also decodes until nothing changes). Every other
    character is a name's: ``résumé.txt``, ``100%.txt``, ``semi;colon.txt``, ``~tilde.txt``."""
    for form in _decodings(path):
        if any(ord(c) < 32 or ord(c) == 127 for c in form) or "\\" in form or "#" in form:
            raise InvalidInput("Invalid path")
        if form.startswith("/") or re.match(r"^[A-Za-z]:", form) or ".." in form.split("/"):
            raise InvalidInput("Invalid path")
    segments = [s for s in path.split("/") if s != ""]
    if any(s in (".", "..") for s in segments) or "//" in path.strip("/"):
        raise InvalidInput("Invalid path")
    return segments


def _decodings(path: str) -> list[str]:
    """``path`` and what percent-decoding makes of it, again and again until it stops changing."""
    forms = [path]
    for _ in range(10):
        decoded = urllib.parse.unquote(forms[-1])
        if decoded == forms[-1]:
            return forms
        forms.append(decoded)
    raise InvalidInput("Invalid path")
