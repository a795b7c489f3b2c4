"""Version aliases: a version string such as ``latest`` that names another package version.

``package_api`` knows no models, so it cannot say which version is the latest; a plugin that can
registers a resolver on the app, and downloads ask the resolvers when no package has the version
literally (a package published as version ``latest`` keeps answering to it, as in GitLab).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from package_api.access.models import Project
from package_api.packages.models import Package

#: ``resolve(project, name, version)``: the live package ``version`` stands for, or ``None``.
VersionResolver = Callable[[Project, str, str], "Package | None"]

EXTENSION = "modelshelf.version_resolvers"


def register_resolver(app: Flask, resolver: VersionResolver) -> None:
    """Let ``resolver`` answer for versions no package has (asked in registration order)."""
    app.extensions.setdefault(EXTENSION, []).append(resolver)


def resolvers(app: Flask) -> list[VersionResolver]:
    return list(app.extensions.get(EXTENSION, ()))
