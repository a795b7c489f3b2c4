"""The Git LFS batch API as the Hub's client speaks it: the ``basic`` transfer (one PUT) and the
Hub's ``multipart`` transfer (PUTs of ``part_size`` bytes, then a completion POST).

The client sends no credentials with the PUTs and the completion (the Hub hands out presigned S3
URLs), so the batch answer, given to a caller allowed to write the model, carries URLs signed with the
instance's secret key (``Transfers``): each names the project, the object's SHA-256 and size and who
asked, and expires after ``UPLOAD_URL_EXPIRY`` seconds (15 minutes by default); each use judges the
caller's access again (``plugin.web.huggingface.writes``), so a caller who lost it is refused at once.
Presigned part URLs of S3 cannot be judged again: they work until they expire (``docs/security.md``).
Every byte goes through the upload pipeline into the
staging package (``plugin.huggingface.staging``): a basic PUT with the SHA-256 the client claimed
checked on the stream (a mismatch stores nothing). A multipart upload's parts go straight to the
store where it takes direct writes (S3 with ``S3_REDIRECT_DOWNLOADS`` and parts of 5 MiB or more:
presigned part URLs, and on
completion the server joins them and reads them back once to check the SHA-256 before the object
counts); elsewhere they come to the server as staging files of their own, joined on completion into
the object (hashed and checked the same way), the parts then dropped. An object the project holds
already (same SHA-256 and size) gets no upload action: it costs no bytes.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from package_api.plugin_api import (
    Actor,
    ChunkReader,
    DbSession,
    DirectUploads,
    InvalidInput,
    NotFound,
    PackageFile,
    PackageService,
    Principal,
    PrincipalKind,
    Project,
    Unauthorized,
    User,
    sha256_digest,
)
from plugin.huggingface.staging import Staging

#: How long a transfer URL works by default (``UPLOAD_URL_EXPIRY``): the client uploads right after
#: the batch request, the objects of one batch (up to 256) a few at a time.
TRANSFER_SECONDS = 900
SALT = "modelshelf-hf-lfs-transfer"


class TransferRefused(Unauthorized):
    """A transfer URL that is forged, damaged or expired (its message says to ask for a new one)."""


@dataclass(frozen=True)
class Transfer:
    """What a signed transfer URL allows: storing object ``oid`` of ``size`` bytes in ``project_id``,
    for the caller who asked for it (``user_id``: ``None`` for a token without a user; how it
    authenticated, which token, for the audit trail)."""

    project_id: int
    oid: str
    size: int
    user_id: int | None
    kind: str = PrincipalKind.ANONYMOUS.value
    token_id: int | None = None
    name: str = ""
    #: A write of parts straight to the store: its key and the store's handle (``DirectUploads``).
    key: str | None = None
    handle: str | None = None
    #: The scopes of the caller's token, so that each use is judged as the batch request was.
    scopes: tuple[str, ...] = ("api",)
    #: Whether the caller was confined to the project (deploy, job and CI tokens); a user's token was
    #: not, and an administrator's powers need it unconfined.
    confined: bool = True

    @staticmethod
    def of(principal: Principal, project_id: int, oid: str, size: int) -> Transfer:
        user_id = principal.user.id if principal.user is not None else None
        return Transfer(
            project_id, oid, size, user_id, principal.kind.value, principal.token_id, principal.name,
            scopes=tuple(sorted(principal.scopes)), confined=principal.project_id is not None,
        )

    def principal(self, user: User | None, scopes: frozenset[str]) -> Principal:
        """Who the transfer stores the bytes for, confined as it was when the batch was judged."""
        return Principal(
            user=user, scopes=scopes, kind=PrincipalKind(self.kind), project_id=self.project_id if self.confined else None,
            token_id=self.token_id, name=self.name,
        )


class Transfers:
    """Signs and checks the tokens in transfer URLs."""

    def __init__(self, secret_key: str | bytes, max_age: int = TRANSFER_SECONDS) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.max_age = max_age

    def sign(self, transfer: Transfer) -> str:
        t = transfer
        return self.serializer.dumps(
            [t.project_id, t.oid, t.size, t.user_id, t.kind, t.token_id, t.name, t.key, t.handle, list(t.scopes), t.confined]
        )

    def check(self, token: str) -> Transfer:
        """Raise ``Unauthorized`` for a token that is forged, damaged or expired."""
        try:
            project_id, oid, size, user_id, kind, token_id, name, key, handle, scopes, confined = self.serializer.loads(
                token, max_age=self.max_age
            )
            return Transfer(
                int(project_id), str(oid), int(size), None if user_id is None else int(user_id), PrincipalKind(kind).value,
                None if token_id is None else int(token_id), str(name), key and str(key), handle and str(handle),
                tuple(str(scope) for scope in scopes), bool(confined),
            )
        except (BadSignature, ValueError, TypeError):
            raise TransferRefused(
                f"This upload URL is invalid or has expired (they work {self.max_age} seconds, UPLOAD_URL_EXPIRY): "
                "ask the batch API for a new one"
            ) from None


def _joined(packages: PackageService, files: Sequence[PackageFile]) -> Iterator[bytes]:
    """The bytes of several stored files, one after the other."""
    for package_file in files:
        reader = packages.storage.open(package_file.storage_key)
        try:
            yield from reader
        finally:
            reader.close()


class LfsService:
    def __init__(
        self, session: DbSession, packages: PackageService, transfers: Transfers, *, part_size: int, actor: Actor
    ) -> None:
        self.session = session
        self.packages = packages
        self.staging = Staging(session, packages)
        self.transfers = transfers
        self.part_size = part_size  # above this, the multipart transfer in parts of this size
        self.actor = actor

    def batch(
        self, project: Project, objects: Sequence[Mapping[str, object]], transfers: Sequence[str], base: str
    ) -> dict[str, object]:
        """The batch answer for uploading ``objects`` (``{"oid", "size"}``): no action for an object
        the project holds, a basic or multipart upload otherwise, URLs under ``base`` (the
        repository's ``.git/info/lfs`` URL). Raise ``InvalidInput`` for a malformed object."""
        multipart = "multipart" in transfers
        answers: list[dict[str, object]] = []
        for entry in objects:
            oid, size = entry.get("oid"), entry.get("size")
            if not isinstance(oid, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidInput("Each object needs an 'oid' (its SHA-256) and a 'size'.")
            oid = sha256_digest(oid, "oid")
            answer: dict[str, object] = {"oid": oid, "size": size, "authenticated": True}
            if not self.staging.has(project, oid, size):
                answer["actions"] = self._actions(base, Transfer.of(self.actor.principal, project.id, oid, size), multipart)
            answers.append(answer)
        return {"transfer": "multipart" if multipart else "basic", "objects": answers, "hash_algo": "sha256"}

    def _actions(self, base: str, transfer: Transfer, multipart: bool) -> dict[str, object]:
        verify = {"href": f"{base}/verify"}
        if multipart and transfer.size > self.part_size:
            parts = range(1, math.ceil(transfer.size / self.part_size) + 1)
            header: dict[str, str] = {"chunk_size": str(self.part_size)}
            lifetime = datetime.timedelta(seconds=self.transfers.max_age)
            direct = DirectUploads(self.packages).begin(self.part_size, urls_valid_for=lifetime)
            if direct is not None:  # the parts go straight to the store
                key, handle = direct
                transfer = dataclasses.replace(transfer, key=key, handle=handle)
                header.update({f"{n:05d}": self.packages.storage.part_url(key, handle, n) for n in parts})
            token = self.transfers.sign(transfer)
            if direct is None:
                header.update({f"{n:05d}": f"{base}/parts/{token}/{n}" for n in parts})
            return {"upload": {"href": f"{base}/complete/{token}", "header": header}, "verify": verify}
        return {"upload": {"href": f"{base}/objects/{self.transfers.sign(transfer)}"}, "verify": verify}

    # -- the transfers (signed URLs, no credentials) ------------------------------------------------

    def project_of(self, transfer: Transfer) -> Project:
        project = self.session.get(Project, transfer.project_id)
        if project is None:
            raise NotFound("Project")
        return project

    def creator(self, transfer: Transfer) -> User | None:
        return self.session.get(User, transfer.user_id) if transfer.user_id is not None else None

    def receive(self, transfer: Transfer, body: object) -> PackageFile:
        """Store the whole object (basic transfer); raise ``ChecksumMismatch`` (nothing kept) and
        what an upload raises."""
        project = self.project_of(transfer)
        return self.staging.stage(
            project, body, creator=self.creator(transfer), sha256=transfer.oid, size=transfer.size  # type: ignore[arg-type]
        )

    def receive_part(self, transfer: Transfer, number: int, body: object) -> PackageFile:
        """Store part ``number`` of a multipart upload; its ``sha256`` is its ETag."""
        if not 1 <= number <= math.ceil(transfer.size / self.part_size):
            raise InvalidInput(f"Part {number} is not a part of this upload.")
        project = self.project_of(transfer)
        return self.staging.stage(
            project,
            body,  # type: ignore[arg-type]
            creator=self.creator(transfer),
            size=self.part_size,
            name=_part_name(transfer.oid, number),
        )

    def complete(self, transfer: Transfer, parts: Sequence[Mapping[str, object]]) -> PackageFile:
        """Join the parts the client names (in order, each with the ETag it was given) into the object,
        check its SHA-256 and size, and drop the parts. Raise ``InvalidInput`` for a missing or changed
        part, ``ChecksumMismatch`` when the joined bytes are not the object the client announced."""
        project = self.project_of(transfer)
        expected = math.ceil(transfer.size / self.part_size)
        numbers = [p.get("partNumber") for p in parts]
        if numbers != list(range(1, expected + 1)):
            raise InvalidInput(f"The completion must name parts 1 to {expected}, in order.")
        if transfer.key is not None and transfer.handle is not None:
            etags = [(n, str(p.get("etag", ""))) for n, p in enumerate(parts, start=1)]
            return self.staging.stage_direct(
                project, transfer.key, transfer.handle, etags, creator=self.creator(transfer), sha256=transfer.oid
            )
        files = []
        for part in parts:
            try:
                stored = self.staging.staged_file(project, _part_name(transfer.oid, int(str(part["partNumber"]))))
            except NotFound:
                raise InvalidInput(f"Part {part['partNumber']} was not uploaded.") from None
            if str(part.get("etag", "")).strip('"') != stored.sha256:
                raise InvalidInput(f"Part {part['partNumber']} does not have the ETag it was given.")
            files.append(stored)
        if sum(f.size for f in files) != transfer.size:
            raise InvalidInput(f"The parts hold {sum(f.size for f in files)} bytes, not {transfer.size}.")
        joined = self.staging.stage(
            project,
            ChunkReader(_joined(self.packages, files)),
            creator=self.creator(transfer),
            sha256=transfer.oid,
            size=transfer.size,
        )
        for stored in files:
            self.packages.delete_file(stored)
        return joined

    def verify(self, project: Project, oid: object, size: object) -> None:
        """Raise ``NotFound`` unless the project holds object ``oid`` of ``size`` bytes."""
        if not isinstance(oid, str) or not isinstance(size, int):
            raise InvalidInput("Verification needs the object's 'oid' and 'size'.")
        self.staging.blob(project, sha256_digest(oid, "oid"), size)


def _part_name(oid: str, number: int) -> str:
    return f"{oid}.part{number:05d}"
