"""The OpenAPI document and the router name exactly the same routes."""

import re
from pathlib import Path

from conftest import Server, base_env, run_tw


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
