"""Writes through the Hugging Face commit protocol: ``preupload`` and the NDJSON ``commit``, branches
(versions) and tags (aliases).

Where a commit goes (its revision):

- ``main``: the model's next patch version (``semver.next_patch``: ``1.0.0`` for the first), holding
  the latest version's files with the commit applied, as a git commit holds its parent's tree. The
  commit message (and description) becomes the version's description.
- a semantic version: that version, created with the commit's files when it does not exist, extended
  when it does (replacing or deleting a file of an existing version deletes it: that takes the right
  to delete, which deploy and CI job tokens lack). A sealed version takes no commit (``Protected``,
  before the body is read; the package pipeline asks again in the commit's transaction).
- anything else (an alias, a commit id, another name): ``InvalidInput`` saying what is accepted.

The bytes of every added file reach the store through the one upload pipeline before the commit
(``plugin.huggingface.staging``); the commit adds them to the version by digest and drops the
staging files, in one transaction: a failed commit leaves the version as it was.

``preupload`` answers ``regular`` (sent inline, base64 in the commit body) up to ``regular_max``
bytes and ``lfs`` beyond, with each stored file's ``oid`` so the client skips unchanged files: the
SHA-256 for ``lfs`` files (kept for every blob), the git blob SHA-1 for ``regular`` ones, computed on
demand from the stored bytes, and only when the stored size equals the size the client announces
(a file of another size has changed anyway), so a preupload reads at most ``regular_max`` bytes per
unchanged-size file.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from package_api.plugin_api import (
    COMMAND_LINE,
    Actor,
    AlreadyExists,
    Blob,
    DbSession,
    Forbidden,
    InvalidInput,
    NotFound,
    PackageFile,
    PackageService,
    Project,
    Protected,
    User,
    committed,
)
from plugin.huggingface.models import XetFile
from plugin.huggingface.revisions import MAIN, served_files
from plugin.huggingface.staging import Staging
from plugin.mlflow_registry.models import Alias
from plugin.mlflow_registry.registered_models import RegistryService
from plugin.registry import semver
from plugin.registry.model_service import description
from plugin.registry.models import Model, ModelVersion
from plugin.registry.version_service import VersionService, latest_of

ACCEPTED = (
    "commits go to 'main' (which makes the next patch version) or to a semantic version such as 1.4.0 "
    "(which creates or extends that version); tags are aliases: use create_tag"
)


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def refused_revision(revision: str) -> InvalidInput:
    return InvalidInput(f"Cannot commit to revision '{revision}': {ACCEPTED}.")


def git_blob_oid(chunks: Iterable[bytes], size: int) -> str:
    """The git blob SHA-1 of ``size`` bytes (what ``git hash-object`` prints, and what the Hub's client
    compares for ``regular`` files)."""
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Target:
    """Where a commit to ``revision`` goes: ``version`` (made when ``row`` is ``None``), on top of
    ``parent``'s files."""

    version: str
    row: ModelVersion | None
    parent: ModelVersion | None


@dataclass
class Operations:
    """A commit's changes: added files (path -> stored bytes), deleted files and folders."""

    summary: str = ""
    description: str = ""
    parent_commit: str | None = None
    added: dict[str, Blob] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    deleted_folders: set[str] = field(default_factory=set)

    def removes(self, path: str) -> bool:
        return path in self.deleted or any(path.startswith(folder.rstrip("/") + "/") for folder in self.deleted_folders)

    @property
    def message(self) -> str:
        return "\n\n".join(part for part in (self.summary.strip(), self.description.strip()) if part)


class CommitService:
    def __init__(
        self,
        session: DbSession,
        packages: PackageService,
        versions: VersionService,
        registry: RegistryService,
        *,
        regular_max: int,
        actor: Actor = COMMAND_LINE,
        may_delete: Callable[[Project], bool] = lambda project: True,
    ) -> None:
        self.session = session
        self.packages = packages
        self.versions = versions
        self.registry = registry
        self.staging = Staging(session, packages)
        self.regular_max = regular_max  # the largest file sent inline (``regular``)
        self.actor = actor
        self.may_delete = may_delete  # the policy's word on deleting files of a version

    # -- where a commit goes -----------------------------------------------------------------------

    def target(self, model: Model, revision: str) -> Target:
        """Raise ``InvalidInput`` for a revision a commit cannot go to, ``Protected`` for a sealed
        version."""
        if revision == MAIN:
            taken = self.session.scalars(select(ModelVersion.version).where(ModelVersion.model_id == model.id))
            return Target(semver.next_patch(taken), None, latest_of(self.session, model))
        if not semver.is_semver(revision):
            raise refused_revision(revision)
        row = self.versions.find(model, revision)
        if row is not None and row.package.sealed:
            # Asked again in the commit's transaction (the package pipeline); asked here first so that a
            # refused commit reads no body (stages no inline file) and a refused preupload sends no bytes.
            raise Protected(f"Model version {model.name} {revision} is sealed: its files cannot be added, replaced or deleted")
        return Target(revision, row, row)

    def files(self, row: ModelVersion | None) -> dict[str, PackageFile]:
        """The files of ``row`` by path (the copy a download by name serves)."""
        return {} if row is None else {f.file_name: f for f in served_files(self.session, row.package)}

    # -- preupload ---------------------------------------------------------------------------------

    def upload_mode(self, size: int) -> str:
        return "regular" if size <= self.regular_max else "lfs"

    def preupload(self, model: Model, revision: str, files: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
        """Each file's ``uploadMode`` and, when the revision holds a file at its path, its ``oid``;
        raise ``InvalidInput`` for a revision a commit cannot go to, or a malformed entry."""
        base = self.files(self.target(model, revision).parent)
        answers: list[dict[str, object]] = []
        for entry in files:
            path, size = entry.get("path"), entry.get("size")
            if not isinstance(path, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidInput("Each file needs a 'path' (a string) and a 'size' (a number of bytes).")
            mode = self.upload_mode(size)
            stored = base.get(path)
            answers.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": self._oid(stored, mode, size)})
        return answers

    def _oid(self, stored: PackageFile | None, mode: str, size: int) -> str | None:
        if stored is None:
            return None
        if mode == "lfs":
            return stored.sha256
        if stored.size != size:
            return None  # changed: the client uploads it whatever we say
        reader = self.packages.storage.open(stored.storage_key)
        try:
            return git_blob_oid(reader, stored.size)
        finally:
            reader.close()

    # -- commit ------------------------------------------------------------------------------------

    def read(self, project: Project, lines: Iterable[Mapping[str, object]], *, creator: User | None) -> Operations:
        """The operations of a commit body's lines (``{"key": ..., "value": {...}}``): inline files are
        staged through the upload pipeline as they come, LFS files must be stored already (``NotFound``
        otherwise). Raise ``InvalidInput`` for a malformed line."""
        ops = Operations()
        for number, line in enumerate(lines, start=1):
            key, value = line.get("key"), line.get("value")
            if not isinstance(value, Mapping):
                raise InvalidInput(f"Line {number} of the commit has no 'value' object.")
            if key == "header":
                ops.summary = _text(value.get("summary"))
                ops.description = _text(value.get("description"))
                parent = value.get("parentCommit")
                ops.parent_commit = parent if isinstance(parent, str) else None
            elif key == "file":
                path = _path(value, number)
                if value.get("encoding", "base64") != "base64":
                    raise InvalidInput(f"Line {number}: only base64 file content is accepted.")
                data = _decoded(value.get("content"), number)
                if len(data) > self.regular_max:
                    raise InvalidInput(
                        f"{path} has {len(data)} bytes: files sent inline may have {self.regular_max} at most "
                        "(larger ones go through Xet or Git LFS)"
                    )
                staged = self.staging.stage(project, io.BytesIO(data), creator=creator, size=len(data))
                ops.added[path] = staged.blob
            elif key == "lfsFile":
                path = _path(value, number)
                ops.added[path] = self.lfs_file(project, value, path, number)
            elif key == "deletedFile":
                ops.deleted.add(_path(value, number))
            elif key == "deletedFolder":
                ops.deleted_folders.add(_path(value, number))
            else:
                raise InvalidInput(f"Line {number}: '{key}' operations are not supported (file, lfsFile, deletedFile, deletedFolder are).")
        return ops

    def lfs_file(self, project: Project, value: Mapping[str, object], path: str, number: int) -> Blob:
        """The stored bytes an ``lfsFile`` names: by its ``oid`` (SHA-256, what the client sends for an
        uploaded file and for a ``CommitOperationCopy``), or by its ``xetHash`` (a file a Xet shard
        described); either way only bytes a live file of ``project`` carries (``NotFound`` otherwise:
        a digest or hash says nothing about other projects)."""
        oid, xet_hash, size = value.get("oid"), value.get("xetHash"), value.get("size")
        expected = size if isinstance(size, int) and not isinstance(size, bool) else None
        if isinstance(xet_hash, str) and oid is None:
            if not _HEX64.fullmatch(xet_hash):
                raise InvalidInput(f"Line {number}: 'xetHash' must be 64 hexadecimal digits.")
            known = self.session.scalar(select(XetFile).where(XetFile.hash == xet_hash.lower()))
            if known is None or (expected is not None and known.size != expected) or not self.staging.has(project, known.sha256, known.size):
                raise NotFound(f"Xet file {xet_hash} of {path} in this project (upload it first)")
            return self.staging.blob(project, known.sha256, known.size)
        if not isinstance(oid, str):
            raise InvalidInput(f"Line {number}: an lfsFile needs its 'oid' (SHA-256) or its 'xetHash'.")
        try:
            return self.staging.blob(project, oid, expected)
        except NotFound:
            raise NotFound(f"LFS object {oid} of {path} in this project (upload it first)") from None

    def commit(self, project: Project, model: Model, revision: str, ops: Operations, *, author: User | None) -> ModelVersion:
        """Apply ``ops`` to where ``revision`` goes (see the module docstring), in one transaction.

        Raises ``InvalidInput`` (revision, a path), ``NotFound`` for a deleted path the revision does
        not hold, ``Forbidden`` when an existing version would lose files and the caller may not delete,
        ``AlreadyExists`` when a concurrent commit took the version first.
        """
        target = self.target(model, revision)

        def work() -> ModelVersion:
            base = self.files(target.parent)
            for path in ops.deleted:
                if path not in base:
                    raise NotFound(f"File {path} in revision {revision}")
            if target.row is None:
                row = self.versions.create(project, model, target.version, description_=description(ops.message), author=author)
                kept = [(p, f.blob) for p, f in base.items() if not ops.removes(p) and p not in ops.added]
            else:
                row = target.row
                doomed = [f for f in self.versions.files(row) if ops.removes(f.file_name) or f.file_name in ops.added]
                if doomed and not self.may_delete(project):
                    raise Forbidden("Replacing or deleting files of an existing version takes the right to delete them")
                for package_file in doomed:
                    self.packages.delete_file(package_file)
                kept = []
            self.packages.attach(row.package, kept + sorted(ops.added.items()))
            for staged in self.staging.staged_files(project, {blob.id for blob in ops.added.values()}):
                self.packages.delete_file(staged)
            return row

        return committed(self.session, work)

    # -- branches and tags ---------------------------------------------------------------------------

    def create_branch(self, project: Project, model: Model, branch: str, start: ModelVersion | None, *, author: User | None) -> ModelVersion:
        """Make version ``branch`` with the files of ``start`` (none for an empty model); raise
        ``InvalidInput`` for a branch that is not a semantic version, ``AlreadyExists``."""
        if not semver.is_semver(branch):
            raise InvalidInput(f"Branch '{branch}' is not a semantic version: branches are versions (such as 1.4.0).")
        if self.versions.find(model, branch) is not None:
            raise AlreadyExists(f"Branch {branch}")
        files = [(p, f.blob) for p, f in sorted(self.files(start).items())]

        def work() -> ModelVersion:
            row = self.versions.create(project, model, branch, description_=start.description if start else "", author=author)
            if files:
                self.packages.attach(row.package, files)
            return row

        return committed(self.session, work)

    def create_tag(self, model: Model, tag: str, row: ModelVersion) -> None:
        """Point the new alias ``tag`` at ``row``; raise ``AlreadyExists`` for a tag that exists (delete
        it first to move it, as on the Hub) and what ``set_alias`` raises for a name it refuses."""
        if self._alias(model, tag) is not None:
            raise AlreadyExists(f"Tag {tag}")
        self.registry.set_alias(model, tag, str(row.sequence))  # MLflow names versions by number

    def delete_tag(self, model: Model, tag: str) -> None:
        if self._alias(model, tag) is None:
            raise NotFound(f"Tag {tag}")
        self.registry.delete_alias(model, tag)

    def _alias(self, model: Model, tag: str) -> Alias | None:
        return self.session.scalar(select(Alias).where(Alias.model_id == model.id, Alias.alias == tag))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _path(value: Mapping[str, object], number: int) -> str:
    path = value.get("path")
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"Line {number} of the commit has no 'path'.")
    return path.lstrip("/")


def _decoded(content: object, number: int) -> bytes:
    if not isinstance(content, str):
        raise InvalidInput(f"Line {number}: a file needs its 'content'.")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"Line {number}: the content is not valid base64.") from None
