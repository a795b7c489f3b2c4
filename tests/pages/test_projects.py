"""The projects page and **New project**: a signed-in user creates a project as ``POST
/api/v4/projects`` does (their own namespace, administrators any; the same checks; audited)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from package_api.access.models import Membership, Project, Role
from package_api.audit.models import AuditEvent
from package_api.db import db
from tests.support.pages import signed_in


def _project(app, full_path):
    namespace, _, path = full_path.partition("/")
    with app.app_context():
        project = db.session.scalar(select(Project).where(Project.namespace == namespace, Project.path == path))
        if project is None:
            return None
        owner = db.session.scalar(select(Membership).where(Membership.project_id == project.id))
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.event_name == "project_created", AuditEvent.project_id == project.id))
        return {
            "visibility": project.visibility.value,
            "description": project.description,
            "owner_role": owner.access_level,
            "event": (event.author_name, event.token_type, json.loads(event.details)),
        }


def test_signed_in_users_find_a_new_project_button(app, client, world):
    assert 'data-testid="new-project"' not in client.get("/").text  # signed out: no button
    signed_in(app, client, "developer")

    index = client.get("/")
    form = client.get("/projects/new")

    assert 'href="/projects/new"' in index.text
    assert form.status_code == 200
    assert 'action="/projects"' in form.text and 'name="csrf_token"' in form.text
    assert 'id="project-namespace" type="text" value="developer" disabled' in form.text  # their own namespace


def test_a_user_creates_a_project_in_their_namespace(app, client, world):
    csrf = signed_in(app, client, "developer")

    r = client.post(
        "/projects", data={"path": "fraud", "visibility": "internal", "description": "Fraud models", "csrf_token": csrf}
    )

    assert r.status_code == 302 and r.headers["Location"] == "/developer/fraud/-/packages"
    assert "Project developer/fraud created." in client.get(r.headers["Location"]).text
    assert _project(app, "developer/fraud") == {
        "visibility": "internal",
        "description": "Fraud models",
        "owner_role": int(Role.OWNER),
        "event": ("developer", "session", {"visibility": "internal", "owner": "developer"}),
    }


def test_an_admin_creates_a_project_in_any_namespace(app, client, world):
    csrf = signed_in(app, client, "root")

    assert 'name="namespace"' in client.get("/projects/new").text
    r = client.post("/projects", data={"namespace": "team", "path": "vision", "csrf_token": csrf})

    assert r.status_code == 302 and r.headers["Location"] == "/team/vision/-/packages"
    assert _project(app, "team/vision")["visibility"] == "private"


def test_others_namespaces_are_for_admins(app, client, world):
    csrf = signed_in(app, client, "developer")

    r = client.post("/projects", data={"namespace": "acme", "path": "sneaky", "csrf_token": csrf})

    assert r.status_code == 403
    assert "Only administrators create projects outside their own namespace." in r.text  # the reason, as the API's
    assert _project(app, "acme/sneaky") is None


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"path": ""}, 400, "Path is missing"),
        ({"path": "no spaces"}, 400, "Path is invalid"),
        ({"path": "model.git"}, 400, "Path is invalid"),
        ({"path": "ok", "visibility": "secret"}, 400, "Visibility does not have a valid value"),
        ({"path": "ok", "description": "x" * 2001}, 400, "Description is too long (maximum is 2000 characters)"),
    ],
)
def test_a_mistake_is_shown_in_the_form_and_creates_nothing(app, client, world, form, status, message):
    csrf = signed_in(app, client, "developer")

    r = client.post("/projects", data={**form, "csrf_token": csrf})

    assert r.status_code == status and message in r.text
    assert 'data-testid="new-project-form"' in r.text  # the form again, with what was typed
    assert _project(app, "developer/ok") is None


def test_an_existing_path_is_a_409_in_the_form(app, client, world):
    csrf = signed_in(app, client, "developer")
    client.post("/projects", data={"path": "taken", "csrf_token": csrf})

    r = client.post("/projects", data={"path": "taken", "csrf_token": csrf})

    assert r.status_code == 409 and "A project with this path already exists" in r.text


def test_the_form_needs_a_session_and_its_csrf_token(app, client, world):
    assert client.get("/projects/new").headers["Location"].startswith("/users/sign_in")
    assert client.post("/projects", data={"path": "x"}).status_code in (401, 403)
    signed_in(app, client, "developer")

    assert client.post("/projects", data={"path": "forged", "csrf_token": "forged"}).status_code == 403
    assert _project(app, "developer/forged") is None
