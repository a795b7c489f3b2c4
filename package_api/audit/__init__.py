"""The audit trail: ``record`` a change in the transaction of the change, read a project's events back.
The table is ``models.AuditEvent``; the functions live in ``trail``."""
from __future__ import annotations

from package_api.audit.trail import (
    MAX_DETAILS,
    details_of,
    get,
    on_record,
    package_noun,
    page_for,
    record,
    register_package_noun,
)

__all__ = [
    "MAX_DETAILS",
    "details_of",
    "get",
    "on_record",
    "package_noun",
    "page_for",
    "record",
    "register_package_noun",
]
