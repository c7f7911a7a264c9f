"""Logs: access lines in app.log, size rotation inside the process, and no
secret in any log file."""

import time
from pathlib import Path

from conftest import Server, base_env, start_server


def test_access_lines(server: Server) -> None:
    server.get("/healthz")
    server.get("/api/v1/nope?token=abc123")
    # The access line is written when the request completes, just after
    # the response went out: give it a moment.
    deadline = time.monotonic() + 5
    log = ""
    while time.monotonic() < deadline:
        log = (server.workdir / "logs" / "app.log").read_text()
        if "GET /api/v1/nope 404" in log:
            break
        time.sleep(0.05)
    assert "GET /healthz 200" in log
    assert "GET /api/v1/nope 404" in log
    # Query strings can carry tokens: they are never logged.
    assert "abc123" not in log
    for name in ("app.log", "worker.log", "sandbox.log"):
        assert (server.workdir / "logs" / name).exists()


def test_rotation_by_size(tmp_path: Path, migrated: str) -> None:
    env = base_env(
        tmp_path, TW_DATABASE_URL=migrated, TW_LOG_MAX_BYTES="4096", TW_LOG_MAX_FILES="3"
    )
    srv = start_server(tmp_path, env)
    try:
        for _ in range(300):
            srv.get("/healthz")
    finally:
        assert srv.stop() == 0
    logs = tmp_path / "logs"
    names = sorted(p.name for p in logs.iterdir() if p.name.startswith("app.log"))
    assert names == ["app.log", "app.log.1", "app.log.2"]
    for n in names:
        assert (logs / n).stat().st_size <= 4096
        assert (logs / n).read_text().endswith("\n")


def test_no_secret_in_logs(tmp_path: Path, migrated: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_LOG_LEVEL="debug")
    srv = start_server(tmp_path, env)
    try:
        srv.get("/healthz", headers={"Authorization": "Bearer sekrit-token"})
    finally:
        assert srv.stop() == 0
    text = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    assert env["TW_SECRET_KEY"] not in text
    assert "sekrit-token" not in text
