"""CI jobs end to end through the API: the project CI token (rotated by Maintainers, good for
nothing but registering jobs), registration and its metadata, job tokens (the triggering user's role,
in that project only, until the job finishes or its time to live passes), provenance of uploads in
the packages API's ``pipelines``, and the MLflow tag ``gitlab.CI_JOB_ID``."""
from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from package_api.access.models import CiJob, Project
from package_api.access.tokens import DeployTokenService, digest
from package_api.audit.models import AuditEvent
from package_api.db import db, utcnow
from plugin.tracking.models import Run
from tests.support.world import World, create_model, generic_url

TTL = 600  # seconds: JOB_TOKEN_TTL in these tests


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all", "JOB_TOKEN_TTL": TTL}


def jobs_url(project: int | str, job_id: int | None = None) -> str:
    return f"/api/v4/projects/{project}/jobs" + ("" if job_id is None else f"/{job_id}")


def rotate(client: FlaskClient, world: World, project: str = "private", user: str = "maintainer") -> str:
    response = client.post(f"/api/v4/projects/{world.projects[project]}/ci_token", headers=world.headers(user))
    assert response.status_code == 201, response.json
    return str(response.json["token"])


def metadata(**overrides: Any) -> dict[str, Any]:
    """What GitLab CI knows of a job in a merge request pipeline."""
    return {
        "user": "developer",
        "ci_system": "gitlab",
        "job_id": "4242",
        "job_name": "train",
        "job_url": "https://gitlab.example.com/acme/fraud/-/jobs/4242",
        "pipeline_id": "977",
        "pipeline_url": "https://gitlab.example.com/acme/fraud/-/pipelines/977",
        "ref": "feature/recall",
        "sha": "0b3e5f4c2a1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f",
        "merge_request_iid": "12",
        "merge_request_title": "Improve recall <b>a lot</b>",
        "merge_request_url": "https://gitlab.example.com/acme/fraud/-/merge_requests/12",
        **overrides,
    }


def register(client: FlaskClient, ci_token: str, project: int, **overrides: Any) -> dict[str, Any]:
    response = client.post(jobs_url(project), json=metadata(**overrides), headers={"CI-TOKEN": ci_token})
    assert response.status_code == 201, response.json
    return dict(response.json)


def job_headers(token: str) -> dict[str, str]:
    return {"JOB-TOKEN": token}


def basic(username: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()}


def events(app: Flask, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == name).order_by(AuditEvent.id)))


# -- the project CI token ------------------------------------------------------------------------------


def test_maintainers_rotate_the_ci_token_and_the_old_one_stops_working(app: Flask, client: FlaskClient, world: World):
    project = world.projects["private"]
    url = f"/api/v4/projects/{project}/ci_token"
    assert client.post(url).status_code == 401
    assert client.post(url, headers=world.headers("outsider")).status_code == 404
    for user in ("guest", "reporter", "developer"):
        assert client.post(url, headers=world.headers(user)).status_code == 403
    assert client.post(url, headers=world.headers("maintainer", read_only=True)).status_code == 403

    first = rotate(client, world)
    assert first.startswith("msci-")
    assert client.post(jobs_url(project), json=metadata(), headers={"CI-TOKEN": first}).status_code == 201
    second = rotate(client, world, user="owner")
    assert second != first
    assert client.post(jobs_url(project), json=metadata(), headers={"CI-TOKEN": first}).status_code == 401
    assert client.post(jobs_url(project), json=metadata(), headers={"CI-TOKEN": second}).status_code == 201
    assert client.post(url, headers=world.headers("root")).status_code == 201  # admins may

    with app.app_context():  # stored only as its digest
        stored = db.session.get(Project, project)
        assert stored is not None and stored.ci_token_digest not in (None, second)
    rotations = events(app, "ci_token_rotated")
    assert [(e.author_name, e.project_id, e.target_type, e.details) for e in rotations] == [
        ("maintainer", project, "Project", '{"replaced": false}'),
        ("owner", project, "Project", '{"replaced": true}'),
        ("root", project, "Project", '{"replaced": true}'),
    ]


def test_only_the_projects_ci_token_registers_jobs(app: Flask, client: FlaskClient, world: World):
    project = world.projects["private"]
    token = rotate(client, world)
    other = rotate(client, world, "public")
    body = metadata()
    assert client.post(jobs_url(project), json=body).status_code == 401
    for user in ("developer", "maintainer", "owner", "root"):
        assert client.post(jobs_url(project), json=body, headers=world.headers(user)).status_code == 403, user
    with app.app_context():
        stored = db.session.get(Project, project)
        _, deploy = DeployTokenService(db.session).create(stored, "ci", ["write_package_registry"])  # type: ignore[arg-type]
        db.session.commit()
    assert client.post(jobs_url(project), json=body, headers={"DEPLOY-TOKEN": deploy}).status_code == 403
    job = register(client, token, project)
    assert client.post(jobs_url(project), json=body, headers=job_headers(job["token"])).status_code == 403
    # Another project's CI token: the private project is not even there for it.
    assert client.post(jobs_url(project), json=body, headers={"CI-TOKEN": other}).status_code == 404
    assert client.post(jobs_url(world.projects["internal"]), json=body, headers={"CI-TOKEN": token}).status_code == 404
    assert client.post(jobs_url(world.projects["public"]), json=body, headers={"CI-TOKEN": token}).status_code == 403
    # Every header the CI token may come in.
    for headers in ({"Authorization": f"Bearer {token}"}, {"PRIVATE-TOKEN": token}):
        assert client.post(jobs_url(project), json=body, headers=headers).status_code == 201
    assert client.post(jobs_url(project), json=body, headers={"CI-TOKEN": token + "x"}).status_code == 401


def test_the_ci_token_is_refused_everywhere_else(client: FlaskClient, world: World):
    project = world.projects["private"]
    token = rotate(client, world)
    headers = {"CI-TOKEN": token}
    assert client.get(f"/api/v4/projects/{project}", headers=headers).status_code == 403
    assert client.get(f"/api/v4/projects/{project}/packages", headers=headers).status_code == 403
    assert client.put(generic_url(project, "pkg", "v1"), data=b"x", headers=headers).status_code == 403
    assert client.get(jobs_url(project), headers=headers).status_code == 403
    assert client.post(f"/api/v4/projects/{project}/ci_token", headers=headers).status_code == 403
    assert client.get(f"/api/v4/projects/{project}/ml/models", headers=headers).status_code == 403
    assert client.get("/api/v4/user", headers=headers).status_code == 401  # it is nobody
    assert client.get(f"/api/v4/projects/{world.projects['internal']}", headers=headers).status_code == 404


# -- registration --------------------------------------------------------------------------------------


def test_registration_answers_the_job_and_its_token_once(app: Flask, client: FlaskClient, world: World):
    project = world.projects["private"]
    job = register(client, rotate(client, world), project)
    token = job.pop("token")
    assert token.startswith("msjob-")
    created = datetime.datetime.fromisoformat(job["created_at"].rstrip("Z"))
    expires = datetime.datetime.fromisoformat(job["expires_at"].rstrip("Z"))
    assert abs((expires - created).total_seconds() - TTL) < 1
    with app.app_context():
        developer_id = db.session.scalar(select(CiJob.user_id))
        assert db.session.scalar(select(CiJob.token_digest)) == digest(token)  # only the digest is kept
    assert job == {
        "id": job["id"],
        "project_id": project,
        "status": "running",
        "ci_system": "gitlab",
        "external_id": "4242",
        "name": "train",
        "web_url": "https://gitlab.example.com/acme/fraud/-/jobs/4242",
        "pipeline": {"id": 977, "web_url": "https://gitlab.example.com/acme/fraud/-/pipelines/977"},
        "ref": "feature/recall",
        "sha": "0b3e5f4c2a1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f",
        "merge_request": {
            "iid": 12,
            "title": "Improve recall <b>a lot</b>",
            "web_url": "https://gitlab.example.com/acme/fraud/-/merge_requests/12",
        },
        "user": {
            "id": developer_id,
            "username": "developer",
            "name": "developer",
            "state": "active",
            "avatar_url": None,
            "web_url": "http://localhost/developer",
        },
        "created_at": job["created_at"],
        "expires_at": job["expires_at"],
        "finished_at": None,
    }
    # Readable afterwards by Reporters, never with its token.
    shown = client.get(jobs_url(project, job["id"]), headers=world.headers("reporter"))
    assert shown.status_code == 200 and shown.json == job
    [registered] = events(app, "job_registered")
    assert (registered.token_type, registered.target_id, registered.author_name) == ("ci_token", job["id"], "acme/private CI")
    assert token not in registered.details and token not in registered.target_details


def test_registration_takes_a_form_and_checks_the_metadata(client: FlaskClient, world: World):
    project = world.projects["private"]
    headers = {"CI-TOKEN": rotate(client, world)}
    form = client.post(jobs_url(project), data={"user": "developer", "job_id": "7", "ci_system": "jenkins"}, headers=headers)
    assert form.status_code == 201
    assert (form.json["ci_system"], form.json["pipeline"], form.json["merge_request"]) == ("jenkins", None, None)

    def refused(**overrides: Any) -> dict[str, Any]:
        body = {k: v for k, v in metadata(**overrides).items() if v is not None}
        response = client.post(jobs_url(project), json=body, headers=headers)
        return {"status": response.status_code, **response.json}

    assert refused(user="nobody") == {"status": 404, "message": "404 User Not Found"}
    assert refused(user=None) == {"status": 400, "error": "user is missing"}
    assert refused(job_id=None) == {"status": 400, "error": "job_id is missing"}
    assert refused(job_url="javascript:alert(1)") == {"status": 400, "error": "job_url must be an http(s) URL"}
    assert refused(merge_request_url="data:text/html,x")["status"] == 400
    assert refused(pipeline_url="ftp://example.com/p")["status"] == 400
    assert refused(job_name="x" * 256) == {"status": 400, "error": "job_name is invalid"}
    assert refused(ref="main\nx") == {"status": 400, "error": "ref is invalid"}


# -- job tokens ----------------------------------------------------------------------------------------


def test_a_job_token_acts_with_the_triggering_users_role_in_its_project_only(client: FlaskClient, world: World):
    private, internal, public = (world.projects[v] for v in ("private", "internal", "public"))
    ci_token = rotate(client, world)
    developer = register(client, ci_token, private, user="developer")["token"]
    guest = register(client, ci_token, private, user="guest")["token"]
    admin = register(client, ci_token, private, user="root")["token"]

    # The developer's role: publish plain packages, not delete them (and job tokens never delete).
    assert client.put(generic_url(private, "pkg", "v1", "a.bin"), data=b"a", headers=job_headers(developer)).status_code == 201
    assert client.put(generic_url(private, "pkg", "v1", "b.bin"), data=b"b", headers=basic("gitlab-ci-token", developer)).status_code == 201
    assert client.get(generic_url(private, "pkg", "v1", "a.bin"), headers=job_headers(developer)).data == b"a"
    package_id = client.get(f"/api/v4/projects/{private}/packages", headers=world.headers("developer")).json[0]["id"]
    delete = client.delete(f"/api/v4/projects/{private}/packages/{package_id}", headers=job_headers(developer))
    assert delete.status_code == 403
    # Basic auth with another user name is not a job token.
    assert client.get(generic_url(private, "pkg", "v1", "a.bin"), headers=basic("someone", developer)).status_code == 401

    # The guest's role: read, not publish.
    assert client.get(generic_url(private, "pkg", "v1", "a.bin"), headers=job_headers(guest)).status_code == 200
    assert client.put(generic_url(private, "pkg", "v2", "a.bin"), data=b"a", headers=job_headers(guest)).status_code == 403

    # Other projects: the developer is a Developer there too, but the token does not reach them.
    assert client.get(f"/api/v4/projects/{internal}", headers=job_headers(developer)).status_code == 404
    assert client.put(generic_url(internal, "pkg", "v1"), data=b"a", headers=job_headers(developer)).status_code == 404
    assert client.get(f"/api/v4/projects/{public}", headers=job_headers(developer)).status_code == 200  # public
    assert client.put(generic_url(public, "pkg", "v1"), data=b"a", headers=job_headers(developer)).status_code == 403

    # An administrator who triggers a job gives it no powers: root has no role in the project.
    assert client.get(f"/api/v4/projects/{private}", headers=job_headers(admin)).status_code == 404
    assert client.put(generic_url(private, "pkg", "v3"), data=b"a", headers=job_headers(admin)).status_code == 404

    # Settings, tokens and the job list are not for job tokens, whoever triggered them.
    maintainer = register(client, ci_token, private, user="maintainer")["token"]
    assert client.post(f"/api/v4/projects/{private}/ci_token", headers=job_headers(maintainer)).status_code == 403
    assert client.get(jobs_url(private), headers=job_headers(maintainer)).status_code == 403
    assert client.put(f"/api/v4/projects/{private}", json={"description": "x"}, headers=job_headers(maintainer)).status_code == 403


def test_a_job_token_as_bearer_or_job_token_parameter_has_the_same_rights(client: FlaskClient, world: World):
    """What the MLflow client sends (``MLFLOW_TRACKING_TOKEN``: ``Authorization: Bearer``) and GitLab's
    ``?job_token=``: the job's project with its user's role, nothing more."""
    private, internal = world.projects["private"], world.projects["internal"]
    ci_token = rotate(client, world)
    developer = register(client, ci_token, private, user="developer")
    guest = register(client, ci_token, private, user="guest", job_id="4243")["token"]
    bearer = {"Authorization": f"Bearer {developer['token']}"}
    url = generic_url(private, "pkg", "v1", "a.bin")
    assert client.put(url, data=b"a", headers=bearer).status_code == 201
    assert client.get(url, query_string={"job_token": developer["token"]}).data == b"a"
    assert client.put(generic_url(private, "pkg", "v1", "g.bin"), data=b"g", headers={"Authorization": f"Bearer {guest}"}).status_code == 403
    assert client.put(generic_url(private, "pkg", "v2"), data=b"g", query_string={"job_token": guest}).status_code == 403
    mlflow = f"/api/v4/projects/{private}/ml/mlflow/api/2.0/mlflow/experiments/create"
    made = client.post(mlflow, json={"name": "from-ci"}, headers=bearer)
    assert made.status_code == 200, made.json
    assert client.get(f"/api/v4/projects/{private}/ml/models", query_string={"job_token": developer["token"]}).status_code == 200
    # Not another project, not settings or jobs, and a wrong token is refused as any wrong token is.
    assert client.get(f"/api/v4/projects/{internal}/ml/models", headers=bearer).status_code == 404
    assert client.get(jobs_url(private), headers=bearer).status_code == 403
    assert client.get(url, query_string={"job_token": developer["token"] + "x"}).status_code == 401
    finish = client.put(jobs_url(private, developer["id"]), json={"status": "success"}, headers={"CI-TOKEN": ci_token})
    assert finish.status_code == 200
    assert client.get(url, headers=bearer).status_code == 401


def test_a_finished_jobs_token_stops_working_at_once(app: Flask, client: FlaskClient, world: World):
    project = world.projects["private"]
    ci_token = rotate(client, world)
    job = register(client, ci_token, project)
    url = generic_url(project, "pkg", "v1")
    assert client.put(url, data=b"a", headers=job_headers(job["token"])).status_code == 201

    finish = jobs_url(project, job["id"])
    assert client.put(finish, json={}, headers={"CI-TOKEN": ci_token}).json == {"error": "status is missing"}
    for status in ("running", "done", "failure"):
        response = client.put(finish, json={"status": status}, headers={"CI-TOKEN": ci_token})
        assert response.status_code == 400 and response.json == {"error": "status does not have a valid value"}
    assert client.put(finish, json={"status": "success"}, headers=world.headers("developer")).status_code == 403
    other = register(client, ci_token, project, job_id="4243")
    assert client.put(finish, json={"status": "success"}, headers=job_headers(other["token"])).status_code == 403

    done = client.put(finish, json={"status": "success"}, headers={"CI-TOKEN": ci_token})
    assert done.status_code == 200
    assert done.json["status"] == "success" and done.json["finished_at"] is not None
    assert client.put(url, data=b"b", headers=job_headers(job["token"])).status_code == 401
    assert client.get(url, headers=basic("gitlab-ci-token", job["token"])).status_code == 401
    # Again: nothing changes, and the trail has one event.
    again = client.put(finish, data={"status": "failed"}, headers={"CI-TOKEN": ci_token})
    assert again.status_code == 200 and again.json["status"] == "success"

    # A job may finish itself with its own token (the token's last act), and a Maintainer may end one.
    own = jobs_url(project, other["id"])
    assert client.put(own, json={"status": "canceled"}, headers=job_headers(other["token"])).json["status"] == "canceled"
    assert client.put(own, json={"status": "canceled"}, headers=job_headers(other["token"])).status_code == 401
    third = register(client, ci_token, project, job_id="4244")
    ended = client.put(jobs_url(project, third["id"]), json={"status": "failed"}, headers=world.headers("maintainer"))
    assert ended.status_code == 200
    assert client.put(url, data=b"c", headers=job_headers(third["token"])).status_code == 401
    assert [(e.target_id, e.details) for e in events(app, "job_finished")] == [
        (job["id"], '{"status": "success"}'),
        (other["id"], '{"status": "canceled"}'),
        (third["id"], '{"status": "failed"}'),
    ]


def test_an_expired_job_token_stops_working(app: Flask, client: FlaskClient, world: World):
    project = world.projects["private"]
    job = register(client, rotate(client, world), project)
    url = generic_url(project, "pkg", "v1")
    assert client.put(url, data=b"a", headers=job_headers(job["token"])).status_code == 201
    with app.app_context():
        row = db.session.get(CiJob, job["id"])
        assert row is not None
        row.expires_at = utcnow() - datetime.timedelta(seconds=1)  # its time to live has passed
        db.session.commit()
    assert client.get(url, headers=job_headers(job["token"])).status_code == 401
    assert client.get(jobs_url(project, job["id"]), headers=world.headers("reporter")).json["status"] == "running"


def test_reporters_read_the_jobs_newest_first(client: FlaskClient, world: World):
    project = world.projects["private"]
    ci_token = rotate(client, world)
    first = register(client, ci_token, project, job_id="1")
    second = register(client, ci_token, project, job_id="2")
    client.put(jobs_url(project, first["id"]), json={"status": "failed"}, headers={"CI-TOKEN": ci_token})
    listed = client.get(jobs_url(project), headers=world.headers("reporter"))
    assert listed.status_code == 200 and listed.headers["X-Total"] == "2"
    assert [(j["external_id"], j["status"]) for j in listed.json] == [("2", "running"), ("1", "failed")]
    assert all("token" not in j for j in listed.json)
    failed = client.get(jobs_url(project) + "?status=failed", headers=world.headers("reporter")).json
    assert [j["id"] for j in failed] == [first["id"]]
    assert client.get(jobs_url(project) + "?status=bogus", headers=world.headers("reporter")).status_code == 400
    assert client.get(jobs_url(project), headers=world.headers("guest")).status_code == 403
    assert client.get(jobs_url(project), headers=world.headers("outsider")).status_code == 404
    assert client.get(jobs_url(project)).status_code == 404  # a read: the private project stays hidden
    # A job of another project is not found through this one.
    other = register(client, rotate(client, world, "public"), world.projects["public"])
    assert client.get(jobs_url(project, other["id"]), headers=world.headers("reporter")).status_code == 404
    assert client.get(jobs_url(project, second["id"]), headers=world.headers("reporter")).json["id"] == second["id"]


# -- provenance ----------------------------------------------------------------------------------------


def test_uploads_with_job_tokens_record_provenance_shown_as_pipelines(app: Flask, client: FlaskClient, world: World):
    project = world.projects["private"]
    ci_token = rotate(client, world)
    build = register(client, ci_token, project, job_id="1", job_name="build", pipeline_id="500")
    test = register(client, ci_token, project, job_id="2", job_name="test", pipeline_id="500", user="maintainer")
    release = register(client, ci_token, project, job_id="3", job_name="release", pipeline_id="501", sha="abc123")
    for job, path in ((build, "a.bin"), (test, "b.bin"), (build, "c.bin"), (release, "d.bin")):
        assert client.put(generic_url(project, "pkg", "v1", path), data=b"x", headers=job_headers(job["token"])).status_code == 201
    assert client.put(generic_url(project, "pkg", "v2", "a.bin"), data=b"x", headers=world.headers("developer")).status_code == 201
    assert client.put(generic_url(project, "pkg", "v3", "a.bin"), data=b"x", headers=job_headers(build["token"])).status_code == 201

    statements: list[tuple[str, Any]] = []
    with app.app_context():
        engine = db.engine
    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        listed = client.get(f"/api/v4/projects/{project}/packages?order_by=version", headers=world.headers("reporter"))
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert listed.status_code == 200
    v1, v2, v3 = listed.json
    # One query fetches the jobs of every package of the page, and their users with them: no user of
    # a job is looked up on its own (nor the caller's, which comes with its token).
    assert sum("ci_jobs" in s for s, _ in statements) == 1
    assert v1["pipelines"] and all(p["user"]["id"] for p in v1["pipelines"])
    lookups = [s for s, _ in statements if "FROM users" in s and "ci_jobs" not in s]
    assert lookups == []
    assert "pipelines" not in v2 and "pipeline" not in v2  # as GitLab: only when there are some
    assert [(p["id"], p["status"], p["source"], p["user"]["username"]) for p in v1["pipelines"]] == [
        (501, "running", "external", "developer"),
        (500, "running", "external", "maintainer"),  # pipeline 500 as its newest job shows it: test
    ]
    assert v1["pipeline"] == v1["pipelines"][0] and v1["pipeline"]["sha"] == "abc123"
    assert v1["pipelines"][1]["web_url"] == "https://gitlab.example.com/acme/fraud/-/pipelines/977"
    assert set(v1["pipelines"][0]) == {
        "id", "iid", "project_id", "sha", "ref", "status", "source", "created_at", "updated_at", "web_url", "user"
    }  # fmt: skip
    assert [p["id"] for p in v3["pipelines"]] == [500]

    single = client.get(f"/api/v4/projects/{project}/packages/{v1['id']}", headers=world.headers("reporter")).json
    assert [p["id"] for p in single["pipelines"]] == [501, 500]
    versions = {v["version"]: v for v in single["versions"]}
    assert versions["v2"]["pipelines"] == [] and "pipeline" not in versions["v2"]
    assert [p["id"] for p in versions["v3"]["pipelines"]] == [500] and versions["v3"]["pipeline"]["id"] == 500


def test_a_model_version_uploaded_by_a_job_shows_it_in_the_model_registry_api(client: FlaskClient, world: World):
    project = world.projects["private"]
    job = register(client, rotate(client, world), project, user="reporter")  # Reporters publish model versions
    create_model(client, project, "fraud-detector", world.headers("reporter"))
    url = generic_url(project, "fraud-detector", "1.4.0", "model.onnx")
    assert client.put(url, data=b"w", headers=job_headers(job["token"])).status_code == 201
    version = client.get(
        f"/api/v4/projects/{project}/ml/models/fraud-detector/versions/1.4.0", headers=world.headers("guest")
    ).json
    assert version["ci_job"]["id"] == job["id"] and version["ci_job"]["name"] == "train"
    assert version["ci_job"]["merge_request"]["iid"] == 12 and version["ci_job"]["user"]["username"] == "reporter"
    assert "token" not in version["ci_job"]


# -- MLflow: the gitlab.CI_JOB_ID tag ------------------------------------------------------------------


def mlflow(client: FlaskClient, project: int, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/{path}", json=body, headers=headers)


def test_the_gitlab_ci_job_id_tag_links_a_run_to_a_job_registered_in_the_project(
    app: Flask, client: FlaskClient, world: World
):
    project, headers = world.projects["private"], world.headers("developer")
    job = register(client, rotate(client, world), project, job_id="4242")
    register(client, rotate(client, world, "public"), world.projects["public"], job_id="777")  # another project's
    experiment = mlflow(client, project, "experiments/create", {"name": "training"}, headers).json["experiment_id"]

    def create(tags: list[dict[str, str]], run_headers: dict[str, str] = headers) -> Any:
        return mlflow(client, project, "runs/create", {"experiment_id": experiment, "tags": tags}, run_headers)

    unknown = create([{"key": "gitlab.CI_JOB_ID", "value": "777"}])
    assert unknown.status_code == 400 and unknown.json["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "gitlab.CI_JOB_ID must refer to a CI job registered in this project" in unknown.json["message"]
    linked = create([{"key": "gitlab.CI_JOB_ID", "value": "4242"}])
    assert linked.status_code == 200
    plain = create([]).json["run"]["info"]["run_id"]
    refused = mlflow(client, project, "runs/set-tag", {"run_id": plain, "key": "gitlab.CI_JOB_ID", "value": "1"}, headers)
    assert refused.status_code == 400 and refused.json["error_code"] == "INVALID_PARAMETER_VALUE"
    batch = {"run_id": plain, "tags": [{"key": "gitlab.CI_JOB_ID", "value": "4242"}], "params": [{"key": "lr", "value": "1"}]}
    assert mlflow(client, project, "runs/log-batch", {**batch, "tags": [{"key": "gitlab.CI_JOB_ID", "value": "x"}]}, headers).status_code == 400
    assert mlflow(client, project, "runs/log-batch", batch, headers).status_code == 200
    # A run made with a job token is that job's, without a tag.
    by_job = create([], job_headers(job["token"]))
    assert by_job.status_code == 200
    with app.app_context():
        runs = {r.uuid: r.ci_job_id for r in db.session.scalars(select(Run))}
    assert runs[linked.json["run"]["info"]["run_id"]] == job["id"]
    assert runs[plain] == job["id"]
    assert runs[by_job.json["run"]["info"]["run_id"]] == job["id"]
    # Nothing logged from the refused batch (everything or nothing).
    params = client.get(
        f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/runs/get?run_id={plain}", headers=headers
    ).json["run"]["data"].get("params", [])
    assert params == [{"key": "lr", "value": "1"}]


def test_a_versions_run_linked_to_a_job_shows_it_on_the_version(client: FlaskClient, world: World):
    project, headers = world.projects["private"], world.headers("developer")
    job = register(client, rotate(client, world), project, job_id="99", job_name="evaluate")
    create_model(client, project, "m", headers)
    assert client.put(generic_url(project, "m", "1.0.0"), data=b"w", headers=headers).status_code == 201  # no job
    base = f"/api/v4/projects/{project}/ml/models/m/versions/1.0.0"
    assert client.get(base, headers=headers).json["ci_job"] is None
    version = client.get(
        f"/api/v4/projects/{project}/ml/mlflow/api/2.0/mlflow/model-versions/get?name=m&version=1", headers=headers
    ).json["model_version"]
    tag = {"run_id": version["run_id"], "key": "gitlab.CI_JOB_ID", "value": "99"}
    assert mlflow(client, project, "runs/set-tag", tag, headers).status_code == 200
    assert client.get(base, headers=headers).json["ci_job"]["id"] == job["id"]
