"""Commit ids under concurrent uploads: 16 files uploaded at once into one version of a model, on two
workers (and on PostgreSQL where ``MODELSHELF_TEST_DATABASE_URL`` names one), leave the version with the
commit id of all 16, as each upload's transaction rewrites it after locking it."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import pytest
import requests

from plugin.huggingface.revisions import commit_id
from tests.e2e.test_concurrency import all_at_once
from tests.huggingface.conftest import MODEL
from tests.support.live_server import create_account
from tests.support.servers import Server

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_concurrent_uploads_into_one_version_leave_the_commit_id_of_all_files(serve: Callable[..., Server]) -> None:
    from huggingface_hub import HfApi

    account = create_account(serve(workers=2, threads=16))
    project, _ = account.create_project()
    headers = {"PRIVATE-TOKEN": account.token}
    base = f"{account.server.api}/projects/{project}"
    assert requests.post(f"{base}/ml/models", json={"name": MODEL}, headers=headers, timeout=30).status_code == 201
    files = {f"shards/part-{n:02d}.bin": os.urandom(1024 + n) for n in range(16)}
    names = sorted(files)

    def upload(index: int) -> requests.Response:
        url = f"{base}/packages/generic/{MODEL}/1.0.0/{names[index]}"
        return requests.put(url, data=files[names[index]], headers=headers, timeout=60)

    replies = all_at_once(16, upload)
    assert [r.status_code for r in replies] == [201] * 16, [r.text for r in replies if r.status_code != 201]
    info = HfApi(endpoint=f"{account.server.url}/hf", token=account.token).model_info(f"{project}/{MODEL}")
    assert info.sha == commit_id((path, hashlib.sha256(body).hexdigest()) for path, body in files.items())
