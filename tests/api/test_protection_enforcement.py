"""Protection rules on every path that writes or deletes a package, table-driven: each path is tried
by a Maintainer under a rule that asks for an Owner (refused: a 403 in the surface's own shape that
names the rule, and nothing changed: packages, files, seals and the audit trail as they were), then by
the Owner (allowed). The paths: the generic ``PUT`` (a new package, another file), an upload by
digest, GitLab's ``ml_models`` files route, the REST model registry (create a version, delete a
version, its files, the model), MLflow (``model-versions/create`` and ``delete``, an artifact ``PUT``
and ``DELETE``), the packages API (delete a package, a file) and the pages (create and delete a
version)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.packages.models import Package, PackageFile
from tests.support.pages import signed_in
from tests.support.world import World, create_model, generic_url

MODEL = "fraud"
BYTES = b"model weights"


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


@dataclass
class Case:
    client: FlaskClient
    app: Flask
    world: World
    project: int
    state: dict[str, Any]

    @property
    def api(self) -> str:
        return f"/api/v4/projects/{self.project}"

    @property
    def mlflow(self) -> str:
        return f"{self.api}/ml/mlflow/api/2.0"

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.tokens[user]}"}

    def ok(self, response: Any) -> Any:
        assert response.status_code < 300, (response.status_code, response.get_data(as_text=True)[:500])
        return response

    def mlflow_call(self, user: str, method: str, endpoint: str, body: dict[str, Any]) -> Any:
        return self.client.open(f"{self.mlflow}/mlflow/{endpoint}", method=method, json=body, headers=self.auth(user))

    def version(self, version: str = "1.0.0", user: str = "owner") -> dict[str, Any]:
        response = self.client.post(f"{self.api}/ml/models/{MODEL}/versions", json={"version": version}, headers=self.world.headers(user))
        return self.ok(response).get_json()  # type: ignore[no-any-return]

    def upload(self, name: str = MODEL, version: str = "1.0.0", path: str = "a.bin", user: str = "owner", data: bytes = BYTES) -> Any:
        return self.client.put(generic_url(self.project, name, version, path), data=data, headers=self.world.headers(user))

    def run(self) -> tuple[str, str]:
        """An experiment and a run with one artifact, made by the Owner."""
        if "run" not in self.state:
            experiment = self.ok(self.mlflow_call("owner", "POST", "experiments/create", {"name": "exp"})).get_json()["experiment_id"]
            run = self.ok(self.mlflow_call("owner", "POST", "runs/create", {"experiment_id": experiment, "start_time": 1})).get_json()
            run_id = run["run"]["info"]["run_id"]
            self.ok(self.client.put(self.artifact(experiment, run_id, "model/w.bin"), data=BYTES, headers=self.auth("owner")))
            self.state["run"] = (experiment, run_id)
        return self.state["run"]  # type: ignore[no-any-return]

    def artifact(self, experiment: str, run_id: str, path: str) -> str:
        return f"{self.mlflow}/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts/{path}"

    def page(self, user: str, path: str, form: dict[str, str] | None = None) -> Any:
        token = signed_in(self.app, self.client, user)
        return self.client.post(f"/acme/private/-/ml/models/{path}", data={"csrf_token": token, **(form or {})})

    def model_id(self) -> int:
        return int(self.ok(self.client.get(f"{self.api}/ml/models/{MODEL}", headers=self.world.headers("owner"))).get_json()["id"])

    def package(self, name: str = MODEL, version: str = "1.0.0") -> tuple[int, list[int]]:
        with self.app.app_context():
            package = db.session.scalars(select(Package).where(Package.name == name, Package.version == version, Package.status == "default")).one()
            files = db.session.scalars(select(PackageFile.id).where(PackageFile.package_id == package.id, PackageFile.status == "default")).all()
            return package.id, list(files)


def _setup_version_with_file(case: Case) -> None:
    case.version()
    case.ok(case.upload())


# Each: (name, which rule, the pattern it protects, setup as the Owner, the attempt by ``user``).
Attempt = Callable[[Case, str], Any]
PUSH_CASES: list[tuple[str, str, Callable[[Case], None], Attempt]] = [
    ("generic PUT, new package", MODEL, lambda c: None, lambda c, u: c.upload(user=u)),
    ("generic PUT, another file", MODEL, lambda c: c.ok(c.upload()), lambda c, u: c.upload(path="b.bin", user=u)),
    (
        "upload by digest",
        MODEL,
        lambda c: c.ok(c.upload(name="free", version="1")),
        lambda c, u: c.client.put(
            generic_url(c.project, MODEL, "1.0.0", "x.bin") + f"?sha256={hashlib.sha256(BYTES).hexdigest()}",
            headers=c.world.headers(u),
        ),
    ),
    (
        "ml_models files PUT",
        MODEL,
        lambda c: c.state.update(version=c.version()),
        lambda c, u: c.client.put(
            f"{c.api}/packages/ml_models/{c.state['version']['id']}/files/w.bin", data=BYTES, headers=c.world.headers(u)
        ),
    ),
    (
        "REST create version",
        MODEL,
        lambda c: None,
        lambda c, u: c.client.post(f"{c.api}/ml/models/{MODEL}/versions", json={"version": "1.0.0"}, headers=c.world.headers(u)),
    ),
    (
        "MLflow model-versions/create",
        MODEL,
        lambda c: c.run(),
        lambda c, u: c.mlflow_call(u, "POST", "model-versions/create", {"name": MODEL, "source": f"runs:/{c.run()[1]}/model", "run_id": c.run()[1]}),
    ),
    (
        "MLflow artifact PUT",
        "ml_experiment_*",
        lambda c: c.run(),
        lambda c, u: c.client.put(c.artifact(*c.run(), "more.bin"), data=BYTES, headers=c.auth(u)),
    ),
    (
        "page: new version",
        MODEL,
        lambda c: c.state.update(model_id=c.model_id()),
        lambda c, u: c.page(u, f"{c.state['model_id']}/versions/new", {"version": "1.0.0", "description": ""}),
    ),
]

DELETE_CASES: list[tuple[str, str, Callable[[Case], None], Attempt]] = [
    (
        "packages API: delete package",
        MODEL,
        _setup_version_with_file,
        lambda c, u: c.client.delete(f"{c.api}/packages/{c.package()[0]}", headers=c.world.headers(u)),
    ),
    (
        "packages API: delete file",
        MODEL,
        _setup_version_with_file,
        lambda c, u: c.client.delete(f"{c.api}/packages/{c.package()[0]}/package_files/{c.package()[1][0]}", headers=c.world.headers(u)),
    ),
    (
        "REST delete version",
        MODEL,
        _setup_version_with_file,
        lambda c, u: c.client.delete(f"{c.api}/ml/models/{MODEL}/versions/1.0.0", headers=c.world.headers(u)),
    ),
    (
        "REST delete files",
        MODEL,
        _setup_version_with_file,
        lambda c, u: c.client.delete(f"{c.api}/ml/models/{MODEL}/versions/1.0.0/files/{c.package()[1][0]}", headers=c.world.headers(u)),
    ),
    (
        "REST delete model",
        MODEL,
        _setup_version_with_file,
        lambda c, u: c.client.delete(f"{c.api}/ml/models/{MODEL}", headers=c.world.headers(u)),
    ),
    (
        "MLflow model-versions/delete",
        MODEL,
        _setup_version_with_file,
        lambda c, u: c.mlflow_call(u, "DELETE", "model-versions/delete", {"name": MODEL, "version": "1"}),
    ),
    (
        "MLflow artifact DELETE",
        "ml_experiment_*",
        lambda c: c.run(),
        lambda c, u: c.client.delete(c.artifact(*c.run(), "model/w.bin"), headers=c.auth(u)),
    ),
    (
        "page: delete version",
        MODEL,
        lambda c: c.state.update(version=c.version(), model_id=c.model_id()),
        lambda c, u: c.page(u, f"{c.state['model_id']}/versions/{c.state['version']['id']}/delete"),
    ),
]


def _snapshot(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        packages = db.session.execute(select(Package.id, Package.name, Package.version, Package.status, Package.sealed_at).order_by(Package.id)).all()
        files = db.session.execute(select(PackageFile.id, PackageFile.status).order_by(PackageFile.id)).all()
        events = db.session.scalar(select(func.count(AuditEvent.id)))
        return (packages, files, events)


def _refused_in_its_shape(response: Any, pattern: str) -> None:
    assert response.status_code == 403, (response.status_code, response.get_data(as_text=True)[:500])
    if response.mimetype == "text/html":
        assert "protected by rule" in response.text and pattern in response.text  # the pages' 403 page
    elif "/ml/mlflow/" in response.request.path:
        body = response.get_json()
        assert body["error_code"] == "PERMISSION_DENIED" and pattern in body["message"]
    else:
        message = response.get_json()["message"]
        assert message.startswith("403 Forbidden - package protected by rule") and pattern in message


def _run(app: Flask, client: FlaskClient, world: World, setup: Callable[[Case], None], attempt: Attempt, pattern: str, action: str) -> None:
    project = world.projects["private"]
    case = Case(client, app, world, project, {})
    create_model(client, project, MODEL, world.headers("owner"))
    setup(case)
    rule = {"package_name_pattern": pattern, "package_type": "generic", f"minimum_access_level_for_{action}": "owner"}
    assert client.post(f"{case.api}/packages/protection/rules", json=rule, headers=world.headers("maintainer")).status_code == 201
    before = _snapshot(app)
    _refused_in_its_shape(attempt(case, "maintainer"), pattern)
    assert _snapshot(app) == before  # nothing changed, not even the audit trail
    allowed = attempt(case, "owner")
    assert allowed.status_code in (200, 201, 204, 302), (allowed.status_code, allowed.get_data(as_text=True)[:500])
    assert _snapshot(app) != before


@pytest.mark.parametrize(("name", "pattern", "setup", "attempt"), PUSH_CASES, ids=[c[0] for c in PUSH_CASES])
def test_a_push_rule_is_enforced_on_every_path_that_writes(
    app: Flask, client: FlaskClient, world: World, name: str, pattern: str, setup: Callable[[Case], None], attempt: Attempt
) -> None:
    _run(app, client, world, setup, attempt, pattern, "push")


@pytest.mark.parametrize(("name", "pattern", "setup", "attempt"), DELETE_CASES, ids=[c[0] for c in DELETE_CASES])
def test_a_delete_rule_is_enforced_on_every_path_that_deletes(
    app: Flask, client: FlaskClient, world: World, name: str, pattern: str, setup: Callable[[Case], None], attempt: Attempt
) -> None:
    _run(app, client, world, setup, attempt, pattern, "delete")


def test_a_rule_of_another_type_or_name_protects_nothing_here(app: Flask, client: FlaskClient, world: World) -> None:
    project = world.projects["private"]
    rules = f"/api/v4/projects/{project}/packages/protection/rules"
    for body in (
        {"package_name_pattern": "fraud", "package_type": "npm", "minimum_access_level_for_push": "admin"},
        {"package_name_pattern": "fraud-*", "package_type": "generic", "minimum_access_level_for_push": "admin"},
    ):
        assert client.post(rules, json=body, headers=world.headers("maintainer")).status_code == 201
    assert client.put(generic_url(project, "fraud", "1.0.0", "a.bin"), data=BYTES, headers=world.headers("developer")).status_code == 201


def test_renaming_a_model_cannot_evade_a_rule(app: Flask, client: FlaskClient, world: World) -> None:
    """Renaming takes the versions away from their name (a delete there) and pushes them under the
    new one: a rule on either side refuses it, and the model, its versions and the trail stay as they were."""
    project = world.projects["private"]
    case = Case(client, app, world, project, {})
    create_model(client, project, MODEL, world.headers("owner"))
    _setup_version_with_file(case)
    rules = f"{case.api}/packages/protection/rules"
    rule = client.post(rules, json={"package_name_pattern": MODEL, "package_type": "generic", "minimum_access_level_for_delete": "owner"}, headers=world.headers("maintainer")).get_json()
    before = _snapshot(app)
    refused = case.mlflow_call("maintainer", "POST", "registered-models/rename", {"name": MODEL, "new_name": "renamed"})
    assert refused.status_code == 403 and refused.get_json()["error_code"] == "PERMISSION_DENIED"
    assert _snapshot(app) == before
    assert client.get(f"{case.api}/ml/models/{MODEL}", headers=world.headers("owner")).status_code == 200
    client.delete(f"{rules}/{rule['id']}", headers=world.headers("maintainer"))
    client.post(rules, json={"package_name_pattern": "prod-*", "package_type": "generic", "minimum_access_level_for_push": "owner"}, headers=world.headers("maintainer"))
    into = case.mlflow_call("maintainer", "POST", "registered-models/rename", {"name": MODEL, "new_name": "prod-fraud"})
    assert into.status_code == 403 and "prod-*" in into.get_json()["message"]
    assert case.mlflow_call("owner", "POST", "registered-models/rename", {"name": MODEL, "new_name": "prod-fraud"}).status_code == 200
