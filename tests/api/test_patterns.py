"""User-supplied regular expressions run on RE2: a catastrophic pattern costs microseconds, what RE2
cannot compile is refused with its reason, and a pattern stored before (Python syntax) matches nothing."""
from __future__ import annotations

import logging
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from package_api.access.models import Project
from package_api.db import db
from package_api.patterns import MAX_PATTERN_LENGTH, stored_pattern_matches
from tests.support.world import World, generic_url

SETTING = "generic_duplicate_exception_regex"


def _set(client: FlaskClient, world: World, **settings: object) -> tuple[int, object]:
    r = client.put(f"/api/v4/projects/{world.projects['private']}", json=settings, headers=world.headers("maintainer"))
    return r.status_code, r.get_json()


@pytest.mark.parametrize("length", [27, 40])
def test_catastrophic_pattern_costs_under_10_ms_per_upload(client: FlaskClient, world: World, length: int) -> None:
    # Python's re takes ~11 s for 27 characters and doubles with each one more.
    assert _set(client, world, generic_duplicates_allowed=False, **{SETTING: "^(a|a)*$"})[0] == 200
    headers = world.headers("developer")
    name = "a" * length
    url = generic_url(world.projects["private"], name=name)
    assert client.put(url, data=b"warm", headers=headers).status_code == 201  # it matches: duplicates allowed
    rounds, started = 20, time.perf_counter()
    for _ in range(rounds):
        assert client.put(url, data=b"again", headers=headers).status_code == 201
    per_upload = (time.perf_counter() - started) / rounds
    # The pattern's own share of an upload: what duplicates_allowed evaluates (name, then version).
    started = time.perf_counter()
    for _ in range(rounds):
        assert stored_pattern_matches("^(a|a)*$", name, "1.0.0")
    per_match = (time.perf_counter() - started) / rounds
    print(
        f"^(a|a)*$ against {length} characters: {per_upload * 1000:.2f} ms per whole upload"
        f" (routing, auth, hashing, database), {per_match * 1e6:.1f} us for the pattern"
    )
    assert per_match < 0.010
    assert per_upload < 0.5  # generous for a shared 2-core machine; with Python's re it took 11 s at 27
    other = generic_url(world.projects["private"], name="a" * length + "b")
    assert client.put(other, data=b"1", headers=headers).status_code == 201
    assert client.put(other, data=b"2", headers=headers).status_code == 400  # no match: duplicates refused


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(unclosed", "missing ): (unclosed"),
        ("(?=lookahead)", "invalid perl operator: (?="),
        (r"(a)\1", r"invalid escape sequence: \1"),
        (r"-SNAPSHOT\Z", r"invalid escape sequence: \Z"),  # RE2 spells it \z
    ],
)
def test_patterns_re2_cannot_compile_are_refused_with_the_reason(
    client: FlaskClient, world: World, pattern: str, reason: str
) -> None:
    assert _set(client, world, **{SETTING: pattern}) == (400, {"error": f"{SETTING} not valid RE2 syntax: {reason}"})
    assert _set(client, world, generic_duplicates_allowed=True)[1][SETTING] == ""  # type: ignore[index]


def test_pattern_length_is_capped(client: FlaskClient, world: World) -> None:
    longest = "a" * MAX_PATTERN_LENGTH
    assert _set(client, world, **{SETTING: longest})[0] == 200
    status, body = _set(client, world, **{SETTING: longest + "a"})
    assert (status, body) == (400, {"error": f"{SETTING} is too long (maximum is {MAX_PATTERN_LENGTH} characters)"})


def test_a_stored_pattern_re2_refuses_matches_nothing_and_is_logged(
    app: Flask, client: FlaskClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Stored before patterns were checked with RE2 (Python's re accepted lookahead).
    with app.app_context():
        project = db.session.get(Project, world.projects["private"])
        assert project is not None
        project.generic_duplicates_allowed, project.generic_duplicate_exception_regex = False, "^(?!x)"
        db.session.commit()
    url = generic_url(world.projects["private"])
    headers = world.headers("developer")
    with caplog.at_level(logging.WARNING, logger="package_api.patterns"):
        assert client.put(url, data=b"first", headers=headers).status_code == 201
        r = client.put(url, data=b"second", headers=headers)  # the exception never applies
    assert (r.status_code, r.get_json()) == (400, {"message": "400 Bad request - Duplicate package is not allowed"})
    assert any("not valid RE2 syntax" in m and "matches nothing" in m for m in caplog.messages)
    # The project's settings can be saved again once the pattern is replaced.
    assert _set(client, world, **{SETTING: "^x"})[0] == 200
