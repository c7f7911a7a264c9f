"""Start-up refuses bad configuration with one clear line and a non-zero
exit, and settings follow the documented precedence."""

import os
import secrets
import stat
import subprocess
from pathlib import Path

from conftest import Server, base_env, run_tw, start_server


def one_line_error(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("tablewright: ")
    return lines[0]


def test_malformed_database_url(tmp_path: Path) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL="postgresql://u:hunter2@[::1/x?bad")
    res = run_tw(["serve"], tmp_path, env)
    assert res.returncode == 1
    line = one_line_error(res)
    assert "TW_DATABASE_URL" in line
    assert "hunter2" not in res.stderr + res.stdout


def test_unreachable_database(tmp_path: Path) -> None:
    from pgcluster import free_port

    url = f"postgresql://tw:s3cretpw@127.0.0.1:{free_port()}/tw"
    res = run_tw(["serve"], tmp_path, base_env(tmp_path, TW_DATABASE_URL=url))
    assert res.returncode == 1
    line = one_line_error(res)
    assert "could not connect to the database" in line
    assert "s3cretpw" not in res.stderr
    log = (tmp_path / "logs" / "app.log").read_text()
    assert "s3cretpw" not in log


def test_missing_secret_key(tmp_path: Path, migrated: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_SECRET_KEY=None)
    res = run_tw(["serve"], tmp_path, env)
    assert res.returncode == 1
    assert "TW_SECRET_KEY is not set" in one_line_error(res)


def test_short_secret_key(tmp_path: Path, migrated: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_SECRET_KEY="tooshort")
    res = run_tw(["serve"], tmp_path, env)
    assert res.returncode == 1
    line = one_line_error(res)
    assert "TW_SECRET_KEY is too short" in line
    assert "tooshort" not in line


def refused_at_start(command: str, workdir: Path, env: dict[str, str]):
    """Runs a long-lived command that must refuse to start; one that starts
    anyway is killed after a while and fails the test."""
    args = [command] + (["--bind", "127.0.0.1:0"] if command == "serve" else [])
    try:
        res = run_tw(args, workdir, env, timeout=20)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s started instead of refusing: %r" % (command, e.stdout)) from None
    assert res.returncode == 1, (command, res.stdout, res.stderr)
    return res


def test_secret_key_with_too_little_variety_is_refused(tmp_path: Path, migrated: str) -> None:
    # Long enough, but typed rather than generated: 44 x "a" passed before.
    for weak in ("a" * 44, "0123456789abcdef" * 4, "s3cret!" * 8):
        env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_SECRET_KEY=weak)
        res = refused_at_start("serve", tmp_path, env)
        line = one_line_error(res)
        assert "TW_SECRET_KEY is too simple" in line
        assert "tablewright init" in line
        assert weak not in res.stderr + res.stdout


def test_output_or_data_schema_may_not_be_the_app_schema(tmp_path: Path, migrated: str) -> None:
    cases = [
        ("serve", {"TW_OUTPUT_SCHEMA": "tablewright"}, "TW_OUTPUT_SCHEMA"),
        ("serve", {"TW_DATA_SCHEMAS": "public,tablewright"}, "TW_DATA_SCHEMAS"),
        ("worker", {"TW_OUTPUT_SCHEMA": "Tablewright"}, "TW_OUTPUT_SCHEMA"),
        ("serve", {"TW_APP_SCHEMA": "public"}, "TW_DATA_SCHEMAS"),
        ("serve", {"TW_OUTPUT_SCHEMA": "pg_catalog"}, "TW_OUTPUT_SCHEMA"),
    ]
    for command, overrides, key in cases:
        env = base_env(tmp_path, TW_DATABASE_URL=migrated, **overrides)
        res = refused_at_start(command, tmp_path, env)
        line = one_line_error(res)
        assert key in line and "must live in other schemas" in line, line


def test_unwritable_log_directory(tmp_path: Path, migrated: str) -> None:
    # Root ignores permission bits, so make the directory impossible instead:
    # its parent is a regular file.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    env = base_env(
        tmp_path, TW_DATABASE_URL=migrated, TW_LOG_DIR=str(blocker / "logs")
    )
    res = run_tw(["serve"], tmp_path, env)
    assert res.returncode == 1
    line = one_line_error(res)
    assert str(blocker / "logs") in line
    assert "Not a directory" in line


def test_read_only_log_directory_as_non_root(tmp_path: Path, migrated: str) -> None:
    """Permission bits, for whoever runs the tests without root."""
    if os.geteuid() == 0:
        # Root bypasses permission bits; the test above covers the failure
        # path for root with a path that cannot exist.
        return
    logs = tmp_path / "ro"
    logs.mkdir()
    os.chmod(logs, stat.S_IRUSR | stat.S_IXUSR)
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_LOG_DIR=str(logs))
    res = run_tw(["serve"], tmp_path, env)
    assert res.returncode == 1
    assert "Permission denied" in one_line_error(res)


def test_bad_bind(tmp_path: Path) -> None:
    env = base_env(tmp_path, TW_BIND="localhost:http")
    res = run_tw(["serve"], tmp_path, env)
    assert res.returncode == 1
    line = one_line_error(res)
    assert "TW_BIND" in line and "localhost:http" in line


def test_bad_number(tmp_path: Path) -> None:
    env = base_env(tmp_path, TW_JOB_TIMEOUT_S="sixty")
    res = run_tw(["serve"], tmp_path, env)
    assert res.returncode == 1
    assert "TW_JOB_TIMEOUT_S" in one_line_error(res)


def test_unknown_key_in_env_file_names_the_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# settings\nTW_BIND=127.0.0.1:0\nTW_BINDD=x\n")
    res = run_tw(["serve"], tmp_path, base_env(tmp_path))
    assert res.returncode == 1
    line = one_line_error(res)
    assert "TW_BINDD" in line and "line 3" in line


def test_env_file_syntax_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('TW_BIND="127.0.0.1:0\n')
    res = run_tw(["serve"], tmp_path, base_env(tmp_path))
    assert res.returncode == 1
    assert "line 1" in one_line_error(res)


def test_missing_named_env_file(tmp_path: Path) -> None:
    res = run_tw(
        ["--env-file", str(tmp_path / "nope.env"), "serve"], tmp_path, base_env(tmp_path)
    )
    assert res.returncode == 1
    assert "nope.env" in one_line_error(res)


def test_precedence_env_file_then_environment_then_flag(
    tmp_path: Path, migrated: str
) -> None:
    """.env < environment < --flag, seen in where the server listens."""
    from pgcluster import free_port

    p_file, p_env, p_flag = free_port(), free_port(), free_port()
    (tmp_path / ".env").write_text(
        f"TW_DATABASE_URL='{migrated}'\nTW_BIND=127.0.0.1:{p_file}\n"
    )
    env = base_env(tmp_path)
    srv = start_server(tmp_path, env, bind_any_port=False)
    try:
        assert srv.url.endswith(f":{p_file}")
        assert srv.get("/healthz").status_code == 200
    finally:
        assert srv.stop() == 0
    srv = start_server(tmp_path, {**env, "TW_BIND": f"127.0.0.1:{p_env}"},
                       bind_any_port=False)
    try:
        assert srv.url.endswith(f":{p_env}")
    finally:
        assert srv.stop() == 0
    srv = start_server(
        tmp_path,
        {**env, "TW_BIND": f"127.0.0.1:{p_env}"},
        extra=["--bind", f"127.0.0.1:{p_flag}"],
    )
    try:
        assert srv.url.endswith(f":{p_flag}")
    finally:
        assert srv.stop() == 0


def test_env_file_alone_is_enough(tmp_path: Path, migrated: str) -> None:
    """The database URL and key can come from .env only."""
    key = secrets.token_hex(32)
    (tmp_path / ".env").write_text(
        f'export TW_DATABASE_URL="{migrated}"\nTW_SECRET_KEY={key}  # comment\n'
    )
    env = base_env(tmp_path, TW_SECRET_KEY=None)
    srv: Server = start_server(tmp_path, env)
    try:
        assert srv.get("/healthz").json()["database"] == "ok"
    finally:
        assert srv.stop() == 0


def test_port_in_use(tmp_path: Path, server: Server) -> None:
    env = dict(server.env)
    env["TW_BIND"] = server.url.removeprefix("http://")
    res = run_tw(["serve"], tmp_path, env)
    assert res.returncode == 1
    line = one_line_error(res)
    assert "could not listen on" in line
    assert "Address already in use" in line
