"""Settings > Packages and registries > Protected packages: a Maintainer adds a rule, which every
upload and delete then obeys (the refusal names the rule, on the API and on the pages), edits it and
deletes it; a mistake is shown beside its field and nothing is stored; the page, the API and the audit
trail see the same rules. (Who may see and post it: tests/pages/test_settings.py and the permission
matrix.)"""
from __future__ import annotations

import re

from sqlalchemy import select

from package_api.audit.models import AuditEvent
from package_api.db import db
from tests.support.pages import signed_in
from tests.support.world import generic_url

PAGE = "/acme/private/-/settings/packages_and_registries"
RULES = f"{PAGE}/protection_rules"


def _api_rules(client, world):
    r = client.get(f"/api/v4/projects/{world.projects['private']}/packages/protection/rules", headers=world.headers("owner"))
    assert r.status_code == 200
    return r.json


def _events(app):
    with app.app_context():
        return [e.event_name for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                if e.event_name.startswith("package_protection_rule_")]


def _flash(html: str) -> str:
    """The page's success messages, as text."""
    found = re.findall(r'<div class="alert alert-success"[^>]*>(.*?)</div>', html, re.DOTALL)
    assert found, "no flash message"
    return " | ".join(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip() for text in found)


def test_a_maintainer_protects_packages_and_uploads_and_deletes_obey(app, client, world):
    csrf = signed_in(app, client, "maintainer")
    page = client.get(PAGE)
    assert page.status_code == 200 and 'data-testid="no-protection-rules"' in page.text
    assert 'data-testid="settings-tab-packages_and_registries"' in page.text and ">Protected packages" in page.text
    assert 'data-testid="registry-settings-link"' not in page.text  # without the model registry: no protected aliases
    r = client.post(RULES, data={"csrf_token": csrf, "package_name_pattern": "release-*", "package_type": "generic",
                                 "minimum_access_level_for_push": "maintainer", "minimum_access_level_for_delete": "owner"})
    assert r.status_code == 302 and r.headers["Location"].endswith(PAGE)
    (rule,) = _api_rules(client, world)
    assert rule == {"id": rule["id"], "project_id": world.projects["private"], "package_name_pattern": "release-*",
                    "package_type": "generic", "minimum_access_level_for_push": "maintainer",
                    "minimum_access_level_for_delete": "owner"}
    page = client.get(PAGE).text
    assert "Package protection rule for release-* created." in _flash(page)
    row = re.search(r'<tr data-rule-pattern="release-\*".*?</tr>', page, re.DOTALL).group(0)
    assert "<td>Maintainer</td>" in row and "<td>Owner</td>" in row and f"rule {rule['id']}" in row

    # A Developer's upload is refused, naming the rule; a Maintainer's goes through.
    project = world.projects["private"]
    refused = client.put(generic_url(project, "release-app"), data=b"x", headers=world.headers("developer"))
    assert refused.status_code == 403 and f"rule {rule['id']}" in refused.json["message"] and "'release-*'" in refused.json["message"]
    assert client.put(generic_url(project, "release-app"), data=b"x", headers=world.headers("maintainer")).status_code == 201
    assert client.put(generic_url(project, "other"), data=b"x", headers=world.headers("developer")).status_code == 201

    # The Maintainer's delete on the package page is refused by the rule, and the page says which.
    package_id = client.get(f"/api/v4/projects/{project}/packages?package_name=release-app", headers=world.headers("owner")).json[0]["id"]
    denied = client.post(f"/acme/private/-/packages/{package_id}/delete", data={"csrf_token": csrf})
    assert denied.status_code == 403 and f"rule {rule['id']}" in denied.text and "owner access level" in denied.text

    # Edit: the form holds the rule; saving changes it (and the API sees it).
    editing = client.get(f"{PAGE}?edit={rule['id']}").text
    assert 'value="release-*"' in editing and 'data-testid="save-protection-rule"' in editing
    assert re.search(r'name="minimum_access_level_for_delete".*?<option value="owner" selected>', editing, re.DOTALL)
    r = client.post(f"{RULES}/{rule['id']}", data={"csrf_token": csrf, "package_name_pattern": "release-*", "package_type": "generic",
                                                    "minimum_access_level_for_push": "", "minimum_access_level_for_delete": "owner"})
    assert r.status_code == 302
    assert "Package protection rule for release-* updated." in _flash(client.get(PAGE).text)
    assert _api_rules(client, world)[0]["minimum_access_level_for_push"] is None
    assert client.put(generic_url(project, "release-app", "2.0.0"), data=b"x", headers=world.headers("developer")).status_code == 201

    r = client.post(f"{RULES}/{rule['id']}/delete", data={"csrf_token": csrf})
    assert r.status_code == 302 and _api_rules(client, world) == []
    assert "no longer protected" in _flash(client.get(PAGE).text)
    assert client.post(f"/acme/private/-/packages/{package_id}/delete", data={"csrf_token": csrf}).status_code == 302
    assert _events(app) == ["package_protection_rule_created", "package_protection_rule_updated", "package_protection_rule_deleted"]


def test_a_mistake_is_shown_beside_its_field_and_nothing_is_stored(app, client, world):
    csrf = signed_in(app, client, "owner")
    base = {"csrf_token": csrf, "package_type": "generic", "minimum_access_level_for_push": "owner", "minimum_access_level_for_delete": ""}
    r = client.post(RULES, data={**base, "package_name_pattern": "  "})
    assert r.status_code == 400 and "Package name pattern can&#39;t be blank" in r.text
    r = client.post(RULES, data={**base, "package_name_pattern": "bad name/*"})
    assert r.status_code == 400 and "should be a valid generic package name" in r.text and 'value="bad name/*"' in r.text
    r = client.post(RULES, data={**base, "package_name_pattern": "x-*", "minimum_access_level_for_push": ""})
    assert r.status_code == 400 and "at least a minimum access role" in r.text
    r = client.post(RULES, data={**base, "package_name_pattern": "x-*", "minimum_access_level_for_push": "developer"})
    assert r.status_code == 400 and 'data-testid="rule-push-error"' in r.text and 'aria-invalid="true"' in r.text
    assert _api_rules(client, world) == [] and _events(app) == []

    assert client.post(RULES, data={**base, "package_name_pattern": "x-*"}).status_code == 302
    r = client.post(RULES, data={**base, "package_name_pattern": "x-*"})
    assert r.status_code == 400 and "has already been taken" in r.text
    assert len(_api_rules(client, world)) == 1


def test_a_rule_of_another_project_is_not_found_here(app, client, world):
    other = client.post(f"/api/v4/projects/{world.projects['public']}/packages/protection/rules", headers=world.headers("owner"),
                        json={"package_name_pattern": "p-*", "package_type": "generic", "minimum_access_level_for_push": "owner"})
    assert other.status_code == 201
    csrf = signed_in(app, client, "owner")
    assert client.get(f"{PAGE}?edit={other.json['id']}").status_code == 404
    assert client.post(f"{RULES}/{other.json['id']}/delete", data={"csrf_token": csrf}).status_code == 404
    assert len(client.get(f"/api/v4/projects/{world.projects['public']}/packages/protection/rules", headers=world.headers("owner")).json) == 1
