"""Settings > CI/CD: the project CI token (rotate it; the new one is shown once and the old one
stops working) and the CI jobs registered with it, newest first."""
from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from package_api.access.models import Project
from package_api.access.policy import Action
from package_api.web.api.context import base_url
from package_api.web.api.pagination import page_args
from package_api.web.pages.context import authorized_project, ci_token_services, job_services
from package_api.web.pages.forms import SHOWN_ONCE
from package_api.web.pages.settings.blueprint import PREFIX, bp, page

CI_CD = f"{PREFIX}/ci_cd"


def _ci_cd(project: Project, **context: Any) -> str:
    number, per_page = page_args(request.args)
    return page(
        "ci_cd.html",
        project,
        jobs=job_services().page_for(project, page=number, per_page=per_page),
        has_ci_token=project.ci_token_digest is not None,
        base_url=base_url(),
        **context,
    )


@bp.get(CI_CD)
def ci_cd(namespace: str, project: str) -> ResponseReturnValue:
    return _ci_cd(authorized_project(namespace, project, Action.ADMIN_PROJECT))


@bp.post(f"{CI_CD}/ci_token")
def rotate_ci_token(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    replaced = found.ci_token_digest is not None
    secret = ci_token_services().rotate(found)
    return _ci_cd(found, new_token=secret, replaced=replaced), 201, SHOWN_ONCE
