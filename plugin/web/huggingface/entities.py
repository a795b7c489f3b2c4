"""The Hub's JSON for repos, files, refs and commits, as ``huggingface_hub`` 2.x reads it (``hf_api.py``:
``ModelInfo``, ``RepoSibling``, ``RepoFile``, ``RepoFolder``, ``GitRefs``, ``GitCommitInfo``).

Every file is presented as a Git LFS file: its ``lfs.oid``/``lfs.sha256`` is the SHA-256 the store
keeps, and its ``oid`` the Git blob id of its LFS pointer, both known without reading a byte."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from package_api.plugin_api import PackageFile, timestamp
from plugin.huggingface.repos import Repo
from plugin.huggingface.revisions import Revision, commit_id, git_blob_id, lfs_pointer
from plugin.huggingface.xet_files import xet_hash_of
from plugin.registry.models import ModelVersion


def lfs(package_file: PackageFile) -> dict[str, Any]:
    return {
        "oid": package_file.sha256,
        "size": package_file.size,
        "pointerSize": len(lfs_pointer(package_file.sha256, package_file.size)),
    }


def blob_id(package_file: PackageFile) -> str:
    return git_blob_id(lfs_pointer(package_file.sha256, package_file.size))


def sibling(package_file: PackageFile, *, blobs: bool) -> dict[str, Any]:
    """A file in ``model_info``'s ``siblings``; sizes and digests with ``?blobs=true``
    (``files_metadata=True``)."""
    entry: dict[str, Any] = {"rfilename": package_file.file_name}
    if blobs:
        pointer = lfs(package_file)
        entry.update(
            size=package_file.size,
            blobId=blob_id(package_file),
            lfs={"size": pointer["size"], "sha256": pointer["oid"], "pointerSize": pointer["pointerSize"]},
        )
    return entry


def model_info(repo: Repo, revision: Revision, *, blobs: bool) -> dict[str, Any]:
    version = revision.version
    modified = max(version.updated_at, version.package.updated_at) if version is not None else repo.model.updated_at
    private = repo.project.visibility.value != "public"
    return {
        "_id": f"{repo.project.id}-{repo.model.id}",
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": str(repo.project.id),
        "sha": revision.commit_id,
        "createdAt": timestamp(repo.model.created_at),
        "lastModified": timestamp(modified),
        "private": private,
        "gated": False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": [sibling(f, blobs=blobs) for f in revision.files],
        # Ours, beside the Hub's: which version the revision is.
        "version": version.version if version is not None else None,
        "description": repo.model.description,
    }


def last_commit(revision: Revision) -> dict[str, Any] | None:
    """The ``lastCommit`` of an entry (``expand=true``): the revision's own version."""
    version = revision.version
    if version is None:
        return None
    return {"id": revision.commit_id, "title": title(version), "date": timestamp(version.created_at)}


def tree_file(package_file: PackageFile, commit: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": "file",
        "oid": blob_id(package_file),
        "size": package_file.size,
        "path": package_file.file_name,
        "lfs": lfs(package_file),
    }
    xet_hash = xet_hash_of(package_file.storage_key)
    if xet_hash is not None:
        entry["xetHash"] = xet_hash
    if commit is not None:
        entry["lastCommit"] = commit
    return entry


def tree_folder(path: str, files: Sequence[PackageFile], commit: dict[str, Any] | None) -> dict[str, Any]:
    """A folder; its ``oid`` is the digest of the files under it."""
    entry: dict[str, Any] = {
        "type": "directory",
        "oid": commit_id((f.file_name, f.sha256) for f in files),
        "size": 0,
        "path": path,
    }
    if commit is not None:
        entry["lastCommit"] = commit
    return entry


def ref(name: str, kind: str, digest: str) -> dict[str, Any]:
    return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": digest}


def title(version: ModelVersion) -> str:
    """A version's commit title: the first line of its description, else its version."""
    first_line = version.description.strip().split("\n", 1)[0].strip()
    return first_line or f"Version {version.version}"


def commit(version: ModelVersion, digest: str) -> dict[str, Any]:
    author = version.author.username if version.author is not None else "modelshelf"
    return {
        "id": digest,
        "title": title(version),
        "message": version.description,
        "authors": [{"user": author}],
        "date": timestamp(version.created_at),
        # Ours: which version the commit is.
        "version": version.version,
    }
