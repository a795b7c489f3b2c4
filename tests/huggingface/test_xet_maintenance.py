"""``modelshelf gc`` and ``modelshelf verify`` on the Xet store: a xorb no file uses goes once it is
older than the grace period, a file's xorbs go with the last version holding it, and verify reads every
xorb back (and every Xet file, through the blob verify)."""
from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

from sqlalchemy import update

from package_api.db import db
from plugin.huggingface.models import XetFile, XetXorb
from tests.huggingface.test_xet_api import chunks_of, shard_of, xorb
from tests.unit.test_cli import Invoke, cli, data_dir, opened  # noqa: F401  (fixtures)


def backdate(data: Path) -> None:
    """Make every Xet row older than the grace period."""
    with opened(data):
        past = datetime.datetime(2020, 1, 1)
        db.session.execute(update(XetXorb).values(created_at=past))
        db.session.execute(update(XetFile).values(created_at=past))
        db.session.commit()


def test_gc_and_verify_of_xorbs(cli: Invoke, data_dir: Path) -> None:  # noqa: F811
    cli("admin", "create-user", "alice")
    project = cli("admin", "create-project", "team/llm", "--owner", "alice").stdout.strip()
    headers = {"PRIVATE-TOKEN": cli("admin", "create-token", "--user", "alice").stdout.strip()}
    chunks, spare = chunks_of("used", 3), chunks_of("spare", 2)
    used, used_data = xorb(chunks)
    unused, unused_data = xorb(spare)
    content = b"".join(chunks)
    with opened(data_dir) as app:
        client = app.test_client()
        assert client.post(f"/api/v4/projects/{project}/ml/models", json={"name": "llm"}, headers=headers).status_code == 201
        token = client.get(f"/hf/api/models/{project}/llm/xet-write-token/main", headers=headers).get_json()["accessToken"]
        cas = {"Authorization": f"Bearer {token}"}
        for name, data in ((used, used_data), (unused, unused_data)):
            assert client.post(f"/hf/cas/v1/xorbs/default/{name}", data=data, headers=cas).status_code == 200
        assert client.post("/hf/cas/v1/shards", data=shard_of(used, chunks)[1], headers=cas).status_code == 200
        sha256 = hashlib.sha256(content).hexdigest()
        line = b'{"key":"header","value":{"summary":"w"}}\n{"key":"lfsFile","value":{"path":"w.bin","oid":"%s","size":%d}}\n'
        made = client.post(f"/hf/api/models/{project}/llm/commit/main", data=line % (sha256.encode(), len(content)), headers=headers)
        assert made.status_code == 200, made.get_json()
    xorbs = data_dir / "blobs" / "xet" / "xorbs"

    # Young: nothing goes, whatever uses it.
    assert "xet" not in cli("gc").stdout
    assert sorted(p.name for p in xorbs.rglob("*") if p.is_file()) == sorted([used, unused])
    backdate(data_dir)
    dry = cli("gc", "--dry-run").stdout
    assert f"xet: would remove 0 files and 1 xorbs ({len(unused_data)} bytes)" in dry
    assert f"xet: removed 0 files and 1 xorbs ({len(unused_data)} bytes)" in cli("gc").stdout
    assert sorted(p.name for p in xorbs.rglob("*") if p.is_file()) == [used]

    # verify reads the xorb and the file rebuilt from it; a damaged xorb is reported by both.
    checked = cli("verify")
    assert checked.exit_code == 0 and "verified 1 xorbs" in checked.stdout
    stored = next(p for p in xorbs.rglob("*") if p.is_file())
    stored.write_bytes(stored.read_bytes()[:-5] + b"xxxxx")
    damaged = cli("verify")
    assert damaged.exit_code == 1, damaged.stdout
    assert f"corrupted xorb {used}" in damaged.stdout
    assert f"unreadable blob {hashlib.sha256(content).hexdigest()}" in damaged.stdout  # the file, rebuilt
    stored.write_bytes(used_data)

    # The version deleted: its blob, then its file and xorb go in the same run.
    with opened(data_dir) as app:
        client = app.test_client()
        assert client.delete(f"/api/v4/projects/{project}/ml/models/llm", headers=headers).status_code in (200, 204)
    result = cli("gc").stdout
    assert f"xet: removed 1 files and 1 xorbs ({len(used_data)} bytes)" in result
    assert [p for p in (data_dir / "blobs" / "xet").rglob("*") if p.is_file()] == []
