"""A protected alias through the real MLflow client against ``modelshelf serve``:
``set_registered_model_alias`` is refused with PERMISSION_DENIED naming the rule (and the missing
tag, or the promotion request's URL), and once another member approves the request over the REST
API, ``get_model_version_by_alias`` resolves the alias to the approved version."""
from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported

import re

import pytest
import requests
from mlflow.exceptions import MlflowException

from tests.mlflow.conftest import Tracking
from tests.support.live_server import Account, create_account

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def approver(account: Account) -> Account:
    return create_account(account.server, "bob")


def _add_member(tracking: Tracking, member: Account, level: int) -> None:
    me = requests.get(f"{tracking.account.server.api}/user", headers={"PRIVATE-TOKEN": member.token}, timeout=10)
    added = requests.post(f"{tracking.api}/members", json={"user_id": me.json()["id"], "access_level": level},
                          headers=tracking.headers, timeout=10)
    assert added.status_code == 201, added.text


def test_a_protected_alias_waits_for_an_approval_then_mlflow_resolves_it(tracking: Tracking, approver: Account) -> None:
    client = tracking.client
    client.create_registered_model("fraud")
    for _ in range(2):
        client.create_model_version("fraud", "s3://bucket/model")
    client.set_registered_model_alias("fraud", "prod", "1")  # not protected yet: moves at once
    _add_member(tracking, approver, 40)
    rule = requests.post(f"{tracking.api}/ml/protected_aliases", headers=tracking.headers, timeout=10,
                         json={"alias_pattern": "prod*", "minimum_access_level": "maintainer", "approvals_required": 1,
                               "required_tags": ["eval=passed"]})
    assert rule.status_code == 201, rule.text

    with pytest.raises(MlflowException) as untagged:
        client.set_registered_model_alias("fraud", "prod", "2")
    assert str(untagged.value.error_code) == "PERMISSION_DENIED"
    assert "protected by rule 'prod*'" in untagged.value.message and "eval=passed" in untagged.value.message

    client.set_model_version_tag("fraud", "2", "eval", "passed")
    with pytest.raises(MlflowException) as waiting:
        client.set_registered_model_alias("fraud", "prod", "2")
    message = waiting.value.message
    assert str(waiting.value.error_code) == "PERMISSION_DENIED"
    assert "protected by rule 'prod*'" in message
    found = re.search(r"(http://\S+/-/ml/models/(\d+)/promotions/(\d+))", message)
    assert found, message
    url, model_id, request_id = found.groups()
    assert url.startswith(tracking.account.server.url)
    assert client.get_model_version_by_alias("fraud", "prod").version == "1"  # not moved yet

    request = f"{tracking.api}/ml/models/{model_id}/promotion_requests/{request_id}"
    own = requests.post(f"{request}/approve", headers=tracking.headers, timeout=10)  # the requester, and the author
    assert own.status_code == 403
    approved = requests.post(f"{request}/approve", json={"comment": "eval passed"},
                             headers={"PRIVATE-TOKEN": approver.token}, timeout=10)
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text

    assert client.get_model_version_by_alias("fraud", "prod").version == "2"
    assert client.get_registered_model("fraud").aliases == {"prod": "2"}
    versions = requests.get(f"{tracking.api}/ml/models/{model_id}/versions", headers=tracking.headers, timeout=10).json()
    semver = {v["sequence"]: v["version"] for v in versions}
    history = requests.get(f"{tracking.api}/ml/models/{model_id}/aliases/prod/history", headers=tracking.headers, timeout=10).json()
    assert [(m["from_version"] and m["from_version"]["version"], m["to_version"]["version"], m["promotion_request_id"])
            for m in history] == [(semver[1], semver[2], int(request_id)), (None, semver[1], None)]
    assert history[0]["author"]["username"] == "bob"

    client.delete_registered_model_alias("fraud", "prod")  # the Owner may delete a protected alias
    assert client.get_registered_model("fraud").aliases == {}
    after = requests.get(f"{tracking.api}/ml/models/{model_id}/aliases/prod/history", headers=tracking.headers, timeout=10).json()
    assert after[0]["action"] == "deleted" and after[0]["author"]["username"] == tracking.account.username
