"""Package protection rules: GitLab's API (``/projects/:id/packages/protection/rules``), its
validation and who may manage the rules (Maintainers), the audit trail of each change, the wildcard
matching (linear, case-insensitive, whole name), and what a rule refuses on the generic API (push,
delete, deploy tokens, admins)."""
from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from package_api.access.tokens import DeployTokenService
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.packages.models import Package, PackageProtectionRule
from package_api.packages.protection import wildcard_matches
from tests.support.world import World, generic_url

RULES = "/api/v4/projects/{}/packages/protection/rules"


@pytest.fixture
def project(world: World) -> int:
    return world.projects["private"]


def _create(client: FlaskClient, world: World, project: int, user: str = "maintainer", **body: Any) -> Any:
    body = {"package_name_pattern": "release-*", "package_type": "generic", "minimum_access_level_for_push": "owner", **body}
    return client.post(RULES.format(project), json=body, headers=world.headers(user))


def _events(app: Flask, prefix: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_name.startswith(prefix)).order_by(AuditEvent.id)))


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("release-*", "release-1", True),
        ("release-*", "release-", True),
        ("release-*", "Release-X", True),  # GitLab's ILIKE: case does not count
        ("release-*", "pre-release-1", False),  # the whole name
        ("*-model", "fraud-model", True),
        ("*-model", "fraud-model-2", False),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "acb", False),
        ("a*a", "a", False),  # head and tail may not overlap
        ("*", "anything", True),
        ("exact", "exact", True),
        ("exact", "exactly", False),
        ("**x**", "x", True),
    ],
)
def test_wildcards_match_the_whole_name_without_regard_to_case(pattern: str, name: str, matches: bool) -> None:
    assert wildcard_matches(pattern, name) is matches


def test_matching_a_hostile_pattern_stays_linear() -> None:
    pattern = "*a" * 120 + "*b"  # what backtracks for seconds in a naive matcher
    started = time.perf_counter()
    assert wildcard_matches(pattern, "a" * 255) is False
    assert wildcard_matches(pattern, "a" * 254 + "b") is True
    assert time.perf_counter() - started < 0.1


def test_maintainers_create_list_update_and_delete_rules_with_gitlabs_entity(
    app: Flask, client: FlaskClient, world: World, project: int
) -> None:
    created = _create(client, world, project, minimum_access_level_for_delete="admin")
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    assert rule == {
        "id": rule["id"],
        "project_id": project,
        "package_name_pattern": "release-*",
        "package_type": "generic",
        "minimum_access_level_for_push": "owner",
        "minimum_access_level_for_delete": "admin",
    }
    listed = client.get(RULES.format(project), headers=world.headers("maintainer"))
    assert listed.status_code == 200 and listed.get_json() == [rule]
    # By path too, as every /projects/:id route.
    assert client.get(RULES.format("acme%2Fprivate"), headers=world.headers("owner")).get_json() == [rule]

    url = f"{RULES.format(project)}/{rule['id']}"
    patched = client.patch(url, json={"minimum_access_level_for_push": "maintainer", "minimum_access_level_for_delete": None}, headers=world.headers("maintainer"))
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json() == {**rule, "minimum_access_level_for_push": "maintainer", "minimum_access_level_for_delete": None}
    assert client.delete(url, headers=world.headers("maintainer")).status_code == 204
    assert client.get(RULES.format(project), headers=world.headers("maintainer")).get_json() == []
    assert client.delete(url, headers=world.headers("maintainer")).status_code == 404

    events = _events(app, "package_protection_rule_")
    assert [e.event_name for e in events] == [
        "package_protection_rule_created", "package_protection_rule_updated", "package_protection_rule_deleted",
    ]
    assert all(e.author_name == "maintainer" and e.target_type == "PackageProtectionRule" for e in events)
    assert '"minimum_access_level_for_push": {"from": "owner", "to": "maintainer"}' in events[1].details


@pytest.mark.parametrize("user", ["developer", "reporter", "guest"])
def test_only_maintainers_and_owners_see_or_change_rules(client: FlaskClient, world: World, project: int, user: str) -> None:
    assert _create(client, world, project).status_code == 201
    assert client.get(RULES.format(project), headers=world.headers(user)).status_code == 403
    assert _create(client, world, project, user, package_name_pattern="other-*").status_code == 403
    assert client.get(RULES.format(project), headers=world.headers("outsider")).status_code == 404
    assert client.get(RULES.format(project)).status_code in (401, 404)
    # read_api tokens read but never change.
    assert client.get(RULES.format(project), headers=world.headers("maintainer", read_only=True)).status_code == 200
    assert _create(client, world, project, package_name_pattern="x-*", **{}).status_code == 201
    refused = client.post(
        RULES.format(project),
        json={"package_name_pattern": "y-*", "package_type": "generic", "minimum_access_level_for_push": "owner"},
        headers=world.headers("maintainer", read_only=True),
    )
    assert refused.status_code == 403


def test_validation_answers_as_gitlab_does(client: FlaskClient, world: World, project: int) -> None:
    assert _create(client, world, project).status_code == 201
    cases: list[tuple[dict[str, Any], int, Any]] = [
        ({"package_name_pattern": "release-*"}, 422, {"message": {"error": "Package name pattern has already been taken"}}),
        ({"package_name_pattern": "x" * 256}, 422, {"message": {"error": "Package name pattern is too long (maximum is 255 characters)"}}),
        ({"package_name_pattern": ""}, 422, {"message": {"error": "Package name pattern can't be blank"}}),
        ({"package_name_pattern": "bad name*"}, 422, None),
        ({"package_type": "rpm"}, 400, {"error": "package_type does not have a valid value"}),
        ({"minimum_access_level_for_push": "developer"}, 400, {"error": "minimum_access_level_for_push does not have a valid value"}),
        ({"minimum_access_level_for_push": None, "minimum_access_level_for_delete": None}, 422,
         {"message": {"error": "A rule must have at least a minimum access role for push or delete."}}),
    ]
    for body, status, answer in cases:
        response = _create(client, world, project, **body)
        assert response.status_code == status, (body, response.get_json())
        if answer is not None:
            assert response.get_json() == answer
    missing = client.post(RULES.format(project), json={"package_type": "generic", "minimum_access_level_for_push": "owner"}, headers=world.headers("maintainer"))
    assert missing.status_code == 400 and missing.get_json() == {"error": "package_name_pattern is missing"}
    neither = client.post(RULES.format(project), json={"package_name_pattern": "n-*", "package_type": "generic"}, headers=world.headers("maintainer"))
    assert neither.status_code == 400
    # The same pattern for another type is another rule (GitLab's uniqueness is per type); it protects
    # nothing here, where every package is generic.
    assert _create(client, world, project, package_type="npm").status_code == 201
    assert len(client.get(RULES.format(project), headers=world.headers("maintainer")).get_json()) == 2


def _put(client: FlaskClient, headers: dict[str, str], project: int, name: str = "release-a", version: str = "1.0.0", path: str = "f.bin") -> Any:
    return client.put(generic_url(project, name, version, path), data=b"bytes", headers=headers)


def test_a_push_rule_refuses_lower_roles_and_names_itself_and_changes_nothing(
    app: Flask, client: FlaskClient, world: World, project: int
) -> None:
    rule = _create(client, world, project, minimum_access_level_for_push="maintainer").get_json()
    refused = _put(client, world.headers("developer"), project)
    assert refused.status_code == 403
    message = refused.get_json()["message"]
    assert message.startswith("403 Forbidden - package protected by rule")
    assert f"rule {rule['id']}" in message and "'release-*'" in message and "maintainer" in message
    with app.app_context():
        assert db.session.scalars(select(Package)).all() == []
    assert _put(client, world.headers("developer"), project, name="other").status_code == 201  # not matched
    assert _put(client, world.headers("maintainer"), project).status_code == 201
    assert _put(client, world.headers("developer"), project, path="g.bin").status_code == 403  # adding a file is a push
    assert _put(client, world.headers("root"), project, path="g.bin").status_code == 201  # admins pass every rule


def test_an_admin_rule_refuses_owners_and_a_deploy_token_never_pushes_a_protected_package(
    app: Flask, client: FlaskClient, world: World, project: int
) -> None:
    _create(client, world, project, minimum_access_level_for_push="admin")
    assert _put(client, world.headers("owner"), project).status_code == 403
    assert _put(client, world.headers("root"), project).status_code == 201
    with app.app_context():
        from package_api.access.models import Project

        token = DeployTokenService(db.session).create(db.session.get(Project, project), "ci", ["write_package_registry"])[1]
    deploy = {"Deploy-Token": token}
    refused = _put(client, deploy, project, name="release-b")
    assert refused.status_code == 403 and "deploy tokens cannot push protected packages" in refused.get_json()["message"]
    assert _put(client, deploy, project, name="free").status_code == 201


def test_a_delete_rule_guards_packages_and_their_files(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    _create(client, world, project, minimum_access_level_for_push=None, minimum_access_level_for_delete="owner")
    assert _put(client, world.headers("developer"), project).status_code == 201  # push is not protected
    with app.app_context():
        package = db.session.scalars(select(Package)).one()
        package_id = package.id
    files = client.get(f"/api/v4/projects/{project}/packages/{package_id}/package_files", headers=world.headers("maintainer")).get_json()
    file_url = f"/api/v4/projects/{project}/packages/{package_id}/package_files/{files[0]['id']}"
    refused = client.delete(file_url, headers=world.headers("maintainer"))
    assert refused.status_code == 403 and "delete takes at least the owner access level" in refused.get_json()["message"]
    refused = client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers=world.headers("maintainer"))
    assert refused.status_code == 403
    assert len(client.get(f"/api/v4/projects/{project}/packages/{package_id}/package_files", headers=world.headers("maintainer")).get_json()) == 1
    assert client.delete(f"/api/v4/projects/{project}/packages/{package_id}", headers=world.headers("owner")).status_code == 204
    with app.app_context():
        assert db.session.scalars(select(PackageProtectionRule)).one().minimum_access_level_for_push is None
