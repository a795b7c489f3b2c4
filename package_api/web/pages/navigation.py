"""Extension points of the pages: the project sidebar and the links shown on a package page.

Plugins extend the pages through two lists in ``app.extensions``; ``package_api`` renders
whatever they hold and knows nothing of who added it.

``app.extensions["modelshelf.project_nav"]``: ``list[NavEntry]``
    The project sidebar, in order, grouped by ``section`` (sections appear in the order of
    their first entry). ``package_api`` adds **Deploy > Package registry** before plugins load,
    shown to callers who may read its packages (a disabled or members-only feature is not offered
    to those it refuses: its pages would only say so).
    A plugin appends its own, e.g.::

        from package_api.web.pages import NavEntry, add_project_nav
        add_project_nav(app, NavEntry("Model registry", "model_registry_pages.index"))

    The URL is ``url_for(endpoint, namespace=project.namespace, project=project.path)`` unless
    ``url`` (a callable taking the ``Project``) says otherwise. The entry is highlighted on every
    page of the endpoint's blueprint, or of the blueprints listed in ``active_blueprints``, or where
    ``active()`` says so (two entries of one blueprint: each names its own pages), and shown only to callers for whom ``visible(project)`` is true, when given (**Manage > Settings**
    is for Maintainers: ``visible=lambda project: can(project, Action.ADMIN_PROJECT)``).

``app.extensions["modelshelf.package_links"]``: ``list[PackageLinkProvider]``
    Callables that take a ``Package`` and return ``PackageLink`` items (or ``(label, url)``
    tuples) to show on its package page, e.g. the model version a package is::

        from package_api.web.pages import PackageLink, add_package_links
        add_package_links(app, lambda package: [PackageLink("Model version 1.4.0", url)] if ... else [])

    They run inside the request (``url_for`` works) and may return nothing.

``app.extensions["modelshelf.registry_settings"]``: ``list[RegistrySettingsProvider]``
    Callables that take a ``Project`` and return ``SettingsLink`` items, shown on **Settings >
    Packages and registries** beside the protected packages (the page is for Maintainers: a
    provider need not ask again), e.g. the model registry's protected aliases::

        from package_api.web.pages import SettingsLink, add_registry_settings
        add_registry_settings(app, lambda project: [SettingsLink("Protected aliases", url, "Who may move ...")])
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import Flask, current_app, request, url_for

from package_api.access.models import Project
from package_api.access.policy import Action
from package_api.packages.models import Package
from package_api.web.pages.context import can

PROJECT_NAV = "modelshelf.project_nav"
PACKAGE_LINKS = "modelshelf.package_links"
REGISTRY_SETTINGS = "modelshelf.registry_settings"


@dataclass(frozen=True)
class NavEntry:
    """One item of the project sidebar."""

    label: str
    endpoint: str
    section: str = "Deploy"
    #: Builds the item's URL for a project; by default ``url_for(endpoint, namespace=..., project=...)``.
    url: Callable[[Project], str] | None = None
    #: Blueprints whose pages highlight this item; by default the endpoint's own blueprint.
    active_blueprints: tuple[str, ...] = ()
    #: Whether the caller sees this item in a project (asked inside the request); by default always.
    visible: Callable[[Project], bool] | None = None
    #: Whether this request's page is one of the item's (asked inside the request); by default, the
    #: pages of ``active_blueprints``.
    active: Callable[[], bool] | None = None

    def url_for(self, project: Project) -> str:
        if self.url is not None:
            return self.url(project)
        return url_for(self.endpoint, namespace=project.namespace, project=project.path)

    def is_active(self) -> bool:
        if self.active is not None:
            return self.active()
        blueprints = self.active_blueprints or (self.endpoint.rpartition(".")[0],)
        return request.endpoint == self.endpoint or request.blueprint in blueprints


@dataclass(frozen=True)
class PackageLink:
    """A link shown on a package page."""

    label: str
    url: str


PackageLinkProvider = Callable[[Package], Iterable["PackageLink | tuple[str, str]"]]


@dataclass(frozen=True)
class SettingsLink:
    """A settings page of a plugin, linked from Settings > Packages and registries."""

    label: str
    url: str
    description: str = ""


RegistrySettingsProvider = Callable[[Project], Iterable[SettingsLink]]


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


@dataclass(frozen=True)
class NavSection:
    title: str
    items: list[NavItem] = field(default_factory=list)


def add_project_nav(app: Flask, entry: NavEntry) -> None:
    """Append ``entry`` to the project sidebar."""
    app.extensions.setdefault(PROJECT_NAV, []).append(entry)


def add_package_links(app: Flask, provider: PackageLinkProvider) -> None:
    """Show the links ``provider`` returns for a package on its page."""
    app.extensions.setdefault(PACKAGE_LINKS, []).append(provider)


def add_registry_settings(app: Flask, provider: RegistrySettingsProvider) -> None:
    """Link the settings pages ``provider`` returns for a project from Settings > Packages and registries."""
    app.extensions.setdefault(REGISTRY_SETTINGS, []).append(provider)


def registry_settings(project: Project) -> list[SettingsLink]:
    """Every settings link the providers return for ``project``."""
    return [link for provider in current_app.extensions.get(REGISTRY_SETTINGS, []) for link in provider(project) or ()]


def project_nav(project: Project) -> list[NavSection]:
    """The sidebar of ``project``'s pages, for the base template."""
    sections: dict[str, NavSection] = {}
    for entry in current_app.extensions.get(PROJECT_NAV, []):
        if entry.visible is not None and not entry.visible(project):
            continue
        section = sections.setdefault(entry.section, NavSection(entry.section))
        section.items.append(NavItem(entry.label, entry.url_for(project), entry.is_active()))
    return list(sections.values())


def project_home(project: Project) -> str:
    """Where ``/<namespace>/<project>`` leads: the first sidebar item the caller sees (or, when
    they see none, the first one, whose page says why it is closed to them)."""
    entries = current_app.extensions.get(PROJECT_NAV, [])
    shown = [entry for entry in entries if entry.visible is None or entry.visible(project)]
    first = (shown or entries or [None])[0]
    return first.url_for(project) if first is not None else url_for("project_pages.index")


def package_links(package: Package) -> list[PackageLink]:
    """Every link the providers return for ``package``."""
    links = []
    for provider in current_app.extensions.get(PACKAGE_LINKS, []):
        for link in provider(package) or ():
            links.append(link if isinstance(link, PackageLink) else PackageLink(*link))
    return links


def register(app: Flask) -> None:
    app.extensions.setdefault(PROJECT_NAV, [])
    app.extensions.setdefault(PACKAGE_LINKS, [])
    add_project_nav(
        app, NavEntry("Package registry", "package_pages.index", visible=lambda project: can(project, Action.READ_PACKAGE))
    )
    app.jinja_env.globals.update(project_nav=project_nav)
