#!/usr/bin/env python3
"""Benchmark: a transform job on the reference table against the floor and
against what an analyst writes by hand.

On the 2M-row reference table (bench/orders.sql), in one run on one
machine, so that the ratios compare like with like:

  (a) raw COPY out of `orders` and into a new table, by two psql processes
      joined by a pipe, in FORMAT binary (the floor) and in text;
  (b) a Tablewright job through the API: `df["total"] = df["price"] *
      df["qty"]`, create mode, through the real server, worker, supervisor
      and Python runner; wall time from submit to succeeded;
  (c) the best pipeline an analyst writes by hand today: ADBC
      (adbc-driver-postgresql) read into pandas, the same line, adbc_ingest
      into a new table; the whole table in memory, no sandbox;
  (d) pandas read_sql + to_sql(method="multi") through SQLAlchemy
      (--skip-slow leaves it out: it takes minutes).

It prints the times, (b)/(a), (c)/(b) and (d)/(b), the peak memory of the
worker and of the runner, and the same job on a --small-rows table so that
memory flatness can be read off. It asserts nothing about the figures.

(c) and (d) run with the interpreter given by --bench-python (default
bench/.venv/bin/python, made by `make bench-deps` from bench/requirements.txt).

    make build bench-deps
    .venv/bin/python bench/transform.py [--rows 2000000] [--skip-slow]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgcluster import PgCluster  # noqa: E402

CODE = 'def transform(df):\n    df["total"] = df["price"] * df["qty"]\n    return df\n'
PASSWORD = "bench-password-" + secrets.token_hex(8)

# What (c) and (d) run, in a child of their own so that its peak memory is
# its own (ru_maxrss of that child).
ADBC = textwrap.dedent(
    """
    import sys
    import adbc_driver_postgresql.dbapi as pg
    url = sys.argv[1]
    with pg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM public.orders")
            df = cur.fetch_arrow_table().to_pandas()
        df["total"] = df["price"] * df["qty"]
        with conn.cursor() as cur:
            cur.adbc_ingest("adbc_out", df, mode="create")
        conn.commit()
    print(len(df))
    """
)
READ_SQL = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import sqlalchemy as sa
    url = sys.argv[1].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        df = pd.read_sql("SELECT * FROM public.orders", conn)
    df["total"] = df["price"] * df["qty"]
    df.to_sql("to_sql_out", engine, schema="public", index=False,
              method="multi", chunksize=2000)
    print(len(df))
    """
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def child_peak(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Like run_measured, but reaps the child itself to read its rusage."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024, out.decode()


def psql_pipe(url: str, fmt: str, dest: str) -> float:
    """COPY orders out and into dest by two psql processes and a pipe."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS public.{dest}")
        conn.execute(f"CREATE TABLE public.{dest} (LIKE public.orders)")
    out_cmd = ["psql", "-X", "-q", url, "-c", f"COPY public.orders TO STDOUT (FORMAT {fmt})"]
    in_cmd = ["psql", "-X", "-q", url, "-c", f"COPY public.{dest} FROM STDIN (FORMAT {fmt})"]
    t0 = time.perf_counter()
    p_out = subprocess.Popen(out_cmd, stdout=subprocess.PIPE)
    p_in = subprocess.Popen(in_cmd, stdin=p_out.stdout, stdout=subprocess.DEVNULL)
    assert p_out.stdout is not None
    p_out.stdout.close()
    if p_in.wait() != 0 or p_out.wait() != 0:
        raise SystemExit(f"the raw {fmt} COPY pipe failed")
    return time.perf_counter() - t0


def load(url: str, rows: int, schema: str) -> None:
    env = dict(os.environ, PGOPTIONS=f"-c search_path={schema}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"rows={rows}",
            "-f",
            str(ROOT / "bench" / "orders.sql"),
            url,
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start(binary: str, args: list[str], env: dict[str, str], cwd: Path, ready: str):
    proc = subprocess.Popen(
        [binary, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if ready not in line:
        proc.kill()
        raise SystemExit(f"{args[0]} did not start: {line!r}")
    return proc, line


def vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--small-rows", type=int, default=200_000)
    ap.add_argument("--skip-slow", action="store_true", help="leave out (d)")
    ap.add_argument("--database-url")
    ap.add_argument("--binary", default=str(ROOT / "build" / "tablewright"))
    ap.add_argument(
        "--python",
        default=str(ROOT / "sandbox" / ".venv" / "bin" / "python"),
        help="the sandbox runner's interpreter (TW_PYTHON)",
    )
    ap.add_argument("--bench-python", default=str(ROOT / "bench" / ".venv" / "bin" / "python"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tw-bench-transform-"))
    os.chmod(work, 0o755)
    cluster = None
    procs: list[subprocess.Popen] = []
    try:
        url = args.database_url
        if not url:
            cluster = PgCluster()
            cluster.start()
            url = cluster.url
        log(f"loading {args.rows} rows into public.orders, {args.small_rows} into small.orders")
        load(url, args.rows, "public")
        load(url, args.small_rows, "small")

        log("(a) raw COPY round trip, binary and text")
        raw_bin = psql_pipe(url, "binary", "raw_bin")
        raw_text = psql_pipe(url, "text", "raw_text")

        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TW_DATABASE_URL": url,
            "TW_SECRET_KEY": secrets.token_hex(32),
            "TW_LOG_DIR": str(work / "logs"),
            "TW_SANDBOX_DIR": str(work / "sandbox"),
            "TW_PYTHON": args.python,
            "TW_DATA_SCHEMAS": "public,small",
            "TW_BCRYPT_COST": "10",
            "TW_JOB_TIMEOUT_S": "600",
            "TW_JOB_CPU_GRACE_S": "0",
        }
        subprocess.run([args.binary, "migrate"], cwd=work, env=env, check=True, capture_output=True)
        import bcrypt

        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO tablewright.users (email, password_hash, role) "
                "VALUES (%s, %s, 'analyst')",
                (email, bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()),
            )
        srv, line = start(
            args.binary, ["serve", "--bind", "127.0.0.1:0"], env, work, "listening on "
        )
        procs.append(srv)
        base = line.split("listening on ", 1)[1].strip().rstrip("/")
        wk, _ = start(
            args.binary, ["worker", "--concurrency", "1"], env, work, "tablewright: worker "
        )
        procs.append(wk)
        s = requests.Session()
        token = s.post(
            base + "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        ).json()["access_token"]
        s.headers["Authorization"] = f"Bearer {token}"
        script = s.post(base + "/api/v1/scripts", json={"name": "bench", "code_text": CODE}).json()[
            "id"
        ]

        def job(source: str, dest: str) -> tuple[float, dict]:
            t0 = time.perf_counter()
            r = s.post(
                base + "/api/v1/jobs",
                json={
                    "script_id": script,
                    "source_table": source,
                    "destination_table": dest,
                    "mode": "create",
                },
            )
            r.raise_for_status()
            jid = r.json()["id"]
            while True:
                j = s.get(f"{base}/api/v1/jobs/{jid}").json()
                if j["status"] in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.02)
            seconds = time.perf_counter() - t0
            if j["status"] != "succeeded":
                logs = s.get(f"{base}/api/v1/jobs/{jid}/logs").text
                raise SystemExit(f"job {jid} {j['status']} {j['error_code']}:\n{logs[-3000:]}")
            return seconds, j

        log(f"(b) the job on small.orders ({args.small_rows} rows)")
        small_s, small_job = job("small.orders", "job_small")
        worker_small = vm_hwm(wk.pid)
        log(f"(b) the job on public.orders ({args.rows} rows)")
        job_s, big_job = job("public.orders", "job_out")
        worker_big = vm_hwm(wk.pid)
        with psycopg.connect(url) as conn:
            n, total_type = conn.execute(
                "SELECT (SELECT count(*) FROM public.job_out),"
                " (SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                "  WHERE attrelid = 'public.job_out'::regclass AND attname = 'total')"
            ).fetchone()
        if n != args.rows:
            raise SystemExit(f"the job wrote {n} rows, not {args.rows}")

        adbc = read_sql = None
        if Path(args.bench_python).exists():
            log("(c) ADBC read -> pandas -> adbc_ingest")
            adbc = child_peak([args.bench_python, "-c", ADBC, url])
            if not args.skip_slow:
                log("(d) pandas read_sql + to_sql(method='multi') (minutes; --skip-slow)")
                read_sql = child_peak([args.bench_python, "-c", READ_SQL, url])
        else:
            log(f"(c) and (d) left out: no {args.bench_python} (make bench-deps)")

        mib = 1024 * 1024
        print(f"reference table: {args.rows} rows, 10 columns; one run each")
        print(f"(a) raw COPY round trip, binary  {raw_bin:7.2f} s")
        print(
            f"    raw COPY round trip, text    {raw_text:7.2f} s  "
            f"(x{raw_text / raw_bin:.2f} binary)"
        )
        started = big_job.get("started_at")
        print(
            f"(b) Tablewright job via the API  {job_s:7.2f} s  (submit to succeeded;"
            f" started {started})"
        )
        print(f"    (b)/(a) = {job_s / raw_bin:.2f}   [target <= 2]")
        print(f"    output column total: {total_type}")
        print(
            f"    runner peak {big_job['peak_memory_bytes'] / mib:7.1f} MiB at {args.rows} rows,"
            f" {small_job['peak_memory_bytes'] / mib:7.1f} MiB at {args.small_rows} rows"
        )
        print(
            f"    worker peak {worker_big / mib:7.1f} MiB at {args.rows} rows,"
            f" {worker_small / mib:7.1f} MiB after the {args.small_rows}-row job"
        )
        print(
            f"    worker + runner peak {(worker_big + big_job['peak_memory_bytes']) / mib:.1f}"
            " MiB"
            " [target < 1024]"
        )
        print(f"    the {args.small_rows}-row job took {small_s:.2f} s")
        if adbc:
            print(
                f"(c) ADBC + pandas + adbc_ingest  {adbc[0]:7.2f} s  peak {adbc[1] / mib:.0f} MiB"
                f"   (c)/(b) = {adbc[0] / job_s:.2f}   (c)/(a) = {adbc[0] / raw_bin:.2f}"
            )
        if read_sql:
            print(
                f"(d) read_sql + to_sql(multi)     {read_sql[0]:7.2f} s  peak "
                f"{read_sql[1] / mib:.0f} MiB   (d)/(b) = {read_sql[0] / job_s:.2f}"
            )
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        if cluster:
            cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
