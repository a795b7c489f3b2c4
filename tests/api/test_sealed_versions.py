"""Sealed model versions: sealing from REST (Maintainers; ``sealed``/``sealed_at`` in the JSON), MLflow
(the tag ``modelshelf.sealed``) and the version page; once sealed, no file is added, replaced or
deleted by anyone on any path (a 403 saying the version is sealed, nothing changed), only an Owner
deletes the version, the seal is never lifted; one ``model_version_sealed`` audit event and one
``package_sealed`` signal."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from package_api import signals
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.packages.models import Package, PackageFile
from tests.support.pages import signed_in
from tests.support.world import World, create_model, generic_url

BYTES = b"weights"


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def project(client: FlaskClient, world: World) -> int:
    project = world.projects["private"]
    create_model(client, project, "fraud", world.headers("owner"))
    assert client.put(generic_url(project, "fraud", "1.0.0", "model.onnx"), data=BYTES, headers=world.headers("developer")).status_code == 201
    return project


def _api(project: int) -> str:
    return f"/api/v4/projects/{project}"


def _seal(client: FlaskClient, world: World, project: int, user: str = "maintainer") -> Any:
    return client.post(f"{_api(project)}/ml/models/fraud/versions/1.0.0/seal", headers=world.headers(user))


def _state(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        packages = db.session.execute(select(Package.id, Package.status, Package.sealed_at).order_by(Package.id)).all()
        files = db.session.execute(select(PackageFile.id, PackageFile.status).order_by(PackageFile.id)).all()
        return packages, files, db.session.scalar(select(func.count(AuditEvent.id)))


def _mlflow(client: FlaskClient, world: World, project: int, user: str, method: str, endpoint: str, body: dict[str, Any]) -> Any:
    return client.open(
        f"{_api(project)}/ml/mlflow/api/2.0/mlflow/{endpoint}", method=method, json=body,
        headers={"Authorization": f"Bearer {world.tokens[user]}"},
    )


def test_sealing_through_rest_is_for_maintainers_and_shows_in_the_json(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    version = client.get(f"{_api(project)}/ml/models/fraud/versions/1.0.0", headers=world.headers("developer")).get_json()
    assert (version["sealed"], version["sealed_at"]) == (False, None)
    received: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs["package"].name)

    signals.package_sealed.connect(receiver)
    try:
        assert _seal(client, world, project, "developer").status_code == 403
        sealed = _seal(client, world, project)
        assert sealed.status_code == 200, sealed.get_json()
        body = sealed.get_json()
        assert body["sealed"] is True and body["sealed_at"].endswith("Z")
        again = _seal(client, world, project)  # sealing a sealed version changes nothing
        assert again.status_code == 200 and again.get_json()["sealed_at"] == body["sealed_at"]
    finally:
        signals.package_sealed.disconnect(receiver)
    assert received == ["fraud"]
    listed = client.get(f"{_api(project)}/ml/models/fraud/versions", headers=world.headers("guest")).get_json()
    assert [(v["version"], v["sealed"]) for v in listed] == [("1.0.0", True)]
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == "model_version_sealed")).all()
        assert (event.author_name, event.target_details) == ("maintainer", "fraud/1.0.0")
    # The MLflow view carries the tag, however the version was sealed.
    got = _mlflow(client, world, project, "guest", "GET", "model-versions/get?name=fraud&version=1", {}).get_json()
    assert {"key": "modelshelf.sealed", "value": "true"} in got["model_version"]["tags"]


def test_a_sealed_versions_files_never_change_on_any_path(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    assert _seal(client, world, project).status_code == 200
    with app.app_context():
        package = db.session.scalars(select(Package).where(Package.name == "fraud")).one()
        package_id, file_id, version_id = package.id, db.session.scalars(select(PackageFile.id)).one(), None
    version_id = client.get(f"{_api(project)}/ml/models/fraud/versions/1.0.0", headers=world.headers("owner")).get_json()["id"]
    digest = hashlib.sha256(BYTES).hexdigest()
    before = _state(app)
    attempts = {
        "generic PUT, new file": lambda u: client.put(generic_url(project, "fraud", "1.0.0", "more.bin"), data=b"x", headers=world.headers(u)),
        "generic PUT, replace": lambda u: client.put(generic_url(project, "fraud", "1.0.0", "model.onnx"), data=b"x", headers=world.headers(u)),
        "upload by digest": lambda u: client.put(generic_url(project, "fraud", "1.0.0", "copy.onnx") + f"?sha256={digest}", headers=world.headers(u)),
        "ml_models files PUT": lambda u: client.put(f"{_api(project)}/packages/ml_models/{version_id}/files/w.bin", data=b"x", headers=world.headers(u)),
        "REST delete files": lambda u: client.delete(f"{_api(project)}/ml/models/fraud/versions/1.0.0/files/{file_id}", headers=world.headers(u)),
        "packages API delete file": lambda u: client.delete(f"{_api(project)}/packages/{package_id}/package_files/{file_id}", headers=world.headers(u)),
    }
    for name, attempt in attempts.items():
        for user in ("developer", "owner", "root"):  # by anyone, administrators included
            response = attempt(user)
            assert response.status_code == 403, (name, user, response.get_json())
            assert response.get_json()["message"] == (
                "403 Forbidden - model version fraud 1.0.0 is sealed: its files cannot be added, replaced or deleted"
            ), name
    assert _state(app) == before


def test_only_an_owner_deletes_a_sealed_version(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    assert _seal(client, world, project).status_code == 200
    before = _state(app)
    for user in ("reporter", "maintainer"):
        refused = client.delete(f"{_api(project)}/ml/models/fraud/versions/1.0.0", headers=world.headers(user))
        assert refused.status_code == 403
        assert refused.get_json()["message"] == "403 Forbidden - model version fraud 1.0.0 is sealed: only an Owner may delete it"
    mlflow = _mlflow(client, world, project, "maintainer", "DELETE", "model-versions/delete", {"name": "fraud", "version": "1"})
    assert mlflow.status_code == 403 and mlflow.get_json()["error_code"] == "PERMISSION_DENIED"
    assert client.delete(f"{_api(project)}/ml/models/fraud", headers=world.headers("maintainer")).status_code == 403  # the model with it
    assert _state(app) == before
    assert client.delete(f"{_api(project)}/ml/models/fraud/versions/1.0.0", headers=world.headers("owner")).status_code == 204
    # The name is free again: the Owner may publish other files as the same version, unsealed.
    assert client.put(generic_url(project, "fraud", "1.0.0", "model.onnx"), data=b"v2", headers=world.headers("developer")).status_code == 201


def test_the_mlflow_tag_seals_and_is_never_lifted(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    def tag(user: str, value: str) -> Any:
        return _mlflow(client, world, project, user, "POST", "model-versions/set-tag", {"name": "fraud", "version": "1", "key": "modelshelf.sealed", "value": value})

    # The tag is a Maintainer's to set, whatever its value; on a version not sealed "false" is an
    # ordinary value, and anything but true/false is refused.
    assert tag("developer", "false").status_code == 403
    assert tag("maintainer", "false").status_code == 200
    bad = tag("maintainer", "yes")
    assert bad.status_code == 400 and bad.get_json()["error_code"] == "INVALID_PARAMETER_VALUE"
    refused = tag("developer", "true")  # sealing takes a Maintainer
    assert refused.status_code == 403 and refused.get_json()["error_code"] == "PERMISSION_DENIED"
    assert tag("maintainer", "TRUE").status_code == 200
    version = client.get(f"{_api(project)}/ml/models/fraud/versions/1.0.0", headers=world.headers("owner")).get_json()
    assert version["sealed"] is True
    for attempt in (
        tag("owner", "false"),
        _mlflow(client, world, project, "owner", "DELETE", "model-versions/delete-tag", {"name": "fraud", "version": "1", "key": "modelshelf.sealed"}),
    ):
        assert attempt.status_code == 403
        body = attempt.get_json()
        assert body["error_code"] == "PERMISSION_DENIED" and "a seal is never lifted" in body["message"]
    got = _mlflow(client, world, project, "guest", "GET", "model-versions/get?name=fraud&version=1", {}).get_json()
    assert {"key": "modelshelf.sealed", "value": "true"} in got["model_version"]["tags"]
    with app.app_context():
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.event_name == "model_version_sealed")) == 1


def test_the_version_page_seals_after_its_dialog_and_shows_the_badge(app: Flask, client: FlaskClient, world: World, project: int) -> None:
    version = client.get(f"{_api(project)}/ml/models/fraud/versions/1.0.0", headers=world.headers("owner")).get_json()
    page = f"/acme/private/-/ml/models/{version['model_id']}/versions/{version['id']}"
    signed_in(app, client, "developer")
    assert 'data-testid="seal-version"' not in client.get(page).text  # Maintainers only
    token = signed_in(app, client, "maintainer")
    html = client.get(page).text
    assert 'data-testid="seal-version"' in html and 'data-confirm-title="Seal model version?"' in html
    assert 'data-testid="version-sealed"' not in html
    sealed = client.post(f"{page}/seal", data={"csrf_token": token})
    assert sealed.status_code == 302
    html = client.get(sealed.headers["Location"]).text
    assert "Model version 1.0.0 sealed" in html and 'data-testid="version-sealed"' in html
    assert 'data-testid="seal-version"' not in html
    artifacts = client.get(f"{page}?tab=artifacts").text
    assert 'data-testid="delete-artifacts"' not in artifacts  # no file controls on a sealed version
    signed_in(app, client, "developer")
    assert client.post(f"{page}/seal", data={"csrf_token": signed_in(app, client, "developer")}).status_code == 403
    # Deleting it from the page: refused for a Maintainer on the 403 page, which says why.
    token = signed_in(app, client, "maintainer")
    refused = client.post(f"{page}/delete", data={"csrf_token": token})
    assert refused.status_code == 403 and "is sealed: only an Owner may delete it" in refused.text
