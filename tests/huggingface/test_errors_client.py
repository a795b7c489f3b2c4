"""Every ``/hf`` route refuses in the Hub's shape, as the real ``huggingface_hub`` reads it: a missing
repo is its ``RepositoryNotFoundError``, a missing revision ``RevisionNotFoundError``, a missing file
``EntryNotFoundError``; a refused token (401) and a caller without the right (403) are
``HfHubHTTPError`` carrying our message."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.huggingface.conftest import Hub

pytestmark = pytest.mark.server

Call = Callable[[Any, str], object]

#: Each route, called through the client on ``repo`` (a repo id).
READS: dict[str, Call] = {
    "model_info": lambda api, repo: api.model_info(repo),
    "revision": lambda api, repo: api.model_info(repo, revision="1.0.0"),
    "tree": lambda api, repo: api.list_repo_files(repo),
    "paths-info": lambda api, repo: api.get_paths_info(repo, ["a.txt"]),
    "refs": lambda api, repo: api.list_repo_refs(repo),
    "commits": lambda api, repo: api.list_repo_commits(repo),
    "resolve": lambda api, repo: api.get_hf_file_metadata(url=api.endpoint + f"/{repo}/resolve/main/a.txt"),
}
WRITES: dict[str, Call] = {
    "preupload+commit": lambda api, repo: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo),
    "branch": lambda api, repo: api.create_branch(repo, branch="9.0.0"),
    "tag": lambda api, repo: api.create_tag(repo, tag="prod"),
    "delete_tag": lambda api, repo: api.delete_tag(repo, tag="champion"),
    "delete_repo": lambda api, repo: api.delete_repo(repo),
}
#: The calls that name a revision, with one the repo does not have.
REVISIONS: dict[str, Call] = {
    "revision": lambda api, repo: api.model_info(repo, revision="7.7.7"),
    "tree": lambda api, repo: api.list_repo_files(repo, revision="7.7.7"),
    "paths-info": lambda api, repo: api.get_paths_info(repo, ["a.txt"], revision="7.7.7"),
    "commits": lambda api, repo: api.list_repo_commits(repo, revision="7.7.7"),
    "resolve": lambda api, repo: api.get_hf_file_metadata(url=api.endpoint + f"/{repo}/resolve/7.7.7/a.txt"),
    "tag": lambda api, repo: api.create_tag(repo, tag="prod", revision="7.7.7"),
    "branch": lambda api, repo: api.create_branch(repo, branch="9.0.0", revision="7.7.7"),
}


@pytest.fixture
def published(hub: Hub) -> Hub:
    hub.api.upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id=hub.repo_id, commit_message="First")
    hub.api.create_tag(hub.repo_id, tag="champion", revision="1.0.0")
    return hub


def api(hub: Hub, token: str) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=token)


def test_a_missing_repo_on_every_route(published: Hub) -> None:
    from huggingface_hub.errors import RepositoryNotFoundError

    missing = f"{published.project}/no-such-model"
    for call in {**READS, **WRITES}.values():
        with pytest.raises(RepositoryNotFoundError, match="Repository Not Found"):
            call(published.api, missing)
    with pytest.raises(RepositoryNotFoundError):  # a namespace that is no project
        published.api.model_info("someone/fraud-detector")


def test_a_missing_revision_on_every_route_that_names_one(published: Hub) -> None:
    from huggingface_hub.errors import RevisionNotFoundError

    for route, call in REVISIONS.items():
        with pytest.raises(RevisionNotFoundError) as raised:
            call(published.api, published.repo_id)
        assert raised.value.response.status_code == 404, route


def test_a_missing_file(published: Hub) -> None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    with pytest.raises(EntryNotFoundError):
        hf_hub_download(published.repo_id, "nope.txt", endpoint=published.endpoint, token=published.token, cache_dir=published.cache)
    with pytest.raises(EntryNotFoundError):
        published.api.get_hf_file_metadata(url=published.endpoint + f"/{published.repo_id}/resolve/main/nope.txt")
    assert not published.api.file_exists(published.repo_id, "nope.txt")
    with pytest.raises(HfHubHTTPError) as deleted:  # deleting a file the revision lacks
        published.api.delete_file("nope.txt", repo_id=published.repo_id)
    assert deleted.value.response.status_code == 404 and "nope.txt" in str(deleted.value)
    with pytest.raises(HfHubHTTPError) as untagged:
        published.api.delete_tag(published.repo_id, tag="never-made")
    assert untagged.value.response.status_code == 404 and "never-made" in str(untagged.value)


def test_a_refused_token_on_every_route(published: Hub) -> None:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    refused = api(published, "mspat-not-a-token")
    for route, call in {**READS, **WRITES, "whoami": lambda api, repo: api.whoami()}.items():
        with pytest.raises(HfHubHTTPError) as raised:
            call(refused, published.repo_id)
        assert not isinstance(raised.value, RepositoryNotFoundError), route
        assert raised.value.response.status_code == 401, route
        # The header the client keys on to tell a bad token from a missing repo; our message in the body.
        assert raised.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header", route
        if route not in ("resolve", "whoami"):  # a HEAD has no body; whoami prints the client's own words
            assert "The token was refused" in str(raised.value), route


def test_a_token_without_the_right_on_every_write_route(published: Hub) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    server = published.account.server
    read_only = api(published, server.cli("admin", "create-token", "--user", published.account.username, "--scopes", "read_api"))
    for route, call in WRITES.items():
        with pytest.raises(HfHubHTTPError) as raised:
            call(read_only, published.repo_id)
        assert raised.value.response.status_code == 403, route
        assert raised.value.response.json()["error"] in str(raised.value), route
    # Reads work with it: the same version the writes could not touch.
    assert read_only.list_repo_files(published.repo_id, revision="champion") == ["a.txt"]
