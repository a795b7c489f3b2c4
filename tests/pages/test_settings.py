"""The project settings pages and the user's personal access tokens page: who may see and post what,
each form's effect (seen through the API and the database), errors beside their fields with nothing
changed, CSRF, tokens shown once and stored only as digests, and the audit trail of it all."""
from __future__ import annotations

import datetime
import hashlib
import html
import re

import pytest
from sqlalchemy import select

from package_api.access.ci_jobs import JobService
from package_api.access.models import DeployToken, Membership, PersonalAccessToken, Project, Role, User
from package_api.access.policy import Policy
from package_api.access.tokens import CiTokenService
from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db
from tests.support.pages import signed_in
from tests.support.world import generic_url

SETTINGS = "/acme/{}/-/settings"
TABS = ("", "/members", "/access_tokens", "/deploy_tokens", "/ci_cd", "/packages_and_registries", "/webhooks", "/audit_events")
TOKENS_PAGE = "/-/user_settings/personal_access_tokens"
SECRET = re.compile(r'value="((?:mspat|msdt|msci)-[^"]+)"')


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}  # the model registry is a feature of each project


def _project(client, world, name="private", who="owner"):
    r = client.get(f"/api/v4/projects/{world.projects[name]}", headers=world.headers(who))
    return r.json if r.status_code == 200 else None


def _features(app, world, name="private"):
    with app.app_context():
        project = db.session.get(Project, world.projects[name])
        return {k: v.value for k, v in Policy(db.session, app.extensions["modelshelf.rules"]).feature_levels(project).items()}


def _role(app, world, username, name="private"):
    with app.app_context():
        user = UserService(db.session).get(username)
        return db.session.scalar(
            select(Membership.access_level).where(
                Membership.project_id == world.projects[name], Membership.user_id == user.id
            )
        )


def _events(app, world, name="private"):
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.project_id == world.projects[name]).order_by(AuditEvent.id)
        )
        return [(e.event_name, e.author_name, e.token_type, e.target_details) for e in rows]


def _secret(page: str) -> str:
    found = SECRET.findall(page)
    assert len(found) == 1, found
    return html.unescape(found[0])


def _stored_anywhere(app, secret: str) -> bool:
    """Whether any column of any row of any table holds ``secret``."""
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                if any(secret in str(value) for value in row if value is not None):
                    return True
    return False


def _post(client, path, csrf, **form):
    return client.post(path, data={"csrf_token": csrf, **form})


# -- who may see and post what --------------------------------------------------------------------


@pytest.mark.parametrize("tab", TABS)
def test_settings_pages_are_for_maintainers_owners_and_admins(app, client, world, tab):
    for who, status in [("guest", 403), ("reporter", 403), ("developer", 403), ("maintainer", 200), ("owner", 200), ("root", 200)]:
        signed_in(app, client, who)
        r = client.get(SETTINGS.format("private") + tab)
        assert r.status_code == status and r.mimetype == "text/html", who
        if status == 200:
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        else:
            assert "Access denied" in r.text


@pytest.mark.parametrize("tab", TABS)
def test_outsiders_get_a_404_and_anonymous_callers_the_sign_in_page(app, client, world, tab):
    path = SETTINGS.format("private") + tab
    assert client.get(path).status_code == 404  # a private project's name does not leak
    r = client.get(SETTINGS.format("public") + tab)
    assert r.status_code == 302 and "/users/sign_in?redirect_to=" in r.headers["Location"]
    signed_in(app, client, "outsider")
    assert client.get(path).status_code == 404
    # Seeing a public project is not enough to manage it.
    assert client.get(SETTINGS.format("public") + tab).status_code == 403


POSTS = [
    ("/general", {"description": "changed"}),
    ("/permissions", {"model_registry_access_level": "disabled"}),
    ("/packages", {"generic_duplicate_exception_regex": "x"}),
    ("/delete", {"confirm_path": "acme/private"}),
    ("/members", {"username": "outsider", "access_level": "10"}),
    ("/access_tokens", {"name": "bot", "scopes": "api", "access_level": "10"}),
    ("/deploy_tokens", {"name": "deploy", "scopes": "read_package_registry"}),
    ("/ci_cd/ci_token", {}),
    ("/webhooks", {"name": "hook", "url": "https://example.com/hook", "events": "package.created"}),
    ("/packages_and_registries/protection_rules",
     {"package_name_pattern": "x-*", "package_type": "generic", "minimum_access_level_for_push": "owner"}),
]


@pytest.mark.parametrize("path, form", POSTS)
def test_members_below_maintainer_cannot_post_any_setting(app, client, world, path, form):
    before = (_project(client, world), _features(app, world), _events(app, world))
    for who in ("guest", "reporter", "developer"):
        csrf = signed_in(app, client, who)
        assert _post(client, SETTINGS.format("private") + path, csrf, **form).status_code == 403, who
    assert (_project(client, world), _features(app, world), _events(app, world)) == before


@pytest.mark.parametrize("path, form", POSTS)
def test_every_form_needs_the_csrf_token(app, client, world, path, form):
    signed_in(app, client, "owner")
    before = (_project(client, world), _features(app, world), _events(app, world))
    r = client.post(SETTINGS.format("private") + path, data=form)
    assert r.status_code == 403 and "The form has expired" in r.text
    r = client.post(SETTINGS.format("private") + path, data={"csrf_token": "forged", **form})
    assert r.status_code == 403
    assert (_project(client, world), _features(app, world), _events(app, world)) == before


def test_the_sidebar_shows_settings_to_maintainers_only(app, client, world):
    for who, shown in [("developer", False), ("maintainer", True), ("owner", True)]:
        signed_in(app, client, who)
        page = client.get("/acme/private/-/packages").text
        assert (f'href="{SETTINGS.format("private")}"' in page) is shown, who
        assert ("Manage" in page) is shown


# -- General ---------------------------------------------------------------------------------------


def test_owner_changes_description_visibility_and_features(app, client, world):
    csrf = signed_in(app, client, "owner")
    base = SETTINGS.format("private")
    page = client.get(base).text
    assert 'name="visibility"' in page and 'id="model_registry_access_level"' in page
    assert 'id="package_registry_access_level"' in page and "Delete project" in page

    r = _post(client, f"{base}/general", csrf, description="Fraud models  ")
    assert r.status_code == 302 and r.headers["Location"] == base
    assert "Project description saved." in client.get(base).text
    r = _post(client, f"{base}/permissions", csrf, visibility="internal", model_registry_access_level="private",
              package_registry_access_level="enabled")
    assert r.status_code == 302
    project = _project(client, world)
    assert project["description"] == "Fraud models" and project["visibility"] == "internal"
    assert _features(app, world) == {"package_registry": "enabled", "model_registry": "private"}
    # An internal project with the model registry for members only: outsiders see the project, not the models.
    signed_in(app, client, "outsider")
    assert client.get("/acme/private/-/packages").status_code == 200
    assert client.get("/acme/private/-/ml/models").status_code == 403

    events = _events(app, world)
    assert ("project_description_updated", "owner", "session", "acme/private") in events
    assert ("project_visibility_updated", "owner", "session", "acme/private") in events
    assert ("project_feature_access_level_updated", "owner", "session", "acme/private") in events


def test_saving_unchanged_settings_changes_nothing_and_says_so(app, client, world):
    csrf = signed_in(app, client, "owner")
    before = _events(app, world)
    r = _post(client, SETTINGS.format("private") + "/permissions", csrf, visibility="private", model_registry_access_level="enabled")
    assert r.status_code == 302
    assert "Nothing to save" in client.get(SETTINGS.format("private")).text
    assert _events(app, world) == before


def test_maintainers_see_the_visibility_read_only_and_cannot_change_it(app, client, world):
    csrf = signed_in(app, client, "maintainer")
    base = SETTINGS.format("private")
    page = client.get(base).text
    assert 'data-testid="visibility-readonly"' in page and "Only Owners can change the visibility." in page
    assert 'name="visibility"' not in page
    assert "Delete project" not in page  # Owners only
    # What the form sends works; a forged visibility is refused and changes nothing else either.
    assert _post(client, f"{base}/permissions", csrf, model_registry_access_level="disabled").status_code == 302
    assert _features(app, world)["model_registry"] == "disabled"
    r = _post(client, f"{base}/permissions", csrf, visibility="public", model_registry_access_level="enabled")
    assert r.status_code == 403
    assert _project(client, world)["visibility"] == "private" and _features(app, world)["model_registry"] == "disabled"
    # Posting the visibility it already has is not a change.
    assert _post(client, f"{base}/permissions", csrf, visibility="private", model_registry_access_level="enabled").status_code == 302


def test_an_invalid_value_is_shown_beside_its_field_and_nothing_changes(app, client, world):
    csrf = signed_in(app, client, "owner")
    base = SETTINGS.format("private")
    before = (_features(app, world), _events(app, world))
    # The visibility is valid and comes first: it must not be saved either.
    r = _post(client, f"{base}/permissions", csrf, visibility="public", model_registry_access_level="sometimes")
    assert r.status_code == 400
    assert 'id="model_registry_access_level-error"' in r.text and "does not have a valid value" in r.text
    assert re.search(r'<option value="public" selected>', r.text)  # what was chosen is still chosen
    assert _project(client, world)["visibility"] == "private"
    assert (_features(app, world), _events(app, world)) == before

    r = _post(client, f"{base}/general", csrf, description="x" * 2001)
    assert r.status_code == 400 and "is too long (maximum is 2000 characters)" in r.text
    assert "x" * 2001 in r.text and _project(client, world)["description"] == ""


def test_duplicate_package_settings_are_validated_and_enforced(app, client, world):
    csrf = signed_in(app, client, "maintainer")
    base = SETTINGS.format("private")
    r = _post(client, f"{base}/packages", csrf, generic_duplicate_exception_regex="(unclosed")
    assert r.status_code == 400
    assert 'id="generic_duplicate_exception_regex-error"' in r.text and "not valid RE2 syntax: missing )" in r.text
    assert 'value="(unclosed"' in r.text and 'aria-invalid="true"' in r.text
    assert 'name="generic_duplicates_allowed" value="1">' in r.text  # unchecked, as submitted
    project = _project(client, world)
    assert project["generic_duplicates_allowed"] is True and project["generic_duplicate_exception_regex"] == ""

    # Duplicates refused, except for SNAPSHOT versions.
    r = _post(client, f"{base}/packages", csrf, generic_duplicate_exception_regex="-SNAPSHOT$")
    assert r.status_code == 302
    project = _project(client, world)
    assert project["generic_duplicates_allowed"] is False and project["generic_duplicate_exception_regex"] == "-SNAPSHOT$"
    upload = lambda version: client.put(
        generic_url(world.projects["private"], "tool", version, "a.bin"), data=b"x", headers=world.headers("developer")
    ).status_code
    assert upload("1.0") == 201 and upload("1.0") == 400  # "Duplicate package is not allowed"
    assert upload("1.1-SNAPSHOT") == 201 and upload("1.1-SNAPSHOT") == 201
    assert ("project_package_settings_updated", "maintainer", "session", "acme/private") in _events(app, world)


def test_only_the_owner_deletes_the_project_after_typing_its_path(app, client, world):
    base = SETTINGS.format("private")
    r = client.put(generic_url(world.projects["private"], "pkg", "1.0", "a.bin"), data=b"x", headers=world.headers("owner"))
    assert r.status_code == 201
    csrf = signed_in(app, client, "maintainer")
    assert _post(client, f"{base}/delete", csrf, confirm_path="acme/private").status_code == 403

    csrf = signed_in(app, client, "owner")
    r = _post(client, f"{base}/delete", csrf, confirm_path="acme/privat")
    assert r.status_code == 400 and 'id="confirm_path-error"' in r.text and "Type acme/private to confirm." in r.text
    assert 'value="acme/privat"' in r.text and _project(client, world) is not None

    r = _post(client, f"{base}/delete", csrf, confirm_path="acme/private")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert "Project acme/private deleted." in client.get("/").text
    assert _project(client, world) is None and client.get(base).status_code == 404
    # The trail outlives the project (admins read it).
    assert ("project_deleted", "owner", "session", "acme/private") in _events(app, world)


# -- Members ---------------------------------------------------------------------------------------


def test_members_are_listed_with_role_and_date(app, client, world):
    signed_in(app, client, "maintainer")
    page = client.get(SETTINGS.format("private") + "/members").text
    assert 'data-testid="member-count">5<' in page  # the Owner, and a Guest, Reporter, Developer and Maintainer
    for name in ("owner", "guest", "reporter", "developer", "maintainer"):
        assert f'data-username="{name}"' in page
    assert 'data-username="outsider"' not in page
    # A Maintainer sees the Owner read-only and cannot offer the Owner role.
    owner_row = page.split('data-username="owner"')[1].split("</tr>")[0]
    assert 'data-testid="member-role-readonly"' in owner_row and "remove-member" not in owner_row
    assert '<option value="50"' not in page


def test_maintainers_manage_members_up_to_maintainer(app, client, world):
    csrf = signed_in(app, client, "maintainer")
    members = SETTINGS.format("private") + "/members"
    r = _post(client, members, csrf, username="outsider", access_level="30")
    assert r.status_code == 302 and "outsider added as Developer." in client.get(members).text
    assert _role(app, world, "outsider") == Role.DEVELOPER
    outsider = client.get("/api/v4/user", headers=world.headers("outsider")).json["id"]

    assert _post(client, f"{members}/{outsider}", csrf, access_level="40").status_code == 302
    assert _role(app, world, "outsider") == Role.MAINTAINER
    assert _post(client, f"{members}/{outsider}/remove", csrf).status_code == 302
    assert _role(app, world, "outsider") is None
    assert [e[0] for e in _events(app, world)][-3:] == ["member_added", "member_updated", "member_removed"]

    # Anything about the Owner role takes an Owner.
    owner = client.get("/api/v4/user", headers=world.headers("owner")).json["id"]
    guest = client.get("/api/v4/user", headers=world.headers("guest")).json["id"]
    before = _events(app, world)
    assert _post(client, members, csrf, username="outsider", access_level="50").status_code == 403
    assert _post(client, f"{members}/{guest}", csrf, access_level="50").status_code == 403
    assert _post(client, f"{members}/{owner}", csrf, access_level="40").status_code == 403
    assert _post(client, f"{members}/{owner}/remove", csrf).status_code == 403
    assert _role(app, world, "owner") == Role.OWNER and _role(app, world, "guest") == Role.GUEST
    assert _role(app, world, "outsider") is None and _events(app, world) == before


def test_owners_grant_owner_and_the_last_owner_stays(app, client, world):
    csrf = signed_in(app, client, "owner")
    members = SETTINGS.format("private") + "/members"
    owner = client.get("/api/v4/user", headers=world.headers("owner")).json["id"]
    maintainer = client.get("/api/v4/user", headers=world.headers("maintainer")).json["id"]
    assert '<option value="50"' in client.get(members).text

    for action, form in ((f"{members}/{owner}", {"access_level": "40"}), (f"{members}/{owner}/remove", {})):
        r = _post(client, action, csrf, **form)
        assert r.status_code == 400 and 'data-testid="member-error"' in r.text
        assert "must keep at least one Owner" in r.text
        assert _role(app, world, "owner") == Role.OWNER

    assert _post(client, f"{members}/{maintainer}", csrf, access_level="50").status_code == 302
    assert _role(app, world, "maintainer") == Role.OWNER
    # With a second Owner the first may step down.
    assert _post(client, f"{members}/{owner}", csrf, access_level="40").status_code == 302
    assert _role(app, world, "owner") == Role.MAINTAINER


def test_adding_an_unknown_user_or_a_member_again_keeps_the_form(app, client, world):
    csrf = signed_in(app, client, "owner")
    members = SETTINGS.format("private") + "/members"
    before = _events(app, world)
    r = _post(client, members, csrf, username="nobody", access_level="20")
    assert r.status_code == 404 and "There is no user named nobody." in r.text
    assert 'value="nobody"' in r.text and '<option value="20" selected>' in r.text
    r = _post(client, members, csrf, username="guest", access_level="30")
    assert r.status_code == 409 and "guest is a member already." in r.text
    assert _role(app, world, "guest") == Role.GUEST and _events(app, world) == before


# -- tokens ----------------------------------------------------------------------------------------


def test_a_project_access_token_is_shown_once_stored_as_a_digest_and_revocable(app, client, world):
    csrf = signed_in(app, client, "maintainer")
    tokens = SETTINGS.format("private") + "/access_tokens"
    r = _post(client, tokens, csrf, name="nightly export", access_level="20", scopes=["read_api"])
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    secret = _secret(r.text)
    assert secret.startswith("mspat-") and 'data-clipboard="#new-token"' in r.text
    assert not _stored_anywhere(app, secret)
    with app.app_context():
        row = db.session.scalar(select(PersonalAccessToken).where(PersonalAccessToken.name == "nightly export"))
        assert row.token_digest == hashlib.sha256(secret.encode()).hexdigest() and row.user.is_bot

    listing = client.get(tokens).text
    assert secret not in listing and 'data-token-name="nightly export"' in listing
    row_html = listing.split('data-token-name="nightly export"')[1].split("</tr>")[0]
    assert "Reporter" in row_html and "read_api" in row_html and ">Active<" in row_html

    project = world.projects["private"]
    assert client.get(f"/api/v4/projects/{project}", headers={"PRIVATE-TOKEN": secret}).status_code == 200
    assert client.get(f"/api/v4/projects/{world.projects['internal']}", headers={"PRIVATE-TOKEN": secret}).status_code == 404

    r = _post(client, f"{tokens}/{row.id}/revoke", csrf)
    assert r.status_code == 302
    assert "Project access token nightly export revoked." in client.get(tokens).text
    assert client.get(f"/api/v4/projects/{project}", headers={"PRIVATE-TOKEN": secret}).status_code == 401
    assert [e[0] for e in _events(app, world)][-2:] == ["project_access_token_created", "project_access_token_revoked"]


def test_a_token_form_with_mistakes_keeps_what_was_typed(app, client, world):
    csrf = signed_in(app, client, "owner")
    tokens = SETTINGS.format("private") + "/access_tokens"
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    r = _post(client, tokens, csrf, name="release bot", access_level="30", scopes=["api"], expires_at=yesterday)
    assert r.status_code == 400 and 'id="token-expires-at-error"' in r.text and "must be in the future" in r.text
    assert 'value="release bot"' in r.text and '<option value="30" selected>' in r.text
    assert f'value="{yesterday}"' in r.text and 'value="api" checked' in r.text
    r = _post(client, tokens, csrf, name="release bot", access_level="30", expires_at="soon")
    assert r.status_code == 400 and "Expires at is invalid" in r.text
    r = _post(client, tokens, csrf, name="release bot", access_level="30")
    assert r.status_code == 400 and 'id="token-scopes-error"' in r.text
    # Owner bots are refused, as in GitLab; the select never offers them.
    assert '<option value="50"' not in client.get(tokens).text
    assert _post(client, tokens, csrf, name="x", access_level="50", scopes=["api"]).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(PersonalAccessToken).where(PersonalAccessToken.name == "release bot")) is None
        assert db.session.scalars(select(User).where(User.bot_project_id.is_not(None))).all() == []


def test_a_deploy_token_is_shown_once_with_its_username_and_revocable(app, client, world):
    client.put(generic_url(world.projects["private"], "pkg", "1.0", "a.bin"), data=b"payload", headers=world.headers("owner"))
    csrf = signed_in(app, client, "maintainer")
    tokens = SETTINGS.format("private") + "/deploy_tokens"
    r = _post(client, tokens, csrf, name="k8s", username="k8s-puller", scopes=["read_package_registry"])
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    secret = _secret(r.text)
    assert secret.startswith("msdt-") and 'data-testid="new-deploy-token-username">k8s-puller<' in r.text
    assert not _stored_anywhere(app, secret)
    with app.app_context():
        row = db.session.scalar(select(DeployToken).where(DeployToken.name == "k8s"))
        assert row.token_digest == hashlib.sha256(secret.encode()).hexdigest()

    url = generic_url(world.projects["private"], "pkg", "1.0", "a.bin")
    assert client.get(url, headers={"DEPLOY-TOKEN": secret}).data == b"payload"
    assert client.put(generic_url(world.projects["private"], "pkg", "2.0", "a.bin"), data=b"x", headers={"DEPLOY-TOKEN": secret}).status_code == 403
    listing = client.get(tokens).text
    assert secret not in listing and "k8s-puller" in listing and ">Active<" in listing

    assert _post(client, f"{tokens}/{row.id}/revoke", csrf).status_code == 302
    assert client.get(url, headers={"DEPLOY-TOKEN": secret}).status_code == 401
    assert ">Revoked<" in client.get(tokens).text
    assert [e[0] for e in _events(app, world)][-2:] == ["deploy_token_created", "deploy_token_revoked"]


def test_deploy_token_mistakes_are_shown_beside_their_fields(app, client, world):
    csrf = signed_in(app, client, "owner")
    tokens = SETTINGS.format("private") + "/deploy_tokens"
    r = _post(client, tokens, csrf, name="k8s", username="no spaces allowed", scopes=["read_package_registry"])
    assert r.status_code == 400 and 'id="deploy-username-error"' in r.text
    assert 'value="no spaces allowed"' in r.text and 'value="read_package_registry" checked' in r.text
    r = _post(client, tokens, csrf, name="", scopes=["write_package_registry"])
    assert r.status_code == 400 and 'id="deploy-name-error"' in r.text
    r = _post(client, tokens, csrf, name="k8s", scopes=["api"])
    assert r.status_code == 400 and 'id="deploy-scopes-error"' in r.text
    with app.app_context():
        assert db.session.scalars(select(DeployToken)).all() == []


def test_rotating_the_ci_token_shows_the_new_one_once_and_ends_the_old(app, client, world):
    with app.app_context():
        old = CiTokenService(db.session).rotate(db.session.get(Project, world.projects["private"]))
        db.session.commit()
    csrf = signed_in(app, client, "maintainer")
    ci = SETTINGS.format("private") + "/ci_cd"
    assert "This project has a CI token." in client.get(ci).text
    r = _post(client, f"{ci}/ci_token", csrf)
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    new = _secret(r.text)
    assert new.startswith("msci-") and new != old
    assert "The previous CI token has stopped working" in r.text
    assert not _stored_anywhere(app, new) and new not in client.get(ci).text
    with app.app_context():
        tokens = CiTokenService(db.session)
        assert tokens.find_project(old) is None
        assert tokens.find_project(new).id == world.projects["private"]
    assert _events(app, world)[-1] == ("ci_token_rotated", "maintainer", "session", "acme/private")


def test_the_ci_page_lists_registered_jobs_with_links(app, client, world):
    with app.app_context():
        project = db.session.get(Project, world.projects["private"])
        jobs = JobService(db.session)
        job, _ = jobs.register(
            project,
            {
                "user": "developer", "job_id": "4711", "ci_system": "gitlab", "job_name": "train",
                "job_url": "https://ci.example.com/jobs/4711", "pipeline_id": "99",
                "pipeline_url": "https://ci.example.com/pipelines/99", "ref": "main", "sha": "0123456789abcdef",
                "merge_request_iid": "12", "merge_request_title": "Better features",
                "merge_request_url": "https://ci.example.com/mr/12",
            },
        )
        jobs.finish(job, "success")
        jobs.register(project, {"user": "owner", "job_id": "4712", "job_name": "evaluate"})
        db.session.commit()
    signed_in(app, client, "maintainer")
    page = client.get(SETTINGS.format("private") + "/ci_cd").text
    assert 'data-testid="job-count">2<' in page
    assert page.index('data-job-id="4712"') < page.index('data-job-id="4711"')  # newest first
    train = page.split('data-job-id="4711"')[1].split("</tr>")[0]
    for expected in ('href="https://ci.example.com/jobs/4711"', 'href="https://ci.example.com/pipelines/99"',
                     'href="https://ci.example.com/mr/12"', "Better features", "<code>main</code>", "01234567",
                     "developer", ">Success<"):
        assert expected in train, expected
    assert ">Running<" in page.split('data-job-id="4712"')[1].split("</tr>")[0]


# -- Audit events ----------------------------------------------------------------------------------


def test_audit_events_page_lists_the_trail_newest_first_a_page_at_a_time(app, client, world):
    csrf = signed_in(app, client, "owner")
    base = SETTINGS.format("private")
    for text in ("one", "two", "three"):
        assert _post(client, f"{base}/general", csrf, description=text).status_code == 302
    page = client.get(f"{base}/audit_events?per_page=2").text
    rows = re.findall(r'<tr data-event="([a-z_]+)">', page)
    assert rows == ["project_description_updated", "project_description_updated"]
    first = page.split('<tr data-event="project_description_updated">')[1].split("</tr>")[0]
    for expected in ("owner", "session", "Project <strong>acme/private</strong>", "127.0.0.1", "two", "three"):
        assert expected in first, expected
    assert 'rel="next"' in page and "Page 1 of" in page
    older = client.get(f"{base}/audit_events?per_page=2&page=2").text
    assert "Page 2 of" in older and "one" in older.split('data-event="project_description_updated"')[1]


# -- user settings: personal access tokens -----------------------------------------------------------


def test_the_tokens_page_needs_a_signed_in_user(app, client, world):
    r = client.get(TOKENS_PAGE)
    assert r.status_code == 302 and "/users/sign_in?redirect_to=/-/user_settings/personal_access_tokens" in r.headers["Location"]
    assert client.post(TOKENS_PAGE, data={"name": "x", "scopes": "api"}).status_code == 403  # no CSRF token either
    signed_in(app, client, "guest")
    page = client.get("/").text
    assert f'href="{TOKENS_PAGE}"' in page  # the header's link


def test_create_a_personal_access_token_see_it_once_use_it_and_revoke_it(app, client, world):
    csrf = signed_in(app, client, "developer")
    expires = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    r = _post(client, TOKENS_PAGE, csrf, name="laptop", scopes=["read_api"], expires_at=expires)
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    secret = _secret(r.text)
    assert 'data-clipboard="#new-token"' in r.text and not _stored_anywhere(app, secret)
    assert client.get("/api/v4/user", headers={"PRIVATE-TOKEN": secret}).json["username"] == "developer"
    # read_api: reads, no writes.
    url = generic_url(world.projects["private"], "pkg", "1.0", "a.bin")
    assert client.put(url, data=b"x", headers={"PRIVATE-TOKEN": secret}).status_code == 403

    listing = client.get(TOKENS_PAGE).text
    assert secret not in listing
    row_html = listing.split('data-token-name="laptop"')[1].split("</tr>")[0]
    assert "read_api" in row_html and expires in row_html and ">Active<" in row_html
    assert "never" not in row_html  # last used: just now
    # The seeded tokens of the fixture are listed too, and another user's are not.
    assert 'data-token-name="test"' in listing and 'data-token-name="test-read"' in listing

    with app.app_context():
        token_id = db.session.scalar(select(PersonalAccessToken.id).where(PersonalAccessToken.name == "laptop"))
        others = db.session.scalar(
            select(PersonalAccessToken.id).join(PersonalAccessToken.user).where(PersonalAccessToken.name == "test")
            .where(PersonalAccessToken.user_id != UserService(db.session).get("developer").id)
        )
    assert _post(client, f"{TOKENS_PAGE}/{others}/revoke", csrf).status_code == 404
    assert _post(client, f"{TOKENS_PAGE}/{token_id}/revoke", csrf).status_code == 302
    assert "Personal access token laptop revoked." in client.get(TOKENS_PAGE).text
    assert client.get("/api/v4/user", headers={"PRIVATE-TOKEN": secret}).status_code == 401
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.target_type == "PersonalAccessToken").order_by(AuditEvent.id)
        ).all()
        assert [(e.event_name, e.author_name, e.project_id) for e in events][-2:] == [
            ("personal_access_token_created", "developer", None),
            ("personal_access_token_revoked", "developer", None),
        ]


def test_personal_token_mistakes_keep_the_form(app, client, world):
    csrf = signed_in(app, client, "developer")
    with app.app_context():
        before = len(db.session.scalars(select(PersonalAccessToken)).all())
    r = _post(client, TOKENS_PAGE, csrf, name="ci", scopes=["sudo"])
    assert r.status_code == 400 and 'id="token-scopes-error"' in r.text and 'value="ci"' in r.text
    r = _post(client, TOKENS_PAGE, csrf, name="ci", scopes=["api"], expires_at="2020-01-01")
    assert r.status_code == 400 and "must be in the future" in r.text and 'value="2020-01-01"' in r.text
    with app.app_context():
        assert len(db.session.scalars(select(PersonalAccessToken)).all()) == before
