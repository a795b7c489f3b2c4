"""Repo ids: a Hugging Face repo is a model, named ``<project id>/<model name>``.

``huggingface_hub`` takes a repo id of two segments of ``[\\w\\-.]`` joined by one slash, so a project's
path (``team/fraud``) cannot be the namespace: its id is. A model whose name holds other characters (a
space, a ``+``) is out of the client's reach (``docs/huggingface.md``)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from package_api.plugin_api import DbSession, Project
from plugin.huggingface.errors import RepoNotFound
from plugin.registry.models import Model

#: A repo name the client accepts (``huggingface_hub``'s ``validate_repo_id``): ASCII letters, digits,
#: ``_``, ``-`` and ``.``, at most 96, starting and ending with a letter, digit or ``_``.
REPO_NAME = re.compile(r"(?=\w)[\w\-.]{1,96}(?<=\w)\Z", re.ASCII)


def reachable(name: str) -> bool:
    """Whether the client can name model ``name`` in a repo id (``docs/huggingface.md``)."""
    return bool(REPO_NAME.match(name)) and "--" not in name and ".." not in name and not name.endswith(".git")


@dataclass(frozen=True)
class RepoRef:
    """A repo id as the client sent it, before anything is looked up."""

    namespace: str
    name: str

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def project_id(self) -> int:
        """The project id the namespace is; raise ``RepoNotFound`` for any other namespace."""
        if not (self.namespace.isascii() and self.namespace.isdigit()) or len(self.namespace) > 18:
            raise RepoNotFound(self.repo_id)
        return int(self.namespace)


@dataclass(frozen=True)
class Repo:
    project: Project
    model: Model

    @property
    def repo_id(self) -> str:
        return repo_id(self.project, self.model)


def repo_id(project: Project, model: Model) -> str:
    """The repo id of ``model``: what ``HF_ENDPOINT`` users pass as ``repo_id``."""
    return f"{project.id}/{model.name}"


def find_model(session: DbSession, project: Project, ref: RepoRef) -> Repo:
    """The repo ``ref`` names in ``project`` (whose access the caller has been judged for); raise
    ``RepoNotFound``."""
    model = session.scalar(select(Model).where(Model.project_id == project.id, Model.name == ref.name))
    if model is None:
        raise RepoNotFound(ref.repo_id)
    return Repo(project, model)
