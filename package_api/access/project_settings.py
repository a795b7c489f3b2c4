"""A project's settings as its Maintainers and Owners change them: description, visibility, the
access level of each feature, and the duplicate-package policy.

Each method checks all of its input before it changes anything, so a mistake changes nothing; it
raises ``InvalidParameter`` naming the field. Every change is added to the audit trail in the same
session (``package_api.audit``); the caller commits. Who may call what is the policy's business
(``Action.ADMIN_PROJECT``; visibility needs ``Action.OWN_PROJECT``), asked before these run.
"""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from package_api import audit, names
from package_api.access.models import FeatureAccess, Project, Visibility
from package_api.access.policy import Policy
from package_api.access.projects import MAX_DESCRIPTION_LENGTH, ProjectService, parse_visibility
from package_api.errors import InvalidParameter


def feature_param(feature: str) -> str:
    """The form and API parameter of ``feature``'s access level (GitLab's ``*_access_level``)."""
    return f"{feature}_access_level"


def parse_feature_access(feature: str, value: str) -> FeatureAccess:
    try:
        return FeatureAccess(value)
    except ValueError:
        raise InvalidParameter(feature_param(feature), "does not have a valid value") from None


class ProjectSettingsService:
    def __init__(self, session: Session, policy: Policy) -> None:
        self.session = session
        self.policy = policy

    def update_description(self, project: Project, description: str) -> bool:
        """Set the description; return whether it changed."""
        description = description.replace("\r\n", "\n").strip()
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidParameter("description", f"is too long (maximum is {MAX_DESCRIPTION_LENGTH} characters)")
        if description == project.description:
            return False
        before, project.description = project.description, description
        audit.record(
            self.session,
            "project_description_updated",
            project=project,
            target_type="Project",
            target_id=project.id,
            target_details=project.full_path,
            details={"from": before, "to": description},
        )
        self.session.flush()
        return True

    def update_access(
        self, project: Project, *, visibility: str | None = None, features: Mapping[str, str] | None = None
    ) -> list[str]:
        """Set the visibility (when given) and the access level of each feature named in
        ``features`` (feature -> ``disabled``/``private``/``enabled``); return what changed."""
        wanted_visibility: Visibility | None = parse_visibility(visibility) if visibility is not None else None
        levels: dict[str, FeatureAccess] = {}
        for feature, value in (features or {}).items():
            if feature not in self.policy.rules.features:
                raise InvalidParameter(feature_param(feature), "is not a feature of this project")
            levels[feature] = parse_feature_access(feature, value)

        changed: list[str] = []
        if wanted_visibility is not None and wanted_visibility != project.visibility:
            before, project.visibility = project.visibility, wanted_visibility
            changed.append("visibility")
            audit.record(
                self.session,
                "project_visibility_updated",
                project=project,
                target_type="Project",
                target_id=project.id,
                target_details=project.full_path,
                details={"from": before.value, "to": wanted_visibility.value},
            )
        current = self.policy.feature_levels(project)
        for feature, level in levels.items():
            if current[feature] == level:
                continue
            self.policy.set_feature_access(project, feature, level)
            changed.append(feature)
            audit.record(
                self.session,
                "project_feature_access_level_updated",
                project=project,
                target_type="Project",
                target_id=project.id,
                target_details=project.full_path,
                details={"feature": feature, "from": current[feature].value, "to": level.value},
            )
        self.session.flush()
        return changed

    def update_duplicates(self, project: Project, *, allowed: bool, exception_regex: str) -> bool:
        """Set whether generic packages may be published twice, and the names or versions
        (``exception_regex``) that are the exception; return whether anything changed."""
        names.duplicate_exception_regex(exception_regex)  # checked before anything changes
        before = (project.generic_duplicates_allowed, project.generic_duplicate_exception_regex)
        ProjectService(self.session).update_package_settings(
            project, duplicates_allowed=allowed, exception_regex=exception_regex
        )
        after = (project.generic_duplicates_allowed, project.generic_duplicate_exception_regex)
        if after == before:
            return False
        audit.record(
            self.session,
            "project_package_settings_updated",
            project=project,
            target_type="Project",
            target_id=project.id,
            target_details=project.full_path,
            details={
                "generic_duplicates_allowed": allowed,
                "generic_duplicate_exception_regex": project.generic_duplicate_exception_regex,
            },
        )
        self.session.flush()
        return True
