"""Settings > Packages and registries: a Maintainer saves the cleanup policy, sees a mistake beside its
field (nothing stored), and the dry run lists exactly the versions a run then removes. (Who may see and
post it: the permission matrix.)"""
from __future__ import annotations

import datetime

from sqlalchemy import select, update

from package_api import services
from package_api.db import db, utcnow
from package_api.packages.models import CleanupPolicy, Package, PackageStatus
from tests.support.pages import signed_in
from tests.support.world import generic_url

PAGE = "/acme/private/-/settings/packages_and_registries"


def test_a_maintainer_saves_the_policy_and_the_dry_run_lists_what_a_run_removes(app, client, world):
    project = world.projects["private"]
    for version in ("0.1.0", "0.2.0", "0.3.0", "1.0.0-stable"):
        assert client.put(generic_url(project, "plain", version), data=b"x", headers=world.headers("owner")).status_code == 201
    with app.app_context():
        db.session.execute(update(Package).values(created_at=utcnow() - datetime.timedelta(days=60)))
        db.session.commit()
    csrf = signed_in(app, client, "maintainer")
    page = client.get(PAGE).text
    assert 'data-testid="cleanup-form"' in page and 'value=".*"' in page

    refused = client.post(f"{PAGE}/cleanup_policy", data={"csrf_token": csrf, "enabled": "1", "cadence": "7d", "keep_n": "1",
                                      "older_than": "30d", "name_regex_delete": "(broken"})
    assert refused.status_code == 400 and "not valid RE2 syntax" in refused.text
    with app.app_context():
        assert db.session.get(CleanupPolicy, project) is None

    saved = client.post(f"{PAGE}/cleanup_policy", data={"csrf_token": csrf, "enabled": "1", "cadence": "7d", "keep_n": "1",
                                    "older_than": "30d", "name_regex_delete": ".*", "name_regex_keep": ".*-stable"})
    assert saved.status_code == 302
    page = client.get(PAGE).text
    assert "Cleanup policy saved." in page and 'data-testid="cleanup-next-run"' in page

    dry = client.get(f"{PAGE}?dry_run=1").text
    assert "would remove 2 of 4 versions" in dry
    listed = {part.split('"')[0] for part in dry.split('data-version="')[1:]}
    assert listed == {"plain/0.1.0", "plain/0.2.0"}
    with app.app_context():
        report = services.cleanup_service(app).run(db.session.get(CleanupPolicy, project))
        gone = db.session.scalars(
            select(Package.version).where(Package.status == PackageStatus.PENDING_DESTRUCTION)
        ).all()
    assert {f"plain/{v}" for v in gone} == listed == {f"{c.name}/{c.version}" for c in report.removed}
