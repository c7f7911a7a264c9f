#!/usr/bin/env python3
"""Benchmark: what the job system costs per job, against running the same
child directly.

Starts a throwaway cluster (or uses --database-url), `tablewright serve`
and `tablewright worker`, and runs N trivial jobs whose child is the test
suite's stand-in runner (tests/integration/helpers/fake_runner.py, which
prints one line). The baseline is the same child started N times in a row
by this script, with the same JSON on its stdin: the floor any job system
pays. Printed, in one run on one machine:

- the baseline's per-run time;
- jobs submitted one after another and each waited for (concurrency 1):
  per-job wall time and its ratio to the baseline, with the median and p95
  of submit-to-start (queued_at to started_at) and start-to-finish;
- N jobs submitted at once to one worker of concurrency C: jobs per second
  and the ratio to the baseline's runs per second.

It prints figures; it asserts nothing about them.

    .venv/bin/python bench/job_overhead.py [--jobs 100] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
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

FAKE_RUNNER = ROOT / "tests" / "integration" / "helpers" / "fake_runner.py"
CODE = "say hello"
PASSWORD = "bench-password-" + secrets.token_hex(8)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pctl(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


def start(binary: Path, args: list[str], env: dict[str, str], cwd: Path, ready: str) -> tuple:
    proc = subprocess.Popen(
        [str(binary), *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if ready not in line:
        proc.kill()
        raise SystemExit(f"{args[0]} did not start: {line!r}")
    return proc, line


def baseline(n: int, python: str, runner: Path) -> float:
    """Seconds per run of the child started directly."""
    job = json.dumps({"job_id": 1, "attempt": 1, "code_text": CODE}) + "\n"
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run([python, str(runner)], input=job, text=True,
                       capture_output=True, check=True)
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--database-url")
    ap.add_argument("--binary", default=str(ROOT / "build" / "tablewright"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tw-bench-jobs-"))
    os.chmod(work, 0o755)
    cluster = None
    procs: list[subprocess.Popen[str]] = []
    try:
        # A root worker runs its children as TW_SANDBOX_USER (nobody), who
        # can reach neither an interpreter inside root's home nor, perhaps,
        # this checkout: Debian's python3 and a copy of the stand-in then.
        python, runner = sys.executable, FAKE_RUNNER
        if os.geteuid() == 0:
            python, runner = "/usr/bin/python3", work / FAKE_RUNNER.name
            shutil.copyfile(FAKE_RUNNER, runner)
            os.chmod(runner, 0o644)
        url = args.database_url
        if not url:
            cluster = PgCluster()
            cluster.start()
            url = cluster.url
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TW_DATABASE_URL": url,
            "TW_SECRET_KEY": secrets.token_hex(32),
            "TW_LOG_DIR": str(work / "logs"),
            "TW_SANDBOX_DIR": str(work / "sandbox"),
            "TW_SANDBOX_COMMAND": f"{python} {runner}",
            "TW_BCRYPT_COST": "10",
        }
        subprocess.run([args.binary, "migrate"], cwd=work, env=env, check=True,
                       capture_output=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS public.bench_src (id int)")
            import bcrypt

            pw_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            conn.execute(
                "INSERT INTO tablewright.users (email, password_hash, role) "
                "VALUES (%s, %s, 'analyst')", (email, pw_hash),
            )
        srv, line = start(Path(args.binary), ["serve", "--bind", "127.0.0.1:0"], env, work,
                          "listening on ")
        procs.append(srv)
        base = line.split("listening on ", 1)[1].strip().rstrip("/")
        s = requests.Session()
        token = s.post(base + "/api/v1/auth/login",
                       json={"email": email, "password": PASSWORD}).json()["access_token"]
        s.headers["Authorization"] = f"Bearer {token}"
        script = s.post(base + "/api/v1/scripts",
                        json={"name": "bench", "code_text": CODE}).json()["id"]

        def submit() -> int:
            r = s.post(base + "/api/v1/jobs", json={
                "script_id": script, "source_table": "public.bench_src",
                "destination_table": "out_" + uuid.uuid4().hex[:12]})
            r.raise_for_status()
            return int(r.json()["id"])

        def wait(job_id: int) -> None:
            while s.get(f"{base}/api/v1/jobs/{job_id}").json()["status"] != "succeeded":
                time.sleep(0.005)

        log(f"baseline: {args.jobs} direct runs of the child")
        per_run = baseline(args.jobs, python, runner)

        wk, _ = start(Path(args.binary), ["worker", "--concurrency", "1"], env, work,
                      "tablewright: worker ")
        procs.append(wk)
        log(f"sequential: {args.jobs} jobs, one at a time")
        t0 = time.perf_counter()
        ids = []
        for _ in range(args.jobs):
            ids.append(submit())
            wait(ids[-1])
        per_job = (time.perf_counter() - t0) / args.jobs
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT extract(epoch FROM started_at - queued_at) * 1000,"
                " extract(epoch FROM completed_at - started_at) * 1000"
                " FROM tablewright.jobs WHERE id = ANY(%s)", (ids,),
            ).fetchall()
        queue_ms = [float(r[0]) for r in rows]
        run_ms = [float(r[1]) for r in rows]
        wk.terminate()
        wk.wait()
        procs.remove(wk)

        wk, _ = start(Path(args.binary), ["worker", "--concurrency", str(args.concurrency)],
                      env, work, "tablewright: worker ")
        procs.append(wk)
        log(f"throughput: {args.jobs} jobs at once, concurrency {args.concurrency}")
        t0 = time.perf_counter()
        ids = [submit() for _ in range(args.jobs)]
        for job_id in ids:
            wait(job_id)
        jobs_per_s = args.jobs / (time.perf_counter() - t0)

        print(f"child run directly          {per_run * 1000:8.1f} ms per run "
              f"({1 / per_run:.1f} runs/s)")
        print(f"job, one at a time          {per_job * 1000:8.1f} ms per job "
              f"(x{per_job / per_run:.2f} the direct run)")
        print(f"  submit -> start           median {statistics.median(queue_ms):6.1f} ms, "
              f"p95 {pctl(queue_ms, 95):6.1f} ms")
        print(f"  start -> finish           median {statistics.median(run_ms):6.1f} ms, "
              f"p95 {pctl(run_ms, 95):6.1f} ms")
        print(f"{args.jobs} jobs at once, C={args.concurrency}  {jobs_per_s:8.1f} jobs/s "
              f"(x{jobs_per_s * per_run:.2f} of direct runs/s)")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        if cluster:
            cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
