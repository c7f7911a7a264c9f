"""Migrations: applied once each, in order, recorded; idempotent; safe when
two processes migrate at once; serve refuses an unmigrated database."""

import subprocess
from pathlib import Path

import psycopg

from conftest import BINARY, base_env, run_tw

ROOT = Path(__file__).resolve().parents[2]


def migration_files() -> list[str]:
    return sorted(p.stem for p in (ROOT / "migrations").glob("*.sql"))


def test_migrate_twice_changes_nothing(tmp_path: Path, database: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=database)
    first = run_tw(["migrate"], tmp_path, env)
    assert first.returncode == 0, first.stderr
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT version, name, applied_at FROM tablewright.schema_migrations"
            " ORDER BY version"
        ).fetchall()
    assert [r[1] for r in rows] == migration_files()
    second = run_tw(["migrate"], tmp_path, env)
    assert second.returncode == 0, second.stderr
    with psycopg.connect(database) as conn:
        again = conn.execute(
            "SELECT version, name, applied_at FROM tablewright.schema_migrations"
            " ORDER BY version"
        ).fetchall()
    assert again == rows
    log = (tmp_path / "logs" / "app.log").read_text()
    assert "0 migrations applied now" in log


def test_schema_has_the_seed_tables_and_columns(tmp_path: Path, migrated: str) -> None:
    want = {
        "users": {"id", "email", "password_hash", "role", "created_at"},
        "scripts": {"id", "user_id", "name", "code_text", "created_at"},
        "script_versions": {"script_id", "version", "code_text", "created_at"},
        "jobs": {
            "id", "user_id", "script_id", "source_table", "destination_table",
            "status", "logs", "started_at", "completed_at", "queued_at", "mode",
            "attempt", "worker_id", "heartbeat_at", "error_code", "rows_in",
            "rows_out", "peak_memory_bytes", "cpu_seconds", "script_version",
        },
    }
    with psycopg.connect(migrated) as conn:
        for table, cols in want.items():
            have = {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'tablewright' AND table_name = %s",
                    (table,),
                )
            }
            assert cols <= have, (table, cols - have)
        # Roles and statuses are constrained by the schema itself.
        for bad in (
            "INSERT INTO tablewright.users (email, password_hash, role)"
            " VALUES ('a@b.c', 'x', 'superuser')",
        ):
            try:
                conn.execute(bad)
            except psycopg.errors.CheckViolation:
                conn.rollback()
            else:
                raise AssertionError("accepted: " + bad)


def test_custom_app_schema(tmp_path: Path, database: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=database, TW_APP_SCHEMA="tw_meta")
    res = run_tw(["migrate"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    with psycopg.connect(database) as conn:
        n = conn.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = 'tw_meta' AND table_name = 'jobs'"
        ).fetchone()
    assert n == (1,)


def test_concurrent_migrations_apply_once(tmp_path: Path, database: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=database)
    procs = [
        subprocess.Popen(
            [str(BINARY), "migrate", "--log-dir", str(tmp_path / f"logs{i}")],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with psycopg.connect(database) as conn:
        n = conn.execute("SELECT count(*) FROM tablewright.schema_migrations").fetchone()
    assert n == (len(migration_files()),)


def test_serve_refuses_unmigrated_database(tmp_path: Path, database: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=database)
    res = run_tw(["serve", "--bind", "127.0.0.1:0"], tmp_path, env, timeout=60)
    assert res.returncode == 1
    assert "run `tablewright migrate`" in res.stderr
