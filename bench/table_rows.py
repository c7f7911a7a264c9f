#!/usr/bin/env python3
"""Benchmark: how long a page of the table explorer takes.

Loads the reference table public.orders (bench/orders.sql, 2M rows
by default) into a database, starts `tablewright serve` against it, and
times GET /api/v1/tables/public/orders/rows?limit=100&offset=N for several
offsets and orders, printing the median and p95 in milliseconds per case.
It prints figures; it asserts nothing about them.

    .venv/bin/python bench/table_rows.py                 # throwaway cluster
    .venv/bin/python bench/table_rows.py --database-url postgresql://...

With --database-url the table public.orders of that database is DROPPED and
recreated (orders.sql does so), unless --skip-load; Tablewright's
migrations are applied there and a bench user is added. Without it, a
throwaway cluster is started with tests/pgcluster.py and removed
afterwards. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgcluster import PgCluster  # noqa: E402

ORDERS_SQL = ROOT / "bench" / "orders.sql"
ROWS_PATH = "/api/v1/tables/public/orders/rows"
OFFSETS = [0, 1000, 5000, 10000]
VARIANTS = [
    ("primary key", {}),
    ("order_by=id", {"order_by": "id"}),
    ("desc=true", {"desc": "true"}),
]
# Not asked for, but worth knowing: an order without an index sorts the
# whole table for every page.
EXTRA = [("order_by=price (no index)", {"order_by": "price"}, [0, 10000])]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_orders(url: str, rows: int, sql_file: Path) -> None:
    """Runs orders.sql with :rows = rows, through psql when there is one."""
    psql = shutil.which("psql")
    start = time.monotonic()
    if psql:
        subprocess.run(
            [
                psql,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"rows={rows}",
                "-f",
                str(sql_file),
                url,
            ],
            check=True,
        )
    else:
        text = sql_file.read_text().replace(":rows", str(int(rows)))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(text)  # type: ignore[arg-type]
    log(f"loaded {rows} rows into public.orders in {time.monotonic() - start:.1f} s")


def run(cmd: list[str], env: dict[str, str], stdin: str | None = None) -> None:
    res = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:2])} failed: {res.stderr.strip()}")


def start_server(
    binary: Path, env: dict[str, str], workdir: Path
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(binary), "serve", "--bind", "127.0.0.1:0"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(workdir / "serve.stderr").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].strip().rstrip("/")
    proc.kill()
    raise SystemExit("the server did not start; see " + str(workdir / "serve.stderr"))


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def time_case(
    session: requests.Session, url: str, params: dict[str, str], reps: int
) -> tuple[list[float], int]:
    def once() -> tuple[float, int]:
        t0 = time.perf_counter()
        r = session.get(url, params=params, timeout=60)
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise SystemExit(f"{r.url}: {r.status_code} {r.text[:200]}")
        return elapsed, len(r.content)

    once()  # warm-up, not counted
    samples, size = [], 0
    for _ in range(reps):
        ms, size = once()
        samples.append(ms)
    return samples, size


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", help="a database to use (public.orders is replaced)")
    ap.add_argument("--binary", default=str(ROOT / "build" / "tablewright"))
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--skip-load", action="store_true", help="use public.orders as it is")
    ap.add_argument("--sql", default=str(ORDERS_SQL), help="the reference table's SQL")
    args = ap.parse_args()

    binary = Path(args.binary)
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: run `make build` first")
    workdir = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    cluster = None
    proc = None
    try:
        url = args.database_url
        if not url:
            cluster = PgCluster()
            cluster.start()
            with psycopg.connect(cluster.url, autocommit=True) as conn:
                conn.execute("CREATE DATABASE tw_bench")
            url = cluster.url_for("tw_bench")
            log(f"throwaway cluster on port {cluster.port}")
        if not args.skip_load:
            load_orders(url, args.rows, Path(args.sql))

        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            "TW_DATABASE_URL": url,
            "TW_SECRET_KEY": secrets.token_hex(32),
            "TW_LOG_DIR": str(workdir / "logs"),
            "TW_LOG_LEVEL": "warn",
            "TW_DATA_SCHEMAS": "public",
            "TW_BCRYPT_COST": "10",
        }
        run([str(binary), "migrate"], env)
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        password = secrets.token_hex(12)
        run(
            [str(binary), "user", "add", "--email", email, "--role", "viewer", "--password-stdin"],
            env,
            stdin=password + "\n",
        )
        proc, base = start_server(binary, env, workdir)

        session = requests.Session()
        r = session.post(base + "/api/v1/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        session.headers["Authorization"] = "Bearer " + r.json()["access_token"]
        detail = session.get(base + "/api/v1/tables/public/orders").json()
        print(
            f"public.orders: estimated_rows={detail['estimated_rows']}, "
            f"size_bytes={detail['size_bytes']}; limit={args.limit}, "
            f"{args.reps} timed requests per case after one warm-up, "
            f"one keep-alive connection"
        )
        print(f"{'case':<28} {'offset':>7} {'median ms':>10} {'p95 ms':>8} {'bytes':>8}")
        cases = [(name, params, OFFSETS) for name, params in VARIANTS] + EXTRA
        for name, params, offsets in cases:
            for offset in offsets:
                q = {"limit": str(args.limit), "offset": str(offset), **params}
                samples, size = time_case(session, base + ROWS_PATH, q, args.reps)
                print(
                    f"{name:<28} {offset:>7} {statistics.median(samples):>10.2f} "
                    f"{percentile(samples, 95):>8.2f} {size:>8}",
                    flush=True,
                )
        return 0
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if cluster:
            cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
