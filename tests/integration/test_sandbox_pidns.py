"""Issue 12, "nothing a job started may outlive it": on Linux each sandbox
child is the first process of a PID namespace of its own, so that its death,
whatever the cause, ends every process it started, even one that left its
process group (setsid) and even when the worker or the server is killed with
SIGKILL.

The stand-in child of the worker is helpers/fake_runner.py (see
test_worker.py): `spawn` starts a grandchild in the child's process group,
`spawn-away` one that left it, and both log the grandchild's pid as the
host sees it. The server's preview pool runs a shell script as its Python
(TW_PYTHON) that starts two such grandchildren and writes their pids to a
file.

Each case also runs with TW_TEST_SANDBOX_NO_PIDNS=1, the fork fallback of a
kernel without namespaces, where the grandchildren do outlive a killed
supervisor (a group kill cannot reach one that left the group, and nobody
is left to send it when the supervisor dies): that shows the checks can
fail, and the gap that docs/sandbox.md describes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_worker import (
    AS_ROOT,
    FINAL,
    Jobs,
    Worker,
    gone,
    jobs,  # noqa: F401 (a fixture)
    make_jobs,
    pid_from_log,
    sandbox_dir,
    shared_dir,
    start_worker,
    wait_for,
    worker_env,
    workers,  # noqa: F401 (the fixture itself, found by pytest by its name)
)

from conftest import BINARY, base_env, start_server

NOBODY = 65534
FALLBACK = {"TW_TEST_SANDBOX_NO_PIDNS": "1"}
CONTAINED_LINE = "sandbox children start in a PID namespace of their own"
WARNING_LINE = "sandbox children get no PID namespace of their own"


def grandchildren(log: str) -> list[int]:
    """The pids of the child's "grandchild N" lines."""
    return [int(line.split()[1]) for line in log.splitlines() if line.startswith("grandchild ")]


def assert_alive(pids: list[int], seconds: float) -> None:
    """Every pid still runs after the given time (the fallback's gap)."""
    time.sleep(seconds)
    alive = [p for p in pids if not gone(p)]
    assert alive == pids, f"expected {pids} to outlive the kill, alive: {alive}"


def reap(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """Pids a test expects to survive (fallback), killed afterwards."""
    pids: list[int] = []
    yield pids
    reap(pids)


def start_job(
    jobs: Jobs, code: str, **worker_overrides: str | None
) -> tuple[Worker, int, int, list[int]]:
    """Submits code after `pid`, `spawn` and `spawn-away`, starts a worker
    and returns it, the job id, the child's pid and the grandchildren's."""
    job_id = jobs.submit("pid\nmeta-pids\nspawn\nspawn-away\n" + code)
    w = jobs.worker(**worker_overrides)
    logs = wait_for(
        lambda: (lambda t: t if len(grandchildren(t)) == 2 else None)(jobs.logs(job_id)),
        20,
        f"two grandchildren in the log of job {job_id}",
    )
    child, gcs = pid_from_log(logs, "pid"), grandchildren(logs)
    assert not gone(child) and not any(gone(g) for g in gcs)
    return w, job_id, child, gcs


def check_namespace(logs: str, contained: bool) -> None:
    """The child saw itself as pid 1 with parent 0 in its own namespace."""
    line = next(x for x in logs.splitlines() if x.startswith("meta-pids "))
    if contained:
        assert line == "meta-pids 1 0", line
    else:
        assert line != "meta-pids 1 0", line


# --- (1) kill -9 of the worker ----------------------------------------------


@pytest.mark.parametrize("mode", ["pidns", "fallback"])
def test_killed_worker_takes_the_grandchildren(
    migrated: str, tmp_path: Path, workers: list[Worker], strays: list[int], mode: str
) -> None:
    overrides = FALLBACK if mode == "fallback" else {}
    with make_jobs(tmp_path, migrated) as jobs:
        w1, job_id, child, gcs = start_job(jobs, "sleep 600", TW_JOB_LEASE_S="3", **overrides)
        workers.append(w1)
        check_namespace(jobs.logs(job_id), mode == "pidns")
        started = f"job {job_id}: sandbox pid {child} started (own "
        if mode == "pidns":
            assert CONTAINED_LINE in w1.log()
            assert started + "PID namespace, process group, rlimits)" in w1.log()
        else:
            assert started + "process group, rlimits (no PID namespace" in w1.log()
            assert WARNING_LINE in w1.log()
            assert "TW_TEST_SANDBOX_NO_PIDNS=1 is set" in w1.log()

        t0 = time.monotonic()
        w1.proc.kill()
        w1.proc.wait()
        wait_for(lambda: gone(child), 3, "the child gone (PDEATHSIG)")
        if mode == "pidns":
            wait_for(lambda: all(gone(g) for g in gcs), 3, "the grandchildren gone")
            print(
                f"kill -9 of the worker: child and grandchildren gone in "
                f"{time.monotonic() - t0:.2f} s"
            )
        else:
            strays += gcs
            assert_alive(gcs, 2)

        w2 = start_worker(tmp_path / "w2", migrated, 1, TW_JOB_LEASE_S="3")
        workers.append(w2)
        j = jobs.wait(job_id, FINAL, timeout=20)
        assert (j["status"], j["error_code"]) == ("failed", "worker_lost"), j
        assert "recovered 1 job" in w2.log()


# --- (2) cancel, timeout, memory --------------------------------------------


KILLS = {
    # how: (code after the spawns, worker settings, status, error_code)
    "cancel": ("sleep 600", {}, "cancelled", None),
    "timeout": ("sleep 600", {"TW_JOB_TIMEOUT_S": "4"}, "failed", "timeout"),
    "memory": ("eat 600", {"TW_JOB_MEMORY_MB": "150"}, "failed", "memory_limit"),
}


@pytest.mark.parametrize("how", list(KILLS))
def test_a_killed_job_takes_the_grandchildren(jobs: Jobs, workers: list[Worker], how: str) -> None:
    code, settings, status, error_code = KILLS[how]
    w, job_id, child, gcs = start_job(jobs, code, **settings)
    workers.append(w)
    if how == "cancel":
        r = jobs.api.post(f"/api/v1/jobs/{job_id}/cancel")
        assert r.status_code == 202, r.text
    j = jobs.wait(job_id, FINAL, timeout=30)
    t0 = time.monotonic()
    assert (j["status"], j["error_code"]) == (status, error_code), (j, jobs.logs(job_id))
    wait_for(
        lambda: gone(child) and all(gone(g) for g in gcs),
        2,
        "the child and both grandchildren gone",
    )
    print(f"{how}: child and grandchildren gone {time.monotonic() - t0:.2f} s after the job ended")


def test_cancel_in_the_fallback_misses_a_grandchild_that_left_the_group(
    jobs: Jobs, workers: list[Worker], strays: list[int]
) -> None:
    """Calibration: without the namespace the group kill takes the child
    and the grandchild in its group, not the one that called setsid."""
    w, job_id, child, (in_group, away) = start_job(jobs, "sleep 600", **FALLBACK)
    workers.append(w)
    strays.append(away)
    assert jobs.api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 202
    assert jobs.wait(job_id, FINAL, timeout=10)["status"] == "cancelled"
    wait_for(lambda: gone(child) and gone(in_group), 2, "the child and its group gone")
    assert_alive([away], 1)


# --- (3) a normal finish ----------------------------------------------------


@pytest.mark.parametrize("mode", ["pidns", "fallback"])
def test_a_finished_job_leaves_nothing_behind(
    jobs: Jobs, workers: list[Worker], strays: list[int], mode: str
) -> None:
    overrides = FALLBACK if mode == "fallback" else {}
    job_id = jobs.submit("pid\nspawn\nspawn-away\nsay done")
    workers.append(jobs.worker(**overrides))
    j = jobs.wait(job_id, FINAL, timeout=30)
    assert j["status"] == "succeeded", jobs.logs(job_id)
    logs = jobs.logs(job_id)
    child, (in_group, away) = pid_from_log(logs, "pid"), grandchildren(logs)
    # The group's stray is killed when sbx_wait() reaps the child either way.
    wait_for(lambda: gone(child) and gone(in_group), 2, "the child and its group gone")
    if mode == "pidns":
        wait_for(lambda: gone(away), 2, "the grandchild that left the group gone")
    else:
        strays.append(away)
        assert_alive([away], 1)


# --- (4) the server's preview pool ------------------------------------------


def pool_script(record: Path) -> Path:
    """A stand-in for the runner's Python (TW_PYTHON; called with -I -m
    tablewright_runner): it records its own pid and those of two
    grandchildren, one of which leaves the group, as the host sees them,
    then waits on its stdin as a pooled runner does."""
    script = shared_dir() / f"pool-runner-{uuid.uuid4().hex[:8]}.sh"
    # In a PID namespace $$ and $! are the namespace's numbers; field 4 of
    # /proc/self/stat read by cut is cut's parent: the shell, by the host's.
    script.write_text(
        "#!/bin/sh\n"
        f"R={record}\n"
        'echo "runner $(cut -d" " -f4 /proc/self/stat)" >> "$R"\n'
        'sh -c \'echo "grandchild $(cut -d" " -f4 /proc/self/stat)" >> "$1"; '
        'exec sleep 600\' sh "$R" &\n'
        'setsid sh -c \'echo "grandchild $(cut -d" " -f4 /proc/self/stat)" >> "$1"; '
        'exec sleep 600\' sh "$R" &\n'
        "exec cat > /dev/null\n"
    )
    os.chmod(script, 0o755)
    return script


@pytest.mark.parametrize("mode", ["pidns", "fallback"])
def test_killed_server_takes_its_preview_runners_grandchildren(
    migrated: str, tmp_path: Path, strays: list[int], mode: str
) -> None:
    record = shared_dir() / f"pool-pids-{uuid.uuid4().hex[:8]}"
    record.touch()
    os.chmod(record, 0o666)
    env = base_env(
        tmp_path,
        TW_DATABASE_URL=migrated,
        TW_PREVIEW_POOL="1",
        TW_PYTHON=str(pool_script(record)),
        TW_SANDBOX_DIR=str(sandbox_dir(tmp_path)),
        **(FALLBACK if mode == "fallback" else {}),
    )
    srv = start_server(tmp_path, env)
    try:

        def pids() -> dict[str, list[int]] | None:
            got: dict[str, list[int]] = {"runner": [], "grandchild": []}
            for line in record.read_text().splitlines():
                what, pid = line.split()
                got[what].append(int(pid))
            return got if got["runner"] and len(got["grandchild"]) == 2 else None

        got = wait_for(pids, 20, "a pooled runner and its two grandchildren")
        runner, gcs = got["runner"][0], got["grandchild"]
        assert not gone(runner) and not any(gone(g) for g in gcs)
        log = tmp_path / "logs" / "app.log"
        text = log.read_text() if log.exists() else ""
        if mode == "fallback":
            assert "preview runners get no PID namespace of their own" in text + srv.stderr()
    finally:
        srv.proc.kill()
        srv.proc.wait()
    wait_for(lambda: gone(runner), 3, "the pooled runner gone (PDEATHSIG)")
    if mode == "pidns":
        wait_for(lambda: all(gone(g) for g in gcs), 3, "the runner's grandchildren gone")
    else:
        strays += gcs
        assert_alive(gcs, 2)


# --- an unprivileged worker: a user namespace too ---------------------------


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A working directory the unprivileged worker owns."""
    d = shared_dir() / f"nobody-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    os.chown(d, NOBODY, NOBODY)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(
    not AS_ROOT or not shutil.which("setpriv"),
    reason="needs root and setpriv to start a worker as another user",
)
def test_unprivileged_worker_uses_a_user_namespace(
    migrated: str, tmp_path: Path, workers: list[Worker], nobody_dir: Path
) -> None:
    """A worker that is not root (started here as nobody, so TW_SANDBOX_USER
    is ignored) puts each child in a user namespace that maps its own uid
    and in a PID namespace: the child runs as that uid, sees itself as
    pid 1, and its grandchildren die with the worker."""
    with make_jobs(tmp_path, migrated) as jobs:
        job_id = jobs.submit("pid\nmeta-pids\nwhoami\nspawn\nspawn-away\nsleep 600")
        sandbox = nobody_dir / "sandbox"
        env = worker_env(
            nobody_dir,
            migrated,
            TW_JOB_LEASE_S="3",
            TW_SANDBOX_DIR=str(sandbox),
            TW_SANDBOX_USER=None,
        )
        stderr_path = tmp_path / "nobody-worker.stderr"
        proc = subprocess.Popen(
            [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                str(BINARY),
                "worker",
                "--concurrency",
                "1",
            ],
            cwd=nobody_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr_path.open("w"),
            text=True,
        )
        w1 = Worker(proc=proc, workdir=nobody_dir, stderr_path=stderr_path)
        workers.append(w1)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("tablewright: worker "), (line, w1.stderr())
        try:
            logs = wait_for(
                lambda: (lambda t: t if len(grandchildren(t)) == 2 else None)(jobs.logs(job_id)),
                20,
                "two grandchildren in the log",
            )
        except AssertionError:
            print(jobs.logs(job_id), w1.log(), w1.stderr())
            raise
        check_namespace(logs, True)
        assert f"whoami uid={NOBODY} gid={NOBODY}" in logs, logs
        assert CONTAINED_LINE in w1.log()
        child, gcs = pid_from_log(logs, "pid"), grandchildren(logs)
        assert f"sandbox pid {child} started (own user and PID namespaces" in w1.log()
        status = Path(f"/proc/{child}/status").read_text()
        # As the kernel sees it: the worker's own uid (in its namespace the
        # child sees the overflow id, which on this machine is nobody too).
        uids = next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1:]
        assert uids == [str(NOBODY)] * 4, uids
        caps = dict(x.split(":\t", 1) for x in status.splitlines() if x.startswith("Cap"))
        assert caps["CapEff"].strip() == "0000000000000000", caps
        assert caps["CapPrm"].strip() == "0000000000000000", caps
        assert os.readlink(f"/proc/{child}/ns/user") != os.readlink("/proc/self/ns/user")
        assert os.readlink(f"/proc/{child}/ns/pid") != os.readlink("/proc/self/ns/pid")

        proc.kill()
        proc.wait()
        wait_for(
            lambda: gone(child) and all(gone(g) for g in gcs),
            3,
            "the child and its grandchildren gone",
        )
        w2 = start_worker(tmp_path / "w2", migrated, 1, TW_JOB_LEASE_S="3")
        workers.append(w2)
        j = jobs.wait(job_id, FINAL, timeout=20)
        assert (j["status"], j["error_code"]) == ("failed", "worker_lost"), j


# The supervisor's tests that concern the tree and the namespaces (not the
# CPU timing ones, which a loaded machine makes flaky and which do not
# depend on who runs them).
UNIT_TESTS = (
    "test_exit_code_and_job_dir",
    "test_grandchild_kill",
    "test_stray_after_exit",
    "test_supervisor_death",
    "test_pid_namespace",
    "test_grandchild_away_kill",
    "test_grandchild_away_kill_fallback",
    "test_supervisor_death_takes_grandchildren",
    "test_supervisor_death_fallback",
    "test_file_size",
    "test_memory",
)


@pytest.mark.skipif(
    not AS_ROOT or not shutil.which("setpriv"),
    reason="needs root and setpriv to run the tests as another user",
)
def test_supervisor_unit_tests_pass_unprivileged(tmp_path: Path) -> None:
    """tests/unit/test_sandbox.c's tree tests run as nobody: the
    user-namespace path of sbx_spawn() (no capabilities, pid 1, the
    grandchildren)."""
    binary = BINARY.parent / "test_sandbox"
    if not binary.exists():
        pytest.skip(f"{binary} not built (BUILD_TESTING off)")
    tmp = shared_dir() / f"unit-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    os.chmod(tmp, 0o777)
    try:
        r = subprocess.run(
            [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                str(binary),
                "--only",
                ",".join(UNIT_TESTS),
            ],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(tmp)},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    for name in UNIT_TESTS:
        assert f"[       OK ] {name}" in out, out
