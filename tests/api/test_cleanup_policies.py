"""Cleanup policies (docs/cleanup.md): the API (``/projects/:id/packages/cleanup_policy``), its
validation, what a policy removes and what it never removes (aliased, sealed and rule-protected
versions), that a dry run lists exactly what a real run removes (a property test over random
versions, ages, aliases, seals, rules and policies), the audit trail and webhook event of a run, the
server's own runs of due policies (the commands: tests/unit/test_cli_cleanup.py)."""
from __future__ import annotations

import datetime
import itertools
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from package_api import services
from package_api.access.projects import ProjectService
from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db, utcnow
from package_api.packages import cleanup_schedule
from package_api.packages.models import CleanupPolicy, Package, PackageStatus
from package_api.webhooks.models import WebhookEvent
from tests.support.world import World, create_model, generic_url

POLICY = "/api/v4/projects/{}/packages/cleanup_policy"
_numbers = itertools.count(1)


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    # the model registry (aliases, model versions); hooks to 127.0.0.1
    return {**settings, "PLUGINS": "all", "WEBHOOK_ALLOW_PRIVATE_TARGETS": True}


def _put(client: FlaskClient, world: World, project: int, user: str = "maintainer", **body: Any) -> Any:
    return client.put(POLICY.format(project), json=body, headers=world.headers(user))


def _age(app: Flask, project: int, name: str, version: str, days: float) -> None:
    with app.app_context():
        db.session.execute(
            update(Package)
            .where(Package.project_id == project, Package.name == name, Package.version == version)
            .values(created_at=utcnow() - datetime.timedelta(days=days))
        )
        db.session.commit()


def _live(app: Flask, project: int) -> set[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Package.name, Package.version).where(Package.project_id == project, Package.status == PackageStatus.DEFAULT)
        )
        return {(name, version) for name, version in rows}


def _version(client: FlaskClient, world: World, project: int, model: str, version: str) -> None:
    r = client.post(f"/api/v4/projects/{project}/ml/models/{model}/versions", json={"version": version}, headers=world.headers("owner"))
    assert r.status_code == 201, r.get_json()


def _alias(client: FlaskClient, world: World, project: int, model_id: int, alias: str, version: str) -> None:
    r = client.put(f"/api/v4/projects/{project}/ml/models/{model_id}/aliases/{alias}", json={"version": version}, headers=world.headers("owner"))
    assert r.status_code == 200, r.get_json()


def _seal(client: FlaskClient, world: World, project: int, model: str, version: str) -> None:
    r = client.post(f"/api/v4/projects/{project}/ml/models/{model}/versions/{version}/seal", headers=world.headers("owner"))
    assert r.status_code in (200, 201), r.get_json()


def _protect(client: FlaskClient, world: World, project: int, pattern: str) -> None:
    rule = {"package_name_pattern": pattern, "package_type": "generic", "minimum_access_level_for_delete": "maintainer"}
    r = client.post(f"/api/v4/projects/{project}/packages/protection/rules", json=rule, headers=world.headers("owner"))
    assert r.status_code == 201, r.get_json()


def _dry_run(client: FlaskClient, world: World, project: int, user: str = "maintainer") -> dict[str, Any]:
    r = client.get(POLICY.format(project) + "/dry_run", headers=world.headers(user))
    assert r.status_code == 200, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


def _run(app: Flask, project: int) -> Any:
    with app.app_context():
        policy = db.session.get(CleanupPolicy, project)
        assert policy is not None
        return services.cleanup_service(app).run(policy)


# -- the API ----------------------------------------------------------------------------------------


def test_a_project_without_a_policy_shows_gitlabs_defaults_and_maintainers_change_it(
    client: FlaskClient, world: World
) -> None:
    project = world.projects["private"]
    got = client.get(POLICY.format(project), headers=world.headers("maintainer"))
    assert got.status_code == 200
    assert got.get_json() == {
        "project_id": project, "cadence": "1d", "enabled": False, "keep_n": 10, "older_than": "90d",
        "name_regex": ".*", "name_regex_delete": ".*", "name_regex_keep": None, "package_name_regex": None,
        "next_run_at": None, "last_run_at": None,
    }
    changed = _put(client, world, project, enabled=True, cadence="7d", keep_n=3, older_than="45d",
                   name_regex_delete=r"1\..*", name_regex_keep=".*-stable", package_name_regex="fraud|churn")
    assert changed.status_code == 200, changed.get_json()
    policy = changed.get_json()
    assert {k: policy[k] for k in ("enabled", "cadence", "keep_n", "older_than", "name_regex", "name_regex_keep", "package_name_regex")} == {
        "enabled": True, "cadence": "7d", "keep_n": 3, "older_than": "45d", "name_regex": r"1\..*",
        "name_regex_keep": ".*-stable", "package_name_regex": "fraud|churn",
    }
    next_run = datetime.datetime.fromisoformat(policy["next_run_at"].replace("Z", "+00:00"))
    assert datetime.timedelta(days=6.9) < next_run - datetime.datetime.now(datetime.timezone.utc) <= datetime.timedelta(days=7)
    assert client.get(POLICY.format(project), headers=world.headers("owner")).get_json() == policy
    # GitLab's deprecated name_regex sets name_regex_delete; null clears keep_n and older_than.
    again = _put(client, world, project, name_regex="2.*", keep_n=None, older_than=None).get_json()
    assert (again["name_regex_delete"], again["keep_n"], again["older_than"]) == ("2.*", None, None)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"cadence": "2d"}, "cadence"),
        ({"keep_n": 0}, "keep_n"),
        ({"keep_n": "many"}, "keep_n"),
        ({"older_than": "7w"}, "older_than"),
        ({"older_than": "0d"}, "older_than"),
        ({"name_regex_delete": "(unclosed"}, "name_regex_delete"),
        ({"name_regex_keep": "(?=lookahead)"}, "name_regex_keep"),  # RE2 refuses what backtracks
        ({"package_name_regex": "a" * 256}, "package_name_regex"),
        ({"enabled": "perhaps"}, "enabled"),
    ],
)
def test_bad_values_are_a_400_naming_the_parameter_and_change_nothing(
    client: FlaskClient, world: World, body: dict[str, Any], param: str
) -> None:
    project = world.projects["private"]
    before = client.get(POLICY.format(project), headers=world.headers("maintainer")).get_json()
    r = _put(client, world, project, **{"enabled": True, **body})
    assert r.status_code == 400
    assert r.get_json()["error"].startswith(param)
    assert client.get(POLICY.format(project), headers=world.headers("maintainer")).get_json() == before


@pytest.mark.parametrize(("user", "status"), [("developer", 403), ("reporter", 403), ("outsider", 404), ("maintainer", 200)])
def test_only_maintainers_read_change_and_dry_run_the_policy(client: FlaskClient, world: World, user: str, status: int) -> None:
    project = world.projects["private"]
    assert client.get(POLICY.format(project), headers=world.headers(user)).status_code == status
    assert client.get(POLICY.format(project) + "/dry_run", headers=world.headers(user)).status_code == status
    assert _put(client, world, project, user, enabled=False).status_code == status


# -- what a policy removes and keeps -----------------------------------------------------------------


def test_a_run_removes_old_versions_beyond_keep_n_and_never_an_aliased_sealed_or_protected_one(
    app: Flask, client: FlaskClient, world: World
) -> None:
    project = world.projects["private"]
    fraud = create_model(client, project, "fraud", world.headers("owner"))
    for minor in range(8):
        _version(client, world, project, "fraud", f"1.{minor}.0")
        _age(app, project, "fraud", f"1.{minor}.0", 100 - minor)  # 1.7.0 the newest, all older than 90 days
    _version(client, world, project, "fraud", "2.0.0-stable")
    _age(app, project, "fraud", "2.0.0-stable", 200)
    _alias(client, world, project, fraud["id"], "champion", "1.0.0")
    _seal(client, world, project, "fraud", "1.1.0")
    create_model(client, project, "guarded", world.headers("owner"))
    _version(client, world, project, "guarded", "1.0.0")
    _age(app, project, "guarded", "1.0.0", 300)
    _protect(client, world, project, "guard*")
    assert client.put(generic_url(project, "plain", "0.1.0"), data=b"x", headers=world.headers("owner")).status_code == 201
    _age(app, project, "plain", "0.1.0", 10)  # younger than older_than
    assert _put(client, world, project, enabled=True, keep_n=2, older_than="90d", name_regex_keep=".*-stable").status_code == 200

    dry = _dry_run(client, world, project)
    listed = {(v["name"], v["version"]) for v in dry["would_remove"]}
    # 1.7.0 and 1.6.0 are the 2 newest candidates; 1.0.0 (alias), 1.1.0 (sealed), guarded (rule) and
    # 2.0.0-stable (name_regex_keep) stay; plain's one version is within its own keep_n.
    assert listed == {("fraud", f"1.{minor}.0") for minor in (2, 3, 4, 5)}
    assert dry["kept"] == {"keep_n": 3, "name_regex_keep": 1, "protected": 3}
    before = _live(app, project)
    report = _run(app, project)
    assert {(c.name, c.version) for c in report.removed} == listed
    assert before - _live(app, project) == listed
    assert {("fraud", "1.0.0"), ("fraud", "1.1.0"), ("guarded", "1.0.0")} <= _live(app, project)
    with app.app_context():
        runs = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == "package_cleanup_run")))
        deleted = db.session.scalars(
            select(AuditEvent.target_details).where(AuditEvent.event_name.like("%deleted"), AuditEvent.author_name == "cleanup policy")
        ).all()
    assert len(runs) == 1 and json.loads(runs[0].details)["removed"] == 4
    assert runs[0].author_name == "cleanup policy"
    assert len(deleted) == 4  # one event per removed version too
    assert _dry_run(client, world, project)["would_remove"] == []


def test_an_alias_set_after_the_plan_saves_its_version(app: Flask, client: FlaskClient, world: World) -> None:
    project = world.projects["private"]
    fraud = create_model(client, project, "fraud", world.headers("owner"))
    for version in ("1.0.0", "1.1.0"):
        _version(client, world, project, "fraud", version)
        _age(app, project, "fraud", version, 30)
    r = _put(client, world, project, enabled=True, keep_n=None, older_than="7d")
    assert r.status_code == 200, r.get_json()
    with app.app_context():
        cleanup = services.cleanup_service(app)
        policy = db.session.get(CleanupPolicy, project)
        assert policy is not None
        plan = cleanup.plan(policy)
        assert {c.version for c in plan.remove} == {"1.0.0", "1.1.0"}
        db.session.rollback()
    _alias(client, world, project, fraud["id"], "champion", "1.1.0")
    with app.app_context():
        cleanup = services.cleanup_service(app)
        report = cleanup.run(db.session.get(CleanupPolicy, project))  # type: ignore[arg-type]
    assert [c.version for c in report.removed] == ["1.0.0"]
    assert ("fraud", "1.1.0") in _live(app, project)


def test_a_run_is_a_cleanup_run_webhook_event(app: Flask, client: FlaskClient, world: World) -> None:
    project = world.projects["private"]
    hook = client.post(
        f"/api/v4/projects/{project}/hooks",
        json={"name": "ops", "url": "http://127.0.0.1:9/x", "events": ["cleanup.run"]},
        headers=world.headers("maintainer"),
    )
    assert hook.status_code == 201, hook.get_json()
    assert client.put(generic_url(project, "plain", "0.1.0"), data=b"x", headers=world.headers("owner")).status_code == 201
    _age(app, project, "plain", "0.1.0", 10)
    _put(client, world, project, enabled=True, keep_n=None, older_than="1d")
    _run(app, project)
    with app.app_context():
        events = list(db.session.scalars(select(WebhookEvent).where(WebhookEvent.name == "cleanup.run")))
    assert len(events) == 1
    data = json.loads(events[0].payload)["data"]
    assert (data["removed"], data["versions"], data["author"]) == (1, ["plain/0.1.0"], "cleanup policy")


# -- a dry run lists exactly what a run removes ------------------------------------------------------

_version_spec = st.fixed_dictionaries({
    "age": st.integers(0, 120),
    "sealed": st.sampled_from([False, False, False, True]),
    "aliased": st.sampled_from([False, False, False, True]),
    "suffix": st.sampled_from(["", "", "-rc.1", "-stable"]),
})
_policy_spec = st.fixed_dictionaries({
    "keep_n": st.sampled_from([None, 1, 2, 3]),
    "older_than": st.sampled_from([None, "7d", "30d", "90d"]),
    "name_regex_delete": st.sampled_from([".*", r"1\..*", "", ".*-rc.*"]),
    "name_regex_keep": st.sampled_from(["", ".*-stable", r"1\.0\..*"]),
    "package_name_regex": st.sampled_from(["", "fraud", "churn|plain"]),
})


@hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    models=st.dictionaries(st.sampled_from(["fraud", "churn", "plain"]), st.lists(_version_spec, min_size=1, max_size=5), min_size=1),
    protect=st.sampled_from([None, "fraud", "ch*"]),
    policy=_policy_spec,
)
def test_a_dry_run_lists_exactly_what_a_run_removes(
    app: Flask, client: FlaskClient, world: World, models: dict[str, list[dict[str, Any]]], protect: str | None,
    policy: dict[str, Any],
) -> None:
    with app.app_context():
        owner = UserService(db.session).get("owner")
        project = ProjectService(db.session).create(f"acme/prop-{next(_numbers)}", owner).id
    sealed, aliased, ages = set(), set(), {}
    for name, versions in models.items():
        model = create_model(client, project, name, world.headers("owner")) if name != "plain" else None
        for index, spec in enumerate(versions):
            version = f"{index // 2}.{index}.0{spec['suffix']}"
            if model is None:
                assert client.put(generic_url(project, name, version), data=b"x", headers=world.headers("owner")).status_code == 201
            else:
                _version(client, world, project, name, version)
                if spec["aliased"]:
                    _alias(client, world, project, model["id"], f"a{index}", version)
                    aliased.add((name, version))
            if spec["sealed"]:
                _seal_package(app, project, name, version)
                sealed.add((name, version))
            ages[(name, version)] = spec["age"] + index / 1000
            _age(app, project, name, version, ages[(name, version)])
    if protect:
        _protect(client, world, project, protect)
    assert _put(client, world, project, "owner", enabled=True, **policy).status_code == 200

    listed = {(v["name"], v["version"]) for v in _dry_run(client, world, project, "owner")["would_remove"]}
    before = _live(app, project)
    _run(app, project)
    gone = before - _live(app, project)
    assert gone == listed
    ruled = {(n, v) for n, v in before if protect and (n == protect or (protect.endswith("*") and n.startswith(protect[:-1])))}
    assert not gone & (sealed | aliased | ruled)
    assert gone == _expected(policy, ages, sealed | aliased | ruled)


def _expected(policy: dict[str, Any], ages: dict[tuple[str, str], float], protected: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """GitLab's steps, written out plainly over the test's own record of the versions (the patterns
    the test draws mean the same to Python's ``re`` as to RE2)."""
    removed = set()
    names = {name for name, _ in ages}
    for name in names:
        if policy["package_name_regex"] and not re.fullmatch(policy["package_name_regex"], name):
            continue
        newest_first = sorted((age, version) for (n, version), age in ages.items() if n == name)
        candidates = [
            (age, version) for age, version in newest_first
            if (name, version) not in protected
            and policy["name_regex_delete"] and re.fullmatch(policy["name_regex_delete"], version)
            and not (policy["name_regex_keep"] and re.fullmatch(policy["name_regex_keep"], version))
        ]
        candidates = candidates[policy["keep_n"] or 0:]
        days = int(policy["older_than"][:-1]) if policy["older_than"] else 0
        removed |= {(name, version) for age, version in candidates if age >= days}
    return removed


def _seal_package(app: Flask, project: int, name: str, version: str) -> None:
    """Seal a package (a plain one has no seal route: the service, as the model registry's route does)."""
    with app.app_context():
        package = db.session.scalar(select(Package).where(Package.project_id == project, Package.name == name, Package.version == version))
        assert package is not None
        assert services.package_service(app).seal(package)


# -- the commands and the server's runs ---------------------------------------------------------------


def test_the_server_runs_a_due_policy_once_and_schedules_the_next(app: Flask, client: FlaskClient, world: World) -> None:
    project = world.projects["private"]
    assert client.put(generic_url(project, "plain", "0.1.0"), data=b"x", headers=world.headers("owner")).status_code == 201
    _age(app, project, "plain", "0.1.0", 40)
    _put(client, world, project, enabled=True, keep_n=None, older_than="30d", cadence="14d")
    assert cleanup_schedule.run_due(app, services.cleanup_service) == []  # not due for 14 days
    with app.app_context():
        db.session.execute(update(CleanupPolicy).values(next_run_at=utcnow() - datetime.timedelta(minutes=1)))
        db.session.commit()
    reports = cleanup_schedule.run_due(app, services.cleanup_service)
    assert [len(r.removed) for r in reports] == [1]
    assert cleanup_schedule.run_due(app, services.cleanup_service) == []  # claimed: the next run is one cadence on
    with app.app_context():
        policy = db.session.get(CleanupPolicy, project)
        assert policy is not None and policy.next_run_at is not None and policy.last_run_at is not None
        assert policy.next_run_at - utcnow() > datetime.timedelta(days=13.9)
