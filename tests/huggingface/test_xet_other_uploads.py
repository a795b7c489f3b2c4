"""Files uploaded without Xet (curl through the generic package API, MLflow, the Git LFS path of
``huggingface_hub`` with ``HF_HUB_DISABLE_XET``) and the default client (``hf_xet`` installed, no
environment override): the server gives them no Xet hash, so ``hf_hub_download`` and
``snapshot_download`` read them over plain HTTP, byte-identical, without a single CAS request; a file
derived from a curl-uploaded one then goes up through Xet, and every client reads both."""
from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.huggingface.test_xet import metric, requests_to, safetensors_like
from tests.support.live_server import Account, create_account, running_server
from tests.support.servers import Server

pytestmark = pytest.mark.server

REGULAR_MAX = 64 * 1024  # above it the client sends a file through Xet (or Git LFS without Xet)
SIZE = 3 * 1024 * 1024 + 17


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with running_server(tmp_path_factory.mktemp("hf-xet-other") / "data", {"HF_REGULAR_MAX_SIZE": REGULAR_MAX}) as server:
        yield create_account(server)


def _model(account: Account, name: str) -> tuple[int, str]:
    project, _ = account.create_project()
    response = requests.post(f"{account.server.api}/projects/{project}/ml/models", json={"name": name},
                             headers={"PRIVATE-TOKEN": account.token}, timeout=30)
    assert response.status_code == 201, response.text
    return project, f"{project}/{name}"


def _curl_upload(account: Account, project: int, path: str, body: bytes, workdir: Path) -> None:
    local = workdir / "curl" / path
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(body)
    url = f"{account.server.api}/projects/{project}/packages/generic/{path}"
    subprocess.run(["curl", "-sSf", "-o", "/dev/null", "-H", f"PRIVATE-TOKEN: {account.token}", "--upload-file", str(local), url],
                   check=True, timeout=60)


def _mlflow_version(account: Account, project: int, model: str, body: bytes, workdir: Path) -> None:
    """Log ``body`` as ``model/weights.bin`` of a run, and register it as version 2.0.0 of ``model``."""
    from mlflow import MlflowClient

    saved = os.environ.get("MLFLOW_TRACKING_TOKEN")
    os.environ["MLFLOW_TRACKING_TOKEN"] = account.token
    try:
        uri = f"{account.server.api}/projects/{project}/ml/mlflow"
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        (workdir / "weights.bin").write_bytes(body)
        run = client.create_run(client.create_experiment("train"))
        client.log_artifact(run.info.run_id, str(workdir / "weights.bin"), "model")
        client.create_model_version(model, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id,
                                    tags={"gitlab.version": "2.0.0"})
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        else:
            os.environ["MLFLOW_TRACKING_TOKEN"] = saved


def _head(account: Account, repo: str, revision: str, path: str) -> requests.Response:
    """What the client's ``HEAD`` of ``/resolve/`` sees (the download path reads it before any byte)."""
    response = requests.head(f"{account.server.url}/hf/{repo}/resolve/{revision}/{path}",
                             headers={"Authorization": f"Bearer {account.token}"}, allow_redirects=False, timeout=30)
    assert response.status_code == 200, response.text
    return response


def _tree(account: Account, repo: str, revision: str) -> list[dict[str, object]]:
    response = requests.get(f"{account.server.url}/hf/api/models/{repo}/tree/{revision}", params={"recursive": "true"},
                            headers={"Authorization": f"Bearer {account.token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return [entry for entry in response.json() if entry["type"] == "file"]


def test_files_uploaded_without_xet_are_read_over_http_by_the_default_client(
    account: Account, hf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download

    assert not constants.HF_HUB_DISABLE_XET  # hf_xet installed and on: the default
    import hf_xet  # noqa: F401  (the client's Xet backend is there to be tried)

    project, repo = _model(account, "llm")
    curl_body, mlflow_body, lfs_body = (safetensors_like(SIZE, seed) for seed in (1, 2, 3))
    _curl_upload(account, project, "llm/1.0.0/model.safetensors", curl_body, tmp_path)
    _curl_upload(account, project, "llm/1.0.0/config.json", b'{"hidden_size": 8}\n', tmp_path)
    _mlflow_version(account, project, "llm", mlflow_body, tmp_path)
    api = HfApi(endpoint=f"{account.server.url}/hf", token=account.token)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the Git LFS path, for this upload only
    api.upload_file(path_or_fileobj=lfs_body, path_in_repo="model.safetensors", repo_id=repo, revision="3.0.0")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    expected = {
        "1.0.0": {"model.safetensors": curl_body, "config.json": b'{"hidden_size": 8}\n'},
        "2.0.0": {"weights.bin": mlflow_body},
        "3.0.0": {"model.safetensors": lfs_body},
    }

    cas_before = requests_to(account, "/hf/cas/") + requests_to(account, "/hf/api/models/<namespace>/<name>/xet-")
    for revision, files in expected.items():
        for path, body in files.items():
            head = _head(account, repo, revision, path)
            assert "X-Xet-Hash" not in head.headers  # nothing tells the client to try Xet
            got = hf_hub_download(repo, path, revision=revision, endpoint=f"{account.server.url}/hf", token=account.token,
                                  cache_dir=tmp_path / "one")
            assert Path(got).read_bytes() == body, (revision, path)
        folder = Path(snapshot_download(repo, revision=revision, endpoint=f"{account.server.url}/hf", token=account.token,
                                        cache_dir=tmp_path / "all"))
        assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == files
        tree = _tree(account, repo, revision)
        assert sorted(entry["path"] for entry in tree) == sorted(files)
        assert not any("xetHash" in entry for entry in tree), tree  # the listing names no Xet file either
    assert requests_to(account, "/hf/cas/") + requests_to(account, "/hf/api/models/<namespace>/<name>/xet-") == cas_before


def test_a_xet_upload_derived_from_a_curl_uploaded_file(account: Account, hf_home: Path, tmp_path: Path) -> None:
    """A fine-tune of a curl-uploaded checkpoint, published with the default client, goes through Xet
    (whole: the curl-uploaded base has no chunks to deduplicate against); both versions read back
    byte-identical with the client and with curl."""
    from huggingface_hub import HfApi, hf_hub_download

    project, repo = _model(account, "tuned")
    endpoint = f"{account.server.url}/hf"
    base = safetensors_like(SIZE, 7)
    _curl_upload(account, project, "tuned/1.0.0/model.safetensors", base, tmp_path)
    downloaded = Path(hf_hub_download(repo, "model.safetensors", revision="1.0.0", endpoint=endpoint, token=account.token,
                                      cache_dir=tmp_path / "c"))
    tuned = bytearray(downloaded.read_bytes())
    middle = len(tuned) // 2
    tuned[middle:middle + len(tuned) // 20] = os.urandom(len(tuned) // 20)  # 5% in the middle
    xorbs_before = requests_to(account, "/hf/cas/v1/xorbs")
    HfApi(endpoint=endpoint, token=account.token).upload_file(
        path_or_fileobj=bytes(tuned), path_in_repo="model.safetensors", repo_id=repo, revision="1.1.0")
    assert requests_to(account, "/hf/cas/v1/xorbs") > xorbs_before  # through Xet
    assert _head(account, repo, "1.1.0", "model.safetensors").headers["X-Xet-Hash"]
    assert "X-Xet-Hash" not in _head(account, repo, "1.0.0", "model.safetensors").headers
    assert [entry.get("xetHash") is not None for entry in _tree(account, repo, "1.1.0")] == [True]  # absent above
    for revision, body in (("1.0.0", base), ("1.1.0", bytes(tuned))):
        got = hf_hub_download(repo, "model.safetensors", revision=revision, endpoint=endpoint, token=account.token,
                              cache_dir=tmp_path / "again")
        assert Path(got).read_bytes() == body, revision
        fetched = subprocess.run(
            ["curl", "-sSf", "-H", f"PRIVATE-TOKEN: {account.token}",
             f"{account.server.api}/projects/{project}/packages/generic/tuned/{revision}/model.safetensors"],
            check=True, capture_output=True, timeout=60,
        ).stdout
        assert hashlib.sha256(fetched).hexdigest() == hashlib.sha256(body).hexdigest(), revision


def test_gc_packs_files_uploaded_without_xet_so_the_client_reads_them_through_xet_and_deduplicates(
    serve: Callable[..., Server], backend_settings: dict[str, object], hf_home: Path, tmp_path: Path
) -> None:
    """``HF_XET_PACK_MIN_SIZE``: ``modelshelf gc`` cuts a curl-uploaded file into xorbs and replaces the
    whole copy; the default client then reads it through Xet, every other client reads the same bytes,
    and a fine-tune published through Xet sends little more than its change."""
    from huggingface_hub import HfApi, hf_hub_download

    server = serve({**backend_settings, "HF_REGULAR_MAX_SIZE": REGULAR_MAX, "HF_XET_PACK_MIN_SIZE": 1024 * 1024})
    account = create_account(server, "alice")
    project, repo = _model(account, "packed")
    endpoint = f"{server.url}/hf"
    base = safetensors_like(SIZE, 11)
    _curl_upload(account, project, "packed/1.0.0/model.safetensors", base, tmp_path)
    _curl_upload(account, project, "packed/1.0.0/config.json", b'{"hidden_size": 8}\n', tmp_path)  # too small: left whole
    assert f"xet: would pack 1 files ({SIZE} bytes) into xorbs" in server.cli("gc", "--dry-run")
    assert f"xet: packed 1 files ({SIZE} bytes) into xorbs" in server.cli("gc")
    assert "xet: would pack" not in server.cli("gc", "--dry-run")  # done once
    if backend_settings["STORAGE"] == "filesystem":  # the whole copy is gone: only the small file is a blob
        assert len([p for p in (server.data_dir / "blobs" / "blobs").rglob("*") if p.is_file()]) == 1

    assert _head(account, repo, "1.0.0", "model.safetensors").headers["X-Xet-Hash"]
    asked = requests_to(account, "/hf/cas/v1/reconstructions/")
    got = hf_hub_download(repo, "model.safetensors", revision="1.0.0", endpoint=endpoint, token=account.token, cache_dir=tmp_path / "c")
    assert Path(got).read_bytes() == base and requests_to(account, "/hf/cas/v1/reconstructions/") > asked  # through Xet
    url = f"{server.api}/projects/{project}/packages/generic/packed/1.0.0/model.safetensors"
    ranged = subprocess.run(["curl", "-sSf", "-r", "1000000-1000099", "-H", f"PRIVATE-TOKEN: {account.token}", url],
                            check=True, capture_output=True, timeout=60).stdout
    assert ranged == base[1000000:1000100]
    whole = subprocess.run(["curl", "-sSf", "-D", "-", "-H", f"PRIVATE-TOKEN: {account.token}", url],
                           check=True, capture_output=True, timeout=60).stdout
    assert whole.endswith(base) and f"x-checksum-sha256: {hashlib.sha256(base).hexdigest()}".encode() in whole.lower()

    tuned = bytearray(base)
    middle = len(tuned) // 2
    tuned[middle:middle + len(tuned) // 20] = os.urandom(len(tuned) // 20)  # 5% in the middle
    sent = metric(account, "modelshelf_uploaded_bytes_total")
    HfApi(endpoint=endpoint, token=account.token).upload_file(
        path_or_fileobj=bytes(tuned), path_in_repo="model.safetensors", repo_id=repo, revision="1.1.0")
    sent = metric(account, "modelshelf_uploaded_bytes_total") - sent
    assert sent < 0.10 * SIZE, f"the fine-tune sent {sent} bytes of {SIZE}"  # the change (5%), not the file (6.9% measured)
    got = hf_hub_download(repo, "model.safetensors", revision="1.1.0", endpoint=endpoint, token=account.token, cache_dir=tmp_path / "d")
    assert Path(got).read_bytes() == bytes(tuned)
    checked = server.cli("verify")
    assert "0 problems" in checked and "verified" in checked, checked
