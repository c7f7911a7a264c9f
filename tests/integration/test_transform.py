"""Transform jobs end to end with the real Python runner: the real server,
worker, supervisor and sandbox/.venv runner, on tables in a real
PostgreSQL, every result checked with SQL."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_worker import Jobs, Worker, make_jobs, start_worker, wait_for, worker_env

from conftest import BINARY, ROOT, base_env, run_tw

EXAMPLES = ROOT / "examples"
SANDBOX_PYTHON = ROOT / "sandbox" / ".venv" / "bin" / "python"
ROWS = 12000
FINAL = {"succeeded", "failed", "cancelled"}


def runner_env(**overrides: str | None) -> dict[str, str | None]:
    """Worker settings for the real runner: no stand-in command."""
    settings: dict[str, str | None] = {
        "TW_SANDBOX_COMMAND": None,
        "TW_PYTHON": str(SANDBOX_PYTHON),
        "TW_JOB_CPU_GRACE_S": "0",
    }
    settings.update(overrides)
    return settings


@pytest.fixture(scope="module")
def env(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    """A database with the demo tables and a table of every type, a server
    and a signed-in analyst; each test starts the worker it needs."""
    from conftest import create_database, drop_database

    url = create_database(pg_url)
    tmp = tmp_path_factory.mktemp("transform")
    os.chmod(tmp, 0o755)
    res = run_tw(
        ["init", "--admin-email", "admin@example.com"], tmp, base_env(tmp, TW_DATABASE_URL=url)
    )
    assert res.returncode == 0, res.stderr
    res = run_tw(["seed-demo", "--rows", str(ROWS)], tmp, base_env(tmp, TW_DATABASE_URL=url))
    assert res.returncode == 0, res.stderr
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TYPES_SQL)
    with make_jobs(tmp, url) as jobs:
        yield jobs
    drop_database(pg_url, url)


@contextmanager
def worker(env: Jobs, **overrides: str | None) -> Iterator[Worker]:
    w = start_worker(env.workdir, env.db_url, 1, **runner_env(**overrides))
    try:
        yield w
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def q(env: Jobs, sql: str, *params: Any) -> list[tuple]:
    with psycopg.connect(env.db_url) as conn:
        return conn.execute(sql, params or None).fetchall()


def exists(env: Jobs, table: str) -> bool:
    return q(env, "SELECT to_regclass(%s) IS NOT NULL", f"public.{table}")[0][0]


def stages(env: Jobs) -> list[str]:
    return [r[0] for r in q(env, "SELECT relname FROM pg_class WHERE relname LIKE 'tw_stage%%'")]


def coltypes(env: Jobs, table: str) -> dict[str, str]:
    return dict(
        q(
            env,
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
            " ORDER BY attnum",
            f"public.{table}",
        )
    )


def run(
    env: Jobs,
    code: str,
    source: str = "public.orders",
    dest: str | None = None,
    mode: str = "create",
    timeout: float = 90,
) -> tuple[dict[str, Any], str]:
    dest = dest or "out_" + uuid.uuid4().hex[:10]
    job_id = env.submit(code, source_table=source, destination_table=dest, mode=mode)
    job = env.wait(job_id, FINAL, timeout)
    job["dest"] = dest
    return job, env.logs(job_id)


def ok(job: dict[str, Any], logs: str) -> None:
    assert job["status"] == "succeeded", (job, logs[-3000:])


def failed(job: dict[str, Any], logs: str, code: str) -> None:
    assert (job["status"], job["error_code"]) == ("failed", code), (job, logs[-3000:])


# --- examples -------------------------------------------------------------------------------


def test_order_totals(env: Jobs) -> None:
    with worker(env):
        job, logs = run(env, (EXAMPLES / "order_totals.py").read_text())
    ok(job, logs)
    d = job["dest"]
    assert job["rows_in"] == ROWS and job["rows_out"] == ROWS
    types = coltypes(env, d)
    assert types["price"] == "numeric(10,2)" and types["total"] == "double precision"
    assert types["qty"] == "integer" and types["ordered_at"] == "timestamp with time zone"
    bad = q(
        env,
        f"SELECT count(*) FROM public.{d} o JOIN public.orders s USING (id)"
        " WHERE abs(o.total - (s.price * s.qty)::float8) > 1e-9"
        " OR o.price <> s.price OR o.note IS DISTINCT FROM s.note"
        " OR o.region IS DISTINCT FROM s.region OR o.ordered_at <> s.ordered_at"
        " OR o.discount IS DISTINCT FROM s.discount OR o.is_gift <> s.is_gift",
    )
    assert bad == [(0,)]
    assert q(env, f"SELECT count(*) FROM public.{d} WHERE note = ''") == q(
        env, "SELECT count(*) FROM public.orders WHERE note = ''"
    )
    assert job["peak_memory_bytes"] > 0 and job["cpu_seconds"] > 0


def test_clean_customers(env: Jobs) -> None:
    with worker(env):
        job, logs = run(env, (EXAMPLES / "clean_customers.py").read_text(), "public.customers")
    ok(job, logs)
    d = job["dest"]
    assert q(env, f"SELECT count(*) FROM public.{d}") == q(env, "SELECT count(*) FROM customers")
    assert q(
        env,
        f"SELECT count(*) FROM public.{d} WHERE phone = '' OR city = ''"
        " OR phone ~ '\\D' OR full_name <> initcap(full_name)"
        " OR email <> lower(trim(email))",
    ) == [(0,)]
    assert coltypes(env, d)["signed_up"] == "date"
    assert q(
        env,
        f"SELECT count(*) FROM public.{d} o JOIN customers c USING (id)"
        " WHERE o.signed_up <> c.signed_up",
    ) == [(0,)]


def test_parse_dates(env: Jobs) -> None:
    with worker(env):
        job, logs = run(env, (EXAMPLES / "parse_dates.py").read_text(), "public.events")
    ok(job, logs)
    d = job["dest"]
    types = coltypes(env, d)
    assert types["happened_at"] == "timestamp with time zone" and types["payload"] == "jsonb"
    assert q(
        env,
        f"SELECT count(*) FROM public.{d} o JOIN events e USING (id)"
        " WHERE (e.happened_at_text IS NULL) <> (o.happened_at IS NULL)"
        " OR o.payload IS DISTINCT FROM e.payload",
    ) == [(0,)]
    assert q(
        env,
        f"SELECT count(*) FROM public.{d} WHERE happened_at_text ~ '^\\d{{4}}-\\d\\d-\\d\\d$'"
        " AND happened_at <> (happened_at_text || ' 00:00:00+00')::timestamptz",
    ) == [(0,)]


def test_categorize_and_filter(env: Jobs) -> None:
    with worker(env):
        cat, logs1 = run(env, (EXAMPLES / "categorize_orders.py").read_text())
        flt, logs2 = run(env, (EXAMPLES / "filter_large_orders.py").read_text())
    ok(cat, logs1)
    ok(flt, logs2)
    assert q(
        env,
        f"SELECT count(*) FROM public.{cat['dest']} WHERE price_band <>"
        " CASE WHEN price < 10 THEN 'budget' WHEN price < 50 THEN 'standard'"
        " WHEN price < 100 THEN 'premium' ELSE 'luxury' END"
        " OR size <> CASE WHEN qty >= 10 THEN 'bulk' ELSE 'single' END",
    ) == [(0,)]
    assert coltypes(env, cat["dest"])["discounted_gift"] == "boolean"
    expected = q(
        env,
        "SELECT count(*) FROM orders WHERE qty >= 10 AND region IS NOT NULL AND price * qty >= 500",
    )[0][0]
    assert flt["rows_out"] == expected and flt["rows_in"] == ROWS
    assert list(coltypes(env, flt["dest"])) == [
        "id",
        "customer_id",
        "product",
        "price",
        "qty",
        "region",
        "value",
    ]


def test_whole_table_aggregation(env: Jobs) -> None:
    # Chunks of 1000 rows: only whole-table mode gives one row per group.
    with worker(env, TW_CHUNK_ROWS="1000"):
        job, logs = run(env, (EXAMPLES / "sales_by_region.py").read_text())
    ok(job, logs)
    got = q(
        env,
        f"SELECT region, month, round(revenue::numeric, 2), orders"
        f" FROM public.{job['dest']} ORDER BY 1, 2",
    )
    want = q(
        env,
        "SELECT coalesce(region, 'unknown'), to_char(ordered_at AT TIME ZONE 'UTC',"
        " 'YYYY-MM'), round(sum(price * qty), 2), count(*) FROM orders"
        " GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert got == want


# --- types ----------------------------------------------------------------------------------

TYPES_SQL = """
CREATE TABLE public.every_type (
  id int NOT NULL, i2 smallint, i4 integer, i8 bigint, n numeric, n102 numeric(10,2),
  n30 numeric(30,10), f4 real, f8 double precision, b boolean, t text, vc varchar(20),
  d date, ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb, iv interval);
INSERT INTO public.every_type
SELECT g,
  CASE WHEN g % 4 = 0 THEN NULL ELSE (g * 7 % 32767)::smallint END,
  CASE WHEN g % 5 = 0 THEN NULL WHEN g = 1 THEN -2147483648 WHEN g = 2 THEN 2147483647 ELSE g END,
  CASE WHEN g % 3 = 0 THEN NULL WHEN g = 1 THEN -9223372036854775808
       WHEN g = 2 THEN 9223372036854775807 ELSE g::bigint * 1000003 END,
  CASE WHEN g % 6 = 0 THEN NULL WHEN g = 7 THEN 'NaN'::numeric
       ELSE (g::numeric * 12345.6789012345678901234567) END,
  CASE WHEN g % 7 = 0 THEN NULL ELSE round((g * 3.33)::numeric, 2) END,
  CASE WHEN g % 8 = 0 THEN NULL ELSE (g::numeric / 7)::numeric(30,10) END,
  CASE WHEN g % 9 = 0 THEN NULL ELSE (g / 3.0)::real END,
  CASE WHEN g % 10 = 0 THEN NULL WHEN g = 3 THEN 'Infinity'::float8 ELSE g / 7.0 END,
  CASE WHEN g % 11 = 0 THEN NULL ELSE g % 2 = 0 END,
  CASE WHEN g % 12 = 0 THEN NULL WHEN g % 12 = 1 THEN ''
       WHEN g % 12 = 2 THEN E'tab\\there\\nnew line "quoted", back\\\\slash'
       WHEN g % 12 = 3 THEN 'zürich 中文 🙂' ELSE 'row ' || g END,
  CASE WHEN g % 13 = 0 THEN NULL ELSE 'v' || g END,
  CASE WHEN g % 14 = 0 THEN NULL ELSE date '1969-12-25' + g * 17 END,
  CASE WHEN g % 15 = 0 THEN NULL ELSE timestamp '1999-12-31 23:59:59.123456'
       + g * interval '1 day 1 second' END,
  CASE WHEN g % 16 = 0 THEN NULL ELSE timestamptz '1960-01-01 00:00:00.5+00'
       + g * interval '37 days' END,
  CASE WHEN g % 17 = 0 THEN NULL ELSE md5(g::text)::uuid END,
  CASE WHEN g % 18 = 0 THEN NULL ELSE json_build_object('g', g, 's', 'x"y') END,
  CASE WHEN g % 19 = 0 THEN NULL ELSE jsonb_build_object('g', g,
       'a', jsonb_build_array(1, 'é')) END,
  CASE WHEN g % 20 = 0 THEN NULL ELSE g * interval '1 hour' END
FROM generate_series(1, 200) g;
"""

COMPARE = [
    "id",
    "i2",
    "i4",
    "i8",
    "n",
    "n102",
    "n30",
    "f4",
    "f8",
    "b",
    "t",
    "vc",
    "d",
    "ts",
    "tstz",
    "u",
    "j::text",
    "jb",
    "iv::text",
]


@pytest.mark.parametrize("chunk", ["1", "7", "100000"])
def test_every_type_round_trips(env: Jobs, chunk: str) -> None:
    with worker(env, TW_CHUNK_ROWS=chunk):
        job, logs = run(env, "def transform(df):\n    return df\n", "public.every_type")
    ok(job, logs)
    d = job["dest"]
    types = coltypes(env, d)
    want = coltypes(env, "every_type")
    # Types that keep their own: every one but varchar (text) and the
    # ones without a native path (interval arrives and leaves as text).
    for name, t in want.items():
        expected = {"vc": "text", "iv": "text"}.get(name, t)
        assert types[name] == expected, (name, types[name], t)
    cols = ", ".join(COMPARE)
    diff = q(
        env,
        f"(SELECT {cols} FROM public.every_type EXCEPT SELECT {cols} FROM public.{d})"
        f" UNION ALL (SELECT {cols} FROM public.{d} EXCEPT SELECT {cols}"
        " FROM public.every_type)",
    )
    assert diff == [], diff[:5]
    assert q(env, f"SELECT count(*) FROM public.{d}") == [(200,)]
    # NULL stays NULL and the empty string stays empty.
    assert q(
        env,
        f"SELECT count(*) FILTER (WHERE t IS NULL), count(*) FILTER (WHERE t = '') FROM public.{d}",
    ) == [(16, 17)]


def test_new_columns_get_sql_types(env: Jobs) -> None:
    code = (
        "import pandas as pd\n"
        "import numpy as np\n"
        "def transform(df):\n"
        "    out = pd.DataFrame({'id': df['id']})\n"
        "    out['i64'] = df['id'].astype('int64') * 2\n"
        "    out['f64'] = df['id'] / 3\n"
        "    out['flag'] = df['id'] % 2 == 0\n"
        "    out['label'] = 'n' + df['id'].astype(str)\n"
        "    out['when'] = pd.Timestamp('2024-01-01') + pd.to_timedelta(df['id'], unit='h')\n"
        "    utc = pd.Timestamp('2024-01-01', tz='UTC')\n"
        "    out['when_utc'] = utc + pd.to_timedelta(df['id'], unit='s')\n"
        "    out['maybe'] = np.where(df['id'] % 3 == 0, None, 'x')\n"
        "    return out\n"
    )
    with worker(env, TW_CHUNK_ROWS="64"):
        job, logs = run(env, code, "public.every_type")
    ok(job, logs)
    assert coltypes(env, job["dest"]) == {
        "id": "integer",
        "i64": "bigint",
        "f64": "double precision",
        "flag": "boolean",
        "label": "text",
        "when": "timestamp without time zone",
        "when_utc": "timestamp with time zone",
        "maybe": "text",
    }
    assert q(
        env,
        f"SELECT count(*) FROM public.{job['dest']} WHERE i64 <> id * 2"
        " OR abs(f64 - id / 3.0) > 1e-12 OR flag <> (id % 2 = 0) OR label <> 'n' || id"
        " OR \"when\" <> timestamp '2024-01-01' + id * interval '1 hour'"
        " OR (maybe IS NULL) <> (id % 3 = 0)",
    ) == [(0,)]


# --- validation -----------------------------------------------------------------------------

INVALID = {
    "not a frame": "def transform(df):\n    return 5\n",
    "bad column name": "def transform(df):\n    df['no spaces allowed'] = 1\n    return df\n",
    "duplicate columns": (
        "import pandas as pd\n"
        "def transform(df):\n    return pd.concat([df[['id']], df[['id']]], axis=1)\n"
    ),
    "objects": "def transform(df):\n    df['o'] = [{'a': 1}] * len(df)\n    return df\n",
    "empty": "def transform(df):\n    return df[df['id'] < 0]\n",
    "schema changes between chunks": (
        "def transform(df):\n    if df['id'].min() > 100:\n        df['extra'] = 1\n    return df\n"
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_output_publishes_nothing(env: Jobs, case: str) -> None:
    with worker(env, TW_CHUNK_ROWS="100"):
        job, logs = run(env, INVALID[case], "public.every_type")
    failed(job, logs, "invalid_output")
    assert not exists(env, job["dest"]) and stages(env) == []


def test_an_empty_result_when_the_script_allows_it(env: Jobs) -> None:
    code = "ALLOW_EMPTY = True\n\ndef transform(df):\n    return df[df['id'] < 0]\n"
    with worker(env):
        job, logs = run(env, code, "public.every_type")
    ok(job, logs)
    assert job["rows_out"] == 0 and q(env, f"SELECT count(*) FROM public.{job['dest']}") == [(0,)]


def test_too_many_rows(env: Jobs) -> None:
    with worker(env, TW_MAX_OUTPUT_ROWS="150", TW_CHUNK_ROWS="50"):
        job, logs = run(env, "def transform(df):\n    return df\n", "public.every_type")
    failed(job, logs, "invalid_output")
    assert not exists(env, job["dest"])


def test_append_with_another_schema_is_a_mismatch(env: Jobs) -> None:
    with worker(env):
        first, logs = run(
            env, "def transform(df):\n    return df[['id', 't']]\n", "public.every_type"
        )
        ok(first, logs)
        job, logs = run(
            env,
            "def transform(df):\n    df['t'] = df['id'] * 1.5\n"
            "    df['zz'] = 1\n    return df[['id', 'zz']]\n",
            "public.every_type",
            dest=first["dest"],
            mode="append",
        )
        failed(job, logs, "schema_mismatch")
        again, logs = run(
            env,
            "def transform(df):\n    return df[['id', 't']]\n",
            "public.every_type",
            dest=first["dest"],
            mode="append",
        )
        ok(again, logs)
    assert q(env, f"SELECT count(*) FROM public.{first['dest']}") == [(400,)]


# --- the user's code ------------------------------------------------------------------------


def test_prints_and_warnings_become_log_lines(env: Jobs) -> None:
    code = (
        "def transform(df):\n"
        "    print('rows in this chunk:', len(df))\n"
        "    print('second line\\nthird line')\n"
        "    return df\n"
    )
    with worker(env):
        job, logs = run(env, code, "public.every_type")
    ok(job, logs)
    assert "rows in this chunk: 200" in logs and "third line" in logs
    assert q(env, f"SELECT count(*) FROM public.{job['dest']}") == [(200,)]


def test_an_exception_names_the_users_line(env: Jobs) -> None:
    code = "def transform(df):\n    x = 1\n    y = x / 0\n    return df\n"
    with worker(env):
        job, logs = run(env, code, "public.every_type")
    failed(job, logs, "user_error")
    assert "ZeroDivisionError" in logs and "line 3" in logs
    assert "tablewright_runner" not in logs and "site-packages" not in logs
    assert not exists(env, job["dest"])


def test_a_syntax_error_fails_before_reading_the_table(env: Jobs) -> None:
    with worker(env):
        job, logs = run(env, "def transform(df):\n    return df +\n", "public.every_type")
    failed(job, logs, "user_error")
    assert "line 2" in logs and job["rows_in"] in (None, 0)


def test_forbidden_import_is_a_sandbox_violation(env: Jobs) -> None:
    with worker(env):
        job, logs = run(
            env, "import os\n\ndef transform(df):\n    return df\n", "public.every_type"
        )
    failed(job, logs, "sandbox_violation")
    assert "os" in logs and not exists(env, job["dest"])


def test_a_huge_allocation_is_memory_limit(env: Jobs) -> None:
    code = "def transform(df):\n    x = [0] * (10 ** 11)\n    return df\n"
    with worker(env, TW_JOB_MEMORY_MB="512"):
        job, logs = run(env, code, "public.every_type")
    failed(job, logs, "memory_limit")


def test_the_runner_is_found_next_to_the_program(env: Jobs) -> None:
    """No TW_PYTHON: the worker finds sandbox/.venv beside its build."""
    with worker(env, TW_PYTHON=None):
        job, logs = run(env, "def transform(df):\n    return df\n", "public.every_type")
    ok(job, logs)


# --- stopping -------------------------------------------------------------------------------

SLOW = "def transform(df):\n    n = 0\n    while n < 10 ** 9:\n        n += 1\n    return df\n"


def test_cancel_mid_job_leaves_nothing(env: Jobs) -> None:
    with worker(env, TW_CHUNK_ROWS="1000"):
        dest = "out_" + uuid.uuid4().hex[:10]
        job_id = env.submit(SLOW, source_table="public.orders", destination_table=dest)
        env.wait(job_id, {"running"}, 30)
        time.sleep(1.5)
        r = env.api.post(f"/api/v1/jobs/{job_id}/cancel")
        assert r.status_code == 202, r.text
        job = env.wait(job_id, FINAL, 30)
    assert job["status"] == "cancelled"
    assert not exists(env, dest) and stages(env) == []


def test_killing_the_worker_mid_copy_leaves_nothing(env: Jobs) -> None:
    with psycopg.connect(env.db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.big AS SELECT g AS id, md5(g::text) AS t"
            " FROM generate_series(1, 1500000) g"
        )
    dest = "out_" + uuid.uuid4().hex[:10]
    with worker(env, TW_CHUNK_ROWS="20000", TW_JOB_LEASE_S="3") as w:
        job_id = env.submit(
            "def transform(df):\n    df['u'] = df['t'].str.upper()\n    return df\n",
            source_table="public.big",
            destination_table=dest,
        )

        def progressing() -> bool:
            rows = q(env, "SELECT count(*) FROM pg_stat_progress_copy")
            return rows[0][0] >= 2

        wait_for(progressing, 60, "COPY in progress both ways")
        w.proc.send_signal(signal.SIGKILL)
        w.proc.wait()
    # The runner dies with its parent; PostgreSQL rolls the transaction back.
    wait_for(
        lambda: q(env, "SELECT count(*) FROM pg_stat_progress_copy")[0][0] == 0,
        30,
        "the COPYs gone",
    )
    assert not exists(env, dest) and stages(env) == []
    with worker(env, TW_JOB_LEASE_S="3"):
        job = env.wait(job_id, FINAL, 60)
    assert (job["status"], job["error_code"]) == ("failed", "worker_lost")
    assert not exists(env, dest)
    # The runner died with its parent (PR_SET_PDEATHSIG, its process group).
    pids = re.findall(rf"job {job_id}: sandbox pid (\d+) started", w.log())
    assert pids, w.log()[-2000:]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "tablewright_runner" not in Path(
            f"/proc/{pid}/cmdline"
        ).read_text(errors="replace")


# --- publish modes --------------------------------------------------------------------------


def test_replace_then_rollback(env: Jobs) -> None:
    with worker(env):
        first, logs = run(env, "def transform(df):\n    return df[['id']]\n", "public.every_type")
        ok(first, logs)
        d = first["dest"]
        second, logs = run(
            env,
            "def transform(df):\n    df['id'] = df['id'] * 10\n    return df[['id']]\n",
            "public.every_type",
            dest=d,
            mode="replace",
        )
        ok(second, logs)
    assert q(env, f"SELECT max(id) FROM public.{d}") == [(2000,)]
    r = env.api.get(f"/api/v1/tables/public/{d}")
    assert r.status_code == 200, r.text
    produced = r.json()["produced_by"]
    assert produced["job_id"] == second["id"] and len(produced["versions"]) >= 2
    r = env.api.post(f"/api/v1/tables/public/{d}/rollback")
    assert r.status_code == 200, r.text
    assert q(env, f"SELECT max(id) FROM public.{d}") == [(200,)]
    r = env.api.post(f"/api/v1/tables/public/{d}/rollback")
    assert r.status_code == 409, r.text


def test_a_table_created_after_submit_is_not_overwritten(env: Jobs) -> None:
    """The API refuses an existing destination at submit (409); one that
    appears while the job waits in the queue is caught by the publisher."""
    dest = "out_" + uuid.uuid4().hex[:10]
    job_id = env.submit(
        "def transform(df):\n    return df\n",
        source_table="public.every_type",
        destination_table=dest,
    )
    with psycopg.connect(env.db_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{dest} AS SELECT 42 AS mine")
    with worker(env):
        job = env.wait(job_id, FINAL, 60)
    failed(job, env.logs(job_id), "destination_exists")
    assert q(env, f"SELECT * FROM public.{dest}") == [(42,)]


def test_metrics_report_rows_done(env: Jobs) -> None:
    with worker(env, TW_CHUNK_ROWS="2000"):
        job, logs = run(env, SLOW.replace("10 ** 9", "2 * 10 ** 5"))
    ok(job, logs)
    rows = q(
        env,
        "SELECT data FROM tablewright.job_events WHERE job_id = %s AND kind = 'metrics'",
        job["id"],
    )
    assert any('"rows_in"' in str(r[0]) for r in rows), rows[:3]


def test_the_api_refuses_the_source_as_destination(env: Jobs) -> None:
    r = env.api.post(
        "/api/v1/scripts",
        {"name": "s_" + uuid.uuid4().hex[:8], "code_text": "def transform(df):\n    return df\n"},
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    for mode in ("create", "replace", "append"):
        r = env.api.post(
            "/api/v1/jobs",
            {
                "script_id": sid,
                "source_table": "public.every_type",
                "destination_table": "every_type",
                "mode": mode,
            },
        )
        assert r.status_code == 409, r.text
    assert q(env, "SELECT count(*) FROM public.every_type") == [(200,)]


def test_prints_cannot_corrupt_the_data_stream(env: Jobs) -> None:
    code = (
        "def transform(df):\n"
        "    print('H' * 100000)\n"
        "    print('\\x00\\x01 frame-like bytes BBBBBBBB')\n"
        "    return df\n"
    )
    with worker(env, TW_CHUNK_ROWS="10"):
        job, logs = run(env, code, "public.every_type")
    ok(job, logs)
    assert q(env, f"SELECT count(*) FROM public.{job['dest']}") == [(200,)]


def test_a_linked_venv_is_reached_through_its_real_place(env: Jobs, tmp_path: Path) -> None:
    """make deps links sandbox/.venv to a place the sandbox user reaches
    when the checkout is private: the worker resolves the link (only the
    venv's directory: its bin/python links out of the venv)."""
    private = tmp_path / "private"
    (private / "build").mkdir(parents=True)
    (private / "sandbox").mkdir()
    os.chmod(private, 0o700)
    shutil.copy2(BINARY, private / "build" / "tablewright")
    (private / "sandbox" / ".venv").symlink_to(os.path.realpath(SANDBOX_PYTHON.parents[1]))
    settings = runner_env(TW_PYTHON=None)
    proc = subprocess.Popen(
        [str(private / "build" / "tablewright"), "worker", "--concurrency", "1"],
        cwd=env.workdir,
        env=worker_env(env.workdir, env.db_url, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None and "worker" in proc.stdout.readline()
        job, logs = run(env, "def transform(df):\n    return df\n", "public.every_type")
    finally:
        proc.kill()
        proc.wait()
    ok(job, logs)
