"""The OpenAPI document and the router name exactly the same routes."""

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, base_env, run_tw

# Before the import, so the helpers' asserts are rewritten too.
pytest.register_assert_rewrite("authfixtures")

from authfixtures import Api  # noqa: E402

pytest_plugins = ("authfixtures",)

# The routes that never look at their query string and let any through
# (http_query_ignored in src/api/routes.c): signing in and out, who am I,
# the health check and this document.
# The health check alone lets any query through (monitors add their own).
QUERY_IGNORED = {"/healthz"}
# What the path parameters become: ids that name nothing, a table that is
# not there. The query is checked before the handler looks at them.
PATH_VALUES = {"id": "999999", "version": "1", "schema": "public", "name": "no_such_table"}


def router_routes(tmp_path: Path) -> set[tuple[str, str]]:
    res = run_tw(["routes"], tmp_path, base_env(tmp_path))
    assert res.returncode == 0
    return {tuple(line.split(" ", 1)) for line in res.stdout.splitlines()}


def test_every_route_is_documented_and_the_reverse(tmp_path: Path, server: Server) -> None:
    doc = server.get("/api/v1/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert router_routes(tmp_path) == documented


def test_every_operation_is_complete(server: Server) -> None:
    doc = server.get("/api/v1/openapi.json").json()
    for path, ops in doc["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
            assert op.get("responses"), (method, path)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == declared, (method, path)


def query_names(doc: dict[str, Any], op: dict[str, Any]) -> set[str]:
    names = set()
    for p in op.get("parameters", []):
        if "$ref" in p:
            p = doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
        if p["in"] == "query":
            names.add(p["name"])
    return names


def test_the_query_parameters_are_the_routes_allow_lists(admin_api: Api) -> None:
    """Each route refuses a query parameter its OpenAPI operation does not
    declare, and lets through every one it does: the allow lists in
    routes.c and the document agree."""
    doc = admin_api.get("/api/v1/openapi.json").json()
    checked = 0
    for path, ops in doc["paths"].items():
        if path in QUERY_IGNORED:
            continue
        url = re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m.group(1)], path)
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            r = admin_api.request(method.upper(), f"{url}?undocumented=1")
            assert r.status_code == 422, (method, path, r.status_code, r.text)
            assert r.json()["error"]["message"] == 'unknown query parameter "undocumented"'
            for name in query_names(doc, op):
                r = admin_api.request(method.upper(), url, params={name: "1"})
                assert "unknown query parameter" not in r.text, (method, path, name)
                checked += 1
    # limit and cursor of users, scripts, versions and jobs, and the rest.
    assert checked >= 13
