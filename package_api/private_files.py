"""Files and folders of the data directory, readable by the service's own user only.

The data directory holds password hashes and tokens' digests (the SQLite database), the key that
signs session cookies and every stored file: folders are made 0700 and files 0600, whatever the
umask of the process that runs the app (``modelshelf serve``, another WSGI server, a test). The modes
are given explicitly where each is made rather than by setting the process's umask, which would also
change the files of a host process that embeds the app. SQLite makes its ``-wal``, ``-shm`` and
``-journal`` files with the mode of the database file, so creating that file 0600 covers them.
Folders and files that exist already are left as the operator made them.
"""
from __future__ import annotations

import os

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
