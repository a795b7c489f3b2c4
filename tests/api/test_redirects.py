"""``MODELSHELF_S3_REDIRECT_DOWNLOADS``: a download is a 302 to a short-lived presigned URL of the S3
store (GitLab's direct download), and the redirect keeps ``X-Checksum-SHA256`` and ``ETag``."""
from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from package_api import create_app
from package_api.db import db
from package_api.packages.gc import GarbageCollector
from tests.support.storage import MIB, payload, sha256
from tests.support.world import create_model, generic_url

DATA = payload(6 * MIB + 1, seed=31)


@pytest.fixture
def settings(settings, backend_settings):
    return {**settings, **backend_settings, "MAX_FILE_SIZE": 64 * MIB, "S3_REDIRECT_DOWNLOADS": True,
            "S3_REDIRECT_EXPIRY": 120, "PLUGINS": "all"}


@pytest.fixture
def url(client, world):
    # A model on purpose, so that its SemVer uploads are its versions (the model registry's file route).
    create_model(client, world.projects["private"], "fraud-detector", world.headers("developer"))
    url = generic_url(world.projects["private"], "fraud-detector", "1.4.0", "weights/model.onnx")
    assert client.put(url, data=DATA, headers=world.headers("developer")).status_code == 201
    return url


@pytest.mark.s3
@pytest.mark.parametrize("backend_settings", ["s3"], indirect=True)
class TestS3:
    def test_a_download_is_a_302_to_the_store_with_the_checksum_and_etag(self, client, world, url, seaweedfs):
        response = client.get(url, headers=world.headers("guest"))

        assert response.status_code == 302
        assert response.headers["X-Checksum-SHA256"] == sha256(DATA)
        assert response.headers["ETag"] == f'"{sha256(DATA)}"'
        assert response.headers["Cache-Control"] == "no-store"
        location = response.headers["Location"]
        assert urlsplit(location).netloc == seaweedfs.endpoint
        assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["120"]

        fetched = requests.get(location, timeout=30)  # no credentials: the signature is the permission
        assert fetched.status_code == 200
        assert fetched.content == DATA
        assert fetched.headers["Content-Disposition"] == 'attachment; filename="model.onnx"'

    def test_a_url_handed_out_before_a_delete_works_until_it_expires_or_gc_reclaims_the_bytes(
        self, app, client, world, url, storage
    ):
        # As docs/configuration.md says next to MODELSHELF_S3_REDIRECT_EXPIRY: the signature is the
        # permission, so deleting the file does not take back a URL already handed out.
        location = client.get(url, headers=world.headers("guest")).headers["Location"]
        project = world.projects["private"]
        listed = client.get(f"/api/v4/projects/{project}/packages?package_name=fraud-detector",
                            headers=world.headers("maintainer")).get_json()
        deleted = client.delete(f"/api/v4/projects/{project}/packages/{listed[0]['id']}",
                                headers=world.headers("maintainer"))
        assert deleted.status_code == 204
        assert client.get(url, headers=world.headers("guest")).status_code == 404

        assert requests.get(location, timeout=30).status_code == 200
        with app.app_context():
            assert GarbageCollector(db.session, storage).collect().blobs == 1
        assert requests.get(location, timeout=30).status_code == 404

    def test_the_store_answers_a_range_through_the_redirect(self, client, world, url):
        location = client.get(url, headers=world.headers("guest")).headers["Location"]
        ranged = requests.get(location, headers={"Range": "bytes=5242870-5242889"}, timeout=30)
        assert ranged.status_code == 206
        assert ranged.content == DATA[5242870:5242890]

    def test_head_and_if_none_match_are_answered_here(self, client, world, url):
        head = client.head(url, headers=world.headers("guest"))
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(DATA))
        assert head.headers["X-Checksum-SHA256"] == sha256(DATA)
        cached = client.get(url, headers={**world.headers("guest"), "If-None-Match": f'"{sha256(DATA)}"'})
        assert cached.status_code == 304

    def test_the_model_registry_file_route_redirects_too(self, client, world, url):
        project = world.projects["private"]
        response = client.get(f"/api/v4/projects/{project}/ml/models/fraud-detector/versions/latest/files/weights/model.onnx",
                              headers=world.headers("guest"))
        assert response.status_code == 302
        assert response.headers["X-Checksum-SHA256"] == sha256(DATA)

    def test_archives_are_streamed_not_redirected(self, client, world, url):
        response = client.get(f"/api/v4/projects/{world.projects['private']}/packages/generic/fraud-detector/1.4.0",
                              headers=world.headers("guest"))
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/zip"


@pytest.mark.parametrize("backend_settings", ["filesystem"], indirect=True)
def test_the_setting_means_nothing_to_the_filesystem_store(client, world, url):
    response = client.get(url, headers=world.headers("guest"))
    assert (response.status_code, response.data) == (200, DATA)
    assert response.headers["X-Checksum-SHA256"] == sha256(DATA)


@pytest.mark.s3
def test_a_presigned_url_lasts_five_minutes_by_default(s3_settings, tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path), "SECRET_KEY": "test", **s3_settings, "S3_REDIRECT_DOWNLOADS": True})
    try:
        storage = app.extensions["modelshelf.storage"]
        storage.put("probe", io.BytesIO(b"x"))
        location = storage.download_url("probe", filename="probe")
        assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["300"]
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.s3
def test_presigned_urls_name_the_public_address_of_the_store_when_it_has_one(s3_settings, tmp_path):
    # A cluster-internal store (here 127.0.0.1:port) that clients reach under another name (here
    # localhost:port): the URL is signed for the name clients use, and works there.
    internal = s3_settings["S3_ENDPOINT"]
    public = "localhost:" + internal.rsplit(":", 1)[1]
    settings = {**s3_settings, "S3_REDIRECT_DOWNLOADS": True, "S3_PUBLIC_URL": f"http://{public}"}
    app = create_app({"DATA_DIR": str(tmp_path), "SECRET_KEY": "test", **settings})
    try:
        storage = app.extensions["modelshelf.storage"]
        storage.put("probe", io.BytesIO(b"public bytes"))
        location = storage.download_url("probe", filename="probe.bin")
        assert urlsplit(location).netloc == public
        fetched = requests.get(location, timeout=30)
        assert (fetched.status_code, fetched.content) == (200, b"public bytes")
        # Signed for the public name, the URL is no good under the internal one: the host is signed.
        assert requests.get(location.replace(public, internal, 1), timeout=30).status_code == 403
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("public_url", ["s3.example.com", "ftp://s3.example.com", "https://s3.example.com/bucket"])
def test_a_public_url_that_is_not_scheme_and_host_is_refused_at_start(public_url, tmp_path):
    from package_api.storage.s3 import S3Storage

    with pytest.raises(ValueError, match="S3_PUBLIC_URL must be"):
        S3Storage("127.0.0.1:9", "b", "k", "s", public_url=public_url)
