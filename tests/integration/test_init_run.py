"""`init` writes the signing key once and migrates; `run` is the embedded
single-box default with its own PostgreSQL cluster."""

import os
import re
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from test_worker import sandbox_command

from conftest import base_env, run_tw, start_server

# Runnable by the user a root worker starts its children as (test_worker.py).
SANDBOX_COMMAND = sandbox_command()


def env_key(path: Path) -> str:
    m = re.search(r"^TW_SECRET_KEY=([0-9a-f]+)$", path.read_text(), re.M)
    assert m, path.read_text()
    return m.group(1)


def test_init_writes_a_private_key_once(tmp_path: Path, database: str) -> None:
    env = base_env(
        tmp_path, TW_DATABASE_URL=database, TW_SECRET_KEY=None, TW_BCRYPT_COST=None
    )
    res = run_tw(["init"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    dotenv = tmp_path / ".env"
    key = env_key(dotenv)
    assert len(key) == 64  # 256 bits
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM tablewright.schema_migrations").fetchone()[0] >= 1
        # The first admin's hash uses the default cost, 12.
        (h,) = conn.execute("SELECT password_hash FROM tablewright.users").fetchone()
        assert h.startswith("$2b$12$") and len(h) == 60
    again = run_tw(["init"], tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert env_key(dotenv) == key
    # The key never reaches the logs or the terminal.
    logs = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    assert key not in logs + res.stdout + res.stderr + again.stdout + again.stderr


def test_init_adds_a_key_to_an_existing_env_file(tmp_path: Path, database: str) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"TW_DATABASE_URL={database}\nTW_LOG_LEVEL=debug")
    env = base_env(tmp_path, TW_SECRET_KEY=None)
    res = run_tw(["init"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    text = dotenv.read_text()
    assert text.startswith(f"TW_DATABASE_URL={database}\nTW_LOG_LEVEL=debug\n")
    assert len(env_key(dotenv)) == 64


def test_init_keeps_a_key_from_the_environment(tmp_path: Path, database: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=database)
    res = run_tw(["init"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / ".env").exists()


def test_init_accepts_admin_flags(tmp_path: Path, database: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=database)
    res = run_tw(["init", "--admin-email", "a@example.com"], tmp_path, env)
    assert res.returncode == 0, res.stderr


@pytest.fixture
def public_tmp() -> Path:
    """A directory the postgres system user can reach (pytest's tmp_path is
    private to root), for the embedded cluster."""
    d = Path(tempfile.mkdtemp(prefix="tw-run-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_run_with_embedded_cluster(public_tmp: Path) -> None:
    env = base_env(public_tmp, TW_SECRET_KEY=None, TW_SANDBOX_COMMAND=SANDBOX_COMMAND)
    srv = start_server(public_tmp, env, command="run", ready_timeout=120)
    try:
        health = srv.get("/healthz")
        assert health.status_code == 200
        assert health.json()["database"] == "ok"
        # The first run creates the admin and prints its password once.
        m = re.search(r"its generated password is (\S+) ", srv.startup)
        assert m, srv.startup
        # ... and, being a fresh installation, the demo data.
        assert "created demo table public.orders" in srv.startup
        assert "saved example script order_totals" in srv.startup
        r = srv.request(
            "POST", "/api/v1/auth/login",
            json={"email": "admin@localhost", "password": m.group(1)},
        )
        assert r.status_code == 200, r.text
        # The single box runs jobs too: `run` includes a worker.
        auth = {"Authorization": "Bearer " + r.json()["access_token"]}
        r = srv.request(
            "POST", "/api/v1/scripts", headers=auth,
            json={"name": "single box", "code_text": "say ran inside run"},
        )
        assert r.status_code == 201, r.text
        r = srv.request(
            "POST", "/api/v1/jobs", headers=auth,
            json={"script_id": r.json()["id"], "source_table": "public.orders",
                  "destination_table": "single_box_out"},
        )
        assert r.status_code == 202, r.text
        job_url = "/api/v1/jobs/%d" % r.json()["id"]
        deadline = time.monotonic() + 30
        while srv.request("GET", job_url, headers=auth).json()["status"] != "succeeded":
            assert time.monotonic() < deadline, srv.request("GET", job_url, headers=auth).text
            time.sleep(0.1)
        assert srv.get("/healthz").json()["workers"] == 1
        log = srv.request("GET", job_url + "/logs", headers=auth).text
        assert "ran inside run\n" in log
    finally:
        assert srv.stop(signal.SIGINT) == 0, srv.stderr()
    pg = public_tmp / "var" / "pg"
    assert (pg / "data" / "PG_VERSION").exists()
    # Stopped with Tablewright.
    assert not (pg / "data" / "postmaster.pid").exists()
    pw = pg / "password"
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600
    secret = pw.read_text().strip()
    key = env_key(public_tmp / ".env")
    logs = "".join(p.read_text() for p in (public_tmp / "logs").iterdir())
    assert secret not in logs + srv.stderr()
    assert key not in logs + srv.stderr()

    # A second run reuses the cluster, its data and the same key.
    srv = start_server(public_tmp, env, command="run", ready_timeout=120)
    try:
        assert srv.get("/healthz").json()["database"] == "ok"
        assert "generated password" not in srv.startup
        assert "demo table" not in srv.startup
    finally:
        assert srv.stop() == 0, srv.stderr()
    assert env_key(public_tmp / ".env") == key
