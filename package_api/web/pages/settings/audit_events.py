"""Settings > Audit events: every change to the project, newest first, a page at a time."""
from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from package_api import audit
from package_api.access.policy import Action
from package_api.db import db
from package_api.web.api.pagination import page_args
from package_api.web.pages.context import authorized_project
from package_api.web.pages.settings.blueprint import PREFIX, bp, page


@bp.get(f"{PREFIX}/audit_events")
def audit_events(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    number, per_page = page_args(request.args)
    events = audit.page_for(db.session, found, page=number, per_page=per_page)
    return page(
        "audit_events.html", found, events=events, details=[audit.details_of(event) for event in events.items]
    )
