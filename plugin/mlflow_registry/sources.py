"""Model version sources: what ``model-versions/create`` may register from, checked as MLflow
3.17's server checks them, resolved to the files (and the run and logged model) behind them.

=================================  =================================================
``runs:/<run_id>/<path>``          the run's files under ``path``; ``run_id`` must match
``mlflow-artifacts:/<exp>/...``    files under that artifact path, inside the run's (or
                                   the logged model's) artifact root
``models:/m-<hex>``                the logged model's files; ``model_id`` must match
``models:/<name>/<N>`` (``@alias``,  the files of that version; its run and logged model
``/latest``, ``/<stage>``)         carry over
other remote URIs (``s3://...``)   registered as given, with no files here
=================================  =================================================
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from package_api.plugin_api import Blob, InvalidInput, Project
from plugin.tracking.artifacts import ArtifactService, logged_model_root, run_root
from plugin.tracking.errors import MissingResource
from plugin.tracking.logged_models import LoggedModelService
from plugin.tracking.models import LoggedModel, Run
from plugin.tracking.runs import RunService

ARTIFACT_ROUTE = "/api/2.0/mlflow-artifacts/artifacts/"
LOCAL_SCHEMES = ("", "file")


@dataclass(frozen=True)
class VersionRef:
    """A registered version a ``models:/`` source names, as the caller resolved it."""

    source: str  # models:/<name>/<N>
    files: list[tuple[str, Blob]]
    run: Run | None
    logged_model: LoggedModel | None


@dataclass(frozen=True)
class Resolved:
    source: str
    files: list[tuple[str, Blob]] = field(default_factory=list)
    run: Run | None = None
    logged_model: LoggedModel | None = None


def invalid_source(source: str, by: str) -> InvalidInput:
    return InvalidInput(
        f"Invalid model version source: '{source}'. The {by} request parameter must identify the resource that contains the source."
    )


def _unquoted_parts(path: str) -> list[str]:
    parts = []
    for part in path.split("/"):
        while (unquoted := urllib.parse.unquote(part)) != part:
            part = unquoted
        if part:
            parts.append(part)
    return parts


def _artifact_path(source: str) -> str | None:
    """The artifact path of an ``mlflow-artifacts:`` source (or a URL of the artifact route)."""
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme == "mlflow-artifacts":
        return "/".join(_unquoted_parts(parsed.path))
    if parsed.scheme in ("http", "https") and ARTIFACT_ROUTE in parsed.path:
        return "/".join(_unquoted_parts(parsed.path.split(ARTIFACT_ROUTE, 1)[1]))
    return None


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


class SourceResolver:
    def __init__(
        self, project: Project, artifacts: ArtifactService, runs: RunService, logged_models: LoggedModelService
    ) -> None:
        self.project = project
        self.artifacts = artifacts
        self.runs = runs
        self.logged_models = logged_models

    def resolve(
        self, source: str, *, run_id: str | None, model_id: str | None, version_ref: VersionRef | None
    ) -> Resolved:
        """Check ``source`` against ``run_id``/``model_id`` and find its files; raise ``InvalidInput``.

        ``version_ref`` is the version a ``models:/<name>/...`` source names (the caller looks it
        up in the registry); ``None`` otherwise.
        """
        parsed = urllib.parse.urlsplit(source)
        if parsed.scheme in LOCAL_SCHEMES:
            raise InvalidInput(
                f"Invalid model version source: '{source}'. To use a local path as a model version source, the run_id"
                " request parameter has to be specified and the local path has to be contained within the artifact"
                " directory of the run specified by the run_id."
            )
        if ".." in _unquoted_parts(parsed.path):
            raise InvalidInput(
                f"Invalid model version source: '{source}'. If supplying a source as an http, https, local file path,"
                " ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path"
                " references present. Please provide an absolute path."
            )
        if version_ref is not None:
            return self._from_version(source, version_ref, run_id=run_id, model_id=model_id)
        if model_id:
            return self._from_logged_model(source, model_id)
        if parsed.scheme == "runs":
            return self._from_run_uri(source, parsed, run_id)
        if parsed.scheme == "models":
            raise invalid_source(source, "model_id")
        path = _artifact_path(source)
        if path is not None:
            return self._from_artifact_path(source, path, run_id)
        run = self.runs.get(self.project, run_id) if run_id else None
        return Resolved(source, run=run)

    def _from_version(self, source: str, ref: VersionRef, *, run_id: str | None, model_id: str | None) -> Resolved:
        reported_run = ref.run.uuid if ref.run else ""
        reported_model = ref.logged_model.uuid if ref.logged_model else ""
        if (run_id is not None and run_id != reported_run) or (model_id is not None and model_id != reported_model):
            raise InvalidInput(
                f"Invalid model version source: '{source}'. The run_id and model_id request parameters must match the"
                " referenced model version."
            )
        return Resolved(ref.source, ref.files, ref.run, ref.logged_model)

    def _from_logged_model(self, source: str, model_id: str) -> Resolved:
        try:
            model = self.logged_models.get(self.project, model_id)
        except MissingResource:
            raise invalid_source(source, "model_id") from None
        parsed = urllib.parse.urlsplit(source)
        root = logged_model_root(model)
        if parsed.scheme == "models":
            if _unquoted_parts(parsed.path) != [model.uuid] or parsed.netloc:
                raise invalid_source(source, "model_id")
            location = self.artifacts.of_logged_model(model)
        else:
            path = _artifact_path(source)
            if path is None or not _within(path, root):
                raise invalid_source(source, "model_id")
            location = self.artifacts.of_logged_model(model).below(path[len(root) + 1 :])
        return Resolved(source, self.artifacts.blobs(self.project, location), model.source_run, model)

    def _from_run_uri(self, source: str, parsed: urllib.parse.SplitResult, run_id: str | None) -> Resolved:
        parts = _unquoted_parts(parsed.path)
        if parsed.netloc or not parts or not run_id or parts[0] != run_id:
            raise invalid_source(source, "run_id")
        run = self._source_run(source, run_id)
        location = self.artifacts.of_run(run).below("/".join(parts[1:]))
        return Resolved(source, self.artifacts.blobs(self.project, location), run)

    def _from_artifact_path(self, source: str, path: str, run_id: str | None) -> Resolved:
        if not run_id:
            raise invalid_source(source, "run_id")
        run = self._source_run(source, run_id)
        root = run_root(run)
        if not _within(path, root):
            raise invalid_source(source, "run_id")
        location = self.artifacts.of_run(run).below(path[len(root) + 1 :])
        return Resolved(source, self.artifacts.blobs(self.project, location), run)

    def _source_run(self, source: str, run_id: str) -> Run:
        try:
            return self.runs.get(self.project, run_id, with_experiment=True)  # its artifacts are addressed by it
        except MissingResource:
            raise invalid_source(source, "run_id") from None
