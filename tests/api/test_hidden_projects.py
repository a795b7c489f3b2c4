"""A private project the caller cannot see is answered exactly as a project that does not exist, on
every ``/api/v4`` route whose URL names a project, for every method, anonymously and as a signed-in
outsider (GitLab's rule: a hidden project is a 404, never a 401 or 403 that would tell it exists).

The routes come from the app's URL map (every plugin loaded), as in ``tests/unit/test_structure.py``,
so that a route added later is walked too. The project is named both by its path and by its id.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from package_api import create_app
from package_api.db import db
from tests.support.world import World

# A value for each other URL argument, so that the request reaches the handler.
ARGUMENTS = {"package_version": "1.0.0", "version_ref": "1.0.0", "file_path": "file.bin"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MISSING_ID = 987654
PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")


@pytest.fixture
def app(settings: dict[str, object]) -> Iterator[Flask]:
    app = create_app({**settings, "PLUGINS": "all"})
    app.config["TESTING"] = True
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _project_rules(app: Flask) -> list[Rule]:
    return sorted(
        (r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v4/") and "<project:project_ref>" in r.rule),
        key=lambda r: r.rule,
    )


def _url(rule: Rule, project_ref: str) -> str:
    """The rule's URL with ``project_ref`` for the project and a plausible value for the rest."""

    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        if name == "project_ref":
            return project_ref
        return "1" if converter == "int" else ARGUMENTS.get(name, "x")

    return PLACEHOLDER.sub(value, rule.rule)


def _answer(client: FlaskClient, method: str, url: str, ref: str, headers: dict[str, str]) -> tuple[int, str]:
    """The status and body, with the project's ref as the URL spells it (an error page links
    back to its own address) put back as ``{ref}``."""
    response = client.open(url, method=method, headers=headers, json={} if method != "GET" else None)
    body = response.get_data(as_text=True)
    for spelling in {ref, ref.replace("%2F", "/")}:
        body = body.replace(f"/projects/{spelling}", "/projects/{ref}")
    return response.status_code, body


def test_every_project_route_answers_a_hidden_project_as_a_missing_one(app: Flask, world: World) -> None:
    client = app.test_client()
    rules = _project_rules(app)
    assert len(rules) > 50  # the walk reaches the whole API, not a handful of routes
    hidden_id = world.projects["private"]
    pairs = [("acme%2Fprivate", "acme%2Fmissing"), (str(hidden_id), str(MISSING_ID))]
    callers = {"anonymous": {}, "outsider": world.headers("outsider")}
    differing: list[str] = []
    asked = 0
    for rule in rules:
        for method in METHODS:
            if method not in (rule.methods or ()):
                continue
            for who, headers in callers.items():
                for hidden, missing in pairs:
                    seen = _answer(client, method, _url(rule, hidden), hidden, headers)
                    unknown = _answer(client, method, _url(rule, missing), missing, headers)
                    asked += 1
                    if seen != unknown:
                        differing.append(f"\n  {method} {rule.rule} as {who} ({hidden}): {seen[0]} {seen[1][:200]!r} vs missing {unknown[0]} {unknown[1][:200]!r}")
    assert asked > 200
    assert not differing, "a hidden project answered unlike a missing one:" + "".join(differing)


def test_an_anonymous_finish_of_a_job_is_a_401_whether_or_not_the_project_exists(app: Flask, world: World) -> None:
    client = app.test_client()
    for ref in ("acme%2Fprivate", "acme%2Fmissing"):
        response = client.put(f"/api/v4/projects/{ref}/jobs/1", json={"status": "success"})
        assert response.status_code == 401, (ref, response.get_json())
    # a signed-in outsider gets the missing project's 404
    for ref in ("acme%2Fprivate", "acme%2Fmissing"):
        response = client.put(f"/api/v4/projects/{ref}/jobs/1", json={"status": "success"}, headers=world.headers("outsider"))
        assert response.status_code == 404, (ref, response.get_json())
        assert response.get_json() == {"message": "404 Project Not Found"}
