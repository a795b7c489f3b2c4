"""The Hugging Face Hub's write routes under ``/hf``: repos (models), the commit protocol
(``preupload``, the Git LFS batch API and its transfers, the NDJSON ``commit``), branches (versions)
and tags (aliases). ``plugin.huggingface.commits`` and ``plugin.huggingface.lfs`` say what each does;
``docs/huggingface.md`` (Publishing) tells users.

Bodies: the commit streams (``streams_body``), read one NDJSON line at a time, each line at most the
base64 of ``HF_REGULAR_MAX_SIZE`` bytes plus ``LINE_OVERHEAD``, the whole at most
``HF_COMMIT_MAX_SIZE``; the LFS transfers stream to storage like every upload; every other body is
JSON under the instance's ``MAX_REQUEST_BODY``.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from flask import Response, current_app, jsonify, request

from package_api.plugin_api import (
    Actor,
    AlreadyExists,
    InvalidInput,
    Unauthorized,
    User,
    access_policy,
    authorized_project,
    base_url,
    db,
    principal,
    request_actor,
    request_body,
    streams_body,
)
from plugin import services
from plugin.huggingface.errors import RevisionNotFound
from plugin.huggingface.lfs import LfsService, Transfer
from plugin.huggingface.repos import Repo, RepoRef, repo_id
from plugin.huggingface.revisions import MAIN
from plugin.registry.access import ModelAction
from plugin.registry.models import ModelOrigin
from plugin.web.huggingface import context
from plugin.web.huggingface.blueprint import bp
from plugin.web.huggingface.errors import error

#: Bytes of an NDJSON line beyond its base64 content (the path, the keys).
LINE_OVERHEAD = 64 * 1024
LFS_MEDIA_TYPE = "application/vnd.git-lfs+json"


def endpoint() -> str:
    """``HF_ENDPOINT``: the base URL of this surface."""
    return f"{base_url()}/hf"


def caller() -> Actor:
    """Who the request makes its changes as: its API caller (``/hf`` is an API surface)."""
    return request_actor()


def _settings() -> Mapping[str, Any]:
    return current_app.config["MODELSHELF"]  # type: ignore[no-any-return]


def _json() -> dict[str, Any]:
    body = request_body()
    return body if isinstance(body, dict) else {}


def _repo_ref(body: Mapping[str, Any]) -> RepoRef:
    """The repo a ``repos/create`` or ``repos/delete`` body names (``organization`` and ``name``)."""
    if body.get("type", "model") not in (None, "model"):
        raise InvalidInput(f"Only model repos are served here, not {body.get('type')}s.")
    name, namespace = body.get("name"), body.get("organization")
    if isinstance(name, str) and "/" in name and namespace is None:
        namespace, _, name = name.partition("/")
    if not isinstance(name, str) or not isinstance(namespace, str) or not name or not namespace:
        raise InvalidInput("A repo id is <project id>/<model name>, for example 42/fraud-detector.")
    return RepoRef(namespace, name)


# -- repos --------------------------------------------------------------------------------------------


@bp.post("/api/repos/create")
def create_repo() -> Response:
    ref = _repo_ref(_json())
    project = authorized_project(str(ref.project_id), ModelAction.WRITE_MODEL)
    models = services.model_services()
    try:
        model = models.create(project, ref.name, author=principal().user, origin=ModelOrigin.HUGGING_FACE)
    except AlreadyExists:
        # The Hub's 409 names the repo too: the client reads its ``url`` with ``exist_ok=True``.
        taken = error(409, f"You already created this model repo: {ref.repo_id}")
        taken.set_data(json.dumps({"error": f"You already created this model repo: {ref.repo_id}", "url": f"{endpoint()}/{ref.repo_id}"}))
        return taken
    name = repo_id(project, model)
    return jsonify({"url": f"{endpoint()}/{name}", "name": name, "id": str(model.id)})


@bp.delete("/api/repos/delete")
def delete_repo() -> Response:
    ref = _repo_ref(_json())
    repo = context.repo(ref.namespace, ref.name, ModelAction.DELETE_MODEL)
    services.model_services().delete(repo.model)
    return jsonify({})


@bp.post("/api/validate-yaml")
def validate_yaml() -> Response:
    """The client's check of a ``README.md`` before a commit: its YAML front matter (the model card's
    metadata) must parse to a mapping. Its fields are not checked against the Hub's schema."""
    content = _json().get("content")
    problem = card_metadata_problem(content if isinstance(content, str) else "")
    if problem is None:
        return jsonify({"errors": [], "warnings": []})
    response = jsonify({"errors": [{"message": problem}], "warnings": []})
    response.status_code = 400
    response.headers["X-Error-Message"] = "Invalid metadata in README.md"
    return response


def card_metadata_problem(readme: str) -> str | None:
    """What is wrong with the YAML front matter of ``readme`` (``None``: nothing, or none there)."""
    lines = readme.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        return "The metadata block opened by '---' is never closed"
    try:
        metadata = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        return f"The metadata is not valid YAML: {exc}"
    if metadata is not None and not isinstance(metadata, dict):
        return "The metadata must be a mapping of keys to values"
    return None


# -- the commit protocol -------------------------------------------------------------------------------


@bp.post("/api/models/<namespace>/<name>/preupload/<path:revision>")
def preupload(namespace: str, name: str, revision: str) -> Response:
    repo = context.repo(namespace, name, ModelAction.WRITE_MODEL)
    files = _json().get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise InvalidInput("The body needs 'files': a list of {path, size, sample}.")
    return jsonify({"files": services.hf_commit_services(caller()).preupload(repo.model, revision, files)})


def _lines(line_max: int, body_max: int) -> Iterator[Mapping[str, object]]:
    """The commit body's NDJSON objects, one line in memory at a time; ``InvalidInput`` past the caps."""
    total = 0
    while True:
        line = request.stream.readline(line_max + 1)
        if not line:
            return
        total += len(line)
        if total > body_max:
            raise InvalidInput(f"The commit body is larger than {body_max} bytes (HF_COMMIT_MAX_SIZE).")
        if len(line) > line_max:
            raise InvalidInput(
                f"A line of the commit is longer than {line_max} bytes: files sent inline may have "
                f"{_settings()['HF_REGULAR_MAX_SIZE']} bytes at most (HF_REGULAR_MAX_SIZE)."
            )
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            raise InvalidInput("A line of the commit is not a JSON object.") from None
        if not isinstance(item, dict):
            raise InvalidInput("A line of the commit is not a JSON object.")
        yield item


@bp.post("/api/models/<namespace>/<name>/commit/<path:revision>")
@streams_body
def commit(namespace: str, name: str, revision: str) -> Response:
    repo = context.repo(namespace, name, ModelAction.WRITE_MODEL)
    commits = services.hf_commit_services(caller())
    commits.target(repo.model, revision)  # refuse a revision before reading the body
    regular_max = int(_settings()["HF_REGULAR_MAX_SIZE"])
    line_max = 4 * -(-regular_max // 3) + LINE_OVERHEAD
    author = principal().user
    ops = commits.read(repo.project, _lines(line_max, int(_settings()["HF_COMMIT_MAX_SIZE"])), creator=author)
    row = commits.commit(repo.project, repo.model, revision, ops, author=author)
    oid = context.revision_services().revision(row).commit_id
    return jsonify(
        {
            "commitUrl": f"{endpoint()}/{repo.repo_id}/commit/{oid}",
            "commitOid": oid,
            "commitMessage": ops.summary,
            "hookOutput": "",
            "success": True,
            "pullRequestUrl": None,
        }
    )


#: The most files one ``lfs-files/duplicate`` request names (the client sends 500 at a time).
DUPLICATE_MAX = 1000


@bp.post("/api/models/<namespace>/<name>/lfs-files/duplicate")
def duplicate_lfs_files(namespace: str, name: str) -> Response:
    """``_duplicate_lfs_files`` (a ``CommitOperationCopy`` from another repo): make Xet files of this
    repo (read; written if ``target`` is in the same project) available to the commits of ``target``
    (written), by their Xet hash, no byte copied; the client then commits them by SHA-256. The source's
    project must hold each file (``XetFiles.duplicate``). Answers ``{"failed": [{"sha256", "error"}]}``."""
    body = _json()
    target_ref = body.get("target")
    if not isinstance(target_ref, dict):
        raise InvalidInput("The body needs 'target': {type, name} of the repo to copy into.")
    ref = _repo_ref(target_ref)
    target = context.repo(ref.namespace, ref.name, ModelAction.WRITE_MODEL)
    # Within one project the bytes are the project's already (a commit may name them by digest).
    same = RepoRef(namespace, name).project_id == target.project.id
    source = context.repo(namespace, name, ModelAction.WRITE_MODEL if same else ModelAction.READ_MODEL)
    files = body.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files) or len(files) > DUPLICATE_MAX:
        raise InvalidInput(f"The body needs 'files': a list of at most {DUPLICATE_MAX} {{xetHash, sha256, filename}}.")
    xet_files = services.hf_xet_files(caller())
    failed = []
    for entry in files:
        xet_hash, sha256 = entry.get("xetHash"), entry.get("sha256")
        if not isinstance(xet_hash, str) or not isinstance(sha256, str):
            failed.append({"sha256": sha256, "error": "each file needs its 'xetHash' and 'sha256'"})
            continue
        why = xet_files.duplicate(source.project, target.project, xet_hash, sha256, creator=principal().user)
        if why is not None:
            failed.append({"sha256": sha256, "error": why})
    return jsonify({"failed": failed})


# -- Git LFS -------------------------------------------------------------------------------------------


def _lfs_base(repo: Repo) -> str:
    return f"{endpoint()}/{repo.repo_id}.git/info/lfs"


def _lfs_json(payload: object, status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    response.headers["Content-Type"] = LFS_MEDIA_TYPE
    return response


@bp.post("/<namespace>/<name>.git/info/lfs/objects/batch")
def lfs_batch(namespace: str, name: str) -> Response:
    body = _json()
    if body.get("operation") != "upload":
        raise InvalidInput("Only uploads go through the batch API here; downloads are at /resolve/.")
    repo = context.repo(namespace, name, ModelAction.WRITE_MODEL)
    objects = body.get("objects")
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise InvalidInput("The body needs 'objects': a list of {oid, size}.")
    transfers = body.get("transfers") or ["basic"]
    answer = services.hf_lfs_services(caller()).batch(repo.project, objects, list(transfers), _lfs_base(repo))
    return _lfs_json(answer)


def _transfer_services(token: str) -> tuple[LfsService, Transfer]:
    """The LFS service acting for whoever the signed ``token`` was handed to (no credentials come
    with a transfer), judged again now: a caller who lost the right to write the project's models
    since the batch request (removed, demoted, blocked) is refused. Raise ``Unauthorized`` for a bad
    token."""
    transfer = services.hf_transfers().check(token)
    user = db.session.get(User, transfer.user_id) if transfer.user_id is not None else None
    if transfer.user_id is not None and user is None:
        raise Unauthorized("The user this upload URL was made for is gone")
    actor = Actor(transfer.principal(user, frozenset(transfer.scopes)), request.remote_addr or "")
    lfs = services.hf_lfs_services(actor)
    access_policy().authorize(actor.principal, lfs.project_of(transfer), ModelAction.WRITE_MODEL)
    return lfs, transfer


@bp.put("/<namespace>/<name>.git/info/lfs/objects/<token>")
@streams_body
def lfs_upload(namespace: str, name: str, token: str) -> Response:
    lfs, transfer = _transfer_services(token)
    lfs.receive(transfer, request.stream)
    return Response(status=200)


@bp.put("/<namespace>/<name>.git/info/lfs/parts/<token>/<int:number>")
@streams_body
def lfs_upload_part(namespace: str, name: str, token: str, number: int) -> Response:
    lfs, transfer = _transfer_services(token)
    part = lfs.receive_part(transfer, number, request.stream)
    response = Response(status=200)
    response.headers["ETag"] = f'"{part.sha256}"'
    return response


@bp.post("/<namespace>/<name>.git/info/lfs/complete/<token>")
def lfs_complete(namespace: str, name: str, token: str) -> Response:
    lfs, transfer = _transfer_services(token)
    parts = _json().get("parts")
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise InvalidInput("The completion needs 'parts': a list of {partNumber, etag}.")
    lfs.complete(transfer, parts)
    return _lfs_json({})


@bp.post("/<namespace>/<name>.git/info/lfs/verify")
def lfs_verify(namespace: str, name: str) -> Response:
    repo = context.repo(namespace, name, ModelAction.WRITE_MODEL)
    body = _json()
    services.hf_lfs_services(caller()).verify(repo.project, body.get("oid"), body.get("size"))
    return _lfs_json({})


# -- branches and tags ------------------------------------------------------------------------------------


@bp.post("/api/models/<namespace>/<name>/branch/<path:branch>")
def create_branch(namespace: str, name: str, branch: str) -> Response:
    repo = context.repo(namespace, name, ModelAction.WRITE_MODEL)
    start = _json().get("startingPoint") or MAIN
    revisions = context.revision_services()
    try:
        source = revisions.version(repo.model, str(start))
    except RevisionNotFound:
        if start != MAIN:
            raise
        source = None  # a model without versions: the branch starts empty
    services.hf_commit_services(caller()).create_branch(repo.project, repo.model, branch, source, author=principal().user)
    return jsonify({})


@bp.post("/api/models/<namespace>/<name>/tag/<path:revision>")
def create_tag(namespace: str, name: str, revision: str) -> Response:
    repo = context.repo(namespace, name, ModelAction.WRITE_MODEL)
    tag = _json().get("tag")
    if not isinstance(tag, str) or not tag:
        raise InvalidInput("The body needs the 'tag' to create.")
    version = context.revision_services().version(repo.model, revision)
    services.hf_commit_services(caller()).create_tag(repo.model, tag, version)
    return jsonify({})


@bp.delete("/api/models/<namespace>/<name>/tag/<path:tag>")
def delete_tag(namespace: str, name: str, tag: str) -> Response:
    repo = context.repo(namespace, name, ModelAction.WRITE_MODEL)
    services.hf_commit_services(caller()).delete_tag(repo.model, tag)
    return jsonify({})
