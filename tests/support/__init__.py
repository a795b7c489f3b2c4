"""Helpers the tests import (fixtures live in the ``conftest.py`` files):

- ``world``: what the shared fixtures make (the seeded ``World``), the test settings' upload limit,
  and the generic package URL;
- ``databases``: where a test's database lives (SQLite in its data directory, or a PostgreSQL schema);
- ``servers``: real servers on 127.0.0.1, SeaweedFS and ``modelshelf serve``;
- ``live_server``: accounts made with the CLI against a running server, and what its store holds on disk;
- ``pages``: signing a test client in, CSRF tokens off pages;
- ``jobs``: registering CI jobs through the service;
- ``storage``: payloads, digests, and what a test looks at to say "nothing was stored";
- ``permissions``, ``permission_requests``: the machinery and request builders of the permission matrix;
- ``imports``: the import graph of ``package_api`` and ``plugin``, read with ``ast``.
"""
