"""The data path end to end (docs/internals/datapath.md): the real server,
worker and supervisor, with tests/integration/helpers/fake_runner.py as the
sandbox child, which echoes every BATCH frame it gets back unchanged. So
whatever the source holds must come out in the destination exactly: every
PostgreSQL type the data path carries, NULLs at chunk boundaries and
chunks of one row; and whatever the child does wrong (garbage on stdout,
a bad SCHEMA, too many rows, a lie in its STATUS) or whatever stops the
job (cancel, a killed worker) must leave no table behind.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_worker import FINAL, Jobs, Worker, gone, make_jobs, pid_from_log, wait_for

from conftest import base_env, run_tw

# Every type the data path carries natively, and one it carries as text.
TYPES_DDL = """
CREATE TABLE public.{name} (
    k int4 NOT NULL,
    i2 int2, i4 int4, i8 int8,
    n numeric, n2 numeric(10,2),
    f4 real, f8 double precision,
    b boolean,
    t text, vc varchar(20),
    d date, ts timestamp, tstz timestamptz,
    u uuid, j json, jb jsonb,
    iv interval
)
"""
COLUMNS = "k i2 i4 i8 n n2 f4 f8 b t vc d ts tstz u j jb iv".split()

# A row of NULLs (but k) goes where chunks of 3 meet: rows 3 and 4.
ROWS = [
    "(1, 1, 1, 1, 1.5, 1.25, 1.5, 1.5, true, 'plain', 'v', '2024-02-29', "
    "'2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012+00', "
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', '{\"a\": 1}', '1 day')",
    "(2, -32768, -2147483648, -9223372036854775808, "
    "-123456789012345678901234567890.123456789, -99999999.99, "
    "-3.4e38, -1.7976931348623157e308, false, "
    "'quotes '' \" and \t tabs \n newlines \\ backslash , comma', '', "
    "'0001-01-01', '1900-01-01 00:00:00', '1969-12-31 23:59:59.999999+00', "
    "'00000000-0000-0000-0000-000000000000', '[1, 2,  3]', '[1, 2, 3]', '-1 year 2 mons')",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL)",
    "(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL)",
    "(5, 32767, 2147483647, 9223372036854775807, 'NaN', 0, 'NaN', 'Infinity', true, "
    "'unicode: é 中文 🎉 \u00a0', 'ü', '9999-12-31', '2262-04-11 23:47:16.854775', "
    "'2100-01-01 00:00:00+05:30', 'ffffffff-ffff-ffff-ffff-ffffffffffff', "
    '\'{"nested": {"k": [true, null]}}\', \'{"b": 2, "a": 1}\', \'00:00:00.000001\')',
    "(6, 0, 0, 0, 0.000000000000000000001, 0.01, 0, -0.0, false, '', NULL, "
    "'1970-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', NULL, 'null', "
    "'\"text\"', NULL)",
    "(7, NULL, 7, NULL, 7, NULL, 7, NULL, true, NULL, 'seven', NULL, "
    "'2000-01-01 00:00:00', NULL, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', NULL, "
    "'{}', NULL)",
]


def as_text(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    """Every value as PostgreSQL prints it (exact: no float or timezone
    conversion in between), in k order."""
    cols = ", ".join(f"{c}::text" for c in COLUMNS)
    return conn.execute(f"SELECT {cols} FROM public.{table} ORDER BY k").fetchall()


def column_types(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        (f"public.{table}",),
    ).fetchall()
    return dict(rows)


def no_table_left(db_url: str, table: str) -> None:
    """Neither the destination nor any staging table exists."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone() == (None,)
        stages = conn.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'tw\\_stage\\_%%'"
        ).fetchall()
        assert stages == [], stages


@pytest.fixture
def dp(migrated: str, tmp_path: Path) -> Iterator[Jobs]:
    with make_jobs(tmp_path, migrated) as j:
        yield j


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers a test starts, stopped gracefully afterwards: under the
    sanitizer build a leak or a report on any path the test took makes the
    exit status non-zero."""
    started: list[Worker] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            assert w.stop() == 0, w.stderr()


def make_types_table(db_url: str) -> str:
    name = "types_" + uuid.uuid4().hex[:8]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(TYPES_DDL.format(name=name))
        conn.execute(f"INSERT INTO public.{name} VALUES " + ", ".join(ROWS))
    return name


def submit(jobs: Jobs, code: str, source: str, dest: str, **fields: Any) -> int:
    return jobs.submit(code, source_table=f"public.{source}", destination_table=dest, **fields)


# --- round trips ------------------------------------------------------------


@pytest.mark.parametrize("chunk_rows", ["1", "3", "100000"])
def test_every_type_round_trips_unchanged(dp: Jobs, workers: list[Worker], chunk_rows: str) -> None:
    src = make_types_table(dp.db_url)
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = submit(dp, "say echo", src, dest)
    workers.append(dp.worker(TW_CHUNK_ROWS=chunk_rows))
    j = dp.wait(job_id, FINAL)
    assert j["status"] == "succeeded", (j, dp.logs(job_id))
    assert (j["rows_in"], j["rows_out"]) == (len(ROWS), len(ROWS))
    with psycopg.connect(dp.db_url) as conn:
        got, want = as_text(conn, dest), as_text(conn, src)
        assert got == want
        # Empty text is not NULL, and NULL is not empty text.
        assert got[5][9] == "" and got[2][9] is None
        types = column_types(conn, dest)
        source_types = column_types(conn, src)
    # Each column keeps its type, but those the echo sends as text.
    expect = dict(source_types, vc="text", iv="text")
    assert types == expect, types
    logs = dp.logs(job_id)
    assert "echo\n" in logs
    assert f"{len(ROWS)} rows in, {len(ROWS)} rows out" in logs


def test_many_rows_in_odd_chunks(dp: Jobs, workers: list[Worker]) -> None:
    src = "many_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{src} (id int8, v text, x float8)")
        conn.execute(
            f"INSERT INTO public.{src} SELECT g, CASE WHEN g % 5 = 0 THEN NULL "
            "ELSE repeat('x', g % 17) END, g / 3.0 FROM generate_series(1, 20000) g"
        )
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = submit(dp, "say many", src, dest)
    workers.append(dp.worker(TW_CHUNK_ROWS="777"))
    j = dp.wait(job_id, FINAL, timeout=60)
    assert j["status"] == "succeeded", (j, dp.logs(job_id))
    assert (j["rows_in"], j["rows_out"]) == (20000, 20000)
    with psycopg.connect(dp.db_url) as conn:
        diff = conn.execute(
            f"SELECT count(*) FROM ((TABLE public.{src} EXCEPT ALL TABLE public.{dest}) "
            f"UNION ALL (TABLE public.{dest} EXCEPT ALL TABLE public.{src})) x"
        ).fetchone()
    assert diff == (0,)


def test_an_empty_source_needs_allow_empty(dp: Jobs, workers: list[Worker]) -> None:
    src = "empty_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{src} (id int8, v text)")
    refused = "out_" + uuid.uuid4().hex[:8]
    allowed = "out_" + uuid.uuid4().hex[:8]
    job_refused = submit(dp, "say nothing", src, refused)
    job_allowed = submit(dp, "allow-empty", src, allowed)
    workers.append(dp.worker())
    j = dp.wait(job_refused, FINAL)
    assert (j["status"], j["error_code"]) == ("failed", "invalid_output"), j
    assert "ALLOW_EMPTY" in j["error_message"]
    no_table_left(dp.db_url, refused)
    j = dp.wait(job_allowed, FINAL)
    assert j["status"] == "succeeded", (j, dp.logs(job_allowed))
    assert (j["rows_in"], j["rows_out"]) == (0, 0)
    with psycopg.connect(dp.db_url) as conn:
        assert conn.execute(f"SELECT count(*) FROM public.{allowed}").fetchone() == (0,)
        assert column_types(conn, allowed) == {"id": "bigint", "v": "text"}


def test_metrics_events_report_rows_done(dp: Jobs, workers: list[Worker]) -> None:
    dest = "out_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.src SELECT g, 'r' FROM generate_series(3, 12) g")
    job_id = dp.submit("slow 0.4", destination_table=dest)
    workers.append(dp.worker(TW_CHUNK_ROWS="2"))
    j = dp.wait(job_id, FINAL, timeout=30)
    assert j["status"] == "succeeded", (j, dp.logs(job_id))
    with psycopg.connect(dp.db_url) as conn:
        metrics = [
            r[0]
            for r in conn.execute(
                "SELECT data FROM tablewright.job_events WHERE job_id = %s "
                "AND kind = 'metrics' ORDER BY seq",
                (job_id,),
            ).fetchall()
        ]
    metrics = [m if isinstance(m, dict) else json.loads(m) for m in metrics]
    assert metrics, "no metrics event"
    done = [(m["rows_in"], m["rows_out"]) for m in metrics]
    # Rows done grow while it runs, never past the table.
    assert any(0 < out < 12 for _, out in done), done
    assert done == sorted(done)
    assert all(out <= 12 and rin <= 12 for rin, out in done), done


def test_a_log_frame_larger_than_a_read_keeps_its_lines_whole(
    dp: Jobs, workers: list[Worker]
) -> None:
    # One LOG frame of ~800 KB: the worker takes it in 256 KiB pieces.
    job_id = dp.submit("lines 30000\nsay after the big frame")
    workers.append(dp.worker())
    j = dp.wait(job_id, FINAL)
    assert j["status"] == "succeeded", (j, dp.logs(job_id)[-2000:])
    lines = [ln for ln in dp.logs(job_id).splitlines() if "of the job's output" in ln]
    assert lines == [f"line {i} of the job's output" for i in range(30000)]
    assert "after the big frame\n" in dp.logs(job_id)


# --- failures leave nothing -------------------------------------------------


def test_garbage_on_stdout_is_internal_and_leaves_no_table(dp: Jobs, workers: list[Worker]) -> None:
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = dp.submit("say before\ngarbage\nsay after", destination_table=dest)
    workers.append(dp.worker())
    j = dp.wait(job_id, FINAL)
    assert (j["status"], j["error_code"]) == ("failed", "internal"), j
    assert "the sandbox runner broke the protocol" in j["error_message"]
    assert j["rows_out"] is None
    logs = dp.logs(job_id)
    assert "before\n" in logs and "the sandbox runner broke the protocol" in logs
    no_table_left(dp.db_url, dest)


@pytest.mark.parametrize(
    ("code", "error_code", "text"),
    [
        ("bad-name", "invalid_output", '"1bad" is not a valid name'),
        ("dup-name", "invalid_output", 'two columns named "id"'),
        ("bad-type", "invalid_output", '"id"'),
        ("double", "invalid_output", "TW_MAX_OUTPUT_ROWS (3)"),
        ("drop", "invalid_output", "ALLOW_EMPTY"),
        ("no-status", "internal", "without a STATUS frame"),
        ("miscount", "internal", "its STATUS counts"),
        (
            "fail user_error ZeroDivisionError: division by zero",
            "user_error",
            "ZeroDivisionError: division by zero (line 2, column 5)",
        ),
        (
            "fail sandbox_violation import of os is not allowed",
            "sandbox_violation",
            "import of os is not allowed",
        ),
        ("fail no_such_code what", "internal", "what"),
        ("exit 3", "internal", "exited with status 3"),
    ],
)
def test_a_bad_result_publishes_nothing(
    dp: Jobs, workers: list[Worker], code: str, error_code: str, text: str
) -> None:
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = dp.submit(code, destination_table=dest)
    workers.append(dp.worker(TW_MAX_OUTPUT_ROWS="3"))
    j = dp.wait(job_id, FINAL)
    assert (j["status"], j["error_code"]) == ("failed", error_code), (j, dp.logs(job_id))
    assert text in j["error_message"], j
    no_table_left(dp.db_url, dest)
    if code.startswith("fail user_error"):
        logs = dp.logs(job_id)
        assert "Traceback (the script's lines):\n  line 2, in transform\n" in logs
        assert "\ufffd" not in logs


@pytest.mark.parametrize(
    ("retype", "text"),
    [
        # Text that is no uuid: the worker's encoder refuses it, naming it.
        ("v uuid", 'the result\'s column "v", row 501: the text'),
        # 12345.67 does not fit numeric(4,2): the destination refuses it.
        ("n numeric(4,2)", "numeric field overflow"),
    ],
)
def test_a_value_the_destination_type_refuses_publishes_nothing(
    dp: Jobs, workers: list[Worker], retype: str, text: str
) -> None:
    src = "vals_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{src} (v text, n numeric(10,2))")
        conn.execute(
            f"INSERT INTO public.{src} SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1.5 "
            "FROM generate_series(1, 500)"
        )
        conn.execute(f"INSERT INTO public.{src} VALUES ('not a uuid', 12345.67)")
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = submit(dp, f"retype {retype}", src, dest)
    workers.append(dp.worker(TW_CHUNK_ROWS="100"))
    j = dp.wait(job_id, FINAL)
    assert (j["status"], j["error_code"]) == ("failed", "invalid_output"), (j, dp.logs(job_id))
    assert text in j["error_message"], j
    no_table_left(dp.db_url, dest)


def test_missing_source_fails_before_the_child_starts(dp: Jobs, workers: list[Worker]) -> None:
    src = "gone_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{src} (id int)")
    job_id = submit(dp, "pid", src, "out_" + uuid.uuid4().hex[:8])
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE public.{src}")
    w = dp.worker()
    workers.append(w)
    j = dp.wait(job_id, FINAL)
    assert (j["status"], j["error_code"]) == ("failed", "source_missing"), j
    assert f"public.{src}" in j["error_message"]
    assert "pid " not in dp.logs(job_id)
    assert f"job {job_id}: sandbox pid" not in w.log()


def test_taken_destination_fails_before_the_child_starts(dp: Jobs, workers: list[Worker]) -> None:
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = dp.submit("pid", destination_table=dest)
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{dest} (mine int)")
        conn.execute(f"INSERT INTO public.{dest} VALUES (42)")
    w = dp.worker()
    workers.append(w)
    j = dp.wait(job_id, FINAL)
    assert (j["status"], j["error_code"]) == ("failed", "destination_exists"), j
    assert f"job {job_id}: sandbox pid" not in w.log()
    with psycopg.connect(dp.db_url) as conn:
        assert conn.execute(f"SELECT mine FROM public.{dest}").fetchall() == [(42,)]


def slow_job(jobs: Jobs, dest: str) -> int:
    """A job that echoes 40 one-row chunks, 0.25 s each."""
    with psycopg.connect(jobs.db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.src SELECT g, 'r' FROM generate_series(3, 40) g")
    return jobs.submit("pid\nslow 0.25", destination_table=dest)


def wait_rows_out(jobs: Jobs, job_id: int, at_least: int) -> None:
    def seen() -> bool:
        with psycopg.connect(jobs.db_url) as conn:
            rows = conn.execute(
                "SELECT data FROM tablewright.job_events WHERE job_id = %s AND kind = 'metrics'",
                (job_id,),
            ).fetchall()
        for (m,) in rows:
            m = m if isinstance(m, dict) else json.loads(m)
            if m.get("rows_out", 0) >= at_least:
                return True
        return False

    wait_for(seen, 15, f"{at_least} rows written by job {job_id}")


def test_cancel_mid_job_leaves_no_table(dp: Jobs, workers: list[Worker]) -> None:
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = slow_job(dp, dest)
    w = dp.worker(TW_CHUNK_ROWS="1")
    workers.append(w)
    wait_rows_out(dp, job_id, 2)
    t0 = time.monotonic()
    assert dp.api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 202
    j = dp.wait(job_id, FINAL, timeout=5)
    assert j["status"] == "cancelled", j
    assert time.monotonic() - t0 < 3
    no_table_left(dp.db_url, dest)
    # The reader thread ended and its COPY with it: the worker stops cleanly.
    assert w.stop() == 0, w.stderr()


def test_cancel_while_the_source_is_slow_cancels_its_copy(dp: Jobs, workers: list[Worker]) -> None:
    """The reader waits on the server, not on the child: the cancel must
    reach its COPY (PQcancel), or the job would wait for the whole scan."""
    src = "slow_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE VIEW public.{src} AS SELECT g AS id, pg_sleep(0.5)::text AS s "
            "FROM generate_series(1, 200) g"
        )
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = submit(dp, "pid", src, dest)
    w = dp.worker()
    workers.append(w)
    dp.wait_log(job_id, "pid ")
    time.sleep(1)
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        copying = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%%'"
        ).fetchone()
    assert copying == (1,), "the source's COPY is not running"
    t0 = time.monotonic()
    assert dp.api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 202
    j = dp.wait(job_id, FINAL, timeout=10)
    took = time.monotonic() - t0
    assert j["status"] == "cancelled", j
    assert took < 3, f"cancel took {took:.2f} s"
    no_table_left(dp.db_url, dest)


def test_killed_worker_mid_copy_leaves_no_table(dp: Jobs, workers: list[Worker]) -> None:
    dest = "out_" + uuid.uuid4().hex[:8]
    job_id = slow_job(dp, dest)
    w = dp.worker(TW_CHUNK_ROWS="1")
    workers.append(w)
    wait_rows_out(dp, job_id, 2)
    child = pid_from_log(dp.logs(job_id), "pid")
    w.proc.kill()
    w.proc.wait()
    # The worker's sessions die with it: their transaction is rolled back.
    with psycopg.connect(dp.db_url, autocommit=True) as conn:
        wait_for(
            lambda: (
                conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'tablewright worker'"
                ).fetchone()
                == (0,)
            ),
            10,
            "the worker's sessions gone",
        )
    no_table_left(dp.db_url, dest)
    wait_for(lambda: gone(child), 3, "the child gone with its worker")


def test_worker_without_an_interpreter_refuses_to_start(migrated: str, tmp_path: Path) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_PYTHON="/nonexistent/bin/python")
    res = run_tw(["worker"], tmp_path, env)
    assert res.returncode == 1, res.stderr
    assert "TW_PYTHON" in res.stderr and "/nonexistent/bin/python" in res.stderr, res.stderr
