"""Files whose bytes a plugin's blob source rebuilds (``package_api.storage.sources``): the Hugging
Face API's Xet files, rebuilt from chunks kept once however many files share them. Recorded with the
same rows and pipeline as ``PackageService.upload``; the plugin has checked that the rebuilt bytes hash
to the SHA-256 it gives, and bytes stored already under that digest (by any upload) serve the file."""
from __future__ import annotations

from package_api import names
from package_api.access.models import Project, User
from package_api.packages.models import PackageFile, PackageStatus
from package_api.packages.service import PackageService
from package_api.transactions import committed


class RebuiltFiles:
    """Records files of a registered blob source. Reaches into ``packages`` for the steps ``upload``
    takes (its duplicate check and recording)."""

    def __init__(self, packages: PackageService) -> None:
        self.packages = packages

    def record(
        self,
        project: Project,
        name: str,
        version: str,
        path: str,
        *,
        sha256: str,
        size: int,
        storage_key: str,
        creator: User | None,
        status: PackageStatus | None = None,
    ) -> PackageFile:
        """Record ``name/version/path`` with the bytes the source rebuilds from ``storage_key``. Raises
        what ``upload`` raises before and after storing."""
        if not any(storage_key.startswith(prefix) for prefix in getattr(self.packages.storage, "sources", {})):
            raise ValueError(f"no blob source serves {storage_key!r}")  # a programming error
        name, version = names.package_name(name), names.package_version(version)
        path = names.file_path(path, spaces_in_name=True)
        project_id, creator_id = project.id, creator.id if creator else None
        self.packages.pipeline.check(project_id, name, version, self.packages.actor)
        self.packages._check_duplicate(project, name, version, [path])
        return committed(
            self.packages.session,
            lambda: self.packages._record(
                project_id, name, version, path, creator_id, None, status, sha256, key=storage_key, size=size, rebuilt=True
            ),
        )
