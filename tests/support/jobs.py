"""Registering CI jobs in tests, through the service (``tests/api/test_jobs.py`` drives the API)."""
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
