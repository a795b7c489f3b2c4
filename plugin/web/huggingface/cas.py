"""The Xet CAS service under ``/hf``: the Hub's token endpoints (``xet-write-token``,
``xet-read-token``), and the CAS API at ``<HF_ENDPOINT>/cas`` that ``hf_xet`` speaks with the token
they hand out (``plugin.huggingface.cas_tokens``): xorb and shard uploads, the deduplication query,
reconstructions (``/v1``: the client falls back to it from ``/v2``), and the xorb byte ranges a
reconstruction points at (signed URLs, or presigned ones where the store answers downloads itself).
``plugin.huggingface.xorbs`` and ``plugin.huggingface.xet_files`` say what each checks.

Bodies: a xorb (at most ``MAX_XORB_BYTES``) and a shard (``MAX_SHARD_BYTES``) are read whole, to be
validated before anything counts; the xorbs and shards a worker holds at once are bounded
(``xet_budget``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from flask import Response, current_app, jsonify, request

from package_api.plugin_api import (
    Actor,
    InvalidInput,
    NotFound,
    Project,
    Unauthorized,
    User,
    base_storage,
    db,
    package_services,
    principal,
    streams_body,
)
from plugin import services
from plugin.huggingface.cas_tokens import CasGrant
from plugin.huggingface.xet.shard import MAX_SHARD_BYTES
from plugin.huggingface.xet.xorb import MAX_XORB_BYTES
from plugin.huggingface.xet_budget import BudgetBusy, xorb_budget
from plugin.huggingface.xet_files import XetFiles
from plugin.huggingface.xorbs import XorbStore, parse_hex, xorb_key
from plugin.registry.access import ModelAction
from plugin.web.huggingface import context
from plugin.web.huggingface.blueprint import bp
from plugin.web.huggingface.errors import error
from plugin.web.huggingface.writes import caller, endpoint

#: Bytes read from a request body at a time.
CHUNK = 1024 * 1024
#: The CAS API's prefixes in xorb and chunk keys (``<prefix>/<hash>``): the specification names the
#: chunk index ``default-merkledb``; ``hf_xet`` 1.8 asks under ``default``.
XORB_PREFIX, CHUNK_PREFIXES = "default", ("default-merkledb", "default")
#: Seconds a xorb upload refused for want of budget (``BudgetBusy``) is told to wait.
RETRY_AFTER = 5


def cas_url() -> str:
    return f"{endpoint()}/cas"


def _token_answer(grant: CasGrant) -> Response:
    token, expires = services.hf_cas_tokens().sign(grant)
    response = jsonify({"casUrl": cas_url(), "accessToken": token, "exp": expires})
    response.headers["X-Xet-Cas-Url"] = cas_url()
    response.headers["X-Xet-Access-Token"] = token
    response.headers["X-Xet-Token-Expiration"] = str(expires)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/models/<namespace>/<name>/xet-write-token/<path:revision>")
def xet_write_token(namespace: str, name: str, revision: str) -> Response:
    """A token to upload to the repo's Xet store: for a caller who may commit to ``revision`` (a
    sealed version is refused here, before any byte is sent)."""
    repo = context.repo(namespace, name, ModelAction.WRITE_MODEL)
    if revision != "None":  # what the client sends when it opens a pull request
        services.hf_commit_services(caller()).target(repo.model, revision)
    return _token_answer(CasGrant.of(principal(), repo.project.id, write=True))


@bp.get("/api/models/<namespace>/<name>/xet-read-token/<path:revision>")
def xet_read_token(namespace: str, name: str, revision: str) -> Response:
    repo = context.repo(namespace, name, ModelAction.READ_MODEL)
    return _token_answer(CasGrant.of(principal(), repo.project.id, write=False))


def _grant(*, write: bool = False) -> tuple[Project, Actor]:
    """The project and actor of the request's CAS token; raise ``Unauthorized``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("The CAS API takes the token of xet-read-token or xet-write-token (Authorization: Bearer).")
    grant = services.hf_cas_tokens().check(token.strip(), write=write)
    user = db.session.get(User, grant.user_id) if grant.user_id is not None else None
    project = db.session.get(Project, grant.project_id)
    if (grant.user_id is not None and user is None) or project is None:
        raise Unauthorized("The user or project this Xet token was made for is gone")
    return project, Actor(grant.principal(user), request.remote_addr or "")


def _body(limit: int, what: str) -> bytes:
    """The whole body, at most ``limit`` bytes; raise ``InvalidInput`` beyond. The pieces are joined
    once (growing one buffer, then copying it to ``bytes``, cost a third of a xorb upload's time)."""
    if request.content_length is not None and request.content_length > limit:
        raise InvalidInput(f"A {what} has at most {limit} bytes.")
    pieces, size = [], 0
    while size <= limit:
        piece = request.stream.read(min(CHUNK, limit + 1 - size))
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    if size > limit:
        raise InvalidInput(f"A {what} has at most {limit} bytes.")
    return b"".join(pieces)


def _prefix(prefix: str, *expected: str) -> None:
    if prefix not in expected:
        raise NotFound(f"CAS prefix {prefix}")


@contextmanager
def _held(limit: int, what: str) -> Iterator[Callable[[int], AbstractContextManager[None]]]:
    """Hold the request body's share of the worker's upload budget (``xet_budget``: its
    ``Content-Length``, ``limit`` when chunked) while the block reads, checks and stores it; give the
    block a way to take more (at most what the budget has beyond this share, so that a request never
    waits for itself). A body declared larger than ``limit`` is refused before any wait;
    ``BudgetBusy`` after a bounded one."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise InvalidInput(f"A {what} has at most {limit} bytes.")
    budget = xorb_budget(int(current_app.config["MODELSHELF"]["HF_XET_UPLOAD_MEMORY"]))
    share = min(limit if declared is None else declared, budget.limit)
    with budget.hold(share):
        yield lambda more: budget.hold(min(more, budget.limit - share))


def _busy(busy: BudgetBusy, what: str) -> Response:
    response = error(503, f"Busy: {busy}. Send the {what} again.")
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


@bp.post("/cas/v1/xorbs/<prefix>/<xorb>")
@streams_body
def upload_xorb(prefix: str, xorb: str) -> Response:
    _prefix(prefix, XORB_PREFIX)
    project, actor = _grant(write=True)
    try:
        with _held(MAX_XORB_BYTES, "xorb"):  # read, validated, stored
            data = _body(MAX_XORB_BYTES, "xorb")
            files = services.hf_xet_files(actor)
            files.packages.meter.received(len(data))  # what the client sent: a deduplicated chunk is not sent
            inserted = files.xorbs.receive(project, xorb, data)
    except BudgetBusy as busy:
        return _busy(busy, "xorb")
    return jsonify({"was_inserted": inserted})


@bp.post("/cas/v1/xorb-grants/<prefix>/<xorb>")
def grant_xorb_upload(prefix: str, xorb: str) -> Response:
    """Where the client may put xorb ``xorb`` itself (``plugin.huggingface.xet_direct``): 201 with a
    grant, 200 when the repo has it, 404 where the store takes no direct writes."""
    _prefix(prefix, XORB_PREFIX)
    project, _ = _grant(write=True)
    body = request.get_json(force=True, silent=True)
    length = body.get("length") if isinstance(body, dict) else None
    grant = services.hf_direct_xorbs().grant(project, xorb, length)
    if grant is None:
        return jsonify({"was_inserted": False})
    response = jsonify(grant)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/cas/v1/xorb-commits/<prefix>/<xorb>/grant/<grant_id>")
def commit_xorb_upload(prefix: str, xorb: str, grant_id: str) -> Response:
    """The client put the xorb of grant ``grant_id``: it counts once a shard naming it verifies."""
    _prefix(prefix, XORB_PREFIX)
    project, actor = _grant(write=True)
    size, completed = services.hf_direct_xorbs().commit(project, xorb, grant_id)
    if completed:  # what the client sent, to the store (once: a retried commit sent nothing more)
        services.hf_xet_files(actor).packages.meter.received(size)
    return jsonify({"was_inserted": True})


@bp.post("/cas/v1/shards")
@streams_body
def upload_shard() -> Response:
    project, actor = _grant(write=True)
    try:
        with _held(MAX_SHARD_BYTES, "shard") as reserve:  # a shard too is read whole before it counts
            data = _body(MAX_SHARD_BYTES, "shard")
            files = services.hf_xet_files(actor)
            files.reserve = reserve  # and the direct xorbs it names, read to be checked
            files.packages.meter.received(len(data))
            new = files.receive_shard(project, data, creator=actor.principal.user)
    except BudgetBusy as busy:
        return _busy(busy, "shard")
    return jsonify({"result": 1 if new else 0})


@bp.get("/cas/v1/chunks/<prefix>/<chunk>")
def query_chunk(prefix: str, chunk: str) -> Response:
    _prefix(prefix, *CHUNK_PREFIXES)
    project, _ = _grant()
    shard = XorbStore(db.session, base_storage()).dedup_shard(project, chunk)
    return Response(shard, mimetype="application/octet-stream")


@bp.get("/cas/v1/reconstructions/<file>")
def reconstruction(file: str) -> Response:
    project, actor = _grant()
    first, last = 0, None
    if request.range is not None:
        if len(request.range.ranges) != 1:
            raise InvalidInput("A reconstruction takes one byte range.")
        first, stop = request.range.ranges[0]
        last = None if stop is None else stop - 1
    tokens, store = services.hf_cas_tokens(), base_storage()

    def url(xorb: str, key: str) -> str:
        presigned = store.download_url(key, filename=xorb)
        return presigned or f"{cas_url()}/v1/fetch/{tokens.sign_fetch(project.id, xorb)}"

    files: XetFiles = services.hf_xet_files(actor)
    answer = files.reconstruction(project, file, first, last, url)
    if answer is None:
        response = jsonify({"error": "The range starts past the end of the file."})
        response.status_code = 416
        return response
    return jsonify(answer)


@bp.get("/cas/v1/fetch/<token>")
def fetch_xorb(token: str) -> Response:
    """Bytes of a xorb (one ``Range``), for the holder of a URL a reconstruction handed out."""
    project_id, xorb = services.hf_cas_tokens().check_fetch(token)
    # The URL is the permission: whatever credentials come with it are not looked at.
    row = XorbStore(db.session, base_storage()).find(project_id, parse_hex(xorb, "xorb"))
    if row is None:
        raise NotFound(f"Xorb {xorb}")
    start, length, status = 0, row.size, 200
    headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
    if request.range is not None and len(request.range.ranges) == 1:
        bounds = request.range.range_for_length(row.size)
        if bounds is None:
            return Response(status=416, headers={"Content-Range": f"bytes */{row.size}"})
        start, stop = bounds
        length, status = stop - start, 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{row.size}"
    reader = base_storage().open(xorb_key(row.hash), start, length)
    package_services().meter.sent(length)
    headers["Content-Length"] = str(length)

    def chunks() -> Iterator[bytes]:
        try:
            yield from reader
        finally:
            reader.close()

    return Response(chunks(), status=status, headers=headers, direct_passthrough=True)
