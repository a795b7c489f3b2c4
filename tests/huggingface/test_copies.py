"""Server-side copies in Hugging Face commits: ``CommitOperationCopy`` with the real ``huggingface_hub``
against ``modelshelf serve``, for an inline (``regular``) file, a Git LFS file and a Xet file, within a
version and from an older version into a new one: the client asks ``paths-info`` for the source and
commits an ``lfsFile`` naming its SHA-256, so no byte travels again. An ``lfsFile`` may also name a
file by its Xet hash; a digest the project does not hold is refused, even when another project holds it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_server import Account, create_account, running_server

pytestmark = pytest.mark.server

REGULAR_MAX = 64 * 1024
SETTINGS = {"HF_REGULAR_MAX_SIZE": REGULAR_MAX, "HF_LFS_PART_SIZE": 1024 * 1024}


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with running_server(tmp_path_factory.mktemp("hf-copies") / "data", SETTINGS) as server:
        yield create_account(server)



def endpoint(account: Account) -> str:
    return f"{account.server.url}/hf"


def api(account: Account) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint(account), token=account.token)


def metrics(account: Account) -> str:
    with urllib.request.urlopen(f"{account.server.url}/-/metrics", timeout=30) as response:
        return str(response.read().decode())


def uploaded_bytes(account: Account) -> float:
    match = re.search(r"^modelshelf_uploaded_bytes_total ([0-9.e+]+)$", metrics(account), re.MULTILINE)
    assert match, "no modelshelf_uploaded_bytes_total in /-/metrics"
    return float(match.group(1))


def upload_requests(account: Account) -> int:
    """Requests that carry file bytes or ask to: Xet (xorbs, shards, write tokens) and Git LFS."""
    found = re.findall(r'^modelshelf_http_requests_total\{([^}]*)\} ([0-9.e+]+)$', metrics(account), re.MULTILINE)
    marks = ("/v1/xorbs", "/v1/shards", "xet-write-token", "/info/lfs")
    return int(sum(float(value) for labels, value in found if any(mark in labels for mark in marks)))


def curl(account: Account, project: int, model: str, version: str, path: str) -> bytes:
    url = f"{account.server.api}/projects/{project}/packages/generic/{model}/{version}/{path}"
    fetched = subprocess.run(
        ["curl", "-sSf", "-H", f"PRIVATE-TOKEN: {account.token}", url], capture_output=True, check=True, timeout=60
    )
    return fetched.stdout


def commit_lines(account: Account, repo: str, revision: str, lines: list[dict[str, Any]]) -> Any:
    """The NDJSON commit as the client sends it (its own HTTP session), for entries the client itself
    would not write."""
    from huggingface_hub.utils import get_session

    body = "\n".join(json.dumps(line) for line in [{"key": "header", "value": {"summary": "by hand"}}, *lines])
    return get_session().post(
        f"{endpoint(account)}/api/models/{repo}/commit/{revision}",
        content=body.encode(),
        headers={"Authorization": f"Bearer {account.token}", "Content-Type": "application/x-ndjson"},
        timeout=60,
    )


def test_copies_of_regular_lfs_and_xet_files(account: Account, hf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import CommitOperationCopy, constants, snapshot_download

    project, _ = account.create_project()
    repo = f"{project}/copier"
    hub = api(account)
    hub.create_repo(repo)
    small, through_lfs, through_xet = b"small file\n", os.urandom(3 * REGULAR_MAX), os.urandom(5 * REGULAR_MAX + 3)
    hub.upload_file(path_or_fileobj=small, path_in_repo="small.txt", repo_id=repo, revision="1.0.0")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    hub.upload_file(path_or_fileobj=through_lfs, path_in_repo="lfs.bin", repo_id=repo, revision="1.0.0")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    hub.upload_file(path_or_fileobj=through_xet, path_in_repo="xet.bin", repo_id=repo, revision="1.0.0")
    infos = {f.path: f for f in hub.get_paths_info(repo, ["lfs.bin", "xet.bin"], revision="1.0.0")}
    assert infos["xet.bin"].xet_hash and not infos["lfs.bin"].xet_hash  # one of each kind

    # Within a version, then from 1.0.0 into the next version: no byte travels, nothing asks to upload.
    sent, asked = uploaded_bytes(account), upload_requests(account)
    copies = [("small.txt", "copy/small.txt"), ("lfs.bin", "copy/lfs.bin"), ("xet.bin", "copy/xet.bin")]
    hub.create_commit(
        repo,
        operations=[CommitOperationCopy(src_path_in_repo=s, path_in_repo=d, src_revision="1.0.0") for s, d in copies],
        commit_message="Copies within",
        revision="1.0.0",
    )
    hub.upload_file(path_or_fileobj=b"unrelated\n", path_in_repo="other.txt", repo_id=repo, revision="2.0.0")
    sent_for_other = uploaded_bytes(account) - sent
    assert sent_for_other == len(b"unrelated\n")
    hub.create_commit(
        repo,
        operations=[CommitOperationCopy(src_path_in_repo=s, path_in_repo=f"old/{s}", src_revision="1.0.0") for s, _ in copies],
        commit_message="Copies from 1.0.0",
        revision="2.0.0",
    )
    # And to main, which makes the next version (2.0.1) on top of the latest.
    hub.create_commit(
        repo,
        operations=[CommitOperationCopy(src_path_in_repo="xet.bin", path_in_repo="again.bin", src_revision="1.0.0")],
        commit_message="Copy to main",
    )
    assert uploaded_bytes(account) - sent == sent_for_other
    assert upload_requests(account) == asked

    expected = {"small.txt": small, "lfs.bin": through_lfs, "xet.bin": through_xet}
    first = Path(snapshot_download(repo, revision="1.0.0", endpoint=endpoint(account), token=account.token, cache_dir=tmp_path / "a"))
    second = Path(snapshot_download(repo, revision="2.0.0", endpoint=endpoint(account), token=account.token, cache_dir=tmp_path / "b"))
    latest = Path(snapshot_download(repo, revision="2.0.1", endpoint=endpoint(account), token=account.token, cache_dir=tmp_path / "c"))
    for name, body in expected.items():
        assert (first / name).read_bytes() == body
        assert (first / "copy" / name).read_bytes() == body
        assert (second / "old" / name).read_bytes() == body
        assert curl(account, project, "copier", "1.0.0", f"copy/{name}") == body
        assert curl(account, project, "copier", "2.0.0", f"old/{name}") == body
    assert (latest / "again.bin").read_bytes() == through_xet and (latest / "old" / "xet.bin").read_bytes() == through_xet
    assert (second / "other.txt").read_bytes() == b"unrelated\n"


def test_lfs_files_by_digest_or_xet_hash_and_refusals(account: Account, hf_home: Path) -> None:
    from huggingface_hub import CommitOperationCopy
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
    from huggingface_hub.utils import hf_raise_for_status

    project, _ = account.create_project()
    repo = f"{project}/by-hash"
    hub = api(account)
    hub.create_repo(repo)
    weights = os.urandom(4 * REGULAR_MAX)
    hub.upload_file(path_or_fileobj=weights, path_in_repo="w.bin", repo_id=repo, revision="1.0.0")
    xet_hash = hub.get_paths_info(repo, ["w.bin"], revision="1.0.0")[0].xet_hash
    assert xet_hash
    digest = hashlib.sha256(weights).hexdigest()

    sent = uploaded_bytes(account)
    by_digest = commit_lines(account, repo, "2.0.0", [{"key": "lfsFile", "value": {"path": "a.bin", "algo": "sha256", "oid": digest}}])
    assert by_digest.status_code == 200, by_digest.text
    by_xet = commit_lines(account, repo, "2.0.0", [{"key": "lfsFile", "value": {"path": "b.bin", "xetHash": xet_hash}}])
    assert by_xet.status_code == 200, by_xet.text
    assert uploaded_bytes(account) == sent
    for name in ("a.bin", "b.bin"):
        assert curl(account, project, "by-hash", "2.0.0", name) == weights

    # Unknown to the project: refused in the Hub's shape, with what is missing.
    unknown = hashlib.sha256(b"never uploaded").hexdigest()
    for value in ({"path": "c.bin", "algo": "sha256", "oid": unknown}, {"path": "c.bin", "xetHash": unknown}):
        refused = commit_lines(account, repo, "2.0.0", [{"key": "lfsFile", "value": value}])
        assert refused.status_code == 404, refused.text
        assert unknown in refused.json()["error"] and "upload it first" in refused.json()["error"]
        assert unknown in refused.headers["X-Error-Message"]
        with pytest.raises(HfHubHTTPError, match="upload it first"):  # what the client raises from it
            hf_raise_for_status(refused)

    # Another project's file is not this project's to reference, by either hash.
    other_project, _ = account.create_project()
    other = f"{other_project}/elsewhere"
    hub.create_repo(other)
    for value in ({"path": "x.bin", "algo": "sha256", "oid": digest}, {"path": "x.bin", "xetHash": xet_hash}):
        refused = commit_lines(account, other, "1.0.0", [{"key": "lfsFile", "value": value}])
        assert refused.status_code == 404, refused.text
        assert "in this project" in refused.json()["error"]
    assert "1.0.0" not in [b.name for b in hub.list_repo_refs(other).branches]  # no version was made
    # Nor does the client copy a file the source revision lacks (paths-info leaves it out).
    with pytest.raises(EntryNotFoundError):
        hub.create_commit(
            repo,
            operations=[CommitOperationCopy(src_path_in_repo="missing.bin", path_in_repo="m.bin", src_revision="1.0.0")],
            commit_message="nothing to copy",
            revision="2.0.0",
        )
    assert sorted(hub.list_repo_files(repo, revision="2.0.0")) == ["a.bin", "b.bin"]  # 2.0.0 was made by the first of these commits


def test_copies_from_another_repo_by_xet_hash(account: Account, hf_home: Path, tmp_path: Path) -> None:
    """The client's ``_duplicate_lfs_files``: ``lfs-files/duplicate`` on the source repo, then a commit
    naming the SHA-256 in the target; a file of a project the caller cannot read stays out of reach."""
    from huggingface_hub import CommitOperationCopy, hf_hub_download
    from huggingface_hub.errors import RepositoryNotFoundError
    from huggingface_hub.utils import get_session

    source_project, _ = account.create_project()
    source = f"{source_project}/base"
    hub = api(account)
    hub.create_repo(source)
    weights = os.urandom(6 * REGULAR_MAX + 5)
    hub.upload_file(path_or_fileobj=weights, path_in_repo="weights.bin", repo_id=source, revision="1.0.0")
    target_project, _ = account.create_project()
    target = f"{target_project}/derived"
    hub.create_repo(target)

    sent, asked = uploaded_bytes(account), upload_requests(account)
    hub.create_commit(
        target,
        operations=[CommitOperationCopy(src_path_in_repo="weights.bin", path_in_repo="base/weights.bin", src_repo_id=source, src_repo_type="model", src_revision="1.0.0")],
        commit_message="From the base model",
    )
    assert (uploaded_bytes(account), upload_requests(account)) == (sent, asked)
    got = hf_hub_download(target, "base/weights.bin", revision="1.0.0", endpoint=endpoint(account), token=account.token, cache_dir=tmp_path / "t")
    assert Path(got).read_bytes() == weights  # through hf_xet's reconstruction in the target project
    assert curl(account, target_project, "derived", "1.0.0", "base/weights.bin") == weights

    # A hash the source does not hold (or not with that SHA-256) is a failure the client raises.
    xet_hash = hub.get_paths_info(source, ["weights.bin"], revision="1.0.0")[0].xet_hash
    answer = get_session().post(
        f"{endpoint(account)}/api/models/{source}/lfs-files/duplicate",
        json={"target": {"type": "model", "name": target}, "files": [
            {"xetHash": xet_hash, "sha256": "0" * 64, "filename": "weights.bin"},
            {"xetHash": "1" * 64, "sha256": hashlib.sha256(weights).hexdigest(), "filename": "weights.bin"},
        ]},
        headers={"Authorization": f"Bearer {account.token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert [f["sha256"] for f in answer.json()["failed"]] == ["0" * 64, hashlib.sha256(weights).hexdigest()]
    assert all("source repository holds no Xet file" in f["error"] for f in answer.json()["failed"])

    # Someone who cannot read the source: it is a missing repo to them, and nothing reaches their project.
    stranger = create_account(account.server, "stranger")
    theirs_project, _ = stranger.create_project()
    theirs = f"{theirs_project}/mine"
    their_api = api(stranger)
    their_api.create_repo(theirs)
    with pytest.raises(RepositoryNotFoundError):
        their_api.create_commit(
            theirs,
            operations=[CommitOperationCopy(src_path_in_repo="weights.bin", path_in_repo="w.bin", src_repo_id=source, src_repo_type="model", src_revision="1.0.0")],
            commit_message="not mine to copy",
        )
    stolen = get_session().post(
        f"{endpoint(account)}/api/models/{source}/lfs-files/duplicate",
        json={"target": {"type": "model", "name": theirs}, "files": [
            {"xetHash": xet_hash, "sha256": hashlib.sha256(weights).hexdigest(), "filename": "weights.bin"}
        ]},
        headers={"Authorization": f"Bearer {stranger.token}"},
        timeout=60,
    )
    assert stolen.status_code == 404 and stolen.headers["X-Error-Code"] == "RepoNotFound"
    refused = commit_lines(stranger, theirs, "1.0.0", [{"key": "lfsFile", "value": {"path": "w.bin", "xetHash": xet_hash}}])
    assert refused.status_code == 404, refused.text
