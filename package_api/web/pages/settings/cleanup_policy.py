"""Settings > Packages and registries: the **Cleanup policy** section (docs/cleanup.md), what its form
shows and takes, and **Dry run** (``?dry_run=1``): what a run of the saved policy would remove now.
The views are ``package_registry``'s, whose page this section is part of."""
from __future__ import annotations

from typing import Any

from flask import request

from package_api import services
from package_api.access.models import Project
from package_api.packages.cleanup_policies import CADENCES, CleanupPolicyService, policy_json
from package_api.web.pages.context import actor

#: GitLab's choices in its form (the API takes any value in range).
KEEP_N = (1, 5, 10, 25, 50, 100)
OLDER_THAN = ("7d", "14d", "30d", "60d", "90d")
FIELDS = ("cadence", "keep_n", "older_than", "name_regex_delete", "name_regex_keep", "package_name_regex")


def policies() -> CleanupPolicyService:
    return services.cleanup_policy_service(actor=actor())


def submitted() -> dict[str, Any]:
    """The form's fields as ``CleanupPolicyService.update`` takes them."""
    values: dict[str, Any] = {name: request.form.get(name, "").strip() for name in FIELDS}
    values["enabled"] = request.form.get("enabled") in ("1", "on", "true")
    return values


def context(project: Project, values: dict[str, Any] | None = None, *, dry_run: bool = False) -> dict[str, Any]:
    """The section's template variables: the form's ``cleanup`` values (the saved policy unless
    ``values``), its choices, and with ``dry_run`` the run's report (``cleanup_dry_run``)."""
    if values is None:
        values = {key: ("" if value is None else value) for key, value in policy_json(policies().get(project)).items()}
    keep_n = sorted({*KEEP_N, *([int(values["keep_n"])] if str(values.get("keep_n", "")).isdigit() else [])})
    older = list(OLDER_THAN)
    if values.get("older_than") and values["older_than"] not in OLDER_THAN:
        older.append(values["older_than"])
    report = services.cleanup_service().run(policies().get(project), dry_run=True) if dry_run else None
    return {
        "cleanup": values, "cadences": list(CADENCES), "keep_n_choices": keep_n, "older_than_choices": older,
        "cleanup_dry_run": report,
    }
