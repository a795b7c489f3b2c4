"""The pages of governed promotion: the model page's Aliases tab (history, Set alias, Roll back,
"what did an alias point at"), a promotion request's page (who sees Approve), and the protected
alias rules page for Maintainers."""
from __future__ import annotations

import re

import pytest

from tests.support.pages import signed_in
from tests.support.world import create_model

MODELS = "/acme/private/-/ml/models"
RULES = "/acme/private/-/ml/protected_aliases"


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def model(client, world):
    """Model ``fraud`` with 1.0.0 (by the developer) and 1.1.0 (by the reporter); its id."""
    project = world.projects["private"]
    made = create_model(client, project, "fraud", world.headers("reporter"))
    for version, who in (("1.0.0", "developer"), ("1.1.0", "reporter")):
        r = client.post(f"/api/v4/projects/{project}/ml/models/{made['id']}/versions", json={"version": version},
                        headers=world.headers(who))
        assert r.status_code == 201
    return made["id"]


def _version_id(client, world, model, version):
    r = client.get(f"/api/v4/projects/{world.projects['private']}/ml/models/{model}/versions/{version}", headers=world.headers("owner"))
    return r.json["id"]


def _history(html, alias):
    row = html[html.index(f'<tr data-alias="{alias}"'):].split("</tr>")[0]
    return re.findall(r'<li data-action="(\w+)"', row), row


def test_the_aliases_tab_sets_shows_history_rolls_back_and_answers_what_was_there(app, client, world, model):
    token = signed_in(app, client, "reporter")
    url = f"{MODELS}/{model}"
    for version in ("1.0.0", "1.1.0"):
        r = client.post(f"{url}/aliases", data={"csrf_token": token, "alias": "champion", "version": _version_id(client, world, model, version)})
        assert r.status_code == 302 and r.headers["Location"].endswith("tab=aliases")
    page = client.get(f"{url}?tab=aliases")
    assert page.status_code == 200 and 'data-testid="model-aliases"' in page.text
    actions, row = _history(page.text, "champion")
    assert actions == ["set", "set"] and "<code>1.1.0</code>" in row and "protected" not in row
    assert 'data-testid="set-alias-form"' in page.text and 'data-testid="rollback-alias"' in page.text

    r = client.post(f"{url}/aliases/champion/rollback", data={"csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200 and "now points at" in r.text
    actions, row = _history(r.text, "champion")
    assert actions == ["rollback", "set", "set"] and "(roll back)" in row

    answer = client.get(url, query_string={"tab": "aliases", "alias": "champion", "at": "2020-01-01T00:00:00"})
    assert "@champion pointed at no version of this model at 2020-01-01T00:00:00 (UTC)" in answer.text
    now = client.get(url, query_string={"tab": "aliases", "alias": "champion", "at": "2100-01-01T00:00:00"})
    found = re.search(r'data-testid="alias-at-answer">(.*?)</p>', now.text, re.S)
    assert found and "<strong>@champion</strong> pointed at" in found.group(1) and "<code>1.0.0</code>" in found.group(1)
    bad = client.get(url, query_string={"tab": "aliases", "alias": "champion", "at": "yesterday"})
    assert "ISO 8601" in bad.text

    signed_in(app, client, "guest")  # reads, changes nothing
    page = client.get(f"{url}?tab=aliases")
    assert 'data-alias="champion"' in page.text and "set-alias-form" not in page.text and "rollback-alias" not in page.text


def test_protected_alias_rules_page_is_for_maintainers(app, client, world):
    signed_in(app, client, "developer")
    assert client.get(RULES).status_code == 403
    assert 'data-testid="protected-aliases-link"' not in client.get(MODELS).text
    token = signed_in(app, client, "maintainer")
    assert 'data-testid="protected-aliases-link"' in client.get(MODELS).text
    assert "No alias is protected" in client.get(RULES).text
    form = {"csrf_token": token, "alias_pattern": "prod*", "minimum_access_level": "developer", "approvals_required": "1",
            "required_tags": "eval=passed"}
    r = client.post(RULES, data=form, follow_redirects=True)
    assert r.status_code == 200 and "Aliases matching prod* are protected" in r.text
    row = r.text[r.text.index('<tr data-rule="prod*"'):].split("</tr>")[0]
    assert "Developer" in row and "<code>eval=passed</code>" in row
    again = client.post(RULES, data=form)
    assert again.status_code == 409 and "A rule for prod* exists already" in again.text
    wrong = client.post(RULES, data={**form, "alias_pattern": "prod/(a+)+"})
    assert wrong.status_code == 400 and "alias_pattern must be" in wrong.text
    rule_id = client.get(f"/api/v4/projects/{world.projects['private']}/ml/protected_aliases", headers=world.headers("maintainer")).json[0]["id"]
    editing = client.get(RULES, query_string={"edit": rule_id})
    assert "Edit the rule for <code>prod*</code>" in editing.text and f'action="{RULES}/{rule_id}/edit"' in editing.text
    assert 'value="prod*"' in editing.text and '<option value="developer" selected>' in editing.text
    refused = client.post(f"{RULES}/{rule_id}/edit", data={**form, "approvals_required": "lots"})
    assert refused.status_code == 400 and "approvals_required must be" in refused.text
    changed = client.post(f"{RULES}/{rule_id}/edit", data={**form, "approvals_required": "2", "minimum_access_level": "owner"},
                          follow_redirects=True)
    assert "Rule prod* updated" in changed.text
    row = changed.text[changed.text.index('<tr data-rule="prod*"'):].split("</tr>")[0]
    assert "Owner" in row and "<td>2</td>" in row
    gone = client.post(f"{RULES}/{rule_id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "no longer protected" in gone.text and "No alias is protected" in gone.text


def test_a_protected_alias_move_from_the_page_waits_for_an_approval_given_on_the_request_page(app, client, world, model):
    project = world.projects["private"]
    r = client.post(f"/api/v4/projects/{project}/ml/protected_aliases",
                    json={"alias_pattern": "prod", "minimum_access_level": "developer", "approvals_required": 1},
                    headers=world.headers("maintainer"))
    assert r.status_code == 201
    token = signed_in(app, client, "developer")
    moved = client.post(f"{MODELS}/{model}/aliases", data={"csrf_token": token, "alias": "prod", "version": _version_id(client, world, model, "1.1.0")})
    assert moved.status_code == 302 and "/promotions/" in moved.headers["Location"]
    request_url = moved.headers["Location"]
    page = client.get(request_url)
    assert "is protected: promotion request" in page.text
    assert 'data-testid="promotion-status">pending<' in page.text
    assert "the requester may not approve their own request" in page.text and "approve-promotion" not in page.text
    tab = client.get(f"{MODELS}/{model}?tab=aliases")
    assert 'data-testid="pending-promotion"' in tab.text and "@prod → 1.1.0" in tab.text

    signed_in(app, client, "reporter")  # wrote 1.1.0
    assert "the version&#39;s author may not approve its promotion" in client.get(request_url).text
    token = signed_in(app, client, "maintainer")
    assert 'data-testid="approve-promotion"' in client.get(request_url).text
    done = client.post(f"{request_url}/approve", data={"csrf_token": token, "comment": "eval looks fine"}, follow_redirects=True)
    assert done.status_code == 200 and "Approved: @prod now points at 1.1.0" in done.text
    assert 'data-testid="promotion-status">approved<' in done.text and "eval looks fine" in done.text
    tab = client.get(f"{MODELS}/{model}?tab=aliases")
    actions, row = _history(tab.text, "prod")
    assert actions == ["set"] and "request " in row and 'data-testid="alias-protected"' in row


def test_a_refused_move_is_flashed_on_the_aliases_tab(app, client, world, model):
    client.post(f"/api/v4/projects/{world.projects['private']}/ml/protected_aliases",
                json={"alias_pattern": "prod", "minimum_access_level": "reporter", "required_tags": ["eval=passed"]},
                headers=world.headers("maintainer"))
    token = signed_in(app, client, "developer")
    r = client.post(f"{MODELS}/{model}/aliases", data={"csrf_token": token, "alias": "prod",
                                                       "version": _version_id(client, world, model, "1.0.0")}, follow_redirects=True)
    assert r.status_code == 200 and "lacks the required tag(s) eval=passed" in r.text
    assert 'data-alias="prod"' not in r.text


def test_the_model_pages_sidebar_lists_the_aliases(app, client, world, model):
    client.put(f"/api/v4/projects/{world.projects['private']}/ml/models/{model}/aliases/champion", json={"version": "1.1.0"},
               headers=world.headers("reporter"))
    signed_in(app, client, "guest")
    sidebar = re.search(r'data-testid="sidebar-aliases">(.*?)</p>', client.get(f"{MODELS}/{model}").text, re.S)
    assert sidebar and "@champion</span> <code>1.1.0</code>" in sidebar.group(1) and "?tab=aliases" in sidebar.group(1)


def test_settings_packages_and_registries_links_the_protected_alias_rules_where_the_registry_is_open(app, client, world):
    settings_page = "/acme/private/-/settings/packages_and_registries"
    signed_in(app, client, "maintainer")
    page = client.get(settings_page).text
    link = re.search(r'data-testid="registry-settings-link".*?<a class="btn" href="([^"]+)">Manage protected aliases</a>', page, re.DOTALL)
    assert link and link.group(1) == RULES and "<h2" in page and ">Protected aliases</h2>" in page
    r = client.put(f"/api/v4/projects/{world.projects['private']}", json={"model_registry_access_level": "disabled"},
                   headers=world.headers("owner"))
    assert r.status_code == 200
    assert 'data-testid="registry-settings-link"' not in client.get(settings_page).text
