"""Packages and their files: streaming upload, upload by digest, lookup, listing, soft deletion.

An upload takes a lease on a fresh key (``uploads``), streams to storage under it while it is hashed
and checks the digests the client declared; only then is a database transaction opened that finds or
creates the package, finds or creates the blob by SHA-256, adds the file row and ends the lease. A
broken upload therefore leaves no row, and identical bytes are kept once. The rest of that
transaction (the plugins' steps, provenance, audit) and the signals after it are the package
pipeline's: ``package_api.packages.pipeline`` tells the whole story in order.
"""
from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask
from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value

from package_api import names
from package_api.access.models import Project, User
from package_api.db import DbSession, prepared, utcnow
from package_api.errors import AlreadyExists, DuplicateNotAllowed, FileTooLarge, InvalidParameter, NotFound
from package_api.identity import COMMAND_LINE, Actor
from package_api.packages.leases import UploadLeases, new_key
from package_api.packages.models import LIVE_PACKAGE, Blob, Package, PackageFile, PackageStatus
from package_api.packages.pipeline import PackageChange, PackagePipeline, audit_package_event
from package_api.packages.resolvers import VersionResolver
from package_api.packages.streams import NO_METER, ExpectedDigests, HashingReader, TransferMeter
from package_api.paging import Page, choice, contains, descending, query_page
from package_api.patterns import stored_pattern_matches
from package_api.row_writes import insert_row, insert_rows, update_row
from package_api.storage import BlobReader, BlobStorage, Readable, StorageError
from package_api.transactions import after_commit, commit, committed, in_unit

LIVE_STATUSES = (PackageStatus.DEFAULT, PackageStatus.HIDDEN)
#: ``status`` values the packages list accepts (GitLab's enum); we store a subset of them.
LISTABLE_STATUSES = ("default", "hidden", "processing", "error", "pending_destruction", "deprecated")
#: ``package_type`` values the packages list accepts (GitLab's enum, a 400 for any other); only
#: ``generic`` packages are stored here, so every other type lists nothing.
PACKAGE_TYPES = (
    "maven", "npm", "conan", "nuget", "pypi", "composer", "generic", "golang", "debian", "rubygems", "helm",
    "terraform_module", "rpm", "ml_model",
)
ORDERS = {"created_at": Package.created_at, "name": Package.name, "version": Package.version, "type": Package.package_type}
FILE_ORDERS = {"id": PackageFile.id, "created_at": PackageFile.created_at, "file_name": PackageFile.file_name}
#: Files of one name from oldest to newest: a download by name serves the last (``newest_file``).
AGE = (PackageFile.created_at, PackageFile.id)


#: Built once (every upload, download and registration asks them): the live package of a name and
#: version in a project, the newest live file of a name in a package, and a package's live files, oldest first.
_LIVE_NAMED = prepared(select(Package).where(
    Package.project_id == bindparam("project"), Package.package_type == "generic", Package.name == bindparam("name"),
    Package.version == bindparam("version"), LIVE_PACKAGE,
))
_LIVE_NAMED_ID = _LIVE_NAMED.with_only_columns(Package.id)  # whether one is live: no object to build
_NEWEST_NAMED = prepared(select(PackageFile).where(
    PackageFile.package_id == bindparam("package"), PackageFile.file_name == bindparam("path"),
    PackageFile.status == PackageStatus.DEFAULT,
).order_by(*(column.desc() for column in AGE)).limit(1))
_LIVE_FILES = prepared(select(PackageFile).where(
    PackageFile.package_id == bindparam("package"), PackageFile.status == PackageStatus.DEFAULT
).order_by(PackageFile.id))


def parse_status(value: str | None, *, allowed: tuple[str, ...] = ("default", "hidden")) -> PackageStatus | None:
    if value is None:
        return None
    if value not in allowed:
        raise InvalidParameter("status", "does not have a valid value")
    return PackageStatus(value)


class PackageService:
    def __init__(
        self,
        session: DbSession,
        storage: BlobStorage,
        *,
        max_file_size: int,
        app: Flask | None = None,
        clock: Callable[[], datetime.datetime] = utcnow,
        leases: UploadLeases | None = None,
        resolvers: Sequence[VersionResolver] = (),
        meter: TransferMeter = NO_METER,
        pipeline: PackagePipeline | None = None,
        actor: Actor = COMMAND_LINE,
    ) -> None:
        self.session = session
        self.storage = storage
        self.max_file_size = max_file_size
        self.app = app  # where the pipeline's steps are registered, and the signals' sender
        self.clock = clock
        self.leases = leases or UploadLeases(session, clock=clock)
        self.resolvers = resolvers  # what ``latest`` (and other aliases) of a package name mean
        self.meter = meter  # told of bytes received and of uploads that fail
        self.pipeline = pipeline or PackagePipeline(session, app)  # what a change does in its transaction
        self.actor = actor  # who makes the changes

    # -- upload --------------------------------------------------------------------------------

    def upload(
        self,
        project: Project,
        name: str,
        version: str,
        path: str,
        body: Readable,
        *,
        creator: User | None,
        job_id: int | None = None,
        status: PackageStatus | None = None,
        content_length: int | None = None,
        spaces_in_name: bool = False,
        any_characters: bool = False,
        expected: ExpectedDigests | None = None,
    ) -> PackageFile:
        """Stream ``body`` into ``name/version/path`` (``job_id``: the CI job uploading it); return the
        committed file row. Not inside a unit of work: the lease commits before the bytes flow.

        Raises ``InvalidParameter``, ``FileTooLarge``, ``DuplicateNotAllowed``, ``ChecksumMismatch``
        when the bytes do not hash to an ``expected`` digest (nothing stored), ``StorageUnavailable``
        (no row written), what a pipeline check raises (before a byte is read) and what a pipeline
        step raises (nothing recorded).
        """
        if in_unit(self.session):
            raise RuntimeError("an upload commits its lease before its transaction: not inside a unit of work")
        name, version = names.package_name(name), names.package_version(version)
        path = names.file_path(path, spaces_in_name=spaces_in_name, any_characters=any_characters)
        if content_length is not None and content_length > self.max_file_size:
            refused = FileTooLarge()
            self.meter.upload_failed(refused)
            raise refused
        # Refuse a name a plugin refuses, or a forbidden duplicate, before taking gigabytes; checked
        # again when recording.
        self.pipeline.check(project.id, name, version, self.actor)
        self._check_duplicate(project, name, version, [path])
        project_id, creator_id = project.id, creator.id if creator else None

        key = new_key()
        # Committing the lease also ends the read transaction: a long upload must not hold a
        # connection or a snapshot.
        heartbeat = self.leases.begin(key)
        reader = HashingReader(body, self.max_file_size, expected=expected, heartbeat=heartbeat, meter=self.meter)
        recorded: list[bool] = []

        def record() -> PackageFile:
            # First of the callbacks: a signal receiver that fails after the commit must not cost
            # the bytes that the committed rows name.
            after_commit(self.session, lambda: recorded.append(True))
            return self._record(
                project_id, name, version, path, creator_id, job_id, status, reader.sha256, key=key, size=reader.size
            )

        try:
            self.storage.put(key, reader)
            reader.check()
            package_file = committed(self.session, record, keep_loaded=True)  # answered as written
        except BaseException as exc:
            if not recorded:
                self.meter.upload_failed(exc)
                self._abandon(key)
            raise
        if package_file.blob.storage_key != key:
            self._discard(key)  # the same bytes were stored already: keep one copy
        return package_file

    def upload_by_digest(
        self,
        project: Project,
        name: str,
        version: str,
        path: str,
        sha256: str,
        *,
        creator: User | None,
        job_id: int | None = None,
        status: PackageStatus | None = None,
        spaces_in_name: bool = False,
    ) -> PackageFile:
        """Add ``name/version/path`` with the bytes of a live file of ``project`` whose SHA-256 is
        ``sha256``, without receiving them (``job_id``: the CI job adding it); return the committed
        file row.

        Only ``project``'s own files count, so a digest says nothing about other projects. Raises
        ``InvalidParameter``, ``DuplicateNotAllowed``, ``NotFound("Blob")`` when the project holds no
        such bytes (the client must send them), and what a pipeline check or step raises (nothing
        recorded).
        """
        name, version = names.package_name(name), names.package_version(version)
        path = names.file_path(path, spaces_in_name=spaces_in_name)
        sha256 = names.sha256_digest(sha256)
        self.pipeline.check(project.id, name, version, self.actor)
        self._check_duplicate(project, name, version, [path])
        project_id, creator_id = project.id, creator.id if creator else None
        return committed(
            self.session, lambda: self._record(project_id, name, version, path, creator_id, job_id, status, sha256),
            keep_loaded=True,  # answered as written
        )

    def _audit(self, what: str, package: Package, package_file: PackageFile | None = None, /, **details: Any) -> None:
        audit_package_event(self.session, self.app, self.actor, what, package, package_file, **details)

    def _discard(self, key: str) -> None:
        try:
            self.storage.delete(key)
        except StorageError:
            pass  # an orphaned object costs space, not correctness; gc removes it later

    def _abandon(self, key: str) -> None:
        """Clean up after a failed upload, as far as the store and the database let us: what is
        left (bytes, or a lease that will expire), gc reclaims."""
        self._discard(key)
        try:
            self.leases.release(key)
        except SQLAlchemyError:
            self.session.rollback()

    def _record(
        self,
        project_id: int,
        name: str,
        version: str,
        path: str,
        creator_id: int | None,
        job_id: int | None,
        status: PackageStatus | None,
        sha256: str,
        *,
        key: str | None = None,
        size: int = 0,
        rebuilt: bool = False,
    ) -> PackageFile:
        """Record the file (stage 1 of the pipeline), then run the pipeline's ``created`` or
        ``file_added`` stages, in the caller's unit of work. With ``key`` the bytes were just stored
        there under a lease (``rebuilt``: a blob source's key, no lease); without, a live file's."""
        if key is not None and not rebuilt:
            self.leases.claim(key)  # in this transaction: gc cannot have the bytes and us the row
        project = self.session.get(Project, project_id)
        if project is None:
            raise NotFound("Project")
        self.pipeline.check(project_id, name, version, self.actor)  # again: a model may have been made meanwhile
        if key is None:
            blob = self._project_blob(project_id, sha256)
        else:
            found = self.session.scalar(select(Blob).where(Blob.sha256 == sha256))
            blob = found if found is not None else Blob(sha256=sha256, size=size, storage_key=key)
            if found is None:
                self.session.add(blob)
                self.session.flush()
        package = self._find_live(project_id, name, version)
        created = package is None
        if package is None:
            package = Package(
                project_id=project_id,
                name=name,
                version=version,
                package_type="generic",
                status=status or PackageStatus.DEFAULT,
                creator_id=creator_id,
            )
            self.session.add(package)
            self.session.flush()
        else:
            if status is not None and package.status != status:
                package.status = status
            package.updated_at = self.clock()
            self._check_duplicate(project, name, version, [path], package)
        package_file = PackageFile(package_id=package.id, blob_id=blob.id, file_name=path)
        self.session.add(package_file)
        self.session.flush()
        set_committed_value(package_file, "blob", blob)
        change = PackageChange(self.session, self.actor, package, package_file, job_id=job_id)
        if created:
            self.pipeline.created(change)
        else:
            self.pipeline.file_added(change)
        return package_file

    def create_package(
        self, project: Project, name: str, version: str, *, creator: User | None, job_id: int | None = None
    ) -> Package:
        """Create the empty package ``name/version`` (a version made before its files are uploaded;
        ``job_id``: the CI job making it), in the caller's unit of work or in one of its own.

        Raises ``InvalidParameter``, ``AlreadyExists`` when a live package has that name and version,
        and what a pipeline check or step raises.
        """
        name, version = names.package_name(name), names.package_version(version)
        project_id, creator_id = project.id, creator.id if creator else None

        def work() -> Package:
            # Also how a lost race ends: the redo finds the winner's package.
            if self.session.scalar(_LIVE_NAMED_ID, {"project": project_id, "name": name, "version": version}):
                raise AlreadyExists("Package")
            self.pipeline.check(project_id, name, version, self.actor)
            package = Package(
                project_id=project_id, name=name, version=version, package_type="generic", creator_id=creator_id
            )
            insert_row(self.session, package)  # its INSERT alone: the session's other changes wait
            self.pipeline.created(PackageChange(self.session, self.actor, package, job_id=job_id))
            return package

        return committed(self.session, work)

    def attach(
        self, package: Package, files: Sequence[tuple[str, Blob]], *, audited: bool = True, new: bool = False
    ) -> list[PackageFile]:
        """Add files to ``package`` whose bytes are stored already (``(path, blob)`` pairs): new
        rows, no bytes copied, in the caller's unit of work or in one of its own (each file goes
        through the pipeline's ``file_added`` stages). ``audited=False`` when the caller records the
        change as a whole (a version registered with its files); ``new``: ``package`` was made in
        this transaction, so its ``updated_at`` stays the time it was made (no ``UPDATE`` of it).

        Raises ``InvalidParameter`` for a bad path and ``DuplicateNotAllowed`` (nothing added).
        """
        checked = [(names.file_path(path, spaces_in_name=True), blob) for path, blob in files]

        def work() -> list[PackageFile]:
            if not checked:
                return []
            paths = [path for path, _ in checked]
            self._check_duplicate(package.project, package.name, package.version, paths, package)
            if not new:
                update_row(self.session, package, updated_at=self.clock())
            # One INSERT for all the rows (batched by SQLAlchemy's insertmanyvalues), not one a file.
            rows = [{"package_id": package.id, "blob_id": blob.id, "file_name": path} for path, blob in checked]
            added = insert_rows(self.session, PackageFile, rows)
            blobs = {blob.id: blob for _, blob in checked}
            for package_file in added:
                set_committed_value(package_file, "blob", blobs[package_file.blob_id])
            for package_file in added:
                self.pipeline.file_added(PackageChange(self.session, self.actor, package, package_file, audited=audited))
            return added

        return committed(self.session, work)

    def rename(self, packages: Sequence[Package], name: str, *, audited: bool = True) -> None:
        """Give ``packages`` another name, all or none (renaming a model renames its versions).
        ``audited=False`` when the caller records the rename as a whole (the model's). Raises
        ``InvalidParameter``, ``Protected`` (``check_rename``), ``AlreadyExists`` (the new name taken)."""
        name = names.package_name(name)
        for package in packages:
            self.pipeline.protection.check_rename(self.actor, package, name)
            if self._find_live(package.project_id, name, package.version) is not None:
                raise AlreadyExists("Package")
        for package in packages:
            before, package.name = package.name, name
            if audited:
                self._audit("renamed", package, change="name", **{"from": before, "to": name})
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            raise AlreadyExists("Package") from None

    def find_live(self, project: Project, name: str, version: str) -> Package | None:
        """The live (default or hidden) package ``name/version``, if any."""
        return self._find_live(project.id, name, version)

    def duplicates_allowed(self, project: Project, name: str, version: str) -> bool:
        """GitLab's rule: the exception regex inverts the project's setting for what it matches."""
        matched = stored_pattern_matches(project.generic_duplicate_exception_regex, name, version)
        return project.generic_duplicates_allowed != matched

    def _check_duplicate(
        self, project: Project, name: str, version: str, paths: Sequence[str], package: Package | None = None
    ) -> None:
        """Raise ``DuplicateNotAllowed`` unless the project allows duplicates here, or the package holds
        no live file at any of ``paths`` and ``paths`` names none twice: one query for them all."""
        if self.duplicates_allowed(project, name, version):
            return
        package = package or self._find_live(project.id, name, version)
        if package is None:
            return
        if len(set(paths)) < len(paths):
            raise DuplicateNotAllowed()
        live = select(PackageFile.id).where(
            PackageFile.package_id == package.id, PackageFile.status == PackageStatus.DEFAULT
        )
        for start in range(0, len(paths), 500):
            if self.session.scalar(live.where(PackageFile.file_name.in_(paths[start : start + 500])).limit(1)):
                raise DuplicateNotAllowed()

    # -- lookup --------------------------------------------------------------------------------

    def _find_live(self, project_id: int, name: str, version: str) -> Package | None:
        return self.session.scalar(_LIVE_NAMED, {"project": project_id, "name": name, "version": version})

    def project_blob(self, project: Project, sha256: str) -> Blob:
        """``_project_blob`` for a digest the caller gave (``InvalidParameter`` if malformed)."""
        return self._project_blob(project.id, names.sha256_digest(sha256))

    def _project_blob(self, project_id: int, sha256: str) -> Blob:
        """The blob ``sha256`` if a live file of a live package of the project carries it (the file
        row is read in the transaction that references the blob, so gc cannot remove it between)."""
        blob = self.session.scalar(
            select(Blob)
            .join(PackageFile, PackageFile.blob_id == Blob.id)
            .join(Package, Package.id == PackageFile.package_id)
            .where(
                Blob.sha256 == sha256,
                Package.project_id == project_id,
                LIVE_PACKAGE,
                PackageFile.status == PackageStatus.DEFAULT,
            )
            .limit(1)
        )
        if blob is None:
            raise NotFound("Blob")
        return blob

    def served_by_name(self, package: Package) -> dict[str, int]:
        """For each file name ``package`` holds more than once, the id of the copy a download by that
        name serves: the newest, as ``newest_file`` picks it (GitLab serves the newest file of a name)."""
        rows = self.session.execute(
            select(PackageFile.file_name, PackageFile.id)
            .where(PackageFile.package_id == package.id, PackageFile.status == PackageStatus.DEFAULT)
            .order_by(*AGE)
        ).all()
        copies = Counter(name for name, _ in rows)
        return {name: file_id for name, file_id in rows if copies[name] > 1}  # oldest first: the newest stays

    def find_package(self, project: Project, name: str, version: str) -> Package:
        """The live package ``name/version`` (hidden included). A version no package has may be an
        alias a resolver knows (``latest``: the model's latest version). Raise ``NotFound``."""
        name, version = names.package_name(name), names.package_version(version)
        package = self._find_live(project.id, name, version)
        if package is None:
            resolved = (resolve(project, name, version) for resolve in self.resolvers)
            package = next((p for p in resolved if p is not None), None)
        if package is None:
            raise NotFound("Package")
        return package

    def find_file(
        self, project: Project, name: str, version: str, path: str, *, judge: Callable[[Package], object]
    ) -> PackageFile:
        """The newest file ``path`` of ``name/version`` (hidden packages included; ``version`` may be an
        alias), once ``judge`` has let the caller read the package it resolved to: a download is
        judged on the package it reads. Raise ``InvalidParameter``, ``NotFound`` or what ``judge``
        raises."""
        path = names.file_path(path)
        package = self.find_package(project, name, version)
        judge(package)
        return self.newest_file(package, path)

    def newest_file(self, package: Package, path: str, *, spaces_in_name: bool = False) -> PackageFile:
        """The newest live file ``path`` of ``package``; raise ``InvalidParameter`` or ``NotFound``."""
        path = names.file_path(path, spaces_in_name=spaces_in_name)
        package_file = self.session.scalar(_NEWEST_NAMED, {"package": package.id, "path": path})
        if package_file is None:
            raise NotFound("Package file")
        set_committed_value(package_file, "package", package)  # the session keeps no object nothing refers to
        return package_file

    def open_file(self, package_file: PackageFile, start: int = 0, length: int | None = None) -> BlobReader:
        """Open the file's bytes for streaming and note the download; raise ``BlobNotFound``."""
        reader = self.storage.open(package_file.storage_key, start, length)
        self.note_download(package_file.package)
        return reader

    def download_url(self, package_file: PackageFile) -> str | None:
        """A short-lived URL the store serves the file's bytes from, when the store is set to
        answer downloads itself (then the download is noted); ``None`` otherwise."""
        url = self.storage.download_url(package_file.storage_key, filename=package_file.file_name.rsplit("/", 1)[-1])
        if url is not None:
            self.note_download(package_file.package)
        return url

    def note_download(self, package: Package) -> None:
        now = self.clock()
        # At most one write a minute per package: downloads must not serialise on the database.
        if package.last_downloaded_at is None or now - package.last_downloaded_at > datetime.timedelta(minutes=1):
            package.last_downloaded_at = now
            commit(self.session)

    def get(self, project: Project, package_id: int, *, statuses: tuple[PackageStatus, ...] = (PackageStatus.DEFAULT,)) -> Package:
        package = self.session.get(Package, package_id)
        if package is None or package.project_id != project.id or package.status not in statuses:
            raise NotFound("Package")
        return package

    def other_versions(self, package: Package) -> list[Package]:
        return list(
            self.session.scalars(
                select(Package)
                .where(
                    Package.project_id == package.project_id,
                    Package.package_type == package.package_type,
                    Package.name == package.name,
                    Package.id != package.id,
                    Package.status == PackageStatus.DEFAULT,
                )
                .order_by(Package.created_at.desc(), Package.id.desc())
            )
        )

    # -- listing -------------------------------------------------------------------------------

    def list(
        self,
        project: Project,
        *,
        package_type: str | None = None,
        package_name: str | None = None,
        package_version: str | None = None,
        status: str | None = None,
        order_by: str = "created_at",
        sort: str = "asc",
        page: int = 1,
        per_page: int = 20,
    ) -> Page:
        """A page of ``project``'s packages; raise ``InvalidParameter`` for a value GitLab refuses
        (``package_type``, ``status``, ``order_by``, ``sort``)."""
        query = select(Package).where(Package.project_id == project.id)
        if status is not None:
            query = query.where(Package.status == choice("status", status, LISTABLE_STATUSES))
        else:
            query = query.where(Package.status == PackageStatus.DEFAULT)
        if package_type is not None:
            query = query.where(Package.package_type == choice("package_type", package_type, PACKAGE_TYPES))
        if package_name:
            query = query.where(contains(Package.name, package_name))
        if package_version:
            query = query.where(Package.version == package_version)
        column = ORDERS[choice("order_by", order_by, ORDERS)]
        return self._page(query, column, sort, page, per_page, Package.id)

    def list_files(
        self, package: Package, *, order_by: str = "id", sort: str = "asc", page: int = 1, per_page: int = 20
    ) -> Page:
        query = select(PackageFile).where(
            PackageFile.package_id == package.id, PackageFile.status == PackageStatus.DEFAULT
        )
        column = FILE_ORDERS[choice("order_by", order_by, FILE_ORDERS)]
        return self._page(query, column, sort, page, per_page, PackageFile.id)

    def live_files(self, package: Package) -> Sequence[PackageFile]:
        """Every live file of ``package``, oldest first: ``list_files`` without paging (nor its count)."""
        return self.session.scalars(_LIVE_FILES, {"package": package.id}).all()

    def _page(self, query: Select[Any], column: Any, sort: str, page: int, per_page: int, tiebreak: Any) -> Page:
        order = (column.desc(), tiebreak.desc()) if descending(sort) else (column.asc(), tiebreak.asc())
        return query_page(self.session, query, order, page, per_page)

    def seal(self, package: Package, actor: Actor | None = None) -> bool:  # PackagePipeline.seal says what
        return committed(self.session, lambda: self.pipeline.seal(package, actor or self.actor, self.clock()))

    # -- deletion ------------------------------------------------------------------------------

    def delete(self, package: Package, *, audited: bool = True) -> None:
        """Mark the package and its files for destruction (``modelshelf gc`` reclaims the bytes), then run the
        pipeline's ``deleted`` stages, in the caller's unit of work or one of its own (``audited=False``: the caller
        records it as a whole, a model's). Raises ``Protected`` and what a step raises (nothing deleted)."""

        def work() -> None:
            package.status = PackageStatus.PENDING_DESTRUCTION
            for package_file in self.session.scalars(select(PackageFile).where(PackageFile.package_id == package.id)):
                package_file.status = PackageStatus.PENDING_DESTRUCTION
            self.pipeline.deleted(PackageChange(self.session, self.actor, package, audited=audited))

        committed(self.session, work)

    def get_file(self, package: Package, file_id: int) -> PackageFile:
        package_file = self.session.get(PackageFile, file_id)
        if package_file is None or package_file.package_id != package.id or package_file.status != PackageStatus.DEFAULT:
            raise NotFound("Package file")
        return package_file

    def get_project_file(self, project: Project, file_id: int) -> PackageFile:
        """The live file ``file_id`` of a live package of ``project`` (GitLab's download link names
        only the file); raise ``NotFound``."""
        package_file = self.session.get(PackageFile, file_id)
        if (
            package_file is None
            or package_file.status != PackageStatus.DEFAULT
            or package_file.package.project_id != project.id
            or package_file.package.status not in LIVE_STATUSES
        ):
            raise NotFound("Package file")
        return package_file

    def delete_file(self, package_file: PackageFile) -> None:
        """Mark the file for destruction, then run the ``file_deleted`` stages (in the caller's unit of work
        or one of its own). Raises ``Protected`` (a rule, a seal) and what a pipeline step raises."""

        def work() -> None:
            package_file.status = PackageStatus.PENDING_DESTRUCTION
            self.pipeline.file_deleted(PackageChange(self.session, self.actor, package_file.package, package_file))

        committed(self.session, work)

