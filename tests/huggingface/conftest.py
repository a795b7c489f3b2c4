"""The live Hugging Face client's fixtures: ``modelshelf serve`` for a module, and for each test a project
of its own with a model in it, the real ``huggingface_hub`` pointed at ``<server>/hf`` with a cache of its
own, and ``publish`` that puts files with curl into the generic package registry (as a CI job would)."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # before huggingface_hub is imported
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from tests.support.live_server import Account, create_account, running_server

if TYPE_CHECKING:
    from huggingface_hub import HfApi

MODEL = "fraud-detector"


@dataclass
class Hub:
    """One test's project and model, and the client's settings for them."""

    account: Account
    project: int
    model: str
    cache: Path

    @property
    def endpoint(self) -> str:
        return f"{self.account.server.url}/hf"

    @property
    def token(self) -> str:
        return self.account.token

    @property
    def repo_id(self) -> str:
        return f"{self.project}/{self.model}"

    @property
    def api(self) -> HfApi:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token)

    @property
    def rest(self) -> str:
        return f"{self.account.server.api}/projects/{self.project}"

    def env(self) -> dict[str, str]:
        """The environment of the ``hf`` CLI (and of a user's shell) for this server."""
        return {
            **os.environ,
            "HF_ENDPOINT": self.endpoint,
            "HF_TOKEN": self.token,
            "HF_HOME": str(self.cache.parent / "hf-home"),
        }

    def publish(self, version: str, files: dict[str, bytes], workdir: Path) -> None:
        """Upload ``files`` into ``<model>/<version>`` with ``curl --upload-file``."""
        for path, body in files.items():
            local = workdir / "upload" / path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(body)
            url = f"{self.rest}/packages/generic/{self.model}/{version}/{path}"
            subprocess.run(
                ["curl", "-sSf", "-o", "/dev/null", "-H", f"PRIVATE-TOKEN: {self.token}", "--upload-file", str(local), url],
                check=True,
                timeout=60,
            )

    def alias(self, alias: str, version: str) -> None:
        """Point MLflow alias ``alias`` at ``version`` (a tag, to the Hugging Face client)."""
        row = requests.get(f"{self.rest}/ml/models/{self.model}/versions/{version}", headers=self.headers, timeout=30)
        response = requests.post(
            f"{self.rest}/ml/mlflow/api/2.0/mlflow/registered-models/alias",
            json={"name": self.model, "alias": alias, "version": str(row.json()["sequence"])},
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text

    @property
    def headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.token}


def file_gets(server_url: str) -> int:
    """How many GETs of ``/resolve/`` the server has answered (its ``/-/metrics``)."""
    with urllib.request.urlopen(f"{server_url}/-/metrics", timeout=30) as response:
        text = response.read().decode()
    pattern = re.compile(r'^modelshelf_http_requests_total\{([^}]*)\} ([0-9.e+]+)$', re.M)
    total = 0.0
    for labels, value in pattern.findall(text):
        if 'method="GET"' in labels and "/resolve/" in labels:
            total += float(value)
    return int(total)


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own (hub and Xet), so that nothing is read from an earlier download (the
    client reads ``HF_HOME`` when imported: its cache constants are set too)."""
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_XET_CACHE", str(home / "xet"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_XET_CACHE", str(home / "xet"))
    return home


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with running_server(tmp_path_factory.mktemp("hf") / "data") as server:
        yield create_account(server, "alice")


@pytest.fixture
def hub(account: Account, tmp_path: Path) -> Hub:
    project, _ = account.create_project()
    response = requests.post(
        f"{account.server.api}/projects/{project}/ml/models",
        json={"name": MODEL},
        headers={"PRIVATE-TOKEN": account.token},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return Hub(account, project, MODEL, tmp_path / "hf-cache")
