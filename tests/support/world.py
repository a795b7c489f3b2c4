"""What the shared fixtures of ``tests/conftest.py`` make, for tests to name: the seeded ``World``
(fixture ``world``), the upload limit of the test settings (fixture ``settings``), the URL of a
file in the generic package registry, and a model made through the API."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from package_api.access.models import Role

MAX_FILE_SIZE = 1024 * 1024  # small, so that the size limit is cheap to hit


@dataclass
class World:
    """Users with tokens, and projects where they hold each role."""

    tokens: dict[str, str] = field(default_factory=dict)  # username -> api token
    read_tokens: dict[str, str] = field(default_factory=dict)  # username -> read_api token
    projects: dict[str, int] = field(default_factory=dict)  # "private" / "public" / "internal" -> id

    def headers(self, username: str, *, read_only: bool = False) -> dict[str, str]:
        token = (self.read_tokens if read_only else self.tokens)[username]
        return {"PRIVATE-TOKEN": token}

    def basic(self, username: str) -> dict[str, str]:
        raw = base64.b64encode(f"anything:{self.tokens[username]}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}


#: Roles held in every seeded project by the user of the same name.
MEMBERS = {"guest": Role.GUEST, "reporter": Role.REPORTER, "developer": Role.DEVELOPER, "maintainer": Role.MAINTAINER}


def generic_url(project: int | str, name: str = "pkg", version: str = "1.0.0", path: str = "file.bin") -> str:
    return f"/api/v4/projects/{project}/packages/generic/{name}/{version}/{path}"


def create_model(client: Any, project: int | str, name: str, headers: dict[str, str]) -> dict[str, Any]:
    """Make model ``name`` with ``POST /ml/models`` (as a team does before its uploads of
    ``name/<semantic version>`` become the model's versions); return the model's JSON."""
    response = client.post(f"/api/v4/projects/{project}/ml/models", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]
