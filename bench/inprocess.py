"""A seeded Modelshelf app for the in-process benchmarks (``bench/mlflow_reads.py``,
``bench/mlflow_create.py``): SQLite in a directory of the caller's, blobs in memory, every plugin, a
private project with a developer whose token the calls send."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask.testing import FlaskClient

from package_api import create_app
from package_api.access.members import MemberService
from package_api.access.models import Role, Visibility
from package_api.access.projects import ProjectService
from package_api.access.tokens import TokenService
from package_api.access.users import UserService
from package_api.db import db


@dataclass(frozen=True)
class Seeded:
    client: FlaskClient
    token: str
    project_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def mlflow(self) -> str:
        """``/api/v4/projects/<id>/ml/mlflow``: MLflow's routes follow (``/api/2.0/mlflow/...``)."""
        return f"/api/v4/projects/{self.project_id}/ml/mlflow"


def seeded_app(directory: Path) -> Seeded:
    """The app, its project and the developer's token, made in ``directory``."""
    app = create_app(
        {
            "DATA_DIR": str(directory / "data"),
            "STORAGE": "memory",
            "SECRET_KEY": "bench",
            "PLUGINS": "all",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{directory}/bench.sqlite",
        }
    )
    with app.app_context():
        users = UserService(db.session)
        developer, owner = users.create("developer"), users.create("owner")
        project = ProjectService(db.session).create("acme/bench", owner, visibility=Visibility.PRIVATE)
        MemberService(db.session).add(project, developer, Role.DEVELOPER)
        token = TokenService(db.session).create(developer, "bench", ["api"])[1]
        project_id = project.id
        db.session.commit()
    return Seeded(app.test_client(), token, project_id)
