"""Logs: access lines in app.log, size rotation inside the process, and no
secret in any log file."""

from pathlib import Path

from conftest import Server, base_env, start_server


def test_access_lines(server: Server) -> None:
    server.get("/healthz")
    server.get("/api/v1/nope?token=abc123")
    log = (server.workdir / "logs" / "app.log").read_text()
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
