"""``ProjectSettingsService`` on its own: every input is checked before anything changes, a setting
set to what it already is changes nothing and records nothing, and each change is one audit event."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from package_api.access.models import FeatureAccess, Project, Visibility
from package_api.access.policy import Policy, rules
from package_api.access.project_settings import ProjectSettingsService
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.errors import InvalidParameter


@pytest.fixture
def settings(settings):
    return {**settings, "PLUGINS": "all"}


@pytest.fixture
def service(app, world):  # type: ignore[no-untyped-def]
    with app.app_context():
        yield ProjectSettingsService(db.session, Policy(db.session, rules(app))), db.session.get(Project, world.projects["private"])


def _events(project: Project) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.project_id == project.id).order_by(AuditEvent.id))
    return [(e.event_name, e.details) for e in rows if e.event_name.startswith("project_") and e.event_name != "project_created"]


def test_update_access_checks_every_value_before_changing_any(service):  # type: ignore[no-untyped-def]
    settings, project = service
    for features in ({"model_registry": "sometimes"}, {"wiki": "enabled"}):
        with pytest.raises(InvalidParameter):
            settings.update_access(project, visibility="public", features=features)
        assert project.visibility == Visibility.PRIVATE and _events(project) == []
    with pytest.raises(InvalidParameter) as raised:
        settings.update_access(project, visibility="secret", features={"model_registry": "disabled"})
    assert raised.value.param == "visibility"
    assert settings.policy.feature_levels(project)["model_registry"] == FeatureAccess.ENABLED


def test_each_change_is_one_event_and_no_change_is_none(service):  # type: ignore[no-untyped-def]
    settings, project = service
    changed = settings.update_access(
        project, visibility="internal", features={"model_registry": "private", "package_registry": "enabled"}
    )
    assert changed == ["visibility", "model_registry"]
    assert settings.update_access(project, visibility="internal", features={"model_registry": "private"}) == []
    assert settings.update_description(project, "  Fraud models\r\n") is True
    assert settings.update_description(project, "Fraud models") is False
    assert settings.update_duplicates(project, allowed=False, exception_regex="-rc") is True
    assert settings.update_duplicates(project, allowed=False, exception_regex="-rc") is False
    db.session.commit()
    assert [name for name, _ in _events(project)] == [
        "project_visibility_updated",
        "project_feature_access_level_updated",
        "project_description_updated",
        "project_package_settings_updated",
    ]
    assert '"from": "private", "to": "internal"' in _events(project)[0][1]
    assert '"feature": "model_registry"' in _events(project)[1][1]
    assert project.description == "Fraud models" and project.generic_duplicate_exception_regex == "-rc"


def test_limits_are_checked(service):  # type: ignore[no-untyped-def]
    settings, project = service
    with pytest.raises(InvalidParameter) as raised:
        settings.update_description(project, "x" * 2001)
    assert raised.value.param == "description"
    with pytest.raises(InvalidParameter) as raised:
        settings.update_duplicates(project, allowed=False, exception_regex="[")
    assert raised.value.param == "generic_duplicate_exception_regex"
    assert project.generic_duplicates_allowed is True  # the valid half is not kept either
