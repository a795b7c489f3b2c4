"""What the Hugging Face surface finds missing, as the Hub names it (``plugin.web.huggingface.errors``
answers each with its ``X-Error-Code``, so the client raises its own exception)::

    NotFound (package_api.errors)
     ├── RepoNotFound       no such project or model, or the caller may not see it
     ├── RevisionNotFound   the model has no version, alias or commit of that name
     └── EntryNotFound      the revision has no such file
"""
from __future__ import annotations

from package_api.plugin_api import NotFound


class RepoNotFound(NotFound):
    def __init__(self, repo_id: str) -> None:
        super().__init__(f"Repository {repo_id}")
        self.repo_id = repo_id


class RevisionNotFound(NotFound):
    def __init__(self, revision: str, accepted: str = "") -> None:
        super().__init__(f"Revision {revision}")
        self.revision = revision
        #: What the repo's revisions are, for the message.
        self.accepted = accepted


class EntryNotFound(NotFound):
    def __init__(self, path: str, commit_id: str | None = None) -> None:
        super().__init__(f"Entry {path}")
        self.path = path
        #: The commit of the revision that lacks it, when one was resolved.
        self.commit_id = commit_id
