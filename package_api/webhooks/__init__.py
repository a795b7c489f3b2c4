"""Webhooks that never lose an event (docs/webhooks.md).

- ``models``: the hooks, the outbox of events, deliveries and their attempts.
- ``outbox``: audit names -> webhook events (``register_event``); rows written in the change's
  transaction, fed by the audit trail.
- ``sending``: one signed POST to an address checked when it is sent.
- ``dispatcher``: claims due deliveries, retries with backoff persisted in the rows.
- ``service``: hooks, deliveries, Redeliver, Test.
"""
from __future__ import annotations

from flask import Flask

from package_api import audit
from package_api.webhooks import dispatcher, outbox

#: Our own events, from the core's audit names. A plugin that names packages differently (a model
#: version's ``model_version_created``) registers its names too: one line each.
PACKAGE_EVENTS = {
    "package_created": "package.created",
    "package_deleted": "package.deleted",
    "package_file_added": "package_file.created",
    "package_file_deleted": "package_file.deleted",
    "package_sealed": "package.sealed",
    "package_cleanup_run": "cleanup.run",
}


def register(app: Flask) -> None:
    """Feed the outbox from the audit trail and map the core's events."""
    audit.on_record(outbox.enqueue)
    for audit_name, event in PACKAGE_EVENTS.items():
        outbox.register_event(app, audit_name, event)


def start_dispatcher(app: Flask) -> None:
    """Start this process's dispatcher if ``WEBHOOK_DISPATCHER`` says so (``modelshelf serve``)."""
    if app.config["MODELSHELF"].get("WEBHOOK_DISPATCHER"):
        dispatcher.start(app)
