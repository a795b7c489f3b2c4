"""Files and folders of the data directory, readable by the service's own user only.

The data directory holds password hashes and tokens' digests (the SQLite database), the key that
signs session cookies and every stored file: folders are made 0700 and files 0600, whatever the
umask of the process that runs the app (``modelshelf serve``, another WSGI server, a test). The modes
are given explicitly where each is made rather than by setting the process's umask, which would also
change the files of a host process that embeds the app. SQLite makes its ``-wal``, ``-shm`` and
``-journal`` files with the mode of the database file, so creating that file 0600 covers them.
Folders and files that exist already are tightened on start (``tighten``): the data directory to
0700 and what it holds directly (the database and its journals, ``secret_key``) to 0600, folders to
0700; older versions made them 0755 and 0644. Nothing deeper is walked (a store may hold millions of
blobs): with the data directory 0700 nobody else can reach them.
"""
from __future__ import annotations

import os
import stat

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(path: str) -> None:
    """Make ``path`` and any missing parent, each 0700 (``os.makedirs`` gives the parents the
    umask's mode); raise ``OSError`` as ``os.makedirs`` does."""
    path = os.path.abspath(path)
    missing: list[str] = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIRECTORY_MODE)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
            continue  # made meanwhile by another worker
        os.chmod(directory, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


def create_private_file(path: str) -> None:
    """Create ``path`` empty and 0600 if it does not exist (an SQLite database before SQLite
    opens it, so that it and its journals are private)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.fchmod(fd, FILE_MODE)
    os.close(fd)


def tighten(data_dir: str) -> None:
    """Take group and other permissions away from ``data_dir`` and what it holds directly (files
    0600, folders 0700), as older versions left them more open. A file the process cannot change
    (another owner) is left as it is: ``modelshelf serve`` should not fail to start over it."""
    _remove_group_and_other(data_dir, DIRECTORY_MODE)
    try:
        entries = list(os.scandir(data_dir))
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink():
            continue
        _remove_group_and_other(entry.path, DIRECTORY_MODE if entry.is_dir() else FILE_MODE)


def _remove_group_and_other(path: str, mode: int) -> None:
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
        if current & 0o077:
            os.chmod(path, current & mode)
    except OSError:
        pass
