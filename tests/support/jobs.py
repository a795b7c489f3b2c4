"""Registering CI jobs in tests: through the service (``register_job``), or through a live server's API as
CI does (``register_live_job``; ``tests/api/test_jobs.py`` drives that API in depth)."""
from __future__ import annotations

from flask import Flask

from package_api.access.ci_jobs import JobService
from package_api.access.models import Project
from package_api.db import db


def register_job(app: Flask, project_id: int, username: str, external_id: str, **metadata: str) -> tuple[int, str]:
    """Register a running job of ``project_id`` triggered by ``username``; return its id and token."""
    with app.app_context():
        project = db.session.get(Project, project_id)
        assert project is not None
        job, token = JobService(db.session).register(project, {"user": username, "job_id": external_id, **metadata})
        db.session.commit()
        return job.id, token


def register_live_job(api: str, project_id: int, maintainer_token: str, username: str, external_id: str) -> tuple[int, str]:
    """Register a running job of ``project_id`` on a live server (``api``: its ``/api/v4`` URL) as CI
    does: a Maintainer rotates the project's CI token, CI registers the job with it. Return the
    job's id and token."""
    import requests

    project = f"{api}/projects/{project_id}"
    rotated = requests.post(f"{project}/ci_token", headers={"PRIVATE-TOKEN": maintainer_token}, timeout=30)
    assert rotated.status_code == 201, rotated.text
    registered = requests.post(
        f"{project}/jobs",
        json={"user": username, "job_id": external_id},
        headers={"CI-TOKEN": rotated.json()["token"]},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    return int(registered.json()["id"]), str(registered.json()["token"])
