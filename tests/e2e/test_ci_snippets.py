"""The "Publishing from CI" snippets of docs/ci.md, run as the CI systems would run them, with bash, the
real curl and jq, against a live ``modelshelf serve``.

The snippets are read from docs/ci.md itself (the fenced blocks of that section), so what users copy
is what is tested. A small emulation of each runner runs them: GitLab CI joins ``script`` into one
shell with the job's ``variables`` and runs ``after_script`` in a second one with
``$CI_JOB_STATUS``; GitHub Actions substitutes ``${{ ... }}`` expressions, runs each step's ``run``
with ``bash -e`` and carries ``$GITHUB_ENV`` to later steps, skipping steps after a failure unless
they say ``if: always()``. The CI variables are the ones those systems set.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.servers import start_server, stop_server

pytestmark = pytest.mark.server

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "Publishing from CI"
GITLAB_BLOCK = ".gitlab-ci.yml"
GITHUB_BLOCK = ".github/workflows/publish-model.yml"
#: The project's training script, as the snippets call it (``python train.py``).
TRAIN_PY = """import os, sys
if os.environ.get("TRAINING_FAILS"):
    sys.exit("training diverged")
with open("model.onnx", "wb") as out:
    out.write(b"onnx weights from CI\\n")
"""
WEIGHTS = b"onnx weights from CI\n"
#: A merge request title no shell quoting mistake survives.
TITLE = """Recall "up" & 'away' $(touch pwned) `touch pwned` <b>"""
SHA = "0b3e5f4c2a1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


# -- the README ----------------------------------------------------------------------------------------


def readme_section(title: str) -> str:
    text = (README.parent / "docs" / "ci.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def fenced_blocks(section: str) -> list[tuple[str, str]]:
    """``(info string, body)`` of each fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)


def ci_files() -> dict[str, Any]:
    """The YAML blocks of the section, by the file name their first line names (``# .gitlab-ci.yml``)."""
    files = {}
    for info, body in fenced_blocks(readme_section(SECTION)):
        if info == "yaml":
            files[body.splitlines()[0].lstrip("#").strip()] = yaml.safe_load(body)
    assert set(files) == {GITLAB_BLOCK, GITHUB_BLOCK}
    return files


def shell_snippets() -> list[str]:
    return [body for info, body in fenced_blocks(readme_section(SECTION)) if info == "sh"]


# -- a live server and a workspace ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One ``modelshelf serve`` with the model registry for the module, stopped by its pid at the
    end: alice owns ``team/fraud``, bob is a Developer there (he pushes, so the CI jobs are his).
    Each test runs its own CI job (its own job id and version)."""
    data_dir = tmp_path_factory.mktemp("ci-snippets") / "data"
    data_dir.mkdir()
    server = start_server(data_dir, {"PLUGINS": "all"})
    try:
        server.cli_in_process("admin", "create-user", "alice")
        server.cli_in_process("admin", "create-user", "bob")
        project = int(server.cli_in_process("admin", "create-project", "team/fraud", "--owner", "alice"))
        server.cli_in_process("admin", "add-member", "team/fraud", "bob", "developer")
        token = server.cli_in_process("admin", "create-token", "--user", "alice", "--scopes", "api")
        yield {"server": server, "project": project, "token": token}
    finally:
        stop_server(server)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The job's checkout: the training script, and ``python`` on the PATH."""
    root = tmp_path / "checkout"
    (root / "bin").mkdir(parents=True)
    (root / "train.py").write_text(TRAIN_PY)
    (root / "bin" / "python").symlink_to(sys.executable)
    return root


def base_env(workspace: Path) -> dict[str, str]:
    path = f"{workspace / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return {"PATH": path, "HOME": os.environ.get("HOME", str(workspace)), "LANG": "C.UTF-8", "CI": "true"}


def bash(script: str, env: dict[str, str], cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    path = cwd.parent / f"step-{len(list(cwd.parent.glob('step-*')))}.sh"
    path.write_text(script)
    return subprocess.run(
        ["bash", *options, str(path)], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def rotate_ci_token(site: dict[str, Any], workspace: Path) -> str:
    """Run the README's CI token snippet as a Maintainer would."""
    [snippet] = [s for s in shell_snippets() if "/ci_token" in s]
    env = {**base_env(workspace), "TOKEN": site["token"], "API": site["server"].api, "PROJECT": str(site["project"])}
    result = bash(snippet, env, workspace, "-e")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["token"])


def api(site: dict[str, Any], path: str) -> Any:
    response = requests.get(
        f"{site['server'].api}/projects/{site['project']}{path}", headers={"PRIVATE-TOKEN": site["token"]}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def published(site: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The package ``fraud-detector`` ``version``, if it was published."""
    found = api(site, f"/packages?package_name=fraud-detector&package_version={version}")
    return found[0] if found else None


def job_of(site: dict[str, Any], external_id: str) -> dict[str, Any]:
    [job] = [j for j in api(site, "/jobs?per_page=100") if j["external_id"] == external_id]
    return dict(job)


def assert_dead(site: dict[str, Any], job_token: str) -> None:
    assert job_token.startswith("msjob-")
    url = f"{site['server'].api}/projects/{site['project']}/packages/generic/fraud-detector/9.9.9/late.bin"
    assert requests.put(url, data=b"late", headers={"JOB-TOKEN": job_token}, timeout=30).status_code == 401


# -- GitLab CI -----------------------------------------------------------------------------------------


def run_gitlab_job(job: dict[str, Any], env: dict[str, str], workspace: Path) -> tuple[str, str]:
    """Run ``job`` as GitLab Runner's bash shell does; return the job status and the value the
    script left in ``$MODELSHELF_JOB_TOKEN`` (read by a trap the emulation adds, to check it died)."""
    probe = workspace.parent / "job-token"
    variables = "".join(f'export {name}="{value}"\n' for name, value in job.get("variables", {}).items())
    script = "\n".join([*job.get("before_script", []), *job["script"]])
    trap = f"trap 'printf %s \"${{MODELSHELF_JOB_TOKEN:-}}\" > {probe}' EXIT\n"
    main = bash(variables + trap + script, env, workspace, "-e", "-o", "pipefail")
    status = "success" if main.returncode == 0 else "failed"
    after = bash(variables + "\n".join(job["after_script"]), {**env, "CI_JOB_STATUS": status}, workspace, "-e")
    assert after.returncode == 0, after.stdout + after.stderr
    return status, probe.read_text()


def gitlab_env(site: dict[str, Any], workspace: Path, ci_token: str, job_id: str, **extra: str) -> dict[str, str]:
    project_url = "https://gitlab.example.com/team/fraud"
    return {
        **base_env(workspace),
        # The project's CI/CD variables.
        "MODELSHELF_URL": site["server"].url,
        "MODELSHELF_PROJECT": str(site["project"]),
        "MODELSHELF_CI_TOKEN": ci_token,
        # What GitLab CI sets, in a merge request pipeline.
        "GITLAB_CI": "true",
        "GITLAB_USER_LOGIN": "bob",
        "CI_JOB_ID": job_id,
        "CI_JOB_NAME": "publish-model",
        "CI_JOB_URL": f"{project_url}/-/jobs/{job_id}",
        "CI_PIPELINE_ID": f"9{job_id}",
        "CI_PIPELINE_IID": job_id,
        "CI_PIPELINE_URL": f"{project_url}/-/pipelines/9{job_id}",
        "CI_PROJECT_URL": project_url,
        "CI_COMMIT_REF_NAME": "feature/recall",
        "CI_COMMIT_SHA": SHA,
        "CI_MERGE_REQUEST_IID": "12",
        "CI_MERGE_REQUEST_TITLE": TITLE,
        "CI_MERGE_REQUEST_PROJECT_URL": project_url,
        **extra,
    }


def test_the_gitlab_ci_snippet_publishes_with_provenance_and_ends_its_token(site, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    job = ci_files()[GITLAB_BLOCK]["publish-model"]
    env = gitlab_env(site, workspace, rotate_ci_token(site, workspace), "41")
    status, job_token = run_gitlab_job(job, env, workspace)
    assert status == "success"
    assert not (workspace / "pwned").exists()  # the title stayed text

    package = published(site, "1.4.41")
    assert package is not None
    files = api(site, f"/packages/{package['id']}/package_files")
    assert [f["file_name"] for f in files] == ["model.onnx"]
    [pipeline] = package["pipelines"]
    assert (pipeline["id"], pipeline["status"], pipeline["ref"], pipeline["sha"]) == (941, "success", "feature/recall", SHA)
    assert pipeline["web_url"] == "https://gitlab.example.com/team/fraud/-/pipelines/941"
    assert pipeline["user"]["username"] == "bob"

    registered = job_of(site, "41")
    assert (registered["name"], registered["status"], registered["ci_system"]) == ("publish-model", "success", "gitlab")
    assert registered["web_url"] == "https://gitlab.example.com/team/fraud/-/jobs/41"
    assert registered["merge_request"] == {
        "iid": 12,
        "title": TITLE,
        "web_url": "https://gitlab.example.com/team/fraud/-/merge_requests/12",
    }
    assert_dead(site, job_token)


def test_a_failing_gitlab_ci_job_is_marked_failed_and_publishes_nothing(site, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    job = ci_files()[GITLAB_BLOCK]["publish-model"]
    env = gitlab_env(site, workspace, rotate_ci_token(site, workspace), "42", TRAINING_FAILS="1")
    env.pop("CI_MERGE_REQUEST_IID"), env.pop("CI_MERGE_REQUEST_TITLE")  # a branch pipeline
    status, job_token = run_gitlab_job(job, env, workspace)
    assert status == "failed"
    assert published(site, "1.4.42") is None
    registered = job_of(site, "42")
    assert (registered["status"], registered["merge_request"]) == ("failed", None)
    assert_dead(site, job_token)


# -- GitHub Actions ------------------------------------------------------------------------------------


def substitute(text: str, context: dict[str, str]) -> str:
    """Replace ``${{ name }}`` expressions as the runner does before a step runs."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in context, f"the README uses ${{{{ {name} }}}}, which this emulation does not know"
        return context[name]

    return EXPRESSION.sub(value, text)


def exported(github_env: Path) -> dict[str, str]:
    values = {}
    for line in github_env.read_text().splitlines():
        name, separator, value = line.partition("=")
        assert separator and "<<" not in name, line
        values[name] = value
    return values


def run_github_job(job: dict[str, Any], env: dict[str, str], context: dict[str, str], workspace: Path) -> str:
    """Run the ``run`` steps of ``job`` as a GitHub-hosted runner does; return the job status."""
    github_env = workspace.parent / "github_env"
    github_env.touch()
    status = "success"
    for step in job["steps"]:
        if "run" not in step:
            continue  # ``uses: actions/checkout``: the workspace is the checkout
        condition = step.get("if")
        assert condition in (None, "always()"), condition
        if condition is None and status != "success":
            continue
        now = {**context, "job.status": status}
        step_env = {
            **env,
            **{k: substitute(str(v), now) for k, v in job.get("env", {}).items()},
            **exported(github_env),
            **{k: substitute(str(v), now) for k, v in step.get("env", {}).items()},
            "GITHUB_ENV": str(github_env),
        }
        result = bash(substitute(step["run"], now), step_env, workspace, "-e")
        if result.returncode != 0:
            status = "failure"
    return status


def test_the_github_actions_snippet_publishes_with_provenance_and_ends_its_token(site, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    workflow = ci_files()[GITHUB_BLOCK]
    job = workflow["jobs"]["publish-model"]
    ci_token = rotate_ci_token(site, workspace)
    env = {
        **base_env(workspace),
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "bob",
        "GITHUB_RUN_ID": "8123456789",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_RUN_NUMBER": "31",
        "GITHUB_JOB": "publish-model",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "team/fraud",
        "GITHUB_REF_NAME": "12/merge",
        "GITHUB_SHA": SHA,
    }
    context = {
        "vars.MODELSHELF_URL": site["server"].url,
        "vars.MODELSHELF_PROJECT": str(site["project"]),
        "secrets.MODELSHELF_CI_TOKEN": ci_token,
        "github.event.pull_request.number": "12",
        "github.event.pull_request.title": TITLE,
    }
    assert run_github_job(job, env, context, workspace) == "success"
    assert not (workspace / "pwned").exists()  # the title stayed text

    package = published(site, "1.4.31")
    assert package is not None
    [pipeline] = package["pipelines"]
    run_url = "https://github.com/team/fraud/actions/runs/8123456789"
    assert (pipeline["id"], pipeline["status"], pipeline["web_url"]) == (8123456789, "success", run_url)
    assert pipeline["user"]["username"] == "bob"
    registered = job_of(site, "8123456789-1-publish-model")
    assert registered["ci_system"] == "github"
    assert registered["merge_request"] == {"iid": 12, "title": TITLE, "web_url": "https://github.com/team/fraud/pull/12"}
    assert (registered["ref"], registered["sha"], registered["status"]) == ("12/merge", SHA, "success")
    download = requests.get(
        f"{site['server'].api}/projects/{site['project']}/packages/generic/fraud-detector/1.4.31/model.onnx",
        headers={"PRIVATE-TOKEN": site["token"]},
        timeout=30,
    )
    assert download.content == WEIGHTS
    assert_dead(site, exported(workspace.parent / "github_env")["MODELSHELF_JOB_TOKEN"])
