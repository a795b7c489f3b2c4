"""Settings > General: the description; visibility and the access level of each feature; the
duplicate-package policy; and deleting the project (Owners only, after typing its path)."""
from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from package_api.access.models import FeatureAccess, Project, Visibility
from package_api.access.policy import Action, rules
from package_api.access.project_settings import feature_param
from package_api.web.pages.context import authorized_project, policy, principal, project_services, settings_services
from package_api.web.pages.forms import FormError, attempt
from package_api.web.pages.settings.blueprint import PREFIX, bp, page, tab_url

#: GitLab's words for the feature access levels.
FEATURE_LEVELS = (
    (FeatureAccess.DISABLED, "Disabled"),
    (FeatureAccess.PRIVATE, "Only project members"),
    (FeatureAccess.ENABLED, "Everyone with access"),
)
VISIBILITIES = (
    (Visibility.PRIVATE, "Private", "Only project members can see the project and its packages."),
    (Visibility.INTERNAL, "Internal", "Any signed-in user can see the project and its packages."),
    (Visibility.PUBLIC, "Public", "Anyone, signed in or not, can see the project and its packages."),
)


def _values(project: Project) -> dict[str, Any]:
    """What the forms show: the project's settings as they are."""
    return {
        "description": project.description,
        "visibility": project.visibility.value,
        "features": {name: level.value for name, level in policy().feature_levels(project).items()},
        "generic_duplicates_allowed": project.generic_duplicates_allowed,
        "generic_duplicate_exception_regex": project.generic_duplicate_exception_regex,
        "confirm_path": "",
    }


def _general(project: Project, *, form: str | None = None, error: FormError | None = None, **submitted: Any) -> str:
    """The General tab; after a failed post, ``form`` names the form the ``error`` and the
    ``submitted`` values belong to."""
    values = {**_values(project), **submitted}
    return page(
        "general.html",
        project,
        values=values,
        form=form,
        error=error,
        features=rules(current_app).features,
        feature_levels=FEATURE_LEVELS,
        visibilities=VISIBILITIES,
    )


def _saved(project: Project, changed: bool, message: str) -> ResponseReturnValue:
    flash(message if changed else "Nothing to save: the settings were already so.", "success" if changed else "info")
    return redirect(tab_url(project, "general"))


@bp.get(PREFIX)
def general(namespace: str, project: str) -> ResponseReturnValue:
    return _general(authorized_project(namespace, project, Action.ADMIN_PROJECT))


@bp.post(f"{PREFIX}/general")
def update_general(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    description = request.form.get("description", "")
    result = attempt(lambda: settings_services().update_description(found, description))
    if isinstance(result, FormError):
        return _general(found, form="general", error=result, description=description), result.status
    return _saved(found, result, "Project description saved.")


@bp.post(f"{PREFIX}/permissions")
def update_permissions(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    visibility = request.form.get("visibility")
    policy().authorize_visibility(principal(), found, visibility)  # Maintainers see it read-only
    features = {
        name: request.form[feature_param(name)] for name in rules(current_app).features if feature_param(name) in request.form
    }
    result = attempt(lambda: settings_services().update_access(found, visibility=visibility, features=features))
    if isinstance(result, FormError):
        submitted: dict[str, Any] = {"features": {**_values(found)["features"], **features}}
        if visibility is not None:
            submitted["visibility"] = visibility
        return _general(found, form="permissions", error=result, **submitted), result.status
    return _saved(found, bool(result), "Visibility and feature settings saved.")


@bp.post(f"{PREFIX}/packages")
def update_packages(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.ADMIN_PROJECT)
    allowed = request.form.get("generic_duplicates_allowed") in ("1", "on", "true")
    regex = request.form.get("generic_duplicate_exception_regex", "").strip()
    result = attempt(lambda: settings_services().update_duplicates(found, allowed=allowed, exception_regex=regex))
    if isinstance(result, FormError):
        submitted = {"generic_duplicates_allowed": allowed, "generic_duplicate_exception_regex": regex}
        return _general(found, form="packages", error=result, **submitted), result.status
    return _saved(found, result, "Package registry settings saved.")


@bp.post(f"{PREFIX}/delete")
def delete(namespace: str, project: str) -> ResponseReturnValue:
    found = authorized_project(namespace, project, Action.OWN_PROJECT)
    typed, full_path = request.form.get("confirm_path", "").strip(), found.full_path
    if typed != full_path:
        error = FormError(f"Type {full_path} to confirm.", "confirm_path")
        return _general(found, form="delete", error=error, confirm_path=typed), error.status
    project_services().delete(found)  # it records "project_deleted"
    flash(f"Project {full_path} deleted. Its files leave the store at the next modelshelf gc.", "success")
    return redirect(url_for("project_pages.index"))
