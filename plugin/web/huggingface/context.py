"""Per-request wiring of the ``/hf`` surface: the repo a URL names, judged for the caller, and the
services (the route modules, reads and writes, ask here)."""
from __future__ import annotations

from package_api.plugin_api import NotFound, authorized_project, db
from plugin.huggingface.errors import RepoNotFound
from plugin.huggingface.repos import Repo, RepoRef, find_model
from plugin.huggingface.revisions import RevisionService


def repo(namespace: str, name: str, action: object) -> Repo:
    """The repo ``<namespace>/<name>`` if the caller may do ``action`` in its project: the project's
    roles, its hidden-is-missing rule and its audit apply as on every route. Raise ``RepoNotFound``
    (an unknown or hidden project, an unknown model), ``Forbidden`` or ``Unauthorized``."""
    ref = RepoRef(namespace, name)
    try:
        project = authorized_project(str(ref.project_id), action)
    except NotFound:
        raise RepoNotFound(ref.repo_id) from None
    return find_model(db.session, project, ref)


def revision_services() -> RevisionService:
    return RevisionService(db.session)
