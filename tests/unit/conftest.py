"""Fixtures of the unit tests that work on the database session directly."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from package_api.db import db


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """The app's session, inside an app context."""
    with app.app_context():
        yield db.session  # type: ignore[misc]
