"""A project's settings as its Maintainers and Owners change them: description, visibility, the
access level of each feature, and the duplicate-package policy.

Each method checks all of its input before it changes anything, so a mistake changes nothing; it
raises ``InvalidParameter`` naming the field. Every change is added to the audit trail in the same
session (``package_api.audit``), and each method commits its changes as one unit of work (``update``
makes several kinds of change at once, as the API's ``PUT /projects/:id`` does). Who may call what
is the policy's business (``Action.ADMIN_PROJECT``; a new visibility needs ``Action.OWN_PROJECT``,
``Policy.authorize_visibility``), asked before these run.
"""
from __future__ import annotations

from collections.abc import Mapping

from package_api import audit, names
from package_api.access.models import FeatureAccess, Project, Visibility
from package_api.access.policy import Policy
from package_api.access.projects import MAX_DESCRIPTION_LENGTH, parse_visibility
from package_api.db import DbSession
from package_api.errors import InvalidParameter
from package_api.identity import COMMAND_LINE, Actor
from package_api.transactions import unit_of_work


def feature_param(feature: str) -> str:
    """The form and API parameter of ``feature``'s access level (GitLab's ``*_access_level``)."""
    return f"{feature}_access_level"


def parse_feature_access(feature: str, value: str) -> FeatureAccess:
    try:
        return FeatureAccess(value)
    except ValueError:
        raise InvalidParameter(feature_param(feature), "does not have a valid value") from None


class ProjectSettingsService:
    def __init__(self, session: DbSession, policy: Policy, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.policy = policy
        self.actor = actor  # who makes the changes

    def update(
        self,
        project: Project,
        *,
        visibility: str | None = None,
        features: Mapping[str, str] | None = None,
        description: str | None = None,
        duplicates_allowed: bool | None = None,
        exception_regex: str | None = None,
    ) -> None:
        """Change what is given (``None``: leave it) in one unit of work: the visibility and feature
        access levels (``update_access``), the description, and the duplicate-package policy (a half
        not given stays as it is). Raise ``InvalidParameter``; then nothing changes."""
        with unit_of_work(self.session):
            self._access(project, visibility, features)
            if description is not None:
                self._description(project, description)
            if duplicates_allowed is not None or exception_regex is not None:
                self._duplicates(
                    project,
                    project.generic_duplicates_allowed if duplicates_allowed is None else duplicates_allowed,
                    project.generic_duplicate_exception_regex if exception_regex is None else exception_regex,
                )

    def update_description(self, project: Project, description: str) -> bool:
        """Set the description and commit; return whether it changed."""
        with unit_of_work(self.session):
            return self._description(project, description)

    def _description(self, project: Project, description: str) -> bool:
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
            actor=self.actor,
        )
        self.session.flush()
        return True

    def update_access(
        self, project: Project, *, visibility: str | None = None, features: Mapping[str, str] | None = None
    ) -> list[str]:
        """Set the visibility (when given) and the access level of each feature named in
        ``features`` (feature -> ``disabled``/``private``/``enabled``) and commit; return what changed."""
        with unit_of_work(self.session):
            return self._access(project, visibility, features)

    def _access(self, project: Project, visibility: str | None, features: Mapping[str, str] | None) -> list[str]:
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
                actor=self.actor,
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
                actor=self.actor,
            )
        self.session.flush()
        return changed

    def update_duplicates(self, project: Project, *, allowed: bool, exception_regex: str) -> bool:
        """Set whether generic packages may be published twice, and the names or versions
        (``exception_regex``) that are the exception, and commit; return whether anything changed."""
        with unit_of_work(self.session):
            return self._duplicates(project, allowed, exception_regex)

    def _duplicates(self, project: Project, allowed: bool, exception_regex: str) -> bool:
        regex = names.duplicate_exception_regex(exception_regex)  # checked before anything changes
        before = (project.generic_duplicates_allowed, project.generic_duplicate_exception_regex)
        project.generic_duplicates_allowed, project.generic_duplicate_exception_regex = allowed, regex
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
            actor=self.actor,
        )
        self.session.flush()
        return True
