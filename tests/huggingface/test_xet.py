"""Xet, end to end: the default ``huggingface_hub`` (with ``hf_xet``, no environment overrides) uploads
large files through the Xet CAS service of ``modelshelf serve``, a second version that changes a block
in the middle of a file sends and stores little more than the change, and every client reads the same
bytes back: ``snapshot_download``, curl through the generic package API (``Range``, checksum, ETag),
MLflow's ``download_artifacts``."""
from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import Account, create_account, running_server
from tests.support.servers import start_seaweedfs, stop

pytestmark = pytest.mark.server

SIZE = 32 * 1024 * 1024


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with running_server(tmp_path_factory.mktemp("hf-xet") / "data") as server:
        yield create_account(server)



def metric(account: Account, name: str) -> float:
    with urllib.request.urlopen(f"{account.server.url}/-/metrics") as response:
        text = response.read().decode()
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"no {name} in /-/metrics"
    return float(match.group(1))


def requests_to(account: Account, prefix: str) -> int:
    """How many requests to routes under ``prefix`` the server has answered (its ``/-/metrics``)."""
    with urllib.request.urlopen(f"{account.server.url}/-/metrics") as response:
        text = response.read().decode()
    found = re.findall(r'^modelshelf_http_requests_total\{([^}]*)\} ([0-9.e+]+)$', text, re.MULTILINE)
    return int(sum(float(value) for labels, value in found if f'route="{prefix}' in labels))


def xorb_bytes(account: Account) -> int:
    """Bytes of the xorbs the server keeps (whichever store holds them), read from its database (its
    SQLite file, or its PostgreSQL schema in the PostgreSQL run)."""
    import sqlalchemy

    url = account.server.env.get("MODELSHELF_DATABASE_URL") or f"sqlite:///{account.server.data_dir / 'modelshelf.db'}"
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sqlalchemy.text("SELECT coalesce(sum(size), 0) FROM ml_xet_xorbs")).scalar_one())
    finally:
        engine.dispose()


def safetensors_like(size: int, seed: int) -> bytes:
    """A header, then tensor bytes that do not compress (as trained weights barely do)."""
    header = b'{"weight":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}}' % (size // 4, size)
    return len(header).to_bytes(8, "little") + header + random.Random(seed).randbytes(size - 8 - len(header))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_fine_tune_sends_and_stores_little_more_than_its_change(account: Account, hf_home: Path, tmp_path: Path) -> None:
    fine_tune(account, tmp_path, SIZE)


@pytest.mark.s3
def test_a_fine_tune_on_seaweedfs(tmp_path_factory: pytest.TempPathFactory, hf_home: Path, tmp_path: Path) -> None:
    """The same on S3, downloads redirected: xorbs in the bucket, reconstructions pointing at presigned
    URLs, the generic API streaming the rebuilt bytes."""
    weed = start_seaweedfs(tmp_path_factory.mktemp("weed"))
    try:
        settings = {**weed.settings("hf-xet"), "S3_REDIRECT_DOWNLOADS": True}
        with running_server(tmp_path_factory.mktemp("hf-xet-s3") / "data", settings) as server:
            fine_tune(create_account(server), tmp_path, SIZE // 2, presigned=True)
    finally:
        weed.remove_bucket("hf-xet")
        stop(weed.process)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("MODELSHELF_TEST_XET_200MIB"), reason="a minute of its own: MODELSHELF_TEST_XET_200MIB=1")
def test_a_fine_tune_of_200_mib(account: Account, hf_home: Path, tmp_path: Path) -> None:
    """The issue's figure: a 200 MiB safetensors file (``MODELSHELF_TEST_XET_200MIB=1``)."""
    fine_tune(account, tmp_path, 200 * 1024 * 1024)


def fine_tune(account: Account, tmp_path: Path, size: int, *, presigned: bool = False) -> None:
    """Publish a folder with a ``size`` bytes safetensors-like file, then a version changing 5% of it
    in the middle; check the bytes sent and stored, and read both back with every client."""
    from huggingface_hub import HfApi, constants, snapshot_download

    changed = size // 20

    assert not constants.HF_HUB_DISABLE_XET
    endpoint = f"{account.server.url}/hf"
    hub = HfApi(endpoint=endpoint, token=account.token)
    project, _ = account.create_project()
    repo = f"{project}/llm"
    hub.create_repo(repo)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}\n')
    base = safetensors_like(size, 1)
    (folder / "model.safetensors").write_bytes(base)

    sent, stored = metric(account, "modelshelf_uploaded_bytes_total"), xorb_bytes(account)
    through, grants = requests_to(account, "/hf/cas/v1/xorbs/"), requests_to(account, "/hf/cas/v1/xorb-grants/")
    hub.upload_folder(repo_id=repo, folder_path=folder, commit_message="Base")
    # Every xorb asks for an upload grant first: S3 gives one (the xorb goes straight into the bucket),
    # the filesystem answers 404 and the client uploads the xorb through us.
    assert requests_to(account, "/hf/cas/v1/xorb-grants/") > grants
    assert (requests_to(account, "/hf/cas/v1/xorbs/") == through) == presigned
    first_sent, first_stored = metric(account, "modelshelf_uploaded_bytes_total") - sent, xorb_bytes(account) - stored
    assert size <= first_sent <= size * 1.03
    assert size <= first_stored <= size * 1.01

    # The fine-tune: a changed block of tensors in the middle.
    middle = size // 2
    tuned = base[:middle] + random.Random(2).randbytes(changed) + base[middle + changed:]
    (folder / "model.safetensors").write_bytes(tuned)
    sent = metric(account, "modelshelf_uploaded_bytes_total")
    hub.upload_folder(repo_id=repo, folder_path=folder, commit_message="Tuned")
    second_sent = metric(account, "modelshelf_uploaded_bytes_total") - sent
    assert second_sent <= changed + size * 0.03, second_sent
    assert xorb_bytes(account) - stored <= size * 1.3
    assert sorted(b.name for b in hub.list_repo_refs(repo).branches) == ["1.0.0", "1.0.1", "main"]

    # snapshot_download through Xet: reconstructions, then xorb ranges.
    for revision, data in (("1.0.0", base), ("1.0.1", tuned)):
        asked = requests_to(account, "/hf/cas/v1/reconstructions/")
        got = Path(snapshot_download(repo, revision=revision, endpoint=endpoint, token=account.token, cache_dir=tmp_path / revision))
        assert sha256((got / "model.safetensors").read_bytes()) == sha256(data)
        assert (got / "config.json").read_text() == '{"model_type": "llama"}\n'
        assert requests_to(account, "/hf/cas/v1/reconstructions/") > asked
    # The xorb ranges came from the store itself where it serves downloads (presigned), else from us.
    assert (requests_to(account, "/hf/cas/v1/fetch/") == 0) == presigned

    # curl through the generic package API: the bytes, their checksum and ETag, a range.
    url = f"{account.server.api}/projects/{project}/packages/generic/llm/1.0.1/model.safetensors"
    fetched = tmp_path / "curl.bin"
    headers = subprocess.run(
        ["curl", "-sSf", "-D", "-", "-o", str(fetched), "-H", f"PRIVATE-TOKEN: {account.token}", url],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout.lower()
    assert fetched.read_bytes() == tuned
    assert f"x-checksum-sha256: {sha256(tuned)}" in headers and f'etag: "{sha256(tuned)}"' in headers
    ranged = subprocess.run(
        ["curl", "-sSf", "-r", f"{middle - 10}-{middle + 99}", "-H", f"PRIVATE-TOKEN: {account.token}", url],
        check=True, capture_output=True, timeout=60,
    ).stdout
    assert ranged == tuned[middle - 10:middle + 100]

    # MLflow: the version's artifacts.
    assert mlflow_download(account, project, "llm", "1", tmp_path / "mlflow") == base


def mlflow_download(account: Account, project: int, model: str, version: str, target: Path) -> bytes:
    import mlflow

    saved = os.environ.get("MLFLOW_TRACKING_TOKEN")
    uris = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ["MLFLOW_TRACKING_TOKEN"] = account.token
    try:
        mlflow.set_tracking_uri(f"{account.server.api}/projects/{project}/ml/mlflow")
        mlflow.set_registry_uri(f"{account.server.api}/projects/{project}/ml/mlflow")
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model}/{version}", dst_path=str(target))
    finally:
        # Unset again (both, and the variables they set): a later module's MlflowClient(tracking_uri=...)
        # would use this server's registry.
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            if uris[name] is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = uris[name]
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        else:
            os.environ["MLFLOW_TRACKING_TOKEN"] = saved
    return (Path(path) / "model.safetensors").read_bytes()


