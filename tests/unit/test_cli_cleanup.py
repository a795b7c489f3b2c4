"""``modelshelf cleanup`` and ``modelshelf gc``: they run the enabled cleanup policies (docs/cleanup.md),
print each version removed (or that would be, with ``--dry-run``), and gc then reclaims the bytes."""
from __future__ import annotations

import datetime
import os
from pathlib import Path

from sqlalchemy import func, select, update

from package_api.audit.models import AuditEvent
from package_api.db import db, utcnow
from package_api.packages.models import Package, PackageStatus

from .test_cli import Invoke, cli, data_dir, opened, stored_files  # noqa: F401  (fixtures)


def test_cleanup_and_gc_run_the_enabled_policies_and_list_what_they_remove(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice")
    cli("admin", "create-project", "team/other", "--owner", "alice")  # no policy: nothing of it goes
    project = cli("admin", "create-project", "team/fraud", "--owner", "alice").stdout.strip()
    headers = {"PRIVATE-TOKEN": cli("admin", "create-token", "--user", "alice").stdout.strip()}
    with opened(data_dir) as app:
        client = app.test_client()
        for version in ("0.1.0", "0.2.0", "0.3.0"):
            for where in (project, "team%2Fother"):
                url = f"/api/v4/projects/{where}/packages/generic/plain/{version}/model.bin"
                assert client.put(url, data=os.urandom(100), headers=headers).status_code == 201
        db.session.execute(update(Package).values(created_at=utcnow() - datetime.timedelta(days=40)))
        db.session.commit()
        policy = {"enabled": True, "keep_n": 1, "older_than": "30d"}
        assert client.put(f"/api/v4/projects/{project}/packages/cleanup_policy", json=policy, headers=headers).status_code == 200

    dry = cli("gc", "--dry-run")
    assert dry.exit_code == 0, dry.output
    listed = [line for line in dry.stdout.splitlines() if line.startswith("would remove team")]
    assert listed == ["would remove team/fraud plain 0.2.0", "would remove team/fraud plain 0.1.0"]
    assert len(stored_files(data_dir)) == 6

    only = cli("cleanup", "--project", "team/fraud")
    assert only.exit_code == 0, only.output
    assert only.stdout.splitlines() == [line.replace("would remove", "removed") for line in listed]
    assert "team/fraud: project" in only.stderr and "removed 2 of 3 versions" in only.stderr
    with opened(data_dir):
        live = db.session.execute(
            select(Package.project_id, Package.version).where(Package.status == PackageStatus.DEFAULT)
        ).all()
        assert sorted(v for p, v in live if p == int(project)) == ["0.3.0"]
        assert len(live) == 4
        runs = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event_name == "package_cleanup_run"))
        assert runs == 1

    after = cli("gc")
    assert after.exit_code == 0
    assert "removed 2 packages, 2 files, 2 blobs" in after.stdout  # the policy had nothing left to remove
    assert len(stored_files(data_dir)) == 4
