"""A model's storage use (``plugin.huggingface.storage_use``, the model and version pages' sizes) is
summed in the database: every file counted for the logical size, each blob once for the stored size,
over a query of the model's versions as over a list of packages."""
from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from package_api.db import db
from plugin.huggingface.storage_use import StorageUse, model_storage, storage_use, version_storage
from plugin.registry.models import Model, ModelVersion
from tests.support.world import World, create_model, generic_url


@pytest.fixture
def settings(settings: dict[str, object]) -> dict[str, object]:
    return {**settings, "PLUGINS": "all"}


def test_logical_size_counts_every_file_and_stored_size_each_blob_once(
    app: Flask, client: FlaskClient, world: World
) -> None:
    project = world.projects["private"]
    headers = world.headers("developer")
    create_model(client, project, "sized", headers)
    for version, files in [("1.0.0", {"a.bin": b"A" * 1000, "b.bin": b"B" * 10}), ("1.0.1", {"a.bin": b"A" * 1000}),
                           ("1.0.2", {"c.bin": b"C" * 7})]:  # fmt: skip
        for path, data in files.items():
            answer = client.put(generic_url(project, "sized", version, path), data=data, headers=headers)
            assert answer.status_code == 201, answer.get_data(as_text=True)
    with app.app_context():
        session = db.session
        model = session.scalars(select(Model).where(Model.project_id == project, Model.name == "sized")).one()
        versions = {v.version: v for v in session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id))}
        assert model_storage(session, model) == StorageUse(logical=2017, stored=1017)
        assert version_storage(session, versions["1.0.1"]) == StorageUse(logical=1000, stored=1000)
        packages = [versions["1.0.0"].package_id, versions["1.0.1"].package_id]
        assert storage_use(session, packages) == StorageUse(logical=2010, stored=1010)
        assert storage_use(session, []) == StorageUse(0, 0)
