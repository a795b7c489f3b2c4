"""python-gitlab's members, users, personal access token, project access token and deploy token
managers against a real ``modelshelf serve``, used as GitLab admins and maintainers use them."""
from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator

import gitlab
import pytest
import requests
from gitlab.v4.objects import Project

from tests.support.live_server import Account, create_account, running_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Account]]:
    """alice (a user who owns projects), root (an admin), bob (another user)."""
    with running_server(tmp_path_factory.mktemp("gitlab-access") / "data") as server:
        made = {"alice": create_account(server, "alice"), "bob": create_account(server, "bob")}
        server.cli("admin", "create-user", "root", "--admin")
        made["root"] = Account(server, "root", server.cli("admin", "create-token", "--user", "root", "--scope", "api"))
        yield made


def client_for(account: Account, token: str | None = None) -> gitlab.Gitlab:
    return gitlab.Gitlab(account.server.url, private_token=token or account.token)


@pytest.fixture
def gl(accounts: dict[str, Account]) -> Iterator[gitlab.Gitlab]:
    with client_for(accounts["alice"]) as client:
        yield client


@pytest.fixture
def project(accounts: dict[str, Account], gl: gitlab.Gitlab) -> Project:
    project_id, _ = accounts["alice"].create_project(f"alice/models-{uuid.uuid4().hex[:8]}")
    return gl.projects.get(project_id)


def user_id(gl: gitlab.Gitlab, username: str) -> int:
    [user] = gl.users.list(username=username)
    return int(user.id)


def test_members_are_added_listed_changed_and_removed(gl: gitlab.Gitlab, project: Project, accounts: dict[str, Account]) -> None:
    bob = user_id(gl, "bob")

    created = project.members.create({"user_id": bob, "access_level": gitlab.const.AccessLevel.DEVELOPER})
    listed = {m.username: m.access_level for m in project.members.list(get_all=True)}
    every = {m.username for m in project.members_all.list(get_all=True)}

    assert (created.username, created.access_level) == ("bob", 30)
    assert listed == {"alice": 50, "bob": 30}
    assert every == {"alice", "bob"}
    with client_for(accounts["bob"]) as as_bob:
        assert as_bob.projects.get(project.id).path_with_namespace == project.path_with_namespace

    member = project.members.get(bob)
    member.access_level = gitlab.const.AccessLevel.MAINTAINER
    member.save()
    assert project.members.get(bob).access_level == 40

    with pytest.raises(gitlab.GitlabCreateError) as duplicate:
        project.members.create({"username": "bob", "access_level": 10})
    assert duplicate.value.response_code == 409

    project.members.delete(bob)
    assert [m.username for m in project.members.list(get_all=True)] == ["alice"]
    with client_for(accounts["bob"]) as as_bob, pytest.raises(gitlab.GitlabGetError) as hidden:
        as_bob.projects.get(project.id)
    assert hidden.value.response_code == 404


def test_the_last_owner_stays(gl: gitlab.Gitlab, project: Project) -> None:
    with pytest.raises(gitlab.GitlabDeleteError) as refused:
        project.members.delete(user_id(gl, "alice"))

    assert refused.value.response_code == 400
    assert "at least one Owner" in str(refused.value.error_message)


def test_deploy_tokens_are_created_used_and_deleted(project: Project, accounts: dict[str, Account]) -> None:
    project.generic_packages.upload(package_name="tool", package_version="nightly", file_name="t.bin", data=b"tool")

    deploy = project.deploytokens.create({"name": "puller", "scopes": ["read_package_registry"], "username": "puller"})
    url = f"{accounts['alice'].server.api}/projects/{project.id}/packages/generic/tool/nightly/t.bin"

    assert deploy.token.startswith("msdt-") and deploy.username == "puller"
    assert requests.get(url, auth=("puller", deploy.token), timeout=10).content == b"tool"
    assert requests.put(url.replace("t.bin", "u.bin"), data=b"x", auth=("puller", deploy.token), timeout=10).status_code == 403
    assert [t.name for t in project.deploytokens.list(get_all=True)] == ["puller"]

    project.deploytokens.delete(deploy.id)
    assert requests.get(url, auth=("puller", deploy.token), timeout=10).status_code == 401


def test_project_access_tokens_publish_until_revoked(project: Project, accounts: dict[str, Account]) -> None:
    created = project.access_tokens.create({"name": "publisher", "scopes": ["api"], "access_level": 30})

    assert created.access_level == 30 and created.token.startswith("mspat-")
    with client_for(accounts["alice"], created.token) as as_bot:
        bot_project = as_bot.projects.get(project.id)
        bot_project.generic_packages.upload(package_name="built", package_version="1.0.0", file_name="m.onnx", data=b"m")
    assert [t.name for t in project.access_tokens.list(get_all=True)] == ["publisher"]
    assert created.user_id in {m.id for m in project.members.list(get_all=True)}

    project.access_tokens.delete(created.id)

    with client_for(accounts["alice"], created.token) as as_bot, pytest.raises(gitlab.GitlabAuthenticationError):
        as_bot.projects.get(project.id)
    assert created.user_id not in {m.id for m in project.members.list(get_all=True)}


def test_personal_access_tokens_are_listed_read_and_revoked(accounts: dict[str, Account]) -> None:
    with client_for(accounts["root"]) as admin:
        bob = user_id(admin, "bob")
        made = admin.users.get(bob, lazy=True).personal_access_tokens.create({"name": "laptop", "scopes": ["read_api"]})
        assert made.token.startswith("mspat-") and made.user_id == bob
        assert "laptop" in {t.name for t in admin.personal_access_tokens.list(user_id=bob, get_all=True)}

    with client_for(accounts["bob"], made.token) as as_bob:
        own = as_bob.personal_access_tokens.get(made.id)
        assert (own.name, own.scopes, own.active) == ("laptop", ["read_api"], True)
        assert made.id in {t.id for t in as_bob.personal_access_tokens.list(get_all=True)}
        as_bob.personal_access_tokens.delete("self")
        with pytest.raises(gitlab.GitlabAuthenticationError):
            as_bob.auth()


def test_personal_access_tokens_rotate(accounts: dict[str, Account]) -> None:
    """python-gitlab's ``rotate()``: the object becomes its successor; the old token is dead, and
    using it again revokes the successor too (GitLab's automatic reuse detection)."""
    next_month = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    with client_for(accounts["root"]) as admin:
        made = admin.users.get(user_id(admin, "bob"), lazy=True).personal_access_tokens.create(
            {"name": "deploy-script", "scopes": ["api"]}
        )

    with client_for(accounts["bob"], made.token) as as_bob:
        token = as_bob.personal_access_tokens.get(made.id)
        rotated = token.rotate(expires_at=next_month)
    assert (token.id, token.token, token.name, token.expires_at) == (rotated["id"], rotated["token"], "deploy-script", next_month)
    assert token.id != made.id
    with client_for(accounts["bob"], token.token) as as_new:
        as_new.auth()
        assert as_new.user is not None and as_new.user.username == "bob"
        itself = as_new.personal_access_tokens.rotate("self")
    in_a_week = (datetime.date.today() + datetime.timedelta(days=7)).isoformat()
    assert itself["expires_at"] == in_a_week and itself["name"] == "deploy-script"

    with client_for(accounts["bob"], itself["token"]) as as_newest:
        as_newest.auth()
    with client_for(accounts["bob"], made.token) as leaked, pytest.raises(gitlab.GitlabAuthenticationError):
        leaked.auth()
    with client_for(accounts["bob"], itself["token"]) as as_newest, pytest.raises(gitlab.GitlabAuthenticationError):
        as_newest.auth()


def test_project_access_tokens_rotate(project: Project, accounts: dict[str, Account]) -> None:
    created = project.access_tokens.create({"name": "publisher", "scopes": ["api"], "access_level": 30})
    first = created.token

    created.rotate()

    assert created.token != first and created.access_level == 30
    assert created.expires_at == (datetime.date.today() + datetime.timedelta(days=7)).isoformat()
    with client_for(accounts["alice"], created.token) as as_bot:
        bot_project = as_bot.projects.get(project.id)
        bot_project.generic_packages.upload(package_name="built", package_version="nightly", file_name="m.bin", data=b"m")
        own = bot_project.access_tokens.get(created.id, lazy=True)
        rotated = own.rotate(self_rotate=True)
    assert rotated["access_level"] == 30 and rotated["user_id"] == created.user_id
    with client_for(accounts["alice"], rotated["token"]) as as_bot:
        assert as_bot.projects.get(project.id).generic_packages.download(
            package_name="built", package_version="nightly", file_name="m.bin"
        ) == b"m"
    assert [t.active for t in project.access_tokens.list(get_all=True)] == [False, False, True]


def test_admins_create_users_and_others_cannot(accounts: dict[str, Account], gl: gitlab.Gitlab) -> None:
    with client_for(accounts["root"]) as admin:
        carol = admin.users.create({"username": "carol", "name": "Carol", "password": "a long password", "email": "carol@example.com"})
        assert (carol.username, carol.name) == ("carol", "Carol")
        assert [u.id for u in admin.users.list(username="carol")] == [carol.id]

    with pytest.raises(gitlab.GitlabCreateError) as refused:
        gl.users.create({"username": "dave", "name": "Dave", "password": "a long password", "email": "dave@example.com"})
    assert refused.value.response_code == 403


def test_an_owner_deletes_a_project(gl: gitlab.Gitlab, project: Project) -> None:
    project.generic_packages.upload(package_name="doomed", package_version="1", file_name="d.bin", data=b"d")

    project.delete()

    with pytest.raises(gitlab.GitlabGetError) as gone:
        gl.projects.get(project.id)
    assert gone.value.response_code == 404
    assert project.id not in {p.id for p in gl.projects.list(get_all=True)}
