"""The real ``huggingface_hub`` (and the ``hf`` CLI) reading from ``modelshelf serve``: files published
with curl come back byte-identical through ``hf_hub_download`` and ``snapshot_download`` at a version,
an alias, a commit id and ``main``; the client's cache makes a second download free; the client raises
its own exceptions; a private project is a missing repo to outsiders."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.huggingface.conftest import Hub, file_gets
from tests.support.live_server import Account, create_account

pytestmark = pytest.mark.server

V1 = {
    "config.json": b'{"model_type": "bert", "hidden_size": 8}\n',
    "README.md": b"# fraud detector\n",
    "weights/model.safetensors": os.urandom(300_000),
    "weights/extra.bin": os.urandom(1000),
}
V2 = {**V1, "config.json": b'{"model_type": "bert", "hidden_size": 16}\n'}


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".cache" not in p.parts}


@pytest.fixture
def published(hub: Hub, tmp_path: Path) -> Hub:
    hub.publish("1.0.0", V1, tmp_path)
    hub.publish("1.1.0", V2, tmp_path)
    hub.alias("prod", "1.0.0")
    return hub


def test_model_info_lists_the_files_with_their_sizes_and_digests(published: Hub) -> None:
    info = published.api.model_info(published.repo_id, files_metadata=True)
    assert info.id == published.repo_id
    assert info.sha is not None and len(info.sha) == 40
    siblings = {s.rfilename: s for s in info.siblings or []}
    assert set(siblings) == set(V2)
    for path, body in V2.items():
        assert siblings[path].size == len(body)
        assert siblings[path].lfs is not None and siblings[path].lfs.sha256 == hashlib.sha256(body).hexdigest()
    assert published.api.list_repo_files(published.repo_id, revision="1.0.0") == sorted(V1)
    tree = list(published.api.list_repo_tree(published.repo_id, path_in_repo="weights", revision="prod"))
    assert sorted(entry.path for entry in tree) == ["weights/extra.bin", "weights/model.safetensors"]
    expanded = list(published.api.list_repo_tree(published.repo_id, expand=True))
    assert {entry.path for entry in expanded} == {"config.json", "README.md", "weights"}
    assert {entry.last_commit.oid for entry in expanded if entry.last_commit is not None} == {info.sha}
    paths = published.api.get_paths_info(published.repo_id, ["config.json", "weights", "nothing"], revision="1.0.0")
    assert [(type(p).__name__, p.path) for p in paths] == [("RepoFile", "config.json"), ("RepoFolder", "weights")]
    assert published.api.file_exists(published.repo_id, "weights/extra.bin", revision="1.0.0")
    assert not published.api.file_exists(published.repo_id, "weights/missing.bin")


def test_refs_and_commits_are_versions_and_aliases(published: Hub) -> None:
    api = published.api
    v1 = api.model_info(published.repo_id, revision="1.0.0").sha
    v2 = api.model_info(published.repo_id, revision="1.1.0").sha
    assert v1 != v2
    refs = api.list_repo_refs(published.repo_id)
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", v2), ("1.1.0", v2), ("1.0.0", v1)]
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("prod", "refs/tags/prod", v1)]
    commits = api.list_repo_commits(published.repo_id)
    assert [c.commit_id for c in commits] == [v2, v1]
    assert [c.commit_id for c in api.list_repo_commits(published.repo_id, revision="prod")] == [v1]
    assert api.revision_exists(published.repo_id, "1.0.0") and not api.revision_exists(published.repo_id, "9.9.9")


@pytest.mark.parametrize("revision", ["1.0.0", "prod", "commit", "main"])
def test_snapshot_download_at_each_kind_of_revision_is_byte_identical(published: Hub, tmp_path: Path, revision: str) -> None:
    from huggingface_hub import snapshot_download

    expected = V2 if revision == "main" else V1
    if revision == "commit":
        revision = published.api.model_info(published.repo_id, revision="1.0.0").sha or ""
    folder = snapshot_download(
        published.repo_id, revision=revision, endpoint=published.endpoint, token=published.token, cache_dir=published.cache
    )
    assert read_tree(Path(folder)) == expected


def test_a_second_snapshot_download_transfers_nothing(published: Hub, tmp_path: Path) -> None:
    from huggingface_hub import snapshot_download

    def download() -> dict[str, bytes]:
        return read_tree(
            Path(snapshot_download(published.repo_id, revision="1.1.0", endpoint=published.endpoint, token=published.token, cache_dir=published.cache))
        )

    before = file_gets(published.account.server.url)
    assert download() == V2
    first = file_gets(published.account.server.url)
    assert first - before == len(V2)
    assert download() == V2
    assert file_gets(published.account.server.url) == first  # every file came from the cache
    # A new version touching one file: only that file's bytes come (the others are cached blobs).
    changed = {**V2, "config.json": b'{"hidden_size": 32}\n'}
    published.publish("1.2.0", {"config.json": changed["config.json"]}, tmp_path)
    for path in V2:
        if path != "config.json":
            # Attached by digest: the generic API stores no byte twice (upload by digest).
            sha = hashlib.sha256(V2[path]).hexdigest()
            url = f"{published.rest}/packages/generic/{published.model}/1.2.0/{path}?sha256={sha}"
            assert requests.put(url, headers=published.headers, timeout=30).status_code == 201
    folder = snapshot_download(published.repo_id, endpoint=published.endpoint, token=published.token, cache_dir=published.cache)
    assert read_tree(Path(folder)) == changed
    assert file_gets(published.account.server.url) == first + 1


def test_hf_hub_download_with_patterns_and_revisions(published: Hub) -> None:
    from huggingface_hub import hf_hub_download, snapshot_download

    path = hf_hub_download(
        published.repo_id, "config.json", revision="prod", endpoint=published.endpoint, token=published.token, cache_dir=published.cache
    )
    assert Path(path).read_bytes() == V1["config.json"]
    folder = snapshot_download(
        published.repo_id,
        allow_patterns=["weights/*"],
        ignore_patterns=["*.bin"],
        endpoint=published.endpoint,
        token=published.token,
        cache_dir=published.cache / "patterns",
    )
    assert read_tree(Path(folder)) == {"weights/model.safetensors": V2["weights/model.safetensors"]}


def test_the_clients_own_exceptions(published: Hub) -> None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = published.api
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(f"{published.project}/no-such-model")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(published.repo_id, revision="2.0.0")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(published.repo_id, "nope.txt", endpoint=published.endpoint, token=published.token, cache_dir=published.cache)
    from huggingface_hub import HfApi

    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=published.endpoint, token="mspat-not-a-token").model_info(published.repo_id)
    assert refused.value.response.status_code == 401 and "HF_TOKEN" in str(refused.value)


def test_a_private_project_is_a_missing_repo_to_outsiders(published: Hub, account: Account) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    outsider = create_account(account.server, f"outsider{published.project}")
    for token in (outsider.token, False):
        with pytest.raises(RepositoryNotFoundError):
            HfApi(endpoint=published.endpoint, token=token).model_info(published.repo_id)


def test_hf_download_cli(published: Hub, tmp_path: Path) -> None:
    target = tmp_path / "cli"
    result = subprocess.run(
        ["hf", "download", published.repo_id, "--revision", "prod", "--local-dir", str(target)],
        env=published.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert read_tree(target) == V1


def test_transformers_from_pretrained(published: Hub) -> None:
    """``transformers`` reads ``HF_ENDPOINT`` and ``HF_TOKEN`` when it starts, as in a user's shell."""
    script = (
        "import sys; from transformers import AutoConfig; "
        "print(AutoConfig.from_pretrained(sys.argv[1], revision=sys.argv[2]).hidden_size)"
    )
    for revision, size in (("prod", 8), ("main", 16)):
        result = subprocess.run(
            [sys.executable, "-c", script, published.repo_id, revision],
            env=published.env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == str(size)


def test_hf_auth_whoami(published: Hub) -> None:
    result = subprocess.run(["hf", "auth", "whoami"], env=published.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert published.account.username in result.stdout
