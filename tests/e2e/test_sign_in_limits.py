"""Against a running ``modelshelf serve`` with two workers: failed sign-ins are counted in the database
(every worker sees them) and lock with 429 and ``Retry-After``; ``admin unlock-user`` lifts the lock;
a session cookie copied before sign-out is refused after it; a hostile ``redirect_to`` is no 500."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.servers import Server, start_server, stop_server

pytestmark = [pytest.mark.server]

PASSWORD = "correct horse battery"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    running = start_server(data_dir, {"SIGN_IN_MAX_FAILURES": 3, "SIGN_IN_LOCK_SECONDS": 300}, workers=2, threads=2)
    try:
        running.cli("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
        yield running
    finally:
        stop_server(running)


def _sign_in(server: Server, password: str, browser: requests.Session | None = None) -> requests.Response:
    browser = browser or requests.Session()
    page = browser.get(f"{server.url}/users/sign_in", timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    form = {"username": "alice", "password": password, "csrf_token": csrf.group(1)}
    return browser.post(f"{server.url}/users/sign_in", data=form, allow_redirects=False, timeout=30)


def test_sign_in_limits_and_sessions_on_a_live_server(server: Server) -> None:
    answers = [_sign_in(server, "wrong password").status_code for _ in range(3)]
    assert answers == [401, 401, 429]  # a fresh connection each time: whichever worker, one count
    locked = _sign_in(server, PASSWORD)
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 300
    assert "Too many failed sign-in attempts" in locked.text

    server.cli("admin", "unlock-user", "alice")
    browser = requests.Session()
    assert _sign_in(server, PASSWORD, browser).status_code == 302
    copy = requests.Session()
    copy.cookies.update(browser.cookies)
    assert copy.get(f"{server.api}/user", timeout=30).json()["username"] == "alice"

    hostile = browser.get(
        f"{server.url}/users/sign_in?redirect_to=/%0d%0aSet-Cookie:%20pwned=1", allow_redirects=False, timeout=30
    )
    assert hostile.status_code == 302 and hostile.headers["Location"] in ("/", f"{server.url}/")
    assert "pwned" not in hostile.headers.get("Set-Cookie", "")

    csrf = re.search(r'name="csrf-token" content="([^"]+)"', browser.get(server.url, timeout=30).text)
    assert csrf
    browser.post(f"{server.url}/users/sign_out", data={"csrf_token": csrf.group(1)}, timeout=30)
    assert copy.get(f"{server.api}/user", timeout=30).status_code == 401
