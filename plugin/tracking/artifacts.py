"""MLflow artifact paths mapped onto packages.

MLflow addresses artifacts as ``<experiment>/<run>/artifacts/<path>`` and
``<experiment>/models/<model_id>/artifacts/<path>``. Each names a package and a file in it:

============================================  ============================================
a run that is a version's own run             the version's package ``<model>/<semver>``
any other run                                 ``ml_experiment_<experiment>/candidate_<run id>``
a logged model ``m-<hex>``                    ``ml_experiment_<experiment>/m-<hex>``
============================================  ============================================

Candidate and logged-model versions are not semantic versions, so those packages are no model's
versions (out of the model list). They are reachable through the generic package API like any other,
but what they hold is MLflow's: ``artifact_package_rule`` has the model registry's rules judge them
there too (no model may take their name: ``plugin.registry.model_service.model_name``).
Directories are not stored: they are the prefixes of file paths.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from package_api.plugin_api import (
    LIVE_PACKAGE,
    Blob,
    DbSession,
    Package,
    PackageFile,
    PackageService,
    PackageStatus,
    PolicyFacts,
    Project,
    Readable,
    User,
    row_id,
)
from plugin.registry.access import AS_MODEL_ACTION
from plugin.registry.projection import ARTIFACT_PACKAGE_NAME
from plugin.tracking import validation
from plugin.tracking.errors import MissingResource
from plugin.tracking.models import Experiment, LoggedModel, Run

ARTIFACTS = "artifacts"
MODELS = "models"
ALL_FILES = 10**9
#: The live files of the live package of a name and version in a project, oldest first, each with its
#: blob (``PackageFile.blob`` is joined): ``PackageService.live_files`` of ``find_live``, in one statement.
_LIVE_FILES_NAMED = (
    select(PackageFile.file_name, Blob)  # the blobs are what a version receives: no file objects built
    .join(Blob, Blob.id == PackageFile.blob_id)
    .join(Package, Package.id == PackageFile.package_id)
    .where(
        Package.project_id == bindparam("project"),
        Package.package_type == "generic",
        Package.name == bindparam("name"),
        Package.version == bindparam("version"),
        LIVE_PACKAGE,
        PackageFile.status == PackageStatus.DEFAULT,
    )
    .order_by(PackageFile.id)
)


def experiment_package(experiment: Experiment) -> str:
    """The name of the packages of ``experiment``'s artifacts (``ARTIFACT_PACKAGE_NAME``)."""
    return f"ml_experiment_{experiment.iid}"


def artifact_package_rule(facts: PolicyFacts, project: Project, action: object, name: str, version: str) -> object | None:
    """A package of MLflow's artifacts follows the model registry's rule for ``action`` on every
    surface, the generic package API's included: a run's files are as private as the run."""
    return AS_MODEL_ACTION.get(action) if ARTIFACT_PACKAGE_NAME.match(name) else None


def candidate_version(run: Run) -> str:
    return f"candidate_{run.id}"


def run_root(run: Run) -> str:
    """The artifact path of a run's root (its ``artifact_uri`` is ``mlflow-artifacts:/`` + this)."""
    return f"{run.experiment.iid}/{run.uuid}/{ARTIFACTS}"


def logged_model_root(model: LoggedModel) -> str:
    return f"{model.experiment.iid}/{MODELS}/{model.uuid}/{ARTIFACTS}"


@dataclass(frozen=True)
class Location:
    """A package (by name and version) and a path inside it (``""``: the whole package)."""

    name: str
    version: str
    path: str = ""

    def below(self, path: str) -> Location:
        return Location(self.name, self.version, posixpath.join(self.path, path) if self.path else path)


@dataclass(frozen=True)
class Entry:
    """A file or directory directly inside a listed directory, by path relative to it."""

    path: str
    is_dir: bool
    size: int | None = None


class ArtifactService:
    def __init__(self, session: DbSession, packages: PackageService) -> None:
        self.session = session
        self.packages = packages

    # -- locations ---------------------------------------------------------------------------------

    def of_run(self, run: Run) -> Location:
        version = run.model_version if run.model_version_id is not None else None  # no loader asked for none
        if version is not None:
            return Location(version.model.name, version.version)
        return Location(experiment_package(run.experiment), candidate_version(run))

    def of_logged_model(self, model: LoggedModel) -> Location:
        return Location(experiment_package(model.experiment), model.uuid)

    def locate(self, project: Project, artifact_path: str) -> Location | None:
        """The package location ``artifact_path`` names, or ``None`` if it names no run or logged
        model of ``project``. Raise ``InvalidInput("Invalid path")`` for traversal."""
        segments = validation.artifact_path(artifact_path)
        iid = row_id(segments[0]) if len(segments) >= 3 else None
        if iid is None:
            return None
        experiment = self.session.scalar(
            select(Experiment).where(Experiment.project_id == project.id, Experiment.iid == iid)
        )
        if experiment is None:
            return None
        if segments[1] == MODELS and len(segments) >= 4 and segments[3] == ARTIFACTS:
            model = self.session.scalar(
                select(LoggedModel).where(LoggedModel.uuid == segments[2], LoggedModel.experiment_id == experiment.id)
            )
            return None if model is None else self.of_logged_model(model).below("/".join(segments[4:]))
        if segments[2] != ARTIFACTS:
            return None
        run = self.session.scalar(select(Run).where(Run.uuid == segments[1], Run.experiment_id == experiment.id))
        return None if run is None else self.of_run(run).below("/".join(segments[3:]))

    def _require(self, project: Project, artifact_path: str) -> Location:
        location = self.locate(project, artifact_path)
        if location is None or not location.path:
            raise MissingResource(f"No such artifact: '{artifact_path}'", "Artifact")
        return location

    def _package(self, project: Project, location: Location) -> Package | None:
        return self.packages.find_live(project, location.name, location.version)

    def _newest_files(self, package: Package) -> dict[str, PackageFile]:
        """The live files of ``package`` by path, the newest of each path."""
        newest: dict[str, PackageFile] = {}
        for package_file in self.packages.live_files(package):
            newest[package_file.file_name] = package_file  # by id ascending: the newest comes last
        return newest

    def newest_files(self, project: Project, location: Location) -> list[PackageFile]:
        """The newest file of each path at or under ``location``, by path (a run's page lists them)."""
        package = self._package(project, location)
        if package is None:
            return []
        prefix = location.path
        return [
            f
            for path, f in sorted(self._newest_files(package).items())
            if not prefix or path == prefix or path.startswith(prefix + "/")
        ]

    # -- operations --------------------------------------------------------------------------------

    def upload(
        self,
        project: Project,
        artifact_path: str,
        body: Readable,
        *,
        content_length: int | None,
        creator: User | None,
        job_id: int | None = None,
    ) -> PackageFile:
        """Stream ``body`` into the file ``artifact_path`` names (``job_id``: the CI job uploading it,
        its provenance). Raise ``InvalidInput``, ``MissingResource`` for a path of no run or logged
        model, ``FileTooLarge``..."""
        location = self._require(project, artifact_path)
        return self.packages.upload(
            project,
            location.name,
            location.version,
            location.path,
            body,
            creator=creator,
            job_id=job_id,
            content_length=content_length,
            any_characters=True,  # MLflow's names: résumé.txt, 100%.txt, semi;colon.txt, ~tilde.txt
        )

    def listing(self, project: Project, artifact_path: str) -> list[Entry]:
        """What is directly inside the directory ``artifact_path``: nothing for a file or a path
        that does not exist (MLflow answers those with ``{}``)."""
        location = self.locate(project, artifact_path)
        package = None if location is None else self._package(project, location)
        if location is None or package is None:
            return []
        return entries(self._newest_files(package), location.path)

    def file(self, project: Project, artifact_path: str) -> PackageFile:
        """The newest file at ``artifact_path``; raise ``MissingResource``."""
        location = self._require(project, artifact_path)
        package = self._package(project, location)
        found = None if package is None else self._newest_files(package).get(location.path)
        if found is None:
            raise MissingResource(f"No such artifact: '{artifact_path}'", "Artifact")
        return found

    def delete(self, project: Project, artifact_path: str) -> int:
        """Delete the file or directory tree at ``artifact_path`` (none is fine); return how many
        files went."""
        location = self.locate(project, artifact_path)
        package = None if location is None else self._package(project, location)
        if location is None or package is None:
            return 0
        prefix = location.path
        doomed = [
            f
            for f in self.packages.list_files(package, per_page=ALL_FILES).items
            if not prefix or f.file_name == prefix or f.file_name.startswith(prefix + "/")
        ]
        for package_file in doomed:
            self.packages.delete_file(package_file)
        return len(doomed)

    def blobs(self, project: Project, location: Location) -> list[tuple[str, Blob]]:
        """The newest files at or under ``location``, by path relative to it (a file by its own
        name), with their blobs: what a version registered from there receives. One statement: the
        live package's files with their blobs (its own row is not needed)."""
        newest: dict[str, Blob] = {}
        named = {"project": project.id, "name": location.name, "version": location.version}
        for file_name, blob in self.session.execute(_LIVE_FILES_NAMED, named):
            newest[file_name] = blob  # by id ascending: the newest comes last
        prefix = location.path
        found = []
        for path, blob in sorted(newest.items()):
            if not prefix:
                found.append((path, blob))
            elif path == prefix:
                found.append((posixpath.basename(path), blob))
            elif path.startswith(prefix + "/"):
                found.append((path[len(prefix) + 1 :], blob))
        return found


def entries(files: dict[str, PackageFile], directory: str) -> list[Entry]:
    """Files and directories directly inside ``directory`` (``""``: the top), relative to it;
    directories are the prefixes of file paths."""
    prefix = f"{directory}/" if directory else ""
    found: dict[str, Entry] = {}
    for path, package_file in files.items():
        if not path.startswith(prefix):
            continue
        head, slash, _ = path[len(prefix) :].partition("/")
        if slash:
            found.setdefault(head, Entry(head, True))
        else:
            found[head] = Entry(head, False, package_file.size)
    return sorted(found.values(), key=lambda e: e.path)
