"""What ``huggingface_hub`` reads: ``model_info``/``repo_info``, ``list_repo_tree``/``list_repo_files``,
``get_paths_info``, ``list_repo_refs``, ``list_repo_commits``, ``whoami``, and ``/resolve/`` (HEAD and
GET, ``Range``), which ``hf_hub_download``, ``snapshot_download`` and ``file_exists`` use. A revision
is ``main``, a version, an alias or a commit id (``plugin.huggingface.revisions``)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from flask import Response, jsonify, request

from package_api.plugin_api import (
    InvalidParameter,
    NotFound,
    PackageFile,
    Unauthorized,
    base_url,
    file_response,
    package_services,
    principal,
)
from plugin.huggingface.errors import EntryNotFound
from plugin.huggingface.revisions import MAIN, Revision
from plugin.huggingface.xet_files import xet_hash_of
from plugin.registry.access import ModelAction
from plugin.web.huggingface import entities
from plugin.web.huggingface.blueprint import bp
from plugin.web.huggingface.context import repo, revision_services

REPO = "/api/models/<namespace>/<name>"
#: The Hub's page sizes: 1,000 tree entries (50 when expanded), and commits by the hundred.
TREE_PAGE, EXPANDED_TREE_PAGE, COMMITS_PAGE = 1000, 50, 100


def _flag(name: str) -> bool:
    """A boolean query parameter as the client sends one (``True``, ``true``, ``1``)."""
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def _page(items: Sequence[Any], size: int) -> Response:
    """One page of ``items``, with a ``Link`` to the next (the client follows ``rel="next"``)."""
    raw = request.args.get("p", "0")
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidParameter("p")
    number = int(raw)
    response = jsonify(list(items[number * size : (number + 1) * size]))
    if (number + 1) * size < len(items):
        query = {**request.args.to_dict(), "p": str(number + 1)}
        response.headers["Link"] = f'<{base_url()}{request.path}?{urlencode(query)}>; rel="next"'
    response.headers["X-Total-Count"] = str(len(items))
    response.headers["X-Total-Pages"] = str(max(1, math.ceil(len(items) / size)))
    return response


def _revision(namespace: str, name: str, revision: str) -> tuple[Any, Revision]:
    found = repo(namespace, name, ModelAction.READ_MODEL)
    return found, revision_services().resolve(found.model, revision)


@bp.get(REPO)
@bp.get(f"{REPO}/revision/<revision>")
def model_info(namespace: str, name: str, revision: str = MAIN) -> Response:
    """``model_info`` / ``repo_info``: the revision's commit id (``sha``) and files (``siblings``;
    sizes and SHA-256 with ``blobs=true``, the client's ``files_metadata=True``)."""
    found, resolved = _revision(namespace, name, revision)
    return jsonify(entities.model_info(found, resolved, blobs=_flag("blobs")))


@bp.get(f"{REPO}/tree/<revision>")
@bp.get(f"{REPO}/tree/<revision>/<path:path>")
def tree(namespace: str, name: str, revision: str, path: str = "") -> Response:
    """``list_repo_tree``: the entries of folder ``path`` (all files under it with ``recursive``)."""
    _, resolved = _revision(namespace, name, revision)
    path = path.strip("/")
    expand = _flag("expand")
    commit = entities.last_commit(resolved) if expand else None
    prefix = f"{path}/" if path else ""
    under = [f for f in resolved.files if f.file_name.startswith(prefix)]
    if path and not under:
        raise EntryNotFound(path, resolved.commit_id)
    if _flag("recursive"):
        entries = [entities.tree_file(f, commit) for f in under]
    else:
        entries = _children(prefix, under, commit)
    return _page(entries, EXPANDED_TREE_PAGE if expand else TREE_PAGE)


def _children(prefix: str, files: Sequence[PackageFile], commit: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The folders and files right under ``prefix``: folders first, each kind by path."""
    folders: dict[str, list[PackageFile]] = {}
    direct = []
    for package_file in files:
        rest = package_file.file_name[len(prefix) :]
        if "/" in rest:
            folders.setdefault(prefix + rest.split("/", 1)[0], []).append(package_file)
        else:
            direct.append(entities.tree_file(package_file, commit))
    return [entities.tree_folder(p, folders[p], commit) for p in sorted(folders)] + direct


@bp.post(f"{REPO}/paths-info/<revision>")
def paths_info(namespace: str, name: str, revision: str) -> Response:
    """``get_paths_info``: the entries of the paths asked for (form or JSON ``paths``); a path that is
    neither a file nor a folder is left out, as the Hub does."""
    _, resolved = _revision(namespace, name, revision)
    body = request.get_json(silent=True) if request.is_json else None
    paths = body.get("paths", []) if isinstance(body, Mapping) else request.form.getlist("paths")
    expand = (body.get("expand") if isinstance(body, Mapping) else request.form.get("expand", "")) in (True, "True", "true", "1")
    commit = entities.last_commit(resolved) if expand else None
    entries = []
    for path in [str(p).strip("/") for p in paths if isinstance(p, str)]:
        found = resolved.file(path)
        if found is not None:
            entries.append(entities.tree_file(found, commit))
            continue
        under = [f for f in resolved.files if f.file_name.startswith(f"{path}/")]
        if path and under:
            entries.append(entities.tree_folder(path, under, commit))
    return jsonify(entries)


@bp.get(f"{REPO}/refs")
def refs(namespace: str, name: str) -> Response:
    """``list_repo_refs``: ``main`` and each version as branches, each alias as a tag."""
    found = repo(namespace, name, ModelAction.READ_MODEL)
    service = revision_services()
    return jsonify(
        {
            "branches": [entities.ref(n, "heads", digest) for n, digest in service.branches(found.model)],
            "converts": [],
            "tags": [entities.ref(n, "tags", digest) for n, digest in service.tags(found.model)],
            "pullRequests": [],
        }
    )


@bp.get(f"{REPO}/commits/<revision>")
def commits(namespace: str, name: str, revision: str) -> Response:
    """``list_repo_commits``: one commit per version, the revision's version first, then the versions
    before it in precedence."""
    found = repo(namespace, name, ModelAction.READ_MODEL)
    history = revision_services().history(found.model, revision)
    return _page([entities.commit(version, digest) for version, digest in history], COMMITS_PAGE)


@bp.get("/api/whoami-v2")
def whoami() -> Response:
    """``whoami``: the token's owner (what ``hf auth whoami`` prints); a token is required."""
    caller = principal()
    if caller.is_anonymous:
        raise Unauthorized("authentication required")
    user = caller.user
    name = user.username if user is not None else caller.name or caller.kind.value
    role = "write" if caller.scopes & {"api", "write_package_registry"} or not caller.scopes else "read"
    return jsonify(
        {
            "type": "user",
            "id": str(user.id) if user is not None else name,
            "name": name,
            "fullname": (user.name if user is not None else "") or name,
            "isPro": False,
            "canPay": False,
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": caller.kind.value, "role": role}},
        }
    )


@bp.get("/<namespace>/<name>/resolve/<revision>/<path:path>")
def resolve(namespace: str, name: str, revision: str, path: str) -> Response:
    """A file of a revision (HEAD and GET, ``Range``), through the download path every surface uses
    (``file_response``: a redirect to a presigned URL where the store serves downloads), with the Hub's
    headers: ``X-Repo-Commit`` (the client's cache keys on it), ``X-Linked-Etag`` (the SHA-256, which
    names the cached blob) and ``X-Linked-Size``."""
    found = repo(namespace, name, ModelAction.READ_MODEL)
    service = revision_services()
    version = service.pointed(found.model, revision)
    commit = service.commit_of(version)  # one row: a snapshot's HEADs do not read the file list each
    packages = package_services()
    try:
        if version is None:
            raise EntryNotFound(path, commit)
        package_file = packages.newest_file(version.package, path, spaces_in_name=True)
    except NotFound:
        raise EntryNotFound(path, commit) from None
    response = file_response(packages, package_file)
    response.headers["X-Repo-Commit"] = commit
    response.headers["X-Linked-Etag"] = f'"{package_file.sha256}"'
    response.headers["X-Linked-Size"] = str(package_file.size)
    xet_hash = xet_hash_of(package_file.storage_key)
    if xet_hash is not None:  # hf_xet downloads it through the CAS service, only the chunks it lacks
        response.headers["X-Xet-Hash"] = xet_hash
        response.headers["X-Xet-Refresh-Route"] = f"{base_url()}/hf/api/models/{found.repo_id}/xet-read-token/{revision}"
    return response
