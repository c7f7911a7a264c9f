"""The server survives its database going away and recovers by itself."""

import time
from pathlib import Path

import pytest
import requests

from conftest import base_env, run_tw, start_server
from pgcluster import PgCluster


def wait_for(fn, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if fn():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError("condition not reached within %ss" % timeout)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_healthz_503_while_database_down_then_recovers(tmp_path: Path, how: str) -> None:
    cluster = PgCluster()
    cluster.start()
    try:
        env = base_env(tmp_path, TW_DATABASE_URL=cluster.url)
        assert run_tw(["migrate"], tmp_path, env).returncode == 0
        srv = start_server(tmp_path, env)
        try:
            assert srv.get("/healthz").status_code == 200
            port = cluster.port
            if how == "stop":
                cluster.stop("immediate")
            else:
                cluster.kill()

            def down() -> bool:
                r = srv.get("/healthz")
                return r.status_code == 503

            wait_for(down, 15)
            body = srv.get("/healthz").json()
            assert body["status"] != "ok"
            assert body["database"] != "ok"

            cluster.start(port=port)
            wait_for(lambda: srv.get("/healthz").status_code == 200, 20)
            assert srv.get("/healthz").json()["database"] == "ok"
            # Requests during the outage did not wedge the server.
            for _ in range(10):
                assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200
        finally:
            assert srv.stop() == 0, srv.stderr()
    finally:
        cluster.destroy()
