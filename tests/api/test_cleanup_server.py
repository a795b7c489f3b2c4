"""``modelshelf serve`` runs due cleanup policies itself: with two workers (two runners) a due policy
runs once, removes what its dry run listed, and is scheduled one cadence on."""
from __future__ import annotations

import datetime
import time

import pytest
import requests
import sqlalchemy as sa

pytestmark = [pytest.mark.server]


def test_two_workers_run_a_due_policy_once(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"CLEANUP_POLL_INTERVAL": 0.3}, workers=2)
    server.cli("admin", "create-user", "alice")
    project = int(server.cli("admin", "create-project", "team/models", "--owner", "alice"))
    headers = {"PRIVATE-TOKEN": server.cli("admin", "create-token", "--user", "alice")}
    api = f"{server.api}/projects/{project}"
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        r = requests.put(f"{api}/packages/generic/plain/{version}/model.bin", data=b"x", headers=headers, timeout=30)
        assert r.status_code == 201, r.text
    policy = {"enabled": True, "keep_n": 1, "older_than": None, "cadence": "1d"}
    assert requests.put(f"{api}/packages/cleanup_policy", json=policy, headers=headers, timeout=30).status_code == 200
    listed = requests.get(f"{api}/packages/cleanup_policy/dry_run", headers=headers, timeout=30).json()["would_remove"]
    assert sorted(v["version"] for v in listed) == ["0.1.0", "0.2.0"]
    time.sleep(1)
    assert len(requests.get(f"{api}/packages", headers=headers, timeout=30).json()) == 3  # not due for a day

    url = server.env.get("MODELSHELF_DATABASE_URL") or f"sqlite:///{server.data_dir / 'modelshelf.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        due = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(seconds=1)
        connection.execute(sa.text("UPDATE package_cleanup_policies SET next_run_at = :due"), {"due": due})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = requests.get(f"{api}/packages", headers=headers, timeout=30).json()
        if len(left) == 1:
            break
        time.sleep(0.2)
    assert [p["version"] for p in left] == ["0.3.0"]
    time.sleep(1.5)  # both runners have looked again meanwhile
    events = requests.get(f"{api}/audit_events", headers=headers, params={"per_page": 100}, timeout=30).json()
    runs = [e for e in events if e["event_name"] == "package_cleanup_run"]
    assert len(runs) == 1
    details = runs[0]["details"]
    assert (details["author_name"], details["token_type"], details["removed"]) == ("cleanup policy", "cli", 2)
    assert sorted(details["versions"]) == ["plain/0.1.0", "plain/0.2.0"]
    with engine.connect() as connection:
        next_run = connection.execute(sa.text("SELECT next_run_at FROM package_cleanup_policies")).scalar_one()
    if isinstance(next_run, str):
        next_run = datetime.datetime.fromisoformat(next_run)
    assert next_run - due > datetime.timedelta(hours=23)
    engine.dispose()
