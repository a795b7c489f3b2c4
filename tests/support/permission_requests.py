"""Request builders for the permission matrix's table (``tests/api/test_permission_matrix.py``): each
makes a valid request for one route from a ``Ctx`` (the project's seed, the caller, throwaway
objects), so that what the matrix tests is the permission decision, not a missing parameter."""
from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from package_api.access.models import Role

from .permissions import Builder, Ctx, Req


def throwaway_package(c: Ctx) -> Req:
    assert c.package_kind is not None
    made = c.new_package(c.package_kind)
    return c.req({"package_id": made.id, "file_id": made.file_id}, **({"form": {}} if c.page else {}))


def body(**fields: Callable[[Ctx], Any] | Any) -> Builder:
    """A request whose JSON body (query string for GET) has these fields; a callable is called with
    the context."""

    def build(c: Ctx) -> Req:
        values = {k: v(c) if callable(v) else v for k, v in fields.items()}
        return c.req(query=values) if c.method == "GET" else c.req(json=values)

    return build


def form(**fields: Callable[[Ctx], Any] | Any) -> Builder:
    return lambda c: c.req(form={k: v(c) if callable(v) else v for k, v in fields.items()})


def at(**values: Callable[[Ctx], Any] | Any) -> Builder:
    return lambda c: c.req({k: v(c) if callable(v) else v for k, v in values.items()})


def unique(prefix: str) -> Callable[[Ctx], str]:
    return lambda c: c.unique(prefix)


experiment = lambda c: c.seed.experiment_id
run = lambda c: c.seed.run_id
model = lambda c: c.seed.model_name
mlflow_version = lambda c: c.seed.mlflow_version


def with_tag(kind: str) -> Builder:
    """A DELETE of a tag the administrator has set."""
    named = lambda c: {"name": c.seed.model_name}
    version = lambda c: {**named(c), "version": c.seed.mlflow_version}
    where = {
        "run": ("runs/set-tag", lambda c: {"run_id": c.seed.run_id}),
        "registered model": ("registered-models/set-tag", named),
        "model version": ("model-versions/set-tag", version),
    }

    def build(c: Ctx) -> Req:
        def make() -> str:
            key = c.unique("tag")
            if kind == "logged model":
                tags = {"tags": [{"key": key, "value": "v"}]}
                c.admin("PATCH", f"{c.mlflow}/logged-models/{c.seed.logged_model_id}/tags", json=tags)
            else:
                endpoint, owner = where[kind]
                c.admin("POST", f"{c.mlflow}/{endpoint}", json={**owner(c), "key": key, "value": "v"})
            return key

        key = c.throwaway(f"{kind} tag", make)
        if kind == "logged model":
            return c.req({"model_id": c.seed.logged_model_id, "key": key})
        return c.req(json={**where[kind][1](c), "key": key})

    return build


def with_alias(c: Ctx) -> Req:
    named = {"name": c.seed.model_name}

    def make() -> str:
        alias = c.unique("alias")
        body = {**named, "alias": alias, "version": c.seed.mlflow_version}
        c.admin("POST", f"{c.mlflow}/registered-models/alias", json=body)
        return alias

    return c.req(json={**named, "alias": c.throwaway("alias", make)})


def throwaway_version_file(c: Ctx) -> Req:
    version_id, file_id = c.new_version(with_file=True)
    if c.rule.endswith("/files"):
        return c.req({"version_ref": version_id}, json={"ids": [file_id]})
    return c.req({"version_ref": version_id, "file_id": file_id})


def page_throwaway_model(c: Ctx) -> Req:
    return c.req({"model_id": c.new_model()[0]}, form={})


def page_throwaway_experiment(c: Ctx) -> Req:
    return c.req({"iid": c.new_experiment()}, form={})


def page_throwaway_version(c: Ctx) -> Req:
    return c.req({"version_id": c.new_version()[0]}, form={})


def fields_of(c: Ctx, values: dict[str, Any], **kwargs: Any) -> Req:
    """A request carrying ``values`` as a form (pages) or a JSON body (the API)."""
    return c.req(**kwargs, **({"form": values} if c.page else {"json": values}))


def flip_visibility(c: Ctx) -> Req:
    """Another visibility for the project, put back once the request is answered."""
    current = c.seed.spec.visibility
    wanted = "private" if current == "internal" else "internal"

    def put_back(response: Any) -> None:
        if response.status_code < 400:
            c.admin("PUT", c.api, json={"visibility": current})

    return fields_of(c, {"visibility": wanted}, after=put_back)


def same_feature_level(c: Ctx) -> Req:
    """The model registry's access level as it is (judged, and changing nothing)."""
    return fields_of(c, {"model_registry_access_level": c.seed.spec.features.get("model_registry", "enabled")})


def delete_project(c: Ctx) -> Req:
    """Delete the project; once deleted, it is made anew for the next caller."""
    key = c.seed.spec.key

    def reseed(response: Any) -> None:
        if response.status_code < 400:
            c.world.reseed(key)

    if c.page:
        return c.req(form={"confirm_path": c.seed.spec.path}, after=reseed)
    return c.req(after=reseed)


def rotate_ci_token(c: Ctx) -> Req:
    """Rotate the CI token; once rotated, the CI-token caller gets the new one."""

    def refresh(response: Any) -> None:
        if response.status_code < 400:
            c.world.rotate_ci_token(c.seed)

    return c.req(after=refresh, **({"form": {}} if c.page else {}))


def add_member(role: Role) -> Builder:
    def build(c: Ctx) -> Req:
        user_id, username = c.new_user()
        if c.page:
            return c.req(form={"username": username, "access_level": str(int(role))})
        return c.req(json={"user_id": user_id, "access_level": int(role)})

    return build


def change_member(before: Role, after: Role | None) -> Builder:
    """Change a member of role ``before`` to ``after`` (``None``: remove it)."""

    def build(c: Ctx) -> Req:
        at_user = {"user_id": c.new_member(before)}
        if after is None:
            return c.req(at_user, **({"form": {}} if c.page else {}))
        level = int(after)
        return fields_of(c, {"access_level": str(level) if c.page else level}, at=at_user)

    return build


def revoke(make: Callable[[Ctx], int]) -> Builder:
    return lambda c: c.req({"token_id": make(c)}, **({"form": {}} if c.page else {}))


def own_fresh_token(c: Ctx) -> Req:
    return c.req(credential=c.own_fresh_token())


# -- aliases, promotion requests, protected alias rules ------------------------------------------------

#: The aliases the matrix's promotion requests are about: a rule protects them (one approval from a
#: Reporter up), and no other route of the matrix touches them.
GATED = "gated-*"


def _alias_at(c: Ctx, alias: str, version_id: int) -> None:
    r = c.admin("PUT", f"{c.api}/ml/models/{c.seed.model_id}/aliases/{alias}", json={"version": str(version_id)})
    assert r.status_code == 200, r.get_json()


def _fresh_alias(c: Ctx, kind: str, moves: int) -> str:
    """An unprotected alias of the seed's model that moved ``moves`` times (1: made; 2: then moved,
    so it has a version to roll back to)."""

    def make() -> str:
        alias = c.unique("alias")
        _alias_at(c, alias, c.seed.version_id)
        if moves > 1:
            # Its own version: a pooled one could be deleted by another route, and the alias with it.
            _alias_at(c, alias, c.own_version())
        return alias

    return c.throwaway(kind, make)  # type: ignore[no-any-return]


def throwaway_alias(c: Ctx) -> Req:
    return c.req({"alias": _fresh_alias(c, "alias of the model", 1)}, **({"form": {}} if c.page else {}))


def moved_alias(c: Ctx) -> Req:
    return c.req({"alias": _fresh_alias(c, "moved alias", 2)}, **({"form": {}} if c.page else {}))


def pending_request(c: Ctx) -> Req:
    """A pending promotion request that the administrator opened for a version of their own: any
    member from the Reporter up may approve or reject it."""

    def make() -> int:
        rules = c.admin("GET", f"{c.api}/ml/protected_aliases").get_json()
        if GATED not in [r["alias_pattern"] for r in rules]:
            rule = {"alias_pattern": GATED, "minimum_access_level": "reporter", "approvals_required": 1}
            c.admin("POST", f"{c.api}/ml/protected_aliases", json=rule)
        # A version of the request's own, not a throwaway one: approving the request seals it (its
        # alias is protected), so it must never go back to the pool for another route to delete.
        version_id = c.own_version()
        alias = f"gated-{c.number()}"
        r = c.admin("PUT", f"{c.api}/ml/models/{c.seed.model_id}/aliases/{alias}", json={"version": str(version_id)})
        assert r.status_code == 202, r.get_json()
        return int(r.get_json()["id"])

    request_id = c.throwaway("promotion request", make)
    return c.req({"request_id": request_id}, **({"form": {}} if c.page and c.method == "POST" else {}))


def alias_rule(c: Ctx) -> Req:
    """A protected alias rule that protects no alias of the seed."""

    def make() -> int:
        created = c.admin("POST", f"{c.api}/ml/protected_aliases", json={"alias_pattern": f"{c.unique('zz')}-*"})
        return int(created.get_json()["id"])

    rule_id = c.throwaway("alias rule", make)
    if c.method == "PATCH":
        return c.req({"rule_id": rule_id}, json={"approvals_required": 2})
    if c.rule.endswith("/edit"):
        fields = {"alias_pattern": f"{c.unique('zz')}-*", "minimum_access_level": "owner", "approvals_required": "1"}
        return c.req({"rule_id": rule_id}, form={**fields, "required_tags": ""})
    return c.req({"rule_id": rule_id}, **({"form": {}} if c.page else {}))


# -- the Hugging Face Hub API (/hf) -------------------------------------------------------------------


def hf_at(c: Ctx, **values: Any) -> dict[str, Any]:
    """The placeholders of a ``/hf`` route: the repo ``<project id>/<model name>`` of the seed's model,
    its version as the revision, and ``values``."""
    return {"namespace": c.seed.id, "name": c.seed.model_name, "revision": c.seed.version, **values}


def hf(**values: Callable[[Ctx], Any] | Any) -> Callable[..., Builder]:
    """A builder of a ``/hf`` route's request (``hf(path=...)(json=...)``): the repo's placeholders and
    ``values``; keyword arguments of the request (a callable is called with the context)."""

    def request(**kwargs: Callable[[Ctx], Any] | Any) -> Builder:
        def build(c: Ctx) -> Req:
            at = hf_at(c, **{k: v(c) if callable(v) else v for k, v in values.items()})
            return c.req(at, **{k: v(c) if callable(v) else v for k, v in kwargs.items()})

        return build

    return request


def hf_repo_body(name: Callable[[Ctx], str]) -> Callable[[Ctx], dict[str, str]]:
    """The body of ``repos/create`` and ``repos/delete``: the repo id as the client sends it."""
    return lambda c: {"type": "model", "organization": str(c.seed.id), "name": name(c)}


def hf_commit(c: Ctx) -> bytes:
    """An NDJSON commit adding one new file inline."""
    content = base64.b64encode(c.unique("inline").encode()).decode()
    return hf_lines(c, {"key": "file", "value": {"path": f"{c.unique('file')}.txt", "content": content, "encoding": "base64"}})


NDJSON = {"Content-Type": "application/x-ndjson"}


def hf_tag(c: Ctx) -> Req:
    """A DELETE of a tag (an alias) the administrator has set on the seed's version."""

    def make() -> str:
        tag = c.unique("tag")
        c.admin("POST", f"/hf/api/models/{c.seed.id}/{c.seed.model_name}/tag/{c.seed.version}", json={"tag": tag})
        return tag

    return c.req(hf_at(c, tag=c.throwaway("hf tag", make)))


def lfs_batch(c: Ctx, content: bytes, transfers: list[str]) -> dict[str, Any]:
    """The administrator's batch request to upload ``content``: its object's upload actions."""
    oid = hashlib.sha256(content).hexdigest()
    body = {"operation": "upload", "transfers": transfers, "objects": [{"oid": oid, "size": len(content)}]}
    answer = c.admin("POST", f"/hf/{c.seed.id}/{c.seed.model_name}.git/info/lfs/objects/batch", json=body).get_json()
    (found,) = answer["objects"]
    return found["actions"]["upload"]  # type: ignore[no-any-return]


def signed_token(href: str) -> str:
    """The signed token of a transfer URL (``.../objects/<token>``, ``.../parts/<token>/<n>``, ...)."""
    parts = urlsplit(href).path.split("/")
    return parts[-2] if parts[-1].isdigit() else parts[-1]


#: Bytes of an LFS part in the matrix's app (``HF_LFS_PART_SIZE``).
LFS_PART = 16


def lfs_object(c: Ctx) -> Req:
    """A basic transfer's PUT to the URL the administrator's batch request was signed for."""
    content = c.unique("lfs object").encode()
    return c.req(hf_at(c, token=signed_token(lfs_batch(c, content, ["basic"])["href"])), data=content)


def lfs_part(c: Ctx) -> Req:
    """The first part of a multipart transfer, to the URL of the administrator's batch request."""
    content = c.unique("lfs parts").encode().ljust(2 * LFS_PART + 1, b".")
    upload = lfs_batch(c, content, ["basic", "multipart"])
    return c.req(hf_at(c, token=signed_token(upload["header"]["00001"]), number=1), data=content[:LFS_PART])


def lfs_complete(c: Ctx) -> Req:
    """The completion of a multipart transfer whose parts the administrator has sent."""
    content = c.unique("lfs parts").encode().ljust(2 * LFS_PART + 1, b".")
    upload = lfs_batch(c, content, ["basic", "multipart"])
    parts = []
    for number in range(1, 4):
        url = urlsplit(upload["header"][f"{number:05d}"]).path
        sent = c.admin("PUT", url, data=content[(number - 1) * LFS_PART : number * LFS_PART])
        parts.append({"partNumber": number, "etag": sent.headers["ETag"]})
    oid = hashlib.sha256(content).hexdigest()
    return c.req(hf_at(c, token=signed_token(upload["href"])), json={"oid": oid, "parts": parts})


def lfs_verify(c: Ctx) -> Req:
    """The verification of an object the administrator has uploaded."""
    content = c.unique("lfs verified").encode()
    c.admin("PUT", urlsplit(lfs_batch(c, content, ["basic"])["href"]).path, data=content)
    return c.req(hf_at(c), json={"oid": hashlib.sha256(content).hexdigest(), "size": len(content)})


def hf_version_change(delete: bool) -> Builder:
    """A commit to an existing version (made by the administrator with one file) that deletes its
    file (``delete``) or replaces it with new bytes: either loses a file of the version."""

    def build(c: Ctx) -> Req:
        def make() -> str:
            version = f"9.0.{c.number()}"
            made = hf_lines(c, {"key": "file", "value": {"path": "doomed.txt", "content": "b2xk", "encoding": "base64"}})
            c.admin("POST", f"/hf/api/models/{c.seed.id}/{c.seed.model_name}/commit/{version}", data=made)
            return version

        version = c.throwaway("hf version with a file", make)
        if delete:
            change = {"key": "deletedFile", "value": {"path": "doomed.txt"}}
        else:
            change = {"key": "file", "value": {"path": "doomed.txt", "content": "bmV3", "encoding": "base64"}}
        return c.req(hf_at(c, revision=version), data=hf_lines(c, change), headers=NDJSON)

    return build


def hf_lines(c: Ctx, *operations: dict[str, Any]) -> bytes:
    """An NDJSON commit body: its header, then ``operations``."""
    lines = [{"key": "header", "value": {"summary": "matrix", "description": ""}}, *operations]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


# -- webhooks ----------------------------------------------------------------------------------------

_closed: list[socket.socket] = []


def closed_url() -> str:
    """A URL no request can reach: a loopback port bound by this process and never listened on, so a
    connection to it is refused at once (the matrix's app allows private targets)."""
    if not _closed:
        held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.bind(("127.0.0.1", 0))
        _closed.append(held)
    return f"http://127.0.0.1:{_closed[0].getsockname()[1]}/matrix-hook"


def _new_hook(c: Ctx, events: list[str], *, enabled: bool) -> int:
    made = {"name": c.unique("hook"), "url": closed_url(), "events": events, "enabled": enabled}
    return int(c.admin("POST", f"{c.api}/hooks", json=made).get_json()["id"])


def _kept(c: Ctx, kind: str, make: Callable[[], Any]) -> Any:
    """An object of the project's made once and never taken (the requests read it, edit it in place
    or resend it): kept with the spares, so that it goes with a project made anew."""
    kept = c.world.spares.setdefault((c.seed.spec.key, kind), [])
    if not kept:
        kept.append(make())
    return kept[0]


def kept_hook(c: Ctx) -> int:
    """The project's disabled hook for MLflow's registered_model.created: read, edited and tested
    (sending to ``closed_url``), never sent an event."""
    return int(_kept(c, "kept webhook", lambda: _new_hook(c, ["registered_model.created"], enabled=False)))


def kept_delivery(c: Ctx) -> tuple[int, int]:
    """A hook and a delivery of it: a package.created event of a package the administrator uploaded
    while the hook was enabled (disabled since, so that no other change adds to it). Nothing sends
    it: the matrix's app runs no dispatcher."""

    def make() -> tuple[int, int]:
        hook_id = _new_hook(c, ["package.created"], enabled=True)
        c.admin("PUT", f"{c.api}/packages/generic/{c.unique('hooked')}/1.0.0/file.bin", data=b"hooked")
        c.admin("PUT", f"{c.api}/hooks/{hook_id}", json={"enabled": False})
        (delivery,) = c.admin("GET", f"{c.api}/hooks/{hook_id}/events").get_json()
        return hook_id, int(delivery["id"])

    return _kept(c, "kept webhook delivery", make)  # type: ignore[no-any-return]


def webhook(c: Ctx) -> Req:
    """A request about the kept hook (``webhook_id`` for MLflow's routes, ``hook_id`` for ours): an
    edit changes its description, a Test names MLflow's event."""
    hook_id = kept_hook(c)
    at_hook = {"hook_id": hook_id, "webhook_id": hook_id}
    if c.method in ("PUT", "PATCH"):
        return c.req(at_hook, json={"description": c.unique("described")})
    if c.rule.endswith("/test"):
        return c.req(at_hook, json={"event": {"entity": "REGISTERED_MODEL", "action": "CREATED"}})
    return c.req(at_hook)


def throwaway_hook(c: Ctx) -> Req:
    hook_id = c.throwaway("webhook", lambda: _new_hook(c, ["package.deleted"], enabled=False))
    return c.req({"hook_id": hook_id, "webhook_id": hook_id}, **({"form": {}} if c.page else {}))


def new_hook(c: Ctx) -> Req:
    """A new hook's fields: MLflow's events for its API, ours elsewhere (disabled where the API lets
    it be, so that the matrix's changes add no deliveries)."""
    fields: dict[str, Any] = {"name": c.unique("hook"), "url": closed_url()}
    if c.page:
        return c.req(form={**fields, "events": "package.deleted"})
    if "/mlflow/" in c.rule:
        return c.req(json={**fields, "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}], "status": "DISABLED"})
    return c.req(json={**fields, "events": ["package.deleted"], "enabled": False})


def hook_delivery(c: Ctx) -> Req:
    hook_id, delivery_id = kept_delivery(c)
    return c.req({"hook_id": hook_id, "delivery_id": delivery_id}, **({"form": {}} if c.page else {}))


# -- the Xet CAS service (/hf/cas): its token is the permission, as an LFS transfer URL's ---------------


def xet_token(c: Ctx) -> dict[str, str]:
    """The ``Authorization`` of the administrator's write token for the seed's repo."""
    answer = c.admin("GET", f"/hf/api/models/{c.seed.id}/{c.seed.model_name}/xet-write-token/main").get_json()
    return {"Authorization": f"Bearer {answer['accessToken']}"}


def xet_call(c: Ctx, method: str, path: str, token: dict[str, str], **kwargs: Any) -> Any:
    """A CAS request of the administrator's token that must succeed (setting the scene)."""
    response = c.world.client.open(path, method=method, headers=token, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def xet_xorb(c: Ctx) -> tuple[str, bytes, bytes]:
    """A new one-chunk xorb: its hash (hex), its bytes and its chunk."""
    from plugin.huggingface.xet.format import build_xorb, chunk_hash, hash_to_hex, xorb_hash

    chunk = c.unique("xet chunk").encode() * 50
    return hash_to_hex(xorb_hash([(chunk_hash(chunk), len(chunk))])), build_xorb([chunk]), chunk


def xet_upload_xorb(c: Ctx) -> Req:
    name, data, _ = xet_xorb(c)
    return c.req({"prefix": "default", "xorb": name}, data=data, headers=xet_token(c))


def xet_grant_xorb(c: Ctx) -> Req:
    """A grant asked for (this store takes no direct writes: 404, the client's cue to upload through us)."""
    name, data, _ = xet_xorb(c)
    return c.req({"prefix": "default", "xorb": name}, json={"length": len(data)}, headers=xet_token(c))


def xet_commit_xorb(c: Ctx) -> Req:
    """A commit of a grant this store never gave (404: nothing was uploaded for it)."""
    name, _, _ = xet_xorb(c)
    return c.req({"prefix": "default", "xorb": name, "grant_id": "no-such-grant"}, headers=xet_token(c))


def xet_shard(c: Ctx) -> tuple[bytes, str, dict[str, str]]:
    """A shard describing a one-chunk file over a xorb the administrator has uploaded, the file's hash
    (hex), and the token."""
    from plugin.huggingface.xet.format import (
        ShardFile,
        Term,
        build_shard,
        chunk_hash,
        file_hash,
        hash_to_hex,
        hex_to_hash,
    )

    name, data, chunk = xet_xorb(c)
    token = xet_token(c)
    xet_call(c, "POST", f"/hf/cas/v1/xorbs/default/{name}", token, data=data)
    digest = file_hash([(chunk_hash(chunk), len(chunk))])
    file = ShardFile(digest, [Term(hex_to_hash(name), 0, 1, len(chunk))], sha256=hashlib.sha256(chunk).digest())
    return build_shard([file], [], with_footer=False), hash_to_hex(digest), token


def xet_upload_shard(c: Ctx) -> Req:
    shard, _, token = xet_shard(c)
    return c.req(data=shard, headers=token)


def xet_query_chunk(c: Ctx) -> Req:
    from plugin.huggingface.xet.format import chunk_hash, hash_to_hex

    name, data, chunk = xet_xorb(c)
    token = xet_token(c)
    xet_call(c, "POST", f"/hf/cas/v1/xorbs/default/{name}", token, data=data)
    return c.req({"prefix": "default-merkledb", "chunk": hash_to_hex(chunk_hash(chunk))}, headers=token)


def xet_file(c: Ctx) -> tuple[str, dict[str, str]]:
    """A file the administrator has uploaded through Xet (staged), and the token."""
    shard, file, token = xet_shard(c)
    xet_call(c, "POST", "/hf/cas/v1/shards", token, data=shard)
    return file, token


def xet_reconstruction(c: Ctx) -> Req:
    file, token = xet_file(c)
    return c.req({"file": file}, headers=token)


def xet_fetch(c: Ctx) -> Req:
    """A xorb's byte range, at the URL of the administrator's reconstruction (no credentials)."""
    file, token = xet_file(c)
    answer = xet_call(c, "GET", f"/hf/cas/v1/reconstructions/{file}", token).get_json()
    (fetch,) = next(iter(answer["fetch_info"].values()))
    return c.req({"token": urlsplit(fetch["url"]).path.rsplit("/", 1)[-1]}, headers={"Range": "bytes=0-7"})
