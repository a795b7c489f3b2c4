"""Alias history, ``?at=``, roll back, protected alias rules and promotion requests through the REST
API (``plugin/web/api/aliases.py``): who may approve (not the requester, not the version's author,
the rules' role), and that MLflow's alias calls go through the same rules."""
from __future__ import annotations

import datetime
import time

import pytest

from tests.support.world import create_model, generic_url


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def project(world):
    return world.projects["private"]


def api(project, path=""):
    return f"/api/v4/projects/{project}/ml{path}"


def _version(client, world, project, model, version, author):
    r = client.post(api(project, f"/models/{model}/versions"), json={"version": version}, headers=world.headers(author))
    assert r.status_code == 201, r.json
    return r.json


def _tag(client, world, project, model, sequence, key, value):
    r = client.post(
        f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/model-versions/set-tag",
        json={"name": model, "version": str(sequence), "key": key, "value": value},
        headers=world.headers("maintainer"),
    )
    assert r.status_code == 200, r.json


def _move(client, world, project, model, alias, version, who):
    return client.put(api(project, f"/models/{model}/aliases/{alias}"), json={"version": version}, headers=world.headers(who))


@pytest.fixture
def fraud(client, world, project):
    """Model ``fraud`` (by the reporter) with 1.0.0 by the developer and 1.1.0 by the reporter."""
    model = create_model(client, project, "fraud", world.headers("reporter"))
    _version(client, world, project, model["id"], "1.0.0", "developer")
    _version(client, world, project, model["id"], "1.1.0", "reporter")
    return model["id"]


def test_every_move_is_in_the_history_and_at_resolves_the_past_and_rollback_moves_back(client, world, project, fraud):
    reporter = world.headers("reporter")
    assert _move(client, world, project, fraud, "champion", "1.0.0", "reporter").status_code == 200
    time.sleep(0.01)
    between = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.01)
    moved = _move(client, world, project, fraud, "champion", "1.1.0", "developer")
    assert moved.status_code == 200, moved.json
    assert moved.json["version"]["version"] == "1.1.0" and moved.json["protected"] is False

    history = client.get(api(project, f"/models/{fraud}/aliases/champion/history"), headers=world.headers("guest")).json
    assert [(m["action"], m["from_version"] and m["from_version"]["version"], m["to_version"]["version"], m["author"]["username"])
            for m in history] == [("set", "1.0.0", "1.1.0", "developer"), ("set", None, "1.0.0", "reporter")]
    assert all(m["promotion_request_id"] is None for m in history)

    at = client.get(api(project, f"/models/{fraud}/aliases/champion"), query_string={"at": between.isoformat().replace("+00:00", "Z")},
                    headers=reporter)
    assert at.status_code == 200, at.json
    assert at.json["version"]["version"] == "1.0.0" and at.json["set_by"]["author"]["username"] == "reporter"
    assert client.get(api(project, f"/models/{fraud}/aliases/champion"), headers=reporter).json["version"]["version"] == "1.1.0"
    before = client.get(api(project, f"/models/{fraud}/aliases/champion"), query_string={"at": "2020-01-01T00:00:00Z"}, headers=reporter)
    assert before.status_code == 404
    bad = client.get(api(project, f"/models/{fraud}/aliases/champion"), query_string={"at": "last tuesday"}, headers=reporter)
    assert bad.status_code == 400 and "ISO 8601" in bad.json["message"]

    back = client.post(api(project, f"/models/{fraud}/aliases/champion/rollback"), headers=reporter)
    assert back.status_code == 200 and back.json["version"]["version"] == "1.0.0"
    latest = client.get(api(project, f"/models/{fraud}/aliases/champion/history"), headers=reporter).json[0]
    assert (latest["action"], latest["from_version"]["version"], latest["to_version"]["version"]) == ("rollback", "1.1.0", "1.0.0")
    listed = client.get(api(project, f"/models/{fraud}/aliases"), headers=reporter).json
    assert [(a["alias"], a["version"]["version"]) for a in listed] == [("champion", "1.0.0")]

    assert client.delete(api(project, f"/models/{fraud}/aliases/champion"), headers=reporter).status_code == 204
    gone = client.get(api(project, f"/models/{fraud}/aliases/champion/history"), headers=reporter).json[0]
    assert gone["action"] == "deleted" and gone["to_version"] is None
    assert client.get(api(project, f"/models/{fraud}/aliases/champion"), headers=reporter).status_code == 404
    assert client.get(api(project, f"/models/{fraud}/aliases/never/history"), headers=reporter).status_code == 404
    first = client.post(api(project, f"/models/{fraud}/aliases/champion/rollback"), headers=reporter)
    assert first.status_code == 404


def test_a_new_alias_has_nothing_to_roll_back_to(client, world, project, fraud):
    _move(client, world, project, fraud, "staging", "1.0.0", "reporter")
    r = client.post(api(project, f"/models/{fraud}/aliases/staging/rollback"), headers=world.headers("reporter"))
    assert r.status_code == 400 and "no previous version" in r.json["message"]


def test_protected_alias_rules_are_managed_by_maintainers(client, world, project):
    rules = api(project, "/protected_aliases")
    body = {"alias_pattern": "prod*", "minimum_access_level": "developer", "approvals_required": 1,
            "required_tags": ["eval=passed"]}
    assert client.post(rules, json=body, headers=world.headers("developer")).status_code == 403
    assert client.get(rules, headers=world.headers("developer")).status_code == 403
    made = client.post(rules, json=body, headers=world.headers("maintainer"))
    assert made.status_code == 201, made.json
    rule = made.json
    assert (rule["alias_pattern"], rule["minimum_access_level"], rule["approvals_required"], rule["required_tags"]) == (
        "prod*", "developer", 1, ["eval=passed"])
    assert client.post(rules, json=body, headers=world.headers("maintainer")).status_code == 409
    for wrong in ({"alias_pattern": "prod.(a+)+"}, {"alias_pattern": "x", "minimum_access_level": "guest"},
                  {"alias_pattern": "x", "approvals_required": -1}, {"alias_pattern": "x", "required_tags": ["novalue"]}):
        refused = client.post(rules, json=wrong, headers=world.headers("maintainer"))
        assert refused.status_code == 400, (wrong, refused.json)
    changed = client.patch(f"{rules}/{rule['id']}", json={"approvals_required": 2}, headers=world.headers("owner"))
    assert changed.status_code == 200 and changed.json["approvals_required"] == 2
    assert [r["id"] for r in client.get(rules, headers=world.headers("maintainer")).json] == [rule["id"]]
    assert client.get(f"{rules}/{rule['id']}", headers=world.headers("maintainer")).json["approvals_required"] == 2
    assert client.delete(f"{rules}/{rule['id']}", headers=world.headers("developer")).status_code == 403
    assert client.delete(f"{rules}/{rule['id']}", headers=world.headers("maintainer")).status_code == 204
    assert client.get(f"{rules}/{rule['id']}", headers=world.headers("maintainer")).status_code == 404
    events = client.get(f"/api/v4/projects/{project}/audit_events", headers=world.headers("maintainer")).json
    names = [e["event_name"] for e in events]
    assert {"model_alias_rule_created", "model_alias_rule_updated", "model_alias_rule_deleted"} <= set(names)


def _rule(client, world, project, **fields):
    r = client.post(api(project, "/protected_aliases"), json=fields, headers=world.headers("maintainer"))
    assert r.status_code == 201, r.json
    return r.json


def test_a_protected_alias_moves_after_approvals_from_eligible_members_only(client, world, project, fraud):
    _rule(client, world, project, alias_pattern="prod*", minimum_access_level="developer", approvals_required=1,
          required_tags="eval=passed")
    untagged = _move(client, world, project, fraud, "production", "1.1.0", "developer")
    assert untagged.status_code == 403
    assert "prod*" in untagged.json["message"] and "eval=passed" in untagged.json["message"]
    _tag(client, world, project, "fraud", 2, "eval", "passed")

    asked = _move(client, world, project, fraud, "production", "1.1.0", "developer")
    assert asked.status_code == 202, asked.json
    request = asked.json
    assert (request["status"], request["approvals"], request["approvals_required"], request["rule"]) == ("pending", 0, 1, "prod*")
    assert request["requester"]["username"] == "developer" and request["version"]["version"] == "1.1.0"
    assert client.get(api(project, f"/models/{fraud}/aliases/production"), headers=world.headers("guest")).status_code == 404
    url = api(project, f"/models/{fraud}/promotion_requests/{request['id']}")

    def review(who, verdict="approve"):
        return client.post(f"{url}/{verdict}", json={"comment": f"{who} says"}, headers=world.headers(who))

    refused = review("developer")
    assert refused.status_code == 403 and "requester" in refused.json["message"]
    refused = review("reporter")  # wrote version 1.1.0
    assert refused.status_code == 403 and "author" in refused.json["message"]
    assert review("guest").status_code == 403  # may not write to the model registry at all
    assert review("outsider").status_code == 404
    approved = review("maintainer")
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved" and approved.json["approvals"] == 1
    assert approved.json["reviews"][0]["user"]["username"] == "maintainer"
    alias = client.get(api(project, f"/models/{fraud}/aliases/production"), headers=world.headers("guest")).json
    assert alias["version"]["version"] == "1.1.0" and alias["protected"] is True
    [move] = client.get(api(project, f"/models/{fraud}/aliases/production/history"), headers=world.headers("guest")).json
    assert move["promotion_request_id"] == request["id"] and move["author"]["username"] == "maintainer"
    closed = review("owner")
    assert closed.status_code == 400 and "approved" in closed.json["message"]
    # The version a protected alias points at is sealed: its files never change again.
    sealed = client.put(generic_url(project, "fraud", "1.1.0", "late.bin"), data=b"x", headers=world.headers("owner"))
    assert sealed.status_code == 403 and "sealed" in sealed.json["message"]
    open_ = client.put(generic_url(project, "fraud", "1.0.0", "late.bin"), data=b"x", headers=world.headers("owner"))
    assert open_.status_code == 201
    listed = client.get(api(project, f"/models/{fraud}/promotion_requests"), query_string={"status": "approved"},
                        headers=world.headers("guest")).json
    assert [r["id"] for r in listed] == [request["id"]]
    events = [e["event_name"] for e in client.get(f"/api/v4/projects/{project}/audit_events", headers=world.headers("maintainer")).json]
    assert {"model_alias_promotion_requested", "model_alias_promotion_approved", "model_alias_set",
            "model_version_sealed"} <= set(events)


def test_a_new_rule_seals_the_versions_its_aliases_point_at(client, world, project, fraud):
    assert _move(client, world, project, fraud, "stable", "1.0.0", "reporter").status_code == 200
    assert client.put(generic_url(project, "fraud", "1.0.0", "a.bin"), data=b"x", headers=world.headers("owner")).status_code == 201
    _rule(client, world, project, alias_pattern="st*le", minimum_access_level="reporter")
    refused = client.put(generic_url(project, "fraud", "1.0.0", "b.bin"), data=b"x", headers=world.headers("owner"))
    assert refused.status_code == 403 and "sealed" in refused.json["message"]


def test_the_rules_role_decides_who_moves_at_once_and_who_approves(client, world, project, fraud):
    _rule(client, world, project, alias_pattern="champion", minimum_access_level="maintainer", approvals_required=0)
    direct = _move(client, world, project, fraud, "champion", "1.0.0", "maintainer")
    assert direct.status_code == 200 and direct.json["protected"] is True  # role met, no approval asked
    asked = _move(client, world, project, fraud, "champion", "1.1.0", "developer")  # below the role: one approval
    assert asked.status_code == 202 and asked.json["approvals_required"] == 1
    url = api(project, f"/models/{fraud}/promotion_requests/{asked.json['id']}")
    refused = client.post(f"{url}/approve", headers=world.headers("reporter"))
    assert refused.status_code == 403  # the author of 1.1.0, and below Maintainer anyway
    twice = _move(client, world, project, fraud, "champion", "1.1.0", "developer")
    assert twice.json["id"] == asked.json["id"]  # the same request, not a second one
    rejected = client.post(f"{url}/reject", json={"comment": "not yet"}, headers=world.headers("owner"))
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert client.post(f"{url}/approve", headers=world.headers("maintainer")).status_code == 400
    champion = client.get(api(project, f"/models/{fraud}/aliases/champion"), headers=world.headers("guest")).json
    assert champion["version"]["version"] == "1.0.0"
    # Deleting a protected alias takes the rule's role (and a Maintainer).
    assert client.delete(api(project, f"/models/{fraud}/aliases/champion"), headers=world.headers("developer")).status_code == 403
    assert client.delete(api(project, f"/models/{fraud}/aliases/champion"), headers=world.headers("maintainer")).status_code == 204


def test_rollback_of_a_protected_alias_follows_the_same_rules(client, world, project, fraud):
    _move(client, world, project, fraud, "prod", "1.0.0", "reporter")
    _move(client, world, project, fraud, "prod", "1.1.0", "reporter")
    _rule(client, world, project, alias_pattern="*rod", minimum_access_level="developer", approvals_required=1)
    back = client.post(api(project, f"/models/{fraud}/aliases/prod/rollback"), headers=world.headers("maintainer"))
    assert back.status_code == 202 and back.json["rollback"] is True and back.json["version"]["version"] == "1.0.0"
    # 1.0.0 was written by the developer: the owner approves.
    done = client.post(api(project, f"/models/{fraud}/promotion_requests/{back.json['id']}/approve"), headers=world.headers("owner"))
    assert done.status_code == 200 and done.json["status"] == "approved"
    latest = client.get(api(project, f"/models/{fraud}/aliases/prod/history"), headers=world.headers("guest")).json[0]
    assert (latest["action"], latest["to_version"]["version"], latest["promotion_request_id"]) == ("rollback", "1.0.0", back.json["id"])


def test_mlflow_alias_calls_go_through_the_same_rules(client, world, project, fraud):
    _rule(client, world, project, alias_pattern="prod", minimum_access_level="developer", approvals_required=1)
    root = f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/registered-models/alias"
    r = client.post(root, json={"name": "fraud", "alias": "prod", "version": "1"}, headers=world.headers("maintainer"))
    assert r.status_code == 403 and r.json["error_code"] == "PERMISSION_DENIED"
    assert "'prod'" in r.json["message"] and f"/acme/private/-/ml/models/{fraud}/promotions/" in r.json["message"]
    [pending] = client.get(api(project, f"/models/{fraud}/promotion_requests"), headers=world.headers("guest")).json
    assert pending["status"] == "pending" and pending["requester"]["username"] == "maintainer"
    free = client.post(root, json={"name": "fraud", "alias": "shadow", "version": "2"}, headers=world.headers("reporter"))
    assert free.status_code == 200
    history = client.get(api(project, f"/models/{fraud}/aliases/shadow/history"), headers=world.headers("guest")).json
    assert [m["to_version"]["version"] for m in history] == ["1.1.0"]
    gone = client.delete(root, json={"name": "fraud", "alias": "shadow"}, headers=world.headers("reporter"))
    assert gone.status_code == 200
    assert client.get(api(project, f"/models/{fraud}/aliases/shadow/history"), headers=world.headers("guest")).json[0]["action"] == "deleted"


def test_deleting_a_version_records_that_its_aliases_went_with_it(client, world, project, fraud):
    _move(client, world, project, fraud, "shadow", "1.0.0", "reporter")
    r = client.delete(api(project, f"/models/{fraud}/versions/1.0.0"), headers=world.headers("reporter"))
    assert r.status_code == 204
    history = client.get(api(project, f"/models/{fraud}/aliases/shadow/history"), headers=world.headers("guest")).json
    assert [(m["action"], m["from_version"]["version"], m["author"]["username"]) for m in history[:1]] == [
        ("deleted", "1.0.0", "reporter")]
    assert history[1]["to_version"] == {"id": None, "version": "1.0.0"}  # the version is gone, its name stays
    assert client.get(api(project, f"/models/{fraud}/aliases/shadow"), headers=world.headers("guest")).status_code == 404


def test_two_approvals_are_counted_and_the_second_moves_the_alias(client, world, project, fraud):
    _rule(client, world, project, alias_pattern="prod", minimum_access_level="developer", approvals_required=2)
    asked = _move(client, world, project, fraud, "prod", "1.1.0", "developer")
    url = api(project, f"/models/{fraud}/promotion_requests/{asked.json['id']}")
    first = client.post(f"{url}/approve", headers=world.headers("maintainer"))
    assert first.status_code == 200 and (first.json["status"], first.json["approvals"]) == ("pending", 1)
    assert client.post(f"{url}/approve", headers=world.headers("maintainer")).status_code == 409  # once each
    assert client.get(api(project, f"/models/{fraud}/aliases/prod"), headers=world.headers("guest")).status_code == 404
    second = client.post(f"{url}/approve", headers=world.headers("owner"))
    assert second.status_code == 200 and (second.json["status"], second.json["approvals"]) == ("approved", 2)
    assert [r["user"]["username"] for r in second.json["reviews"]] == ["maintainer", "owner"]
    alias = client.get(api(project, f"/models/{fraud}/aliases/prod"), headers=world.headers("guest")).json
    assert alias["version"]["version"] == "1.1.0"
    events = [e["event_name"] for e in client.get(f"/api/v4/projects/{project}/audit_events", headers=world.headers("maintainer")).json]
    assert "model_alias_promotion_approval" in events
