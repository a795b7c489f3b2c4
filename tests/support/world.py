"""What the shared fixtures of ``tests/conftest.py`` make, for tests to name: the seeded ``World``
(fixture ``world``), the upload limit of the test settings (fixture ``settings``), and the URL of a
file in the generic package registry."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field

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
