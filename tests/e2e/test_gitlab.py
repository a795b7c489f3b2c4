"""python-gitlab against a real ``modelshelf serve``, used as GitLab users use it."""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import gitlab
import pytest
import requests
from gitlab.v4.objects import Project

from tests.support.live_server import Account, create_account, running_server

pytestmark = pytest.mark.server

#: The package most tests publish into.
FRAUD = {"package_name": "fraud-detector", "package_version": "1.4.0"}


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with running_server(tmp_path_factory.mktemp("gitlab") / "data") as server:
        yield create_account(server, "alice")


@pytest.fixture
def gl(account: Account) -> Iterator[gitlab.Gitlab]:
    with gitlab.Gitlab(account.server.url, private_token=account.token) as client:
        yield client


@pytest.fixture
def project(account: Account, gl: gitlab.Gitlab) -> Project:
    project_id, _ = account.create_project()
    return gl.projects.get(project_id)


def test_auth_names_the_token_owner(gl: gitlab.Gitlab) -> None:
    gl.auth()

    assert gl.user is not None
    assert gl.user.username == "alice"


def test_project_by_id_and_by_path(account: Account, gl: gitlab.Gitlab) -> None:
    project_id, full_path = account.create_project()

    by_id = gl.projects.get(project_id)
    by_path = gl.projects.get(full_path)

    assert by_id.id == by_path.id == project_id
    assert by_id.path_with_namespace == by_path.path_with_namespace == full_path


def test_upload_from_path_and_from_data_then_download(project: Project, tmp_path: Path) -> None:
    from_disk = os.urandom(50_000)
    local = tmp_path / "model.onnx"
    local.write_bytes(from_disk)
    in_memory = b"tokenizer config"

    uploaded = project.generic_packages.upload(
        **FRAUD, file_name="model.onnx", path=str(local)
    )
    project.generic_packages.upload(
        **FRAUD, file_name="tokenizer.json", data=in_memory
    )

    assert uploaded.message == "201 Created"
    download = project.generic_packages.download
    assert download(**FRAUD, file_name="model.onnx") == from_disk
    assert download(**FRAUD, file_name="tokenizer.json") == in_memory


def test_streamed_download_hands_every_chunk_to_the_action(project: Project) -> None:
    data = os.urandom(200_000)
    project.generic_packages.upload(package_name="big", package_version="1.0", file_name="weights.bin", data=data)
    chunks: list[bytes] = []

    result = project.generic_packages.download(
        package_name="big", package_version="1.0", file_name="weights.bin",
        streamed=True, action=chunks.append, chunk_size=8192,
    )

    assert result is None
    assert len(chunks) > 1
    assert b"".join(chunks) == data


def test_packages_and_their_files_are_listed(project: Project) -> None:
    data = os.urandom(1234)
    project.generic_packages.upload(**FRAUD, file_name="model.onnx", data=data)

    [package] = project.packages.list(get_all=True)
    [package_file] = package.package_files.list()

    assert (package.name, package.version, package.package_type) == ("fraud-detector", "1.4.0", "generic")
    assert package_file.file_name == "model.onnx"
    assert package_file.size == len(data)
    assert package_file.file_sha256 == hashlib.sha256(data).hexdigest()


def test_packages_are_listed_by_type_and_an_unknown_type_is_refused(project: Project) -> None:
    project.generic_packages.upload(**FRAUD, file_name="model.onnx", data=b"w")

    assert [p.name for p in project.packages.list(package_type="generic", get_all=True)] == ["fraud-detector"]
    assert project.packages.list(package_type="maven", get_all=True) == []
    with pytest.raises(gitlab.GitlabListError) as refused:
        project.packages.list(package_type="bogus", get_all=True)
    assert refused.value.response_code == 400
    assert "package_type does not have a valid value" in str(refused.value.error_message)


def test_deleted_package_disappears_and_cannot_be_downloaded(project: Project) -> None:
    project.generic_packages.upload(**FRAUD, file_name="model.onnx", data=b"w")
    [package] = project.packages.list(get_all=True)

    project.packages.delete(package.id)

    assert project.packages.list(get_all=True) == []
    with pytest.raises(gitlab.GitlabGetError) as caught:
        project.generic_packages.download(**FRAUD, file_name="model.onnx")
    assert caught.value.response_code == 404


def test_deleting_one_package_file_keeps_the_others(project: Project) -> None:
    upload = project.generic_packages.upload
    upload(**FRAUD, file_name="model.onnx", data=b"model")
    upload(**FRAUD, file_name="card.md", data=b"card")
    [package] = project.packages.list(get_all=True)
    doomed = next(f for f in package.package_files.list() if f.file_name == "model.onnx")

    package.package_files.delete(doomed.id)

    assert [f.file_name for f in package.package_files.list()] == ["card.md"]
    download = project.generic_packages.download
    with pytest.raises(gitlab.GitlabGetError) as caught:
        download(**FRAUD, file_name="model.onnx")
    assert caught.value.response_code == 404
    assert download(**FRAUD, file_name="card.md") == b"card"


def test_pagination_collects_every_page(project: Project) -> None:
    versions = [f"1.0.{n}" for n in range(5)]
    for version in versions:
        project.generic_packages.upload(package_name="fraud-detector", package_version=version, file_name="m",
                                        data=b"m")

    # python-gitlab reads the X-Total header to warn that one page is not everything.
    with pytest.warns(UserWarning, match="returned 2 of 5 items"):
        first_page = project.packages.list(per_page=2)
    everything = project.packages.list(per_page=2, get_all=True)
    lazily = list(project.packages.list(per_page=2, iterator=True))

    assert len(first_page) == 2
    assert sorted(p.version for p in everything) == versions
    assert sorted(p.version for p in lazily) == versions


def test_create_project_in_own_namespace(gl: gitlab.Gitlab) -> None:
    created = gl.projects.create({"name": "newproj"})

    assert created.path_with_namespace == "alice/newproj"
    assert gl.projects.get("alice/newproj").id == created.id
    package = {"package_name": "p", "package_version": "1", "file_name": "f"}
    created.generic_packages.upload(**package, data=b"owner may publish")
    assert created.generic_packages.download(**package) == b"owner may publish"


def test_an_admin_gives_a_user_a_password_and_a_name_with_python_gitlab(account: Account) -> None:
    server = account.server
    server.cli("admin", "create-user", "root", "--admin")
    server.cli("admin", "create-user", "newcomer")  # as the quick start makes users: no password
    admin_token = server.cli("admin", "create-token", "--user", "root", "--scopes", "api")

    with gitlab.Gitlab(server.url, private_token=admin_token) as gl:
        [user] = gl.users.list(username="newcomer")
        user.name = "New Comer"
        user.password = "a password for the web UI"
        user.save()
        assert gl.users.get(user.id).name == "New Comer"

    browser = requests.Session()
    page = browser.get(f"{server.url}/users/sign_in", timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"username": "newcomer", "password": "a password for the web UI", "csrf_token": csrf.group(1)}
    signed_in = browser.post(f"{server.url}/users/sign_in", data=form, timeout=30)
    assert signed_in.status_code == 200 and "@newcomer" in signed_in.text  # followed to the project list


# -- package protection rules (python-gitlab's project.package_protection_rules) ------------------------


def test_package_protection_rules_through_python_gitlab(project: Project) -> None:
    rules = project.package_protection_rules
    rule = rules.create(
        {"package_name_pattern": "fraud-*", "package_type": "generic", "minimum_access_level_for_push": "admin"}
    )
    assert (rule.package_name_pattern, rule.minimum_access_level_for_push, rule.minimum_access_level_for_delete) == (
        "fraud-*", "admin", None,
    )
    assert [r.id for r in rules.list()] == [rule.id]
    # alice is the project's Owner, not an administrator: the rule refuses her push, naming itself.
    with pytest.raises(gitlab.exceptions.GitlabUploadError) as refused:
        project.generic_packages.upload(**FRAUD, file_name="model.onnx", data=b"weights")
    assert refused.value.response_code == 403 and "fraud-*" in str(refused.value)
    assert project.packages.list() == []

    rule.minimum_access_level_for_push = "owner"
    rule.save()  # PATCH
    assert rules.list()[0].minimum_access_level_for_push == "owner"
    project.generic_packages.upload(**FRAUD, file_name="model.onnx", data=b"weights")
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as taken:
        rules.create({"package_name_pattern": "fraud-*", "package_type": "generic", "minimum_access_level_for_push": "owner"})
    assert taken.value.response_code == 422
    rule.delete()
    assert rules.list() == []
