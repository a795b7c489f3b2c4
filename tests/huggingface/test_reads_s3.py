"""The Hugging Face reads on S3 (SeaweedFS) with ``S3_REDIRECT_DOWNLOADS``: ``/resolve/`` answers a GET
with the download path's 302 to a presigned URL, carrying the Hub's headers, and the client follows it
(without our token), gets the same bytes, and reads them from its cache the second time."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.huggingface.conftest import MODEL, Hub, file_gets
from tests.support.live_server import create_account
from tests.support.servers import Server

pytestmark = [pytest.mark.server, pytest.mark.s3]

FILES = {"config.json": b'{"a": 1}\n', "weights/model.bin": os.urandom(6 * 1024 * 1024 + 5)}


def test_snapshot_download_through_presigned_redirects(
    serve: Callable[..., Server], s3_settings: dict[str, object], tmp_path: Path
) -> None:
    from huggingface_hub import snapshot_download

    server = serve({**s3_settings, "S3_REDIRECT_DOWNLOADS": True, "S3_PART_SIZE": 5 * 1024 * 1024})
    account = create_account(server, "alice")
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    response = requests.post(f"{server.api}/projects/{project}/ml/models", json={"name": MODEL}, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    hub = Hub(account, project, MODEL, tmp_path / "cache")
    hub.publish("1.0.0", FILES, tmp_path)
    commit = hub.api.model_info(hub.repo_id).sha

    url = f"{hub.endpoint}/{hub.repo_id}/resolve/main/weights/model.bin"
    auth = {"Authorization": f"Bearer {hub.token}"}
    redirect = requests.get(url, headers=auth, allow_redirects=False, timeout=30)
    assert redirect.status_code == 302 and f"/{s3_settings['S3_BUCKET']}/" in redirect.headers["Location"]
    assert redirect.headers["X-Repo-Commit"] == commit
    assert redirect.headers["X-Linked-Size"] == str(len(FILES["weights/model.bin"]))

    before = file_gets(server.url)
    for _ in range(2):
        folder = Path(snapshot_download(hub.repo_id, endpoint=hub.endpoint, token=hub.token, cache_dir=hub.cache))
        got = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        assert got == FILES
    assert file_gets(server.url) - before == len(FILES)  # the second download came from the cache
