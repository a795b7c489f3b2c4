"""Settings > Audit events: every change to the project, newest first, a page at a time."""
from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from ... import audit
from ...api.pagination import page_args
from ...db import db
from ...policy import Action
from ..context import authorized_project
from .blueprint import PREFIX, bp, page


@bp.get(f"{PREFIX}/audit_events")
def audit_events(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    number, per_page = page_args(request.args)
    events = audit.page_for(db.session, found, page=number, per_page=per_page)
    return page(
        "audit_events.html", found, events=events, details=[audit.details_of(event) for event in events.items]
    )
