"""Settings > Webhooks: the project's hooks (add one with its events and secret, delete one), and
the deliveries of the hook chosen (``?hook=<id>``) with every attempt and **Redeliver**. The same
hooks as MLflow's webhook API and ``/api/v4/projects/:id/hooks`` (docs/webhooks.md)."""
from __future__ import annotations

import json
from typing import Any

from flask import current_app, flash, redirect, request
from flask.typing import ResponseReturnValue

from package_api import services
from package_api.access.models import Project
from package_api.access.policy import Action
from package_api.web.pages.context import actor, authorized_project, current_user
from package_api.web.pages.forms import FormError, attempt
from package_api.web.pages.settings.blueprint import PREFIX, bp, page, tab_url
from package_api.webhooks import outbox
from package_api.webhooks.service import WebhookService

WEBHOOKS = f"{PREFIX}/webhooks"


def _service() -> WebhookService:
    return services.webhook_service(actor=actor())


def _page(project: Project, **context: Any) -> str:
    service = _service()
    hooks = service.of_project(project)
    chosen = None
    wanted = request.args.get("hook", type=int)
    if wanted is not None:
        chosen = next((h for h in hooks if h.id == wanted), None)
    deliveries = [(d, service.attempts(d)) for d in service.deliveries(chosen, per_page=50)] if chosen else []
    return page(
        "webhooks.html",
        project,
        hooks=[(h, json.loads(h.events or "[]")) for h in hooks],
        chosen=chosen,
        deliveries=deliveries,
        event_names=outbox.event_names(current_app),
        form=context.pop("form", {"events": []}),
        **context,
    )


@bp.get(WEBHOOKS)
def webhooks(namespace: str, project: str) -> ResponseReturnValue:
    return _page(authorized_project(namespace, project, Action.ADMIN_PROJECT))


@bp.post(WEBHOOKS)
def create_webhook(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    form: dict[str, Any] = {
        "name": request.form.get("name", "").strip(),
        "url": request.form.get("url", "").strip(),
        "secret": request.form.get("secret", ""),
        "description": request.form.get("description", "").strip(),
        "events": request.form.getlist("events"),
    }
    result = attempt(
        lambda: _service().create(
            found, name=form["name"], url=form["url"], events=form["events"], secret=form["secret"],
            description=form["description"], user=current_user(),
        )
    )
    if isinstance(result, FormError):
        form["secret"] = ""  # never sent back into the page
        return _page(found, form=form, error=result), result.status
    flash(f"Webhook {result.name} added.", "success")
    return redirect(tab_url(found, "webhooks", hook=result.id))


@bp.post(f"{WEBHOOKS}/<int:hook_id>/delete")
def delete_webhook(namespace: str, project: str, hook_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    service = _service()
    hook = service.get(found, hook_id)
    name = hook.name
    service.delete(hook)
    flash(f"Webhook {name} deleted.", "success")
    return redirect(tab_url(found, "webhooks"))


@bp.post(f"{WEBHOOKS}/<int:hook_id>/deliveries/<int:delivery_id>/redeliver")
def redeliver(namespace: str, project: str, hook_id: int, delivery_id: int) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    service = _service()
    hook = service.get(found, hook_id)
    row = service.redeliver(hook, service.delivery(hook, delivery_id))
    flash(f"Delivery {row.uuid} will be sent again.", "success")
    return redirect(tab_url(found, "webhooks", hook=hook.id))
