"""Request builders for the permission matrix's table (``tests/api/test_permission_matrix.py``): each
makes a valid request for one route from a ``Ctx`` (the project's seed, the caller, throwaway
objects), so that what the matrix tests is the permission decision, not a missing parameter."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from package_api.access.models import Role

from .permissions import Builder, Ctx, Req, is_page


def throwaway_package(c: Ctx) -> Req:
    assert c.package_kind is not None
    made = c.new_package(c.package_kind)
    return c.req({"package_id": made.id, "file_id": made.file_id}, **({"form": {}} if is_page(c.rule) else {}))


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
    return c.req(**kwargs, **({"form": values} if is_page(c.rule) else {"json": values}))


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

    if is_page(c.rule):
        return c.req(form={"confirm_path": c.seed.spec.path}, after=reseed)
    return c.req(after=reseed)


def rotate_ci_token(c: Ctx) -> Req:
    """Rotate the CI token; once rotated, the CI-token caller gets the new one."""

    def refresh(response: Any) -> None:
        if response.status_code < 400:
            c.world.rotate_ci_token(c.seed)

    return c.req(after=refresh, **({"form": {}} if is_page(c.rule) else {}))


def add_member(role: Role) -> Builder:
    def build(c: Ctx) -> Req:
        user_id, username = c.new_user()
        if is_page(c.rule):
            return c.req(form={"username": username, "access_level": str(int(role))})
        return c.req(json={"user_id": user_id, "access_level": int(role)})

    return build


def change_member(before: Role, after: Role | None) -> Builder:
    """Change a member of role ``before`` to ``after`` (``None``: remove it)."""

    def build(c: Ctx) -> Req:
        at_user = {"user_id": c.new_member(before)}
        if after is None:
            return c.req(at_user, **({"form": {}} if is_page(c.rule) else {}))
        level = int(after)
        return fields_of(c, {"access_level": str(level) if is_page(c.rule) else level}, at=at_user)

    return build


def revoke(make: Callable[[Ctx], int]) -> Builder:
    return lambda c: c.req({"token_id": make(c)}, **({"form": {}} if is_page(c.rule) else {}))


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
            _alias_at(c, alias, c.new_version()[0])
        return alias

    return c.throwaway(kind, make)  # type: ignore[no-any-return]


def throwaway_alias(c: Ctx) -> Req:
    return c.req({"alias": _fresh_alias(c, "alias of the model", 1)}, **({"form": {}} if is_page(c.rule) else {}))


def moved_alias(c: Ctx) -> Req:
    return c.req({"alias": _fresh_alias(c, "moved alias", 2)}, **({"form": {}} if is_page(c.rule) else {}))


def pending_request(c: Ctx) -> Req:
    """A pending promotion request that the administrator opened for a version of their own: any
    member from the Reporter up may approve or reject it."""

    def make() -> int:
        rules = c.admin("GET", f"{c.api}/ml/protected_aliases").get_json()
        if GATED not in [r["alias_pattern"] for r in rules]:
            rule = {"alias_pattern": GATED, "minimum_access_level": "reporter", "approvals_required": 1}
            c.admin("POST", f"{c.api}/ml/protected_aliases", json=rule)
        version_id = c.new_version()[0]
        alias = f"gated-{c.number()}"
        r = c.admin("PUT", f"{c.api}/ml/models/{c.seed.model_id}/aliases/{alias}", json={"version": str(version_id)})
        assert r.status_code == 202, r.get_json()
        return int(r.get_json()["id"])

    request_id = c.throwaway("promotion request", make)
    return c.req({"request_id": request_id}, **({"form": {}} if is_page(c.rule) and c.method == "POST" else {}))


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
    return c.req({"rule_id": rule_id}, **({"form": {}} if is_page(c.rule) else {}))
