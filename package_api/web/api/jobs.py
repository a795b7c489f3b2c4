"""CI jobs of external CI systems (``package_api.access.ci_jobs``) through ``/api/v4``.

- ``POST /projects/:id/ci_token`` (Maintainer): a new project CI token, answered once; the old one
  stops working (job tokens already issued keep theirs until their jobs finish).
- ``POST /projects/:id/jobs`` (the project CI token, and nothing else): register a running job with
  its metadata; the answer carries its job token, once.
- ``PUT /projects/:id/jobs/:job_id`` (the CI token, the job's own token, or a Maintainer): mark the
  job finished, which ends its token at once.
- ``GET /projects/:id/jobs[/:job_id]`` (Reporter, as GitLab's ``read_build``).

A job token acts with the triggering user's role in the job's project only. A triggering user who
is not a member of the project gets no role from it: the token then reads what the project's
visibility shows any signed-in user, and may publish nothing.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from package_api.access.models import Project
from package_api.access.policy import Action
from package_api.errors import InvalidParameter
from package_api.web.api import entities, pagination
from package_api.web.api.context import (
    authenticate_non_get,
    authorized_project,
    base_url,
    ci_token_services,
    job_services,
    policy,
    principal,
    project_services,
)

bp = Blueprint("jobs", __name__, url_prefix="/api/v4/projects/<project:project_ref>")


def _body() -> dict[str, Any]:
    """The request's parameters: a JSON object, or a form (``curl --data-urlencode``)."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else request.form.to_dict()


@bp.post("/ci_token")
def rotate_ci_token(project_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, Action.ADMIN_PROJECT)
    token = ci_token_services().rotate(project)
    return jsonify({"token": token}), 201


@bp.post("/jobs")
def register_job(project_ref: str) -> tuple[Response, int]:
    project = authorized_project(project_ref, Action.REGISTER_JOB)
    job, token = job_services().register(project, _body())
    return jsonify({**entities.job(job, base_url()), "token": token}), 201


def _finishing(project_ref: str, job_id: int) -> Project:
    """The project, if the caller may finish its job ``job_id`` (``Policy.authorize_job_finish``:
    the job's own token, the project's CI token, or a Maintainer). Raise otherwise: anonymous
    callers before the project is looked up, so that a hidden project answers as a missing one."""
    authenticate_non_get()
    caller = principal()
    project = project_services().get(project_ref)
    policy().authorize_job_finish(caller, project, job_id)
    return project


@bp.put("/jobs/<int:job_id>")
def finish_job(project_ref: str, job_id: int) -> Response:
    project = _finishing(project_ref, job_id)
    status = _body().get("status")
    if not status:
        raise InvalidParameter("status", "is missing")
    service = job_services()
    job = service.finish(service.get(project, job_id), str(status))
    return jsonify(entities.job(job, base_url()))


@bp.get("/jobs")
def list_jobs(project_ref: str) -> Response:
    project = authorized_project(project_ref, Action.READ_JOB)
    number, per_page = pagination.page_args(request.args)
    page = job_services().page_for(project, status=request.args.get("status"), page=number, per_page=per_page)
    root = base_url()
    return pagination.paginated([entities.job(j, root) for j in page.items], page, root)


@bp.get("/jobs/<int:job_id>")
def get_job(project_ref: str, job_id: int) -> Response:
    project = authorized_project(project_ref, Action.READ_JOB)
    return jsonify(entities.job(job_services().get(project, job_id), base_url()))
