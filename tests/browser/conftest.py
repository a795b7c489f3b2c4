"""Real-browser fixtures: Debian's headless Chromium driven by Playwright.

The fixtures ``browser``, ``page`` and ``screenshot`` for every test in this folder; ``sign_in``,
the one way its tests sign in through the form; and ``follow``, the one way they click a link or
submit a form before acting on the page it leads to. Playwright's
own browser download is never used: ``apt-get install chromium`` provides ``/usr/bin/chromium``.
Without it (or without the ``playwright`` package) the browser tests skip, unless
``MODELSHELF_TEST_REQUIRE_BROWSER`` is set, as CI sets it: then they fail.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import urlopen

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
#: Where the browser tests save screenshots of the main pages (for the README).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 15_000


def _unavailable(reason: str) -> None:
    if os.environ.get("MODELSHELF_TEST_REQUIRE_BROWSER"):
        pytest.fail(f"browser tests are required here: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session; closed (with its processes) at the end."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def _late_scripts_server(delay: float) -> Iterator[str]:
    """A server on 127.0.0.1 that answers ``?url=<a script>`` with that script ``delay`` seconds late;
    its address (stopped on leaving)."""

    class Late(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay)
            with urlopen(parse_qs(urlsplit(self.path).query)["url"][0], timeout=30) as answer:
                body, kind = answer.read(), answer.headers["Content-Type"]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Late)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def _new_page(browser: Browser, late: str | None) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    if late:
        through: str = late
        context.route(re.compile(r"\.js(\?.*)?$"), lambda route: route.continue_(url=f"{through}?{urlencode({'url': route.request.url})}"))
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def slow_scripts() -> Iterator[str | None]:
    """With ``MODELSHELF_TEST_SLOW_SCRIPTS_MS=800``, the address of a server on 127.0.0.1 that serves
    ``?url=<a script>`` that long late (the pages' scripts are sent through it: see ``page``); else None."""
    delay = int(os.environ.get("MODELSHELF_TEST_SLOW_SCRIPTS_MS") or 0) / 1000
    if not delay:
        yield None
        return
    with _late_scripts_server(delay) as late:
        yield late


@pytest.fixture
def page(browser: Browser, slow_scripts: str | None) -> Iterator[Page]:
    """A fresh browser context (no cookies) and a page in it, 1280x800.

    With ``MODELSHELF_TEST_SLOW_SCRIPTS_MS`` set, the page's scripts come that late, the HTML and the
    stylesheets on time: a test that acts on a page before its deferred scripts ran (see ``follow``)
    then fails every time rather than once in a while on a loaded machine."""
    yield from _new_page(browser, slow_scripts)


@pytest.fixture
def late_scripts_page(browser: Browser) -> Iterator[Page]:
    """Like ``page``, with every script of every page 1.5 s late whatever the environment says: for
    tests of what a user can do before a page's scripts ran."""
    with _late_scripts_server(1.5) as late:
        yield from _new_page(browser, late)


def save_screenshot(page: Page, name: str, directory: Path = SCREENSHOTS) -> Path:
    """Save the viewport as ``<directory>/<name>.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture
def screenshot(page: Page, tmp_path: Path) -> Callable[[str], Path]:
    """``screenshot("package-list")`` saves the page's viewport: under ``docs/screenshots/`` when
    ``MODELSHELF_UPDATE_SCREENSHOTS=1`` (to refresh the README's pictures), else in the test's
    temporary directory, so that a test run leaves the checkout as it found it."""
    directory = SCREENSHOTS if os.environ.get("MODELSHELF_UPDATE_SCREENSHOTS") else tmp_path / "screenshots"
    return lambda name: save_screenshot(page, name, directory)


def fill_sign_in(page: Page, username: str, password: str) -> None:
    """Fill the sign-in form the page shows and submit it."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in(
    page: Page, base_url: str, username: str, password: str, redirect_to: str = "",
    screenshot: Callable[[str], Path] | None = None,
) -> None:
    """Sign in through the form (coming back to ``redirect_to`` when given) and return once the page
    it leads to has run its deferred scripts (static/modelshelf.js: ``Modelshelf.fetch``, the
    confirm dialogs, the pages' handlers). The signed-in header shows while the document is still
    parsing; a test that acts then races the scripts (CI once saw ``Modelshelf is not defined``)."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/users/sign_in" + (f"?{urlencode({'redirect_to': redirect_to})}" if redirect_to else ""))
    expect(page.get_by_role("heading", name="Sign in to Modelshelf")).to_be_visible()
    if screenshot:
        screenshot("sign-in")
    fill_sign_in(page, username, password)
    if redirect_to:
        expect(page).to_have_url(base_url + redirect_to)
    expect(page.get_by_test_id("current-user")).to_contain_text(f"@{username}")
    page.wait_for_load_state("domcontentloaded")  # fires after the deferred scripts ran


def follow(page: Page, action: Callable[[], object], url: str | re.Pattern[str]) -> None:
    """Do ``action`` (a click on a link, a form's submit button, a confirm dialog's button), which makes
    the page navigate, and return once the page it leads to (its address ``url``, exact or a pattern)
    has been parsed and has run its deferred scripts and applied its stylesheets.

    Playwright waits for nothing after a click; ``goto`` and ``reload`` wait for ``load``, a click does
    not. A test that then reads the page once (``evaluate``, ``inner_text``, ``count``, computed styles)
    may read the old page or half of the new one, and a click on what a deferred script drives (the
    confirm dialogs of ``data-confirm`` forms, copy buttons, dialogs, drop zones) may come before the
    script: a delete form then submits unconfirmed. ``expect(...)`` retries and needs none of this.
    Waiting for the navigation that starts during ``action`` (not for ``url`` itself) also holds when
    the page comes back to its own address (a form re-rendered, a filter at the same URL); no other
    navigation matching ``url`` may still be under way then (follow that one too, or expect something
    only its page shows)."""
    with page.expect_navigation(url=url, wait_until="domcontentloaded"):  # after the deferred scripts ran
        action()
