"""Revisions: what a Hugging Face ``revision`` names in a model, and each version's commit id.

A repo is a model (``repos``). Its branches are its versions, named by their semantic versions; ``main``
is its latest version, as the model registry defines it (``latest_of``); its tags are its aliases
(``champion``); and a 40-hex commit id names the version whose files have that digest (``commit_id``).
A version's commit id is stored (``VersionCommit``) and rewritten in the transaction of each change to
its files (``refresh``, a package pipeline step), so resolving a commit id is one indexed look-up
however many versions the model has; a version without one gets it when first asked.

The files of a revision are the version's live files, one per path: the copy a download by that name
serves (the newest, as ``PackageService.newest_file`` picks it).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, insert, inspect, select
from sqlalchemy.orm.util import identity_key

from package_api.plugin_api import DbSession, Package, PackageFile, PackageStatus, committed
from plugin.huggingface.errors import RevisionNotFound
from plugin.huggingface.models import VersionCommit
from plugin.mlflow_registry.models import Alias
from plugin.registry import semver
from plugin.registry.models import Model, ModelVersion
from plugin.registry.projection import made_version, may_be_version
from plugin.registry.version_service import latest_of

#: The branch that is the model's latest version.
MAIN = "main"
#: A commit id, as the client recognises one (``REGEX_COMMIT_HASH``): it then skips resolving it.
COMMIT_ID = re.compile(r"[0-9a-f]{40}\Z")
#: The Git LFS pointer of a file: every file is served as an LFS file, whose pointer names its SHA-256.
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
#: A version's first commit id row, built once (every new version writes one).
_ADD_COMMIT = insert(cast(Table, VersionCommit.__table__))  # Core: no ORM object built, flushed, kept


def commit_id(files: Iterable[tuple[str, str]]) -> str:
    """The commit id of a file list of ``(path, sha256)``: 40 hex digits of the SHA-256 of the list
    in path order (each path length-prefixed, so no two lists read alike). The same files give the same
    id in every model and on every server."""
    digest = hashlib.sha256()
    for path, sha256 in sorted(files):
        encoded = path.encode()
        digest.update(b"%d:%s %s\n" % (len(encoded), encoded, sha256.encode()))
    return digest.hexdigest()[:40]


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file of a file of these SHA-256 and size."""
    return LFS_POINTER.format(sha256=sha256, size=size).encode()


def git_blob_id(content: bytes) -> str:
    """Git's object id of a blob of ``content`` (what the Hub calls a file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def served_files(session: DbSession, package: Package) -> list[PackageFile]:
    """The live files of ``package``, one per path (the newest copy), by path."""
    rows = session.scalars(
        select(PackageFile)
        .where(PackageFile.package_id == package.id, PackageFile.status == PackageStatus.DEFAULT)
        .order_by(PackageFile.created_at, PackageFile.id)
    )
    newest = {row.file_name: row for row in rows}  # oldest first: the newest copy of a name stays
    return [newest[path] for path in sorted(newest)]


def files_commit_id(files: Sequence[PackageFile]) -> str:
    return commit_id((f.file_name, f.sha256) for f in files)


#: The commit id of no files: ``main`` of a model without versions yet (``create_repo`` made it), so
#: that ``repo_info`` and ``repo_exists`` find the new repo as the Hub's own initial commit lets them.
EMPTY_COMMIT = commit_id(())


@dataclass(frozen=True)
class Revision:
    """A version as a revision: its commit id and its files (no version: ``main`` of an empty model)."""

    version: ModelVersion | None
    commit_id: str
    files: Sequence[PackageFile]

    def file(self, path: str) -> PackageFile | None:
        return next((f for f in self.files if f.file_name == path), None)


class RevisionService:
    def __init__(self, session: DbSession) -> None:
        self.session = session

    # -- resolving ------------------------------------------------------------------------------

    def version(self, model: Model, revision: str) -> ModelVersion:
        """The version ``revision`` names: ``main`` (the latest version), a semantic version, an alias,
        or a commit id (the oldest version with those files). Raise ``RevisionNotFound``."""
        row: ModelVersion | None
        if revision == MAIN:
            row = latest_of(self.session, model)
        else:
            row = self.session.scalar(
                select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == revision)
            )
            if row is None:
                row = self.session.scalar(
                    select(ModelVersion)
                    .join(Alias, Alias.version_id == ModelVersion.id)
                    .where(Alias.model_id == model.id, Alias.alias == revision)
                )
            if row is None and COMMIT_ID.match(revision):
                row = self._by_commit(model, revision)
        if row is None:
            raise RevisionNotFound(revision, "main, a version of the model, one of its aliases or a commit id")
        return row

    def pointed(self, model: Model, revision: str) -> ModelVersion | None:
        """Like ``version``, and ``None`` for ``main`` of a model without versions."""
        if revision == MAIN and latest_of(self.session, model) is None:
            return None
        return self.version(model, revision)

    def resolve(self, model: Model, revision: str) -> Revision:
        """The revision ``revision`` names, with its files (``main`` of a model without versions has
        none); raise ``RevisionNotFound``."""
        version = self.pointed(model, revision)
        return self.revision(version) if version is not None else Revision(None, EMPTY_COMMIT, ())

    def commit_of(self, version: ModelVersion | None) -> str:
        """The commit id of ``version`` (``None``: an empty ``main``), without reading its files when
        it is kept (as it is once the version was read or changed)."""
        if version is None:
            return EMPTY_COMMIT
        stored = self.session.get(VersionCommit, version.id)
        return stored.commit_id if stored is not None else self.revision(version).commit_id

    def revision(self, version: ModelVersion) -> Revision:
        files = served_files(self.session, version.package)
        stored = self.session.get(VersionCommit, version.id)
        if stored is not None:
            return Revision(version, stored.commit_id, files)
        digest = files_commit_id(files)
        self._store([(version, digest)])
        return Revision(version, digest, files)

    def _by_commit(self, model: Model, digest: str) -> ModelVersion | None:
        self._complete(model)  # every version has its row: the look-up below sees them all
        return self.session.scalar(
            select(ModelVersion)
            .join(VersionCommit, VersionCommit.version_id == ModelVersion.id)
            .where(VersionCommit.model_id == model.id, VersionCommit.commit_id == digest)
            .order_by(ModelVersion.id)
            .limit(1)
        )

    def commits(self, model: Model) -> dict[int, str]:
        """The commit id of each version of ``model``, by version id."""
        self._complete(model)
        return {
            version_id: digest
            for version_id, digest in self.session.execute(
                select(VersionCommit.version_id, VersionCommit.commit_id).where(VersionCommit.model_id == model.id)
            )
        }

    def _complete(self, model: Model) -> None:
        """Compute and keep the commit ids ``model``'s versions lack: one query when none does (as
        always once each version has been read or changed since revision ``model_registry_0006``)."""
        missing = self.session.scalars(
            select(ModelVersion)
            .outerjoin(VersionCommit, VersionCommit.version_id == ModelVersion.id)
            .where(ModelVersion.model_id == model.id, VersionCommit.version_id.is_(None))
        ).all()
        if missing:
            self._store([(row, files_commit_id(served_files(self.session, row.package))) for row in missing])

    def _store(self, computed: Sequence[tuple[ModelVersion, str]]) -> None:
        """Keep commit ids computed on a read. A writer that changed the files meanwhile wrote its own
        row first (ours then loses the race and the redo reads the writer's), or rewrites ours in its
        transaction."""
        rows = [(version.id, version.model_id, digest) for version, digest in computed]

        def work() -> None:
            for version_id, model_id, digest in rows:
                if self.session.get(VersionCommit, version_id) is None:
                    self.session.add(VersionCommit(version_id=version_id, model_id=model_id, commit_id=digest))
            self.session.flush()

        committed(self.session, work)

    # -- listing ---------------------------------------------------------------------------------

    def branches(self, model: Model) -> list[tuple[str, str]]:
        """``(name, commit id)`` of ``main`` and of each version, newest version first."""
        commits = self.commits(model)
        rows = semver.ordered(
            list(self.session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.id))),
            lambda r: r.version,
            descending=True,
        )
        latest = latest_of(self.session, model)
        return [(MAIN, commits[latest.id] if latest is not None else EMPTY_COMMIT)] + [(row.version, commits[row.id]) for row in rows]

    def tags(self, model: Model) -> list[tuple[str, str]]:
        """``(alias, commit id)`` of each alias of ``model``, by name."""
        commits = self.commits(model)
        aliases = self.session.execute(
            select(Alias.alias, Alias.version_id).where(Alias.model_id == model.id).order_by(Alias.alias)
        )
        return [(alias, commits[version_id]) for alias, version_id in aliases if version_id in commits]

    def history(self, model: Model, revision: str) -> list[tuple[ModelVersion, str]]:
        """The versions up to the one ``revision`` names, in precedence, each with its commit id, that
        one first: a version's history is one commit per version up to it (none for ``main`` of a model
        without versions). Raise ``RevisionNotFound``."""
        if revision == MAIN and latest_of(self.session, model) is None:
            return []
        version = self.version(model, revision)
        commits = self.commits(model)
        rows = list(self.session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.id)))
        upto = semver.sort_key(version.version)
        earlier = [r for r in rows if r.id != version.id and semver.sort_key(r.version) <= upto]
        return [(version, commits[version.id])] + [(r, commits[r.id]) for r in semver.ordered(earlier, lambda r: r.version, descending=True)]

    # -- keeping commit ids --------------------------------------------------------------------------

    def refresh(self, package: Package, *, new: bool = False, received: Sequence[PackageFile] | None = None) -> None:
        """Rewrite the commit id of the version ``package`` is (nothing for another package), in the
        transaction of the change to its files. The row is locked before the files are read, so two
        concurrent changes to one version each see the other's files (PostgreSQL; SQLite writes one at
        a time). ``new``: the package was made in this transaction, so its version row is the one made
        with it (``made_version``) and has no commit id to read or lock yet; ``received``: the files
        this transaction gave it (none deleted), which are all it has: the id is their digest, nothing
        is read back (unless two share a path, where ``served_files`` picks the copy served)."""
        if package.status == PackageStatus.PENDING_DESTRUCTION or not may_be_version(package):
            return  # a plain package costs no query
        version = made_version(package) if new else None
        if version is not None and inspect(version).persistent:
            # Only this transaction can have written its row (none is visible to others before it commits).
            row = self.session.identity_map.get(identity_key(VersionCommit, (version.id,)))
        else:
            received = None
            version = self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package.id))
            if version is None:
                return
            row = self.session.scalar(select(VersionCommit).where(VersionCommit.version_id == version.id).with_for_update())
        if received is None or len({f.file_name for f in received}) < len(received):
            received = served_files(self.session, package)
        digest = files_commit_id(received)
        if row is None:  # written as it is, no object to keep: a later ``get`` reads it
            written = {"version_id": version.id, "model_id": version.model_id, "commit_id": digest}
            self.session.execute(_ADD_COMMIT, written)
        else:
            row.commit_id = digest
            self.session.flush()
