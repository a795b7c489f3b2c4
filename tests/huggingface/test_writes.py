"""Publishing through the Hugging Face API: the real ``huggingface_hub`` client (with and without
``hf_xet``) and the ``hf`` CLI against ``modelshelf serve``, on the filesystem store and on SeaweedFS.

The server sends files inline (``regular``) up to 64 KiB and, beyond, through Xet (the default
client) or Git LFS in parts of 1 MiB (``HF_HUB_DISABLE_XET=1``), so that small test files exercise
every path: with Xet off, a 2.5 MiB file goes through the multipart transfer.
"""
from __future__ import annotations

import filecmp
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_server import Account, create_account, running_server
from tests.support.servers import start_seaweedfs, stop

pytestmark = pytest.mark.server

REGULAR_MAX = 64 * 1024
PART_SIZE = 1024 * 1024
S3_PART = 5 * 1024 * 1024
SETTINGS = {"HF_REGULAR_MAX_SIZE": REGULAR_MAX, "HF_LFS_PART_SIZE": PART_SIZE}


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with running_server(tmp_path_factory.mktemp("hf-writes") / "data", SETTINGS) as server:
        yield create_account(server)



@pytest.fixture(params=["lfs", "xet"])
def client_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``lfs``: the client with ``HF_HUB_DISABLE_XET=1``; ``xet``: the default client (hf_xet installed)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", request.param == "lfs")
    return str(request.param)


def endpoint(account: Account) -> str:
    return f"{account.server.url}/hf"


def api(account: Account, token: str | None = None) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint(account), token=token or account.token)


def uploaded_bytes(account: Account) -> float:
    """The server's count of file bytes received from clients."""
    with urllib.request.urlopen(f"{account.server.url}/-/metrics") as response:
        text = response.read().decode()
    match = re.search(r"^modelshelf_uploaded_bytes_total ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, "no modelshelf_uploaded_bytes_total in /-/metrics"
    return float(match.group(1))


def make_folder(root: Path, *, large: bool, part_size: int = PART_SIZE) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"hidden_size": 8, "model_type": "bert"}\n')
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.txt").write_bytes(os.urandom(40 * 1024))
    (root / "README.md").write_text("# A model\n")
    if large:  # larger than an LFS part: the multipart transfer
        (root / "model.safetensors").write_bytes(os.urandom(2 * part_size + part_size // 2 + 7))
    return root


def same_tree(left: Path, right: Path) -> None:
    files = sorted(p.relative_to(left).as_posix() for p in left.rglob("*") if p.is_file())
    theirs = sorted(
        p.relative_to(right).as_posix()
        for p in right.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(right).parts
    )
    assert theirs == files
    match, mismatch, errors = filecmp.cmpfiles(left, right, files, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_publish_a_folder_then_a_version_touching_one_file(
    account: Account, client_mode: str, hf_home: Path, tmp_path: Path
) -> None:
    from huggingface_hub import snapshot_download

    project, _ = account.create_project()
    repo = f"{project}/encoder"
    hub = api(account)
    url = hub.create_repo(repo)
    assert url.repo_id == repo
    assert hub.create_repo(repo, exist_ok=True).repo_id == repo

    folder = make_folder(tmp_path / "v1", large=True)
    first = hub.upload_folder(repo_id=repo, folder_path=folder, commit_message="First weights")
    assert first.oid == hub.model_info(repo, revision="1.0.0").sha
    same_tree(folder, Path(snapshot_download(repo, endpoint=endpoint(account), token=account.token)))

    # A second version touching one file: only that file's bytes travel, the rest is carried over.
    (folder / "config.json").write_text('{"hidden_size": 16, "model_type": "bert"}\n')
    before = uploaded_bytes(account)
    second = hub.upload_folder(repo_id=repo, folder_path=folder, commit_message="Wider", commit_description="twice")
    sent = uploaded_bytes(account) - before
    if client_mode == "lfs":
        assert sent == (folder / "config.json").stat().st_size
    else:  # hf_xet describes the unchanged weights again, in a shard of a few hundred bytes: no chunk travels
        assert (folder / "config.json").stat().st_size < sent < 1024
    assert second.oid != first.oid
    assert sorted(b.name for b in hub.list_repo_refs(repo).branches) == ["1.0.0", "1.0.1", "main"]
    latest = Path(snapshot_download(repo, revision="1.0.1", endpoint=endpoint(account), token=account.token))
    same_tree(folder, latest)

    # A tag is an alias: download by it.
    hub.create_tag(repo, tag="prod", revision="1.0.1")
    tagged = Path(snapshot_download(repo, revision="prod", endpoint=endpoint(account), token=account.token))
    same_tree(folder, tagged)

    # The same version through the generic package API, with curl...
    generic = f"{account.server.api}/projects/{project}/packages/generic/encoder/1.0.1/config.json"
    fetched = subprocess.run(
        ["curl", "-sSf", "-H", f"PRIVATE-TOKEN: {account.token}", generic], capture_output=True, check=True, timeout=60
    )
    assert fetched.stdout == (folder / "config.json").read_bytes()
    # ... and MLflow: version 2 of the registered model, described by the commit.
    mlflow_version = mlflow_model_version(account, project, "encoder", "2")
    assert mlflow_version["description"] == "Wider\n\ntwice"

    # Deleting a file: the next version lacks it.
    hub.delete_file("README.md", repo_id=repo)
    assert "README.md" not in hub.list_repo_files(repo, revision="1.0.2")
    assert "README.md" in hub.list_repo_files(repo, revision="1.0.1")


def mlflow_model_version(account: Account, project: int, name: str, version: str) -> dict[str, Any]:
    """The version as the stock MLflow client reads it at the project's tracking URI."""
    import os

    from mlflow import MlflowClient

    saved = os.environ.get("MLFLOW_TRACKING_TOKEN")
    os.environ["MLFLOW_TRACKING_TOKEN"] = account.token
    try:
        client = MlflowClient(tracking_uri=f"{account.server.api}/projects/{project}/ml/mlflow")
        found = client.get_model_version(name, version)
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        else:
            os.environ["MLFLOW_TRACKING_TOKEN"] = saved
    return {"description": found.description, "version": found.version, "name": found.name}


def test_the_default_client_uploads_large_files_through_xet(account: Account, hf_home: Path, tmp_path: Path) -> None:
    """No environment override: a file above ``HF_REGULAR_MAX_SIZE`` goes through Xet (chunks in xorbs,
    then a shard), and the version holds it like any other file."""
    from huggingface_hub import constants, hf_hub_download

    assert not constants.HF_HUB_DISABLE_XET
    project, _ = account.create_project()
    repo = f"{project}/big"
    hub = api(account)
    hub.create_repo(repo)
    large = tmp_path / "weights.bin"
    large.write_bytes(os.urandom(3 * REGULAR_MAX + 1))
    before = uploaded_bytes(account)
    hub.upload_file(path_or_fileobj=str(large), path_in_repo="weights.bin", repo_id=repo)
    assert uploaded_bytes(account) - before >= large.stat().st_size  # a xorb and a shard
    assert any((account.server.data_dir / "blobs" / "xet" / "xorbs").rglob("*"))  # chunks, not an LFS object
    assert hub.list_repo_files(repo, revision="1.0.0") == ["weights.bin"]
    got = hf_hub_download(repo, "weights.bin", endpoint=endpoint(account), token=account.token, cache_dir=tmp_path / "c")
    assert Path(got).read_bytes() == large.read_bytes()


def test_commits_to_versions_and_branches(account: Account, hf_home: Path, client_mode: str) -> None:
    project, _ = account.create_project()
    repo = f"{project}/ranker"
    hub = api(account)
    hub.create_repo(repo)
    hub.upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id=repo, revision="2.0.0")
    hub.upload_file(path_or_fileobj=b"b", path_in_repo="b.txt", repo_id=repo, revision="2.0.0")
    assert sorted(hub.list_repo_files(repo, revision="2.0.0")) == ["a.txt", "b.txt"]
    hub.create_branch(repo, branch="3.0.0-rc.1", revision="2.0.0")
    assert sorted(hub.list_repo_files(repo, revision="3.0.0-rc.1")) == ["a.txt", "b.txt"]
    hub.upload_file(path_or_fileobj=b"c", path_in_repo="a.txt", repo_id=repo, revision="3.0.0-rc.1")
    assert Path(hub.hf_hub_download(repo, "a.txt", revision="3.0.0-rc.1")).read_bytes() == b"c"
    hub.create_tag(repo, tag="champion", revision="2.0.0")
    hub.delete_tag(repo, tag="champion")
    assert [t.name for t in hub.list_repo_refs(repo).tags] == []


def test_refusals_in_the_hubs_shape(account: Account, hf_home: Path) -> None:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    project, full_path = account.create_project()
    repo = f"{project}/guarded"
    hub = api(account)
    hub.create_repo(repo)

    with pytest.raises(HfHubHTTPError) as bad_revision:
        hub.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, revision="prod")
    assert bad_revision.value.response.status_code == 400
    assert "main" in str(bad_revision.value) and "semantic version" in str(bad_revision.value)

    with pytest.raises(HfHubHTTPError) as wrong_token:
        api(account, token="mspat-not-a-token").upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert wrong_token.value.response.status_code == 401

    server = account.server
    server.cli("admin", "create-user", "gail")
    server.cli("admin", "add-member", full_path, "gail", "guest")
    guest = server.cli("admin", "create-token", "--user", "gail", "--scopes", "api")
    with pytest.raises(HfHubHTTPError) as forbidden:
        api(account, token=guest).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert forbidden.value.response.status_code == 403
    reader = server.cli("admin", "create-token", "--user", account.username, "--scopes", "read_api")
    with pytest.raises(HfHubHTTPError) as read_only:
        api(account, token=reader).create_tag(repo, tag="prod")
    assert read_only.value.response.status_code == 403

    with pytest.raises(RevisionNotFoundError):
        hub.create_tag(repo, tag="prod", revision="9.9.9")
    with pytest.raises(RepositoryNotFoundError):
        hub.delete_repo(f"{project}/never-made")
    hub.delete_repo(repo)
    with pytest.raises(RepositoryNotFoundError):
        hub.model_info(repo)


def test_the_hf_cli(account: Account, hf_home: Path, tmp_path: Path) -> None:
    project, _ = account.create_project()
    repo = f"{project}/cli-model"
    env = {**os.environ, "HF_ENDPOINT": endpoint(account), "HF_TOKEN": account.token, "HF_HUB_DISABLE_XET": "1"}
    hf = [sys.executable, "-m", "huggingface_hub.cli.hf"]

    def run(*args: str) -> str:
        done = subprocess.run([*hf, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("repos", "create", repo)
    folder = make_folder(tmp_path / "model", large=True)
    run("upload", repo, str(folder), ".", "--commit-message", "From the CLI")
    run("repos", "tag", "create", repo, "prod", "--revision", "1.0.0")
    run("download", repo, "--revision", "prod", "--local-dir", str(tmp_path / "fetched"))
    same_tree(folder, tmp_path / "fetched")


@pytest.mark.s3
def test_publish_and_read_back_on_seaweedfs(tmp_path_factory: pytest.TempPathFactory, hf_home: Path, tmp_path: Path) -> None:
    from huggingface_hub import constants, snapshot_download

    weed = start_seaweedfs(tmp_path_factory.mktemp("weed"))
    try:
        # Redirected downloads: the store is reachable by clients, so LFS parts go straight to it.
        # Parts of S3's minimum size (SeaweedFS refuses smaller ones).
        settings = {**SETTINGS, **weed.settings("hf-writes"), "S3_REDIRECT_DOWNLOADS": True, "HF_LFS_PART_SIZE": S3_PART}
        with running_server(tmp_path_factory.mktemp("hf-s3") / "data", settings) as server:
            account = create_account(server)
            project, _ = account.create_project()
            repo = f"{project}/on-s3"
            hub = api(account)
            hub.create_repo(repo)
            folder = make_folder(tmp_path / "v1", large=True, part_size=S3_PART)
            original = constants.HF_HUB_DISABLE_XET
            constants.HF_HUB_DISABLE_XET = True
            try:
                hub.upload_folder(repo_id=repo, folder_path=folder)
            finally:
                constants.HF_HUB_DISABLE_XET = original
            same_tree(folder, Path(snapshot_download(repo, endpoint=endpoint(account), token=account.token)))
            # The parts went to SeaweedFS, not through the server: it received the inline files only.
            inline = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.stat().st_size <= REGULAR_MAX)
            assert uploaded_bytes(account) == inline
    finally:
        weed.remove_bucket("hf-writes")
        stop(weed.process)
