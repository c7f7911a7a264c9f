"""The job system end to end: `tablewright serve` takes jobs through the API,
`tablewright worker` claims them from the PostgreSQL queue and runs each in
a supervised sandbox child, here tests/integration/helpers/fake_runner.py
(TW_SANDBOX_COMMAND), whose behaviour each job's code_text scripts.

Covered: queued -> running -> succeeded with live /events, every failure
classification, cancel of a running job (child and grandchild gone within
2 s), two workers and 50 jobs each run once, a worker killed with SIGKILL
(its child dies with it; the job is failed as worker_lost after the lease,
or run again when attempts are left), graceful stop (finish or cancel by
the deadline), the log cap, the database going away under a worker, the
workers count in /healthz and the worker's start-up errors.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import requests

pytest.register_assert_rewrite("authfixtures")

from authfixtures import Api, User, add_user, auth_env  # noqa: E402

from conftest import BINARY, Server, base_env, run_tw, start_server, stop_process  # noqa: E402
from pgcluster import PgCluster  # noqa: E402

FAKE_RUNNER = Path(__file__).parent / "helpers" / "fake_runner.py"
FINAL = {"succeeded", "failed", "cancelled"}
AS_ROOT = os.geteuid() == 0


def reachable_by_others(path: Path) -> bool:
    """Whether another, unprivileged user can open path: every directory
    above it searchable by others, the file itself readable by others."""
    p = path.resolve()
    if not p.stat().st_mode & stat.S_IROTH:
        return False
    return all(d.stat().st_mode & stat.S_IXOTH for d in p.parents)


@functools.cache
def shared_dir() -> Path:
    """A directory for this test session that the sandbox user reaches.

    A worker running as root (CI, these machines) starts its sandbox
    children as `nobody` (TW_SANDBOX_USER), who cannot enter pytest's
    tmp_path (/tmp/pytest-of-root is mode 700): the job directories, the
    stand-in child when the checkout is out of its reach, and the files
    the children write live here instead.
    """
    d = Path(tempfile.mkdtemp(prefix="tw-sandbox-tests-"))
    os.chmod(d, 0o711)
    atexit.register(shutil.rmtree, d, True)
    return d


@functools.cache
def sandbox_command() -> str:
    """TW_SANDBOX_COMMAND for the stand-in child, runnable by the sandbox
    user: Debian's /usr/bin/python3 rather than an interpreter inside
    root's home (the pyenv build of these machines, mode 700), and
    fake_runner.py where it is, or a copy when the checkout is not
    reachable (a clone under a private directory)."""
    python = sys.executable
    runner = FAKE_RUNNER
    if AS_ROOT:
        system = Path("/usr/bin/python3")
        if system.exists() and reachable_by_others(system):
            python = str(system)
        if not reachable_by_others(runner):
            runner = shared_dir() / FAKE_RUNNER.name
            shutil.copyfile(FAKE_RUNNER, runner)
            os.chmod(runner, 0o644)
    return f"{python} {runner}"


def sandbox_dir(workdir: Path) -> Path:
    """TW_SANDBOX_DIR of the workers started in workdir."""
    return shared_dir() / "sandbox" / hashlib.sha256(str(workdir).encode()).hexdigest()[:16]


def shared_file(name: str) -> Path:
    """An empty file in shared_dir() that every user may append to."""
    path = shared_dir() / f"{name}-{uuid.uuid4().hex[:8]}"
    path.touch()
    os.chmod(path, 0o666)
    return path


def wait_for(fn: Callable[[], Any], timeout: float, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


@dataclass
class Worker:
    """A running `tablewright worker`."""

    proc: subprocess.Popen[str]
    workdir: Path
    id: str = ""
    stderr_path: Path = field(default_factory=Path)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log(self) -> str:
        path = self.workdir / "logs" / "worker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        return stop_process(self.proc, "worker", sig, timeout)


def worker_env(workdir: Path, db_url: str, **overrides: str | None) -> dict[str, str]:
    settings: dict[str, str | None] = {
        "TW_DATABASE_URL": db_url,
        "TW_SANDBOX_COMMAND": sandbox_command(),
        "TW_SANDBOX_DIR": str(sandbox_dir(workdir)),
    }
    settings.update(overrides)
    return base_env(workdir, **settings)


def start_worker(
    workdir: Path, db_url: str, concurrency: int = 2, **overrides: str | None
) -> Worker:
    workdir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir / f"worker-{uuid.uuid4().hex[:6]}.stderr"
    proc = subprocess.Popen(
        [str(BINARY), "worker", "--concurrency", str(concurrency)],
        cwd=workdir,
        env=worker_env(workdir, db_url, **overrides),
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("w"),
        text=True,
    )
    w = Worker(proc=proc, workdir=workdir, stderr_path=stderr_path)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("tablewright: worker "), (line, w.stderr())
    w.id = line.split()[2]
    assert f"running up to {concurrency} job" in line
    return w


@dataclass
class Jobs:
    """A server, a signed-in analyst and a source table to submit jobs on."""

    db_url: str
    server: Server
    api: Api
    user: User
    workdir: Path

    def submit(self, code: str, **fields: Any) -> int:
        name = "s_" + uuid.uuid4().hex[:12]
        r = self.api.post("/api/v1/scripts", {"name": name, "code_text": code})
        assert r.status_code == 201, r.text
        body = {
            "script_id": r.json()["id"],
            "source_table": "public.src",
            "destination_table": "out_" + uuid.uuid4().hex[:12],
            "mode": "create",
        }
        body.update(fields)
        r = self.api.post("/api/v1/jobs", body)
        assert r.status_code == 202, r.text
        return int(r.json()["id"])

    def job(self, job_id: int) -> dict[str, Any]:
        r = self.api.get(f"/api/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def logs(self, job_id: int) -> str:
        r = self.api.get(f"/api/v1/jobs/{job_id}/logs")
        assert r.status_code == 200, r.text
        return r.text

    def wait(self, job_id: int, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            j = self.job(job_id)
            return j if j["status"] in statuses else None

        return wait_for(done, timeout, f"job {job_id} in {statuses}")

    def wait_log(self, job_id: int, text: str, timeout: float = 15) -> str:
        return wait_for(
            lambda: (lambda t: t if text in t else None)(self.logs(job_id)),
            timeout,
            f"{text!r} in the log of job {job_id}",
        )

    def worker(self, concurrency: int = 2, **overrides: str | None) -> Worker:
        return start_worker(self.workdir, self.db_url, concurrency, **overrides)


@contextmanager
def make_jobs(workdir: Path, db_url: str, **server_overrides: str | None) -> Iterator[Jobs]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.src (id int, v text)")
        conn.execute("INSERT INTO public.src VALUES (1, 'a'), (2, 'b')")
    email = f"analyst-{uuid.uuid4().hex[:6]}@example.com"
    uid = add_user(db_url, email, "worker-test-password-1", "analyst")
    user = User(uid, email, "worker-test-password-1", "analyst")
    srv = start_server(workdir, auth_env(workdir, db_url, **server_overrides))
    try:
        api = Api(srv).as_user(email, user.password)
        yield Jobs(db_url, srv, api, user, workdir)
    finally:
        assert srv.stop() == 0, srv.stderr()


@pytest.fixture
def jobs(migrated: str, tmp_path: Path) -> Iterator[Jobs]:
    with make_jobs(tmp_path, migrated) as j:
        yield j


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers a test starts; stopped (SIGKILL if need be) afterwards."""
    started: list[Worker] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def read_events(api: Api, job_id: int, out: list[tuple[int, str, dict[str, Any]]],
                last_event_id: int | None = None, timeout: float = 60) -> None:
    """Reads /events until the server ends the stream."""
    headers = {"Authorization": f"Bearer {api.token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with requests.get(
        f"{api.server.url}/api/v1/jobs/{job_id}/events",
        headers=headers,
        stream=True,
        timeout=timeout,
    ) as r:
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/event-stream")
        r.encoding = "utf-8"  # what the event-stream format always is
        ev: dict[str, str] = {}
        for raw in r.iter_lines(decode_unicode=True):
            if raw == "":
                if "event" in ev:
                    out.append((int(ev["id"]), ev["event"], json.loads(ev["data"])))
                ev = {}
                continue
            if raw.startswith(":"):
                continue
            key, _, value = raw.partition(": ")
            ev[key] = value


def pid_from_log(text: str, word: str) -> int:
    for line in text.splitlines():
        if line.startswith(word + " "):
            return int(line.split()[1])
    raise AssertionError(f"no {word!r} line in {text!r}")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- the happy path ---------------------------------------------------------


def test_job_runs_through_queued_running_succeeded_with_live_events(
    jobs: Jobs, workers: list[Worker]
) -> None:
    code = "say hello from the child\njob\nenv\nlines 3\nerr to stderr\nsleep 1.2\nraw"
    job_id = jobs.submit(code)
    assert jobs.job(job_id)["status"] == "queued"

    events: list[tuple[int, str, dict[str, Any]]] = []
    reader = threading.Thread(target=read_events, args=(jobs.api, job_id, events))
    reader.start()
    time.sleep(0.5)
    assert [e[1] for e in events if e[1] == "status"] == ["status"]

    w = jobs.worker()
    workers.append(w)
    j = jobs.wait(job_id, FINAL)
    reader.join(timeout=10)
    assert not reader.is_alive(), "the event stream did not end after the final status"

    assert j["status"] == "succeeded", jobs.logs(job_id)
    assert j["error_code"] is None
    assert j["attempt"] == 1
    assert j["started_at"] and j["completed_at"]
    assert j["duration_ms"] >= 1200
    assert j["peak_memory_bytes"] > 1024 * 1024
    assert j["cpu_seconds"] > 0

    # The stream: ids 1, 2, 3... with nothing missing, status in order.
    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    statuses = [e[2]["status"] for e in events if e[1] == "status"]
    assert statuses == ["queued", "running", "succeeded"]
    assert any(e[1] == "metrics" for e in events)
    metrics = [e[2] for e in events if e[1] == "metrics"]
    assert set(metrics[0]) == {
        "wall_ms", "cpu_percent", "cpu_seconds", "rss_bytes", "commit_bytes", "peak_rss_bytes",
        "rows_in", "rows_out",
    }
    streamed = "".join(e[2]["text"] for e in events if e[1] == "log")
    logs = jobs.logs(job_id)
    assert streamed == logs, "the streamed log differs from the stored one"
    assert "hello from the child\n" in logs
    assert "to stderr\n" in logs
    assert "line 2 of the job's output\n" in logs
    assert f"running on worker {w.id} (attempt 1 of 1)" in logs
    assert "\ufffd" in logs  # bytes that were not UTF-8 are replaced, not lost

    # The child got the job (a JOB frame), and none of the worker's secrets.
    given = json.loads(next(ln for ln in logs.splitlines() if ln.startswith("{")))
    assert given["job_id"] == job_id and given["code"] == code
    assert (given["protocol"], given["task"], given["publish_mode"]) == (1, "run", "create")
    assert [(c["name"], c["kind"]) for c in given["columns"]] == [("id", "int32"), ("v", "text")]
    assert given["source_table"] == "public.src" and given["attempt"] == 1
    env_line = next(ln for ln in logs.splitlines() if ln.startswith("env "))
    env_names = env_line.split()[1:]
    assert not [n for n in env_names if n.startswith("TW_") or n.startswith("PG")], env_names
    assert "HOME" not in env_names and "ASAN_OPTIONS" not in env_names

    # Resuming after event 2 gives exactly the rest.
    rest: list[tuple[int, str, dict[str, Any]]] = []
    read_events(jobs.api, job_id, rest, last_event_id=2)
    assert rest == events[2:]
    # The job directory is gone.
    assert not (sandbox_dir(jobs.workdir) / str(job_id)).exists()
    assert f"job {job_id}: succeeded" in w.log()


def test_streamed_metrics_agree_with_psutil(jobs: Jobs, workers: list[Worker]) -> None:
    """The worker's CPU % (psutil's formula) and resident memory of a job's
    child, as /events streams them, against psutil's own readings of the
    same process over the same seconds."""
    job_id = jobs.submit("pid\nspin 4")
    events: list[tuple[int, str, dict[str, Any]]] = []
    reader = threading.Thread(target=read_events, args=(jobs.api, job_id, events))
    reader.start()
    workers.append(jobs.worker())
    child = psutil.Process(pid_from_log(jobs.wait_log(job_id, "pid "), "pid"))
    time.sleep(0.5)
    n0 = len(events)
    ours = child.cpu_percent(interval=2.0)
    rss = child.memory_info().rss
    theirs = [e[2] for e in events[n0:] if e[1] == "metrics"]
    reader.join(timeout=20)
    assert len(theirs) >= 1, events
    m = theirs[-1]
    print(f"cpu %: worker {m['cpu_percent']:.1f}, psutil {ours:.1f}; "
          f"rss: worker {m['rss_bytes']}, psutil {rss}")
    assert abs(m["cpu_percent"] - ours) <= 15, (m, ours)
    assert abs(m["rss_bytes"] - rss) <= 0.1 * rss, (m, rss)
    assert jobs.job(job_id)["status"] == "succeeded"


def test_outcomes_are_classified(jobs: Jobs, workers: list[Worker]) -> None:
    cases = {
        "exit 3": ("failed", "internal", "exited with status 3"),
        "sleep 30": ("failed", "timeout", "TW_JOB_TIMEOUT_S (5 s)"),
        "eat 400": ("failed", "memory_limit", "TW_JOB_MEMORY_MB (100 MiB)"),
        "spin 30": ("failed", "cpu_limit", "30% CPU"),
        "say fine": ("succeeded", None, None),
    }
    ids = {code: jobs.submit(code) for code in cases}
    t0 = time.monotonic()
    workers.append(
        jobs.worker(
            concurrency=5,
            TW_JOB_TIMEOUT_S="5",
            TW_JOB_MEMORY_MB="100",
            # A spinning child gets far more, even on a busy machine.
            TW_JOB_CPU_PERCENT="30",
            TW_JOB_CPU_GRACE_S="1",
        )
    )
    for code, (status, error_code, text) in cases.items():
        j = jobs.wait(ids[code], FINAL)
        assert (j["status"], j["error_code"]) == (status, error_code), (code, jobs.logs(ids[code]))
        if text:
            assert text in j["error_message"], j
            assert text in jobs.logs(ids[code])
    # Each limit killed within its bound: nothing waited for its 30 s.
    assert time.monotonic() - t0 < 20


def test_worker_without_sandbox_command_runs_the_python_runner(
    migrated: str, tmp_path: Path, workers: list[Worker]
) -> None:
    """Unset, the child is <python> -I -m tablewright_runner; without an
    interpreter the worker does not start (test_datapath.py)."""
    w = start_worker(tmp_path, migrated, 1, TW_SANDBOX_COMMAND=None, TW_PYTHON="/usr/bin/python3")
    workers.append(w)
    wait_for(lambda: "sandbox runner: " in w.log(), 5, "the runner's line")
    assert "sandbox runner: /usr/bin/python3 -I -m tablewright_runner" in w.log()


def test_unstartable_sandbox_command_fails_the_job(jobs: Jobs, workers: list[Worker]) -> None:
    job_id = jobs.submit("say never runs")
    workers.append(jobs.worker(TW_SANDBOX_COMMAND="/nonexistent/runner --x"))
    j = jobs.wait(job_id, FINAL)
    assert (j["status"], j["error_code"]) == ("failed", "internal")
    assert "could not start the sandbox" in j["error_message"]
    assert "/nonexistent/runner" in j["error_message"]


# --- cancel -----------------------------------------------------------------


def test_cancel_running_job_kills_its_tree_within_2s(jobs: Jobs, workers: list[Worker]) -> None:
    job_id = jobs.submit("pid\nspawn\nsleep 60")
    workers.append(jobs.worker())
    logs = jobs.wait_log(job_id, "grandchild ")
    child, grandchild = pid_from_log(logs, "pid"), pid_from_log(logs, "grandchild")
    assert not gone(child) and not gone(grandchild)

    t0 = time.monotonic()
    r = jobs.api.post(f"/api/v1/jobs/{job_id}/cancel")
    assert r.status_code == 202, r.text
    j = jobs.wait(job_id, FINAL, timeout=2)
    took = time.monotonic() - t0
    assert j["status"] == "cancelled" and j["error_code"] is None, j
    assert took < 2.0, f"cancel took {took:.2f} s"
    print(f"cancel of a running job: cancelled after {took:.2f} s")
    wait_for(lambda: gone(child) and gone(grandchild), 2, "child and grandchild gone")
    assert "cancelled on request" in jobs.logs(job_id)
    assert not (sandbox_dir(jobs.workdir) / str(job_id)).exists()
    # A finished job cannot be cancelled again.
    assert jobs.api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 409


# --- several workers --------------------------------------------------------


def test_two_workers_fifty_jobs_each_runs_once(jobs: Jobs, workers: list[Worker]) -> None:
    record = shared_file("runs")
    w1 = jobs.worker(concurrency=4)
    w2 = start_worker(jobs.workdir / "w2", jobs.db_url, 4)
    workers += [w1, w2]
    ids = [jobs.submit(f"record {record}\nsleep 0.05") for _ in range(50)]
    for job_id in ids:
        j = jobs.wait(job_id, FINAL, timeout=120)
        assert j["status"] == "succeeded", jobs.logs(job_id)
        assert j["attempt"] == 1
    runs = [int(line.split()[0]) for line in record.read_text().splitlines()]
    assert sorted(runs) == sorted(ids), "some job ran twice or never"
    with psycopg.connect(jobs.db_url) as conn:
        by_worker = dict(
            conn.execute(
                "SELECT worker_id, count(*) FROM tablewright.jobs GROUP BY worker_id"
            ).fetchall()
        )
    assert set(by_worker) == {w1.id, w2.id}, by_worker
    assert sum(by_worker.values()) == 50
    print(f"jobs per worker: {by_worker}")


# --- a worker that dies -----------------------------------------------------


def test_killed_worker_job_fails_as_worker_lost(
    migrated: str, tmp_path: Path, workers: list[Worker]
) -> None:
    with make_jobs(tmp_path, migrated) as jobs:
        job_id = jobs.submit("pid\nsleep 60")
        w1 = jobs.worker(TW_JOB_LEASE_S="3")
        workers.append(w1)
        child = pid_from_log(jobs.wait_log(job_id, "pid "), "pid")
        w1.proc.kill()
        w1.proc.wait()
        # PR_SET_PDEATHSIG: the child goes with its worker.
        wait_for(lambda: gone(child), 3, "the orphaned child gone")

        t0 = time.monotonic()
        w2 = start_worker(tmp_path / "w2", migrated, 1, TW_JOB_LEASE_S="3")
        workers.append(w2)
        j = jobs.wait(job_id, FINAL, timeout=20)
        assert (j["status"], j["error_code"]) == ("failed", "worker_lost"), j
        took = time.monotonic() - t0
        assert took < 10
        print(f"worker_lost {took:.2f} s after the second worker started (lease 3 s)")
        logs = jobs.logs(job_id)
        assert f"worker {w1.id} stopped heartbeating" in logs
        assert "recovered 1 job" in w2.log()


def test_killed_worker_job_is_retried_when_attempts_remain(
    migrated: str, tmp_path: Path, workers: list[Worker]
) -> None:
    with make_jobs(tmp_path, migrated, TW_JOB_MAX_ATTEMPTS="2") as jobs:
        job_id = jobs.submit("pid\nsleep-first 60\nsay second attempt done")
        w1 = jobs.worker(TW_JOB_LEASE_S="3")
        workers.append(w1)
        jobs.wait_log(job_id, "pid ")
        w1.proc.kill()
        w1.proc.wait()
        w2 = start_worker(tmp_path / "w2", migrated, 1, TW_JOB_LEASE_S="3")
        workers.append(w2)
        j = jobs.wait(job_id, FINAL, timeout=20)
        assert j["status"] == "succeeded", jobs.logs(job_id)
        assert (j["attempt"], j["max_attempts"]) == (2, 2)
        logs = jobs.logs(job_id)
        assert "queued again" in logs
        assert f"running on worker {w2.id} (attempt 2 of 2)" in logs
        assert "second attempt done" in logs


def test_worker_that_lost_its_lease_changes_nothing(
    migrated: str, tmp_path: Path, workers: list[Worker]
) -> None:
    """Fencing: a worker frozen past its lease (SIGSTOP) has its job
    recovered by another; once it runs again it stops its child and
    writes nothing more to the job."""
    with make_jobs(tmp_path, migrated) as jobs:
        job_id = jobs.submit("pid\nsleep 8\nsay too late")
        w1 = jobs.worker(TW_JOB_LEASE_S="3")
        workers.append(w1)
        child = pid_from_log(jobs.wait_log(job_id, "pid "), "pid")
        w1.proc.send_signal(signal.SIGSTOP)
        try:
            w2 = start_worker(tmp_path / "w2", migrated, 1, TW_JOB_LEASE_S="3")
            workers.append(w2)
            j = jobs.wait(job_id, FINAL, timeout=20)
            assert (j["status"], j["error_code"]) == ("failed", "worker_lost"), j
            assert not gone(child), "the frozen worker's child ended early"
        finally:
            w1.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: gone(child), 3, "the child of the fenced worker stopped")
        wait_for(lambda: "no longer held by this worker" in w1.log(), 3, "the warning")
        time.sleep(1)
        after = jobs.job(job_id)
        assert (after["status"], after["error_code"]) == ("failed", "worker_lost"), after
        assert after["completed_at"] == j["completed_at"]
        assert "too late" not in jobs.logs(job_id)
        assert w1.stop() == 0, w1.stderr()


# --- stopping a worker ------------------------------------------------------


def test_graceful_stop_finishes_running_jobs(jobs: Jobs, workers: list[Worker]) -> None:
    job_id = jobs.submit("pid\nsleep 1.5\nsay finished")
    w = jobs.worker(TW_WORKER_STOP_S="20")
    workers.append(w)
    jobs.wait_log(job_id, "pid ")
    assert jobs.server.get("/healthz").json()["workers"] == 1
    t0 = time.monotonic()
    assert w.stop() == 0, w.stderr()
    assert time.monotonic() - t0 < 10
    j = jobs.job(job_id)
    assert j["status"] == "succeeded", jobs.logs(job_id)
    assert "finished" in jobs.logs(job_id)
    # Deregistered: /healthz counts no worker.
    assert jobs.server.get("/healthz").json()["workers"] == 0


def test_graceful_stop_cancels_jobs_past_the_deadline(jobs: Jobs, workers: list[Worker]) -> None:
    job_id = jobs.submit("pid\nsleep 60")
    w = jobs.worker(TW_WORKER_STOP_S="1")
    workers.append(w)
    child = pid_from_log(jobs.wait_log(job_id, "pid "), "pid")
    t0 = time.monotonic()
    assert w.stop() == 0, w.stderr()
    assert time.monotonic() - t0 < 5
    j = jobs.job(job_id)
    assert j["status"] == "cancelled", j
    assert "the worker stopped before the job finished" in j["error_message"]
    assert gone(child)
    assert "stop deadline passed" in w.log()


# --- logs -------------------------------------------------------------------


def test_job_log_is_capped_with_a_truncation_line(jobs: Jobs, workers: list[Worker]) -> None:
    job_id = jobs.submit("lines 5000\nsay after the flood")
    workers.append(jobs.worker(TW_JOB_LOG_MAX_BYTES="4096"))
    j = jobs.wait(job_id, FINAL)
    assert j["status"] == "succeeded"
    assert j["logs_truncated"] is True
    logs = jobs.logs(job_id)
    # The cap, plus the truncation line and the worker's final line.
    assert 4096 - 200 < len(logs.encode()) < 4096 + 600, len(logs)
    assert "log truncated: the job's output passed TW_JOB_LOG_MAX_BYTES (4096 bytes)" in logs
    assert "after the flood" not in logs
    assert "succeeded after" in logs.splitlines()[-1]


def test_nothing_is_kept_after_the_log_is_truncated(jobs: Jobs, workers: list[Worker]) -> None:
    # The flood arrives in big reads; a short line read after a pause once
    # slipped in below the cap because the dropped batch was not counted.
    job_id = jobs.submit("lines 5000\nsleep 0.5\nsay after the flood")
    workers.append(jobs.worker(TW_JOB_LOG_MAX_BYTES="4096"))
    j = jobs.wait(job_id, FINAL)
    assert j["status"] == "succeeded"
    logs = jobs.logs(job_id)
    assert "after the flood" not in logs
    # What fitted is kept up to the cap, in whole lines, before the note:
    # the cap less the worker's own first lines (a few hundred bytes; the
    # queue's lines, written by the server, do not count against it).
    before, note, _ = logs.partition("log truncated: ")
    assert note, logs[-500:]
    assert len(before.encode()) <= 4096 + 400, len(before.encode())
    kept = [ln for ln in before.splitlines() if "of the job's output" in ln]
    assert len("\n".join(kept).encode()) > 4096 - 400, len(kept)
    assert all(re.fullmatch(r"line \d+ of the job's output", ln) for ln in kept)


# --- the database goes away -------------------------------------------------


def test_worker_rides_out_a_database_restart(tmp_path: Path, workers: list[Worker]) -> None:
    cluster = PgCluster()
    cluster.start()
    try:
        env = base_env(tmp_path, TW_DATABASE_URL=cluster.url)
        assert run_tw(["migrate"], tmp_path, env).returncode == 0
        w = start_worker(tmp_path / "w", cluster.url, 1)
        workers.append(w)
        port = cluster.port
        cluster.stop("immediate")
        time.sleep(2)
        assert w.proc.poll() is None, "the worker died with its database"
        cluster.start(port=port)
        with make_jobs(tmp_path / "s", cluster.url) as jobs:
            job_id = jobs.submit("say after the restart")
            j = jobs.wait(job_id, FINAL, timeout=30)
            assert j["status"] == "succeeded", jobs.logs(job_id)
        log = w.log()
        assert "reconnecting" in log or "could not reach the database" in log, log
        assert w.stop() == 0
    finally:
        cluster.destroy()


# --- start-up ---------------------------------------------------------------


def test_worker_refuses_to_start_without_database(tmp_path: Path) -> None:
    res = run_tw(["worker"], tmp_path, base_env(tmp_path))
    assert res.returncode == 1
    assert "TW_DATABASE_URL" in res.stderr


def test_worker_refuses_an_unmigrated_database(database: str, tmp_path: Path) -> None:
    res = run_tw(["worker"], tmp_path, base_env(tmp_path, TW_DATABASE_URL=database))
    assert res.returncode == 1
    assert "tablewright migrate" in res.stderr


def test_worker_rejects_bad_concurrency(tmp_path: Path) -> None:
    res = run_tw(["worker", "--concurrency", "many"], tmp_path, base_env(tmp_path))
    assert res.returncode != 0
    assert "TW_WORKER_CONCURRENCY" in res.stderr


def test_worker_needs_no_signing_key(migrated: str, tmp_path: Path, workers: list[Worker]) -> None:
    w = start_worker(tmp_path, migrated, 1, TW_SECRET_KEY=None)
    workers.append(w)
    assert w.stop() == 0, w.stderr()
    assert os.path.exists(tmp_path / "logs" / "worker.log")
