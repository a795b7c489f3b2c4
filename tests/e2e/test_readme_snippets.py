"""Every shell and Python snippet of README.md, run in order, top to bottom, as a newcomer on a fresh
machine would paste them into one terminal, against a fresh ``modelshelf serve``.

The snippets are read from README.md itself: each fenced block whose info string is ``sh`` (or
``bash``, ``shell``) or ``python`` (``py``), in the order they appear. They run as one bash script
(``set -euo pipefail``: a failing command or a variable no earlier snippet set stops it), a Python
block as ``python - <<'EOF'``, in an empty directory with an empty HOME. Three things stand in for
the newcomer:

- the block marked ``<!-- readme-snippets: skip (...) -->`` on the line before its fence is not run:
  it installs Modelshelf and runs ``modelshelf serve``, which the test starts itself instead, on
  127.0.0.1 on a free port, in that directory (``./modelshelf-data``, as the README says);
- the README's address, ``http://127.0.0.1:8080``, is that server's;
- what the README asks the newcomer to type (the password ``--password-stdin`` asks for) comes on
  the script's standard input.

Then the test checks what a newcomer would: the uploaded file came back, the model printed
``[2, 4, 6]``, and alice can sign in to the web UI with the password she typed.

The second test runs the members snippet of docs/access-control.md (which says it runs in the quick
start's shell) after the quick start, and checks that the quick start's ``$TOKEN`` still works.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.servers import Server, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MEMBERS_DOC = ROOT / "docs" / "access-control.md"
#: The marker of the one block that is not run (documented in docs/testing.md).
SKIP_MARKER = "<!-- readme-snippets: skip"
#: Where the README's server listens; the test's server listens elsewhere.
README_ADDRESS = "http://127.0.0.1:8080"
SHELL, PYTHON = ("sh", "bash", "shell"), ("python", "py")
FENCE = re.compile(r"^(?P<before>[^\n]*)\n```(?P<info>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
PASSWORD = "alice's first password"
#: An error body of the API (curl exits 0 on those): GitLab's ``message`` with a 4xx/5xx status, or Grape's ``error``.
REFUSED = re.compile(r'"message":"[45]\d\d |"error":')


@dataclass(frozen=True)
class Snippet:
    line: int
    language: str  # "sh" | "python"
    body: str
    skipped: bool


def snippets(path: Path) -> list[Snippet]:
    """The shell and Python blocks of ``path``, in order (other blocks are not snippets)."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        info = match.group("info").lower()
        if info not in SHELL + PYTHON:
            continue
        line = text.count("\n", 0, match.start("info")) + 1
        skipped = match.group("before").strip().startswith(SKIP_MARKER)
        found.append(Snippet(line, "python" if info in PYTHON else "sh", match.group("body"), skipped))
    return found


def script(blocks: list[Snippet], source: Path, server: Server) -> str:
    """One bash script of ``blocks``, each announced on stderr, the README's address replaced."""
    parts = ["set -euo pipefail"]
    for block in blocks:
        body = block.body.replace(README_ADDRESS, server.url)
        parts.append(f"echo '--- {source.name} line {block.line} ({block.language})' >&2")
        if block.language == "python":
            assert "README_PYTHON_EOF" not in body
            parts.append(f"python - <<'README_PYTHON_EOF'\n{body}README_PYTHON_EOF")
        else:
            parts.append(body)
    return "\n".join(parts) + "\n"


@dataclass
class Machine:
    """A fresh machine: an empty working directory and HOME, the ``modelshelf`` command and
    ``python`` of this checkout on the PATH, and a server started in that directory."""

    workdir: Path
    server: Server
    env: dict[str, str]

    def run(self, text: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        path = self.workdir.parent / f"snippets-{len(list(self.workdir.parent.glob('snippets-*')))}.sh"
        path.write_text(text, encoding="utf-8")
        return subprocess.run(
            ["bash", str(path)], cwd=self.workdir, env=self.env, input=stdin, capture_output=True, text=True, timeout=600
        )


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    workdir, home, bin_dir = tmp_path / "work", tmp_path / "home", tmp_path / "bin"
    for directory in (workdir, home, bin_dir):
        directory.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "modelshelf").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m package_api.ops.cli "$@"\n')
    (bin_dir / "modelshelf").chmod(0o755)
    data_dir = workdir / "modelshelf-data"
    data_dir.mkdir()
    server = start_server(data_dir, {"PLUGINS": "all"})
    try:
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            # The database, when it is not the SQLite file in ./modelshelf-data (the PostgreSQL run).
            **{k: v for k, v in server.env.items() if k.startswith("MODELSHELF_") and k != "MODELSHELF_DATA_DIR"},
            # This checkout's code, as the server runs it.
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            # A broken snippet must fail the test now, not after minutes of the MLflow client's retries.
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        yield Machine(workdir, server, env)
    finally:
        stop_server(server)


def test_the_readme_marks_exactly_the_block_that_installs_and_serves() -> None:
    blocks = snippets(README)
    skipped = [block for block in blocks if block.skipped]
    assert len(skipped) == 1 and blocks[0] is skipped[0], "only the README's first block is not run"
    assert "modelshelf serve" in skipped[0].body and "pip install" in skipped[0].body
    assert all("modelshelf serve" not in block.body for block in blocks if not block.skipped)
    assert any(README_ADDRESS in block.body for block in blocks if not block.skipped)
    assert {block.language for block in blocks if not block.skipped} <= {"sh", "python"}


def test_every_readme_snippet_runs_in_order_on_a_fresh_machine(machine: Machine) -> None:
    blocks = [block for block in snippets(README) if not block.skipped]

    result = machine.run(script(blocks, README, machine.server), stdin=PASSWORD + "\n")

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert not REFUSED.search(result.stdout), f"a snippet's request was refused:\n{result.stdout}"
    assert (machine.workdir / "downloaded.onnx").read_bytes() == b"weights\n"  # the quick start's round trip
    assert result.stdout.rstrip().endswith("[2, 4, 6]")  # the MLflow section's model, loaded by its alias
    browser = requests.Session()
    sign_in = browser.get(f"{machine.server.url}/users/sign_in", timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', sign_in.text)
    assert csrf is not None
    form = {"username": "alice", "password": PASSWORD, "csrf_token": csrf.group(1)}
    assert "@alice" in browser.post(f"{machine.server.url}/users/sign_in", data=form, timeout=30).text


def test_the_members_snippet_leaves_the_quick_starts_token_working(machine: Machine) -> None:
    quick_start = next(block for block in snippets(README) if "create-project" in block.body)
    [members] = [block for block in snippets(MEMBERS_DOC) if "add-member" in block.body]
    check = 'curl --silent --header "PRIVATE-TOKEN: $TOKEN" "$API/personal_access_tokens"\n'
    text = script([quick_start], README, machine.server) + script([members], MEMBERS_DOC, machine.server) + check

    result = machine.run(text, stdin=PASSWORD + "\n")

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert not REFUSED.search(result.stdout), f"a snippet's request was refused:\n{result.stdout}"
    # $TOKEN still answers; the laptop token was made, then revoked by itself.
    tokens = {token["name"]: token["revoked"] for token in json.loads(result.stdout.splitlines()[-1])}
    assert (tokens["cli"], tokens["laptop"]) == (False, True)  # (alice is an admin: she sees the bot's too)
