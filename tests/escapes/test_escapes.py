"""The escape suite: every attack in tests/escapes/attacks/ through the
real stack, and its calibration outside it.

Held mode (the default; `make test`): one throwaway database, the real
server (a pool of started preview runners) and one real worker, both with
canaries planted: TW_SECRET_KEY, a database password in TW_DATABASE_URL and
a marker variable in their environment, world-readable secret files beside
root's .env, another job's directory, and listeners on 127.0.0.1 (TCP, UDP)
and on a unix socket. Each attack runs through its stage (preview or job);
then the run's outcome must be the one its header declares, and none of the
side effects may have happened: no file in the directory anyone may write
to, no marker file, no canary, flag or module repr in the reply, logs,
error or output table, nothing reaching a listener, no process of the
sandbox user left behind. Every 20 attacks, and at the end, a plain job
must still succeed.

Calibration mode (TW_ESCAPES_UNSAFE=1; `make escapes-calibrate`): the same
files run with plain `exec` in the sandbox venv's python, outside the
sandbox, as the sandbox user in a scratch directory, under small rlimits;
each attack's declared side effect must happen (a resource bomb must exceed
its rlimit). docs/sandbox.md lists the few that cannot be shown outside.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

pytest.register_assert_rewrite("authfixtures")

from attacklib import (  # noqa: E402
    JOB_LOG_MAX_BYTES,
    MAX_OUTPUT_ROWS,
    PREVIEW_LOG_MAX_BYTES,
    Attack,
    Canaries,
    Listeners,
    Targets,
    all_attacks,
    fill,
    leaks,
    nobody,
    tmpdir,
)
from authfixtures import add_user  # noqa: E402
from test_worker import Jobs, Worker, make_jobs, start_worker, wait_for  # noqa: E402

from conftest import ROOT, base_env, create_database, drop_database, run_tw  # noqa: E402

UNSAFE = os.environ.get("TW_ESCAPES_UNSAFE") == "1"
SANDBOX_PYTHON = ROOT / "sandbox" / ".venv" / "bin" / "python"
ATTACKS = all_attacks()
PREVIEW_TIMEOUT_S = 5
FINAL = {"succeeded", "failed", "cancelled"}
PLAIN = "def transform(df):\n    df['n'] = df['id'] * 2\n    return df\n"


def test_there_are_enough_attacks() -> None:
    assert len(ATTACKS) >= 80
    assert len({a.name[:4] for a in ATTACKS}) == len(ATTACKS), "attack numbers repeat"
    jobs = [a for a in ATTACKS if a.stage == "job"]
    assert len(jobs) >= 10, "a representative set runs as real jobs"
    skipped = [a for a in ATTACKS if not a.calibrated]
    assert len(skipped) <= 8, "calibration must show nearly every attack live"


# --- held mode ---------------------------------------------------------------------------------


@dataclass
class Stack:
    jobs: Jobs
    worker: Worker
    canaries: Canaries
    targets: Targets
    listeners: Listeners
    sandbox_dir: Path
    db_url: str
    runs: int = 0
    failures: list[str] = field(default_factory=list)


def _url_with_password(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    cred, _, host = rest.rpartition("@")
    user = cred.split(":", 1)[0] or "postgres"
    return f"{scheme}://{user}:{password}@{host}"


@pytest.fixture(scope="module")
def stack(pg_url: str) -> Iterator[Stack]:
    canaries = Canaries()
    root = tmpdir("tw-escapes-")
    sandbox_dir = root / "sandbox"
    sandbox_dir.mkdir()
    os.chmod(sandbox_dir, 0o711)
    targets = Targets(root / "targets", canaries, sandbox_dir)
    listeners = Listeners(root / "targets" / "listener.sock")
    url = _url_with_password(create_database(pg_url), canaries.db_password)
    workdir = root / "work"
    workdir.mkdir()
    settings: dict[str, str | None] = {
        "TW_DATABASE_URL": url,
        "TW_SECRET_KEY": canaries.secret_key,
        "TW_ESCAPES_MARKER": canaries.marker,
        "TW_SANDBOX_DIR": str(sandbox_dir),
        "TW_PYTHON": str(SANDBOX_PYTHON),
        "TW_SANDBOX_COMMAND": None,
        "TW_PREVIEW_POOL": "2",
        "TW_PREVIEW_TIMEOUT_S": str(PREVIEW_TIMEOUT_S),
        "TW_HTTP_THREADS": "8",
        "TW_JOB_MEMORY_MB": "1024",
        "TW_JOB_TIMEOUT_S": "20",
        "TW_MAX_OUTPUT_ROWS": str(MAX_OUTPUT_ROWS),
        "TW_JOB_LOG_MAX_BYTES": str(JOB_LOG_MAX_BYTES),
    }
    env = base_env(workdir, **settings)
    res = run_tw(["init", "--admin-email", "admin@example.com"], workdir, env)
    assert res.returncode == 0, res.stderr
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.src (id int, v text, x float8)")
        conn.execute(
            "INSERT INTO public.src SELECT g, 'v' || g, g / 3.0 FROM generate_series(1, 50) g"
        )
    add_user(url, "escapes-admin@example.com", "escapes-Secret-1", "admin")
    worker = None
    try:
        with make_jobs(workdir, url, **settings) as jobs:
            worker = start_worker(workdir, url, 1, **settings)
            yield Stack(jobs, worker, canaries, targets, listeners, sandbox_dir, url)
            assert worker.proc.poll() is None, "the worker died: " + worker.stderr()[-3000:]
    finally:
        if worker is not None and worker.proc.poll() is None:
            worker.stop()
        listeners.close()
        drop_database(pg_url, url.replace(f":{canaries.db_password}@", "@"))
        shutil.rmtree(root, ignore_errors=True)


def _stray_processes(st: Stack) -> list[str]:
    """Processes of the sandbox user working in this suite's directories
    that are not a runner the server or the worker started and owns."""
    uid = nobody().pw_uid
    owners = {st.jobs.server.proc.pid, st.worker.proc.pid}
    roots = (str(st.sandbox_dir), str(st.targets.root))
    found = []
    for p in psutil.process_iter(["uids", "ppid", "cmdline"]):
        try:
            if p.info["uids"] is None or p.info["uids"].real != uid:
                continue
            cwd = p.cwd()
            if not cwd.startswith(roots):
                continue
            if p.info["ppid"] in owners:
                continue
            found.append(f"pid {p.pid} {' '.join(p.info['cmdline'] or [])[:80]} in {cwd}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
            continue
    return found


def _kill_strays(st: Stack) -> None:
    uid = nobody().pw_uid
    owners = {st.jobs.server.proc.pid, st.worker.proc.pid}
    for p in psutil.process_iter(["uids", "ppid"]):
        try:
            if p.info["uids"] and p.info["uids"].real == uid and p.info["ppid"] not in owners:
                if p.cwd().startswith(str(st.targets.root)) or p.cwd().startswith(
                    str(st.sandbox_dir)
                ):
                    p.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
            continue


# Where a script that got out would most likely leave a file (the targets
# directory is checked on its own).
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _new_files_of_the_sandbox_user(since: float) -> list[str]:
    """Entries of the shared temporary directories that the sandbox user
    made or changed since the run started."""
    uid = nobody().pw_uid
    found = []
    for d in SHARED_DIRS:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            try:
                st = os.lstat(os.path.join(d, name))
            except OSError:
                continue
            if st.st_uid == uid and st.st_mtime >= since:
                found.append(os.path.join(d, name))
    return found


def _plain_job_runs(st: Stack) -> None:
    job_id = st.jobs.submit(PLAIN, source_table="public.src")
    job = st.jobs.wait(job_id, FINAL, 90)
    assert job["status"] == "succeeded", (job, st.jobs.logs(job_id)[-2000:])
    assert job["rows_out"] == job["rows_in"] > 0, job


@dataclass
class Run:
    outcome: str
    message: str
    texts: list[str]
    logs: str
    job: dict[str, Any] | None = None


def _run_preview(st: Stack, code: str) -> Run:
    r = st.jobs.api.post(
        "/api/v1/preview", {"code_text": code, "source_table": "public.src", "limit": 100}
    )
    if r.status_code == 200:
        body = r.json()
        return Run("ok", "", [r.text], body.get("logs", ""))
    assert r.status_code == 422, (r.status_code, r.text[:2000])
    err = r.json()["error"]
    logs = (err.get("details") or {}).get("logs", "") or ""
    return Run(err["code"], err.get("message", ""), [r.text], logs)


def _run_job(st: Stack, code: str) -> Run:
    dest = "esc_" + uuid.uuid4().hex[:10]
    job_id = st.jobs.submit(code, source_table="public.src", destination_table=dest)
    job = st.jobs.wait(job_id, FINAL, 120)
    logs = st.jobs.logs(job_id)
    texts = [json.dumps(job), logs]
    if job["status"] == "succeeded":
        with psycopg.connect(st.db_url) as conn:
            rows = conn.execute(f"SELECT row_to_json(t)::text FROM public.{dest} t").fetchall()
        texts.append("\n".join(r[0] for r in rows))
        return Run("ok", "", texts, logs, job)
    return Run(job["error_code"] or job["status"], job["error_message"] or "", texts, logs, job)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_held(stack: Stack, attack: Attack) -> None:
    st = stack
    parent = st.jobs.server.proc.pid if attack.stage == "preview" else st.worker.proc.pid
    code, flag = fill(attack, st.targets, st.listeners, parent)
    st.targets.clear_outside()
    before = st.listeners.snapshot()
    problems: list[str] = []
    if "compile" in attack.expect:
        r = st.jobs.api.post("/api/v1/scripts/validate", {"code_text": code})
        assert r.status_code == 200, r.text
        if r.json().get("ok") is not False:
            problems.append("validate accepted the script (expected a refusal at compile)")
    t0 = time.monotonic()
    started = time.time() - 1
    run = _run_preview(st, code) if attack.stage == "preview" else _run_job(st, code)
    took = time.monotonic() - t0
    expected = {"sandbox_violation" if e == "compile" else e for e in attack.expect}
    if run.outcome not in expected:
        problems.append(f"outcome {run.outcome}, expected {'|'.join(sorted(expected))}")
    time.sleep(0.2)  # a forked child that outlived the run has time to act
    entries = st.targets.outside_entries()
    if entries:
        problems.append(f"files written outside the job directory: {sorted(entries)}")
    dropped = _new_files_of_the_sandbox_user(started)
    if dropped:
        problems.append(f"files the sandbox user left in shared directories: {dropped}")
    for text in run.texts:
        for leak in leaks(text, st.canaries, flag):
            problems.append(f"{leak} in the run's reply, logs, error or output")
    after = st.listeners.snapshot()
    for kind in after:
        if after[kind] != before[kind]:
            problems.append(
                f"{after[kind] - before[kind]} connection(s) reached the {kind} listener"
            )
    strays = _stray_processes(st)
    if strays:
        problems.append(f"processes left behind: {strays}")
        _kill_strays(st)
    if attack.limit == "log":
        cap = JOB_LOG_MAX_BYTES if attack.stage == "job" else PREVIEW_LOG_MAX_BYTES
        if len(run.logs.encode()) > cap + 4096:
            problems.append(f"{len(run.logs)} bytes of logs came back (cap {cap})")
        if run.job is not None and not run.job.get("logs_truncated"):
            problems.append("the job's log is not marked truncated")
    st.runs += 1
    print(f"{attack.name}: {run.outcome} in {took:.1f}s: {run.message[:160]}")
    if st.runs % 20 == 0 or attack is ATTACKS[-1]:
        _plain_job_runs(st)
    st.targets.clear_outside()
    assert not problems, f"{attack.name} ({attack.covers}) got through: " + "; ".join(problems)


def test_a_plain_job_runs_after_every_attack(stack: Stack) -> None:
    _plain_job_runs(stack)
    p = stack.jobs.api.post(
        "/api/v1/preview", {"code_text": PLAIN, "source_table": "public.src", "limit": 5}
    )
    assert p.status_code == 200, p.text[:2000]


# --- calibration mode --------------------------------------------------------------------------

# The stand-in worker: the sandbox user's process that holds the canaries in
# its environment (as the worker does) and starts the attack as a child with
# an empty environment, in a scratch job directory, under the rlimits asked
# for. It fills in {PARENT_PID} with its own pid.
CAL_PARENT = r"""
import json, os, resource, subprocess, sys
req = json.loads(sys.stdin.read())
src = req["source"].replace("{PARENT_PID}", str(os.getpid()))
def limits():
    for name, value in req["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    os.setsid()
out = open(req["out"], "wb")
err = open(req["err"], "wb")
try:
    env = {"PATH": "/usr/bin:/bin", "HOME": req["cwd"]}
    p = subprocess.run([sys.executable, "-c", req["child"]], input=src.encode(), stdout=out,
                       stderr=err, cwd=req["cwd"], env=env, preexec_fn=limits,
                       timeout=req["timeout"])
    rc = p.returncode
except subprocess.TimeoutExpired:
    rc = "timeout"
print(json.dumps({"rc": rc}))
"""

# The attack itself, with plain exec: no RestrictedPython, no proxies, no
# audit hook. What it returns is described the way the runner would judge it.
CAL_CHILD = r"""
import re, sys
import numpy as np
import pandas as pd
src = sys.stdin.read()
g = {"__name__": "script"}
exec(compile(src, "<script>", "exec"), g)
df = pd.DataFrame({"id": [1, 2, 3], "v": ["v1", "v2", "v3"], "x": [0.5, 1.0, 1.5]})
out = g["transform"](df) if "transform" in g else df
bad = []
if type(out) is not pd.DataFrame:
    bad.append("not exactly a DataFrame: " + type(out).__name__)
else:
    names = list(out.columns)
    if len(set(map(repr, names))) != len(names):
        bad.append("duplicate column names")
    for n in names:
        if not isinstance(n, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", n):
            bad.append("bad column name %r" % (n,))
    for n in names:
        col = out[n] if isinstance(out[n], pd.Series) else out[n].iloc[:, 0]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            # What the runner does with a text column: compare and hash.
            len(set(col.tolist()))
            kinds = {type(v).__name__ for v in col}
            if kinds - {"str", "NoneType"}:
                bad.append("column %r holds %s" % (n, sorted(kinds)))
            if any(isinstance(v, str) and "\x00" in v for v in col):
                bad.append("NUL in column %r" % (n,))
    print("RESULT-ROWS", len(out))
    print("RESULT-BYTES", int(out.memory_usage(deep=True).sum()))
    for n in names:
        for v in list(out[n].values.ravel())[:20]:
            s = str(v)
            print("CELL", s[:4000])
for b in bad:
    print("BAD-OUTPUT", b)
"""

CAL_RLIMITS = {
    "memory": {"RLIMIT_AS": 1 << 30},
    "cpu": {"RLIMIT_CPU": 2},
    "disk": {"RLIMIT_FSIZE": 32 << 20},
}


def _calibrate(attack: Attack, scratch: Path) -> tuple[list[str], str]:
    """Runs one attack outside the sandbox; returns what it showed, and a
    description for the failure message."""
    nb = nobody()
    canaries = Canaries()
    job_root = scratch / "jobs"
    job_root.mkdir(parents=True)
    os.chmod(job_root, 0o711)
    targets = Targets(scratch / "targets", canaries, job_root)
    listeners = Listeners(scratch / "targets" / "listener.sock")
    cwd = job_root / "1"
    cwd.mkdir()
    os.chown(cwd, nb.pw_uid, nb.pw_gid)
    os.chmod(cwd, 0o700)
    out, err = scratch / "out.txt", scratch / "err.txt"
    for p in (out, err):
        p.touch()
        os.chown(p, nb.pw_uid, nb.pw_gid)
    code, flag = fill(attack, targets, listeners, "{PARENT_PID}")
    rl = dict(CAL_RLIMITS.get(attack.limit or "", {}))
    rl.setdefault("RLIMIT_AS", 4 << 30)
    rl["RLIMIT_CORE"] = 0
    req = {
        "source": code,
        "child": CAL_CHILD,
        "cwd": str(cwd),
        "out": str(out),
        "err": str(err),
        "rlimits": rl,
        "timeout": 15,
    }
    env = {
        "PATH": "/usr/bin:/bin",
        "TW_SECRET_KEY": canaries.secret_key,
        "TW_DATABASE_URL": f"postgresql://tw:{canaries.db_password}@127.0.0.1/tw",
        "TW_ESCAPES_MARKER": canaries.marker,
    }

    def drop() -> None:
        os.setgroups([])
        os.setgid(nb.pw_gid)
        os.setuid(nb.pw_uid)

    before = listeners.snapshot()
    proc = subprocess.run(
        [str(SANDBOX_PYTHON), "-c", CAL_PARENT],
        input=json.dumps(req),
        capture_output=True,
        text=True,
        env=env,
        cwd=str(cwd),
        preexec_fn=drop,
        timeout=60,
    )
    time.sleep(0.3)
    try:
        rc = json.loads(proc.stdout.strip().splitlines()[-1])["rc"]
    except (IndexError, ValueError):
        rc = f"parent failed: {proc.stderr[-1500:]}"
    stdout = out.read_bytes().decode(errors="replace")
    stderr = err.read_bytes().decode(errors="replace")
    after = listeners.snapshot()
    listeners.close()
    _kill_user_procs_under(scratch)
    shown: list[str] = []
    if targets.outside_entries() - {"marker"}:
        shown.append("write")
    if targets.marker_file.exists():
        shown.append("spawn")
    if any(v in stdout for v in canaries.values()):
        shown.append("secret")
    for kind, name in (("tcp", "connect"), ("udp", "udp"), ("unix", "unix")):
        if after[kind] > before[kind]:
            shown.append(name)
    if leaks(stdout, Canaries(), ""):
        shown.append("leak")
    if flag in stdout:
        shown.append("flag")
    if "BAD-OUTPUT" in stdout:
        shown.append("output")
    lim = attack.limit
    if lim == "memory" and ("MemoryError" in stderr or rc in (-9, -11, -6)):
        shown.append("limit:memory")
    if lim == "cpu" and rc in (-signal.SIGXCPU, -signal.SIGKILL, "timeout"):
        shown.append("limit:cpu")
    if lim == "recursion" and "RecursionError" in stderr:
        shown.append("limit:recursion")
    if lim == "disk" and (rc == -signal.SIGXFSZ or "File too large" in stderr):
        shown.append("limit:disk")
    if lim == "log" and len(stdout) > JOB_LOG_MAX_BYTES:
        shown.append("limit:log")
    m = re.search(r"RESULT-ROWS (\d+)", stdout)
    if lim == "rows" and m and int(m.group(1)) > MAX_OUTPUT_ROWS:
        shown.append("limit:rows")
    m = re.search(r"RESULT-BYTES (\d+)", stdout)
    if lim == "output" and (
        (m and int(m.group(1)) > 256 << 20) or "MemoryError" in stderr or rc == -9
    ):
        shown.append("limit:output")
    what = f"rc={rc} stdout={stdout[:600]!r} stderr={stderr[-1500:]!r}"
    return shown, what


def _kill_user_procs_under(path: Path) -> None:
    uid = nobody().pw_uid
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"] and p.info["uids"].real == uid and p.cwd().startswith(str(path)):
                p.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
            continue


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_live_outside_the_sandbox(attack: Attack) -> None:
    if not attack.calibrated:
        pytest.skip(attack.calibrate)
    if os.geteuid() != 0:
        pytest.skip("calibration drops to the sandbox user, which needs root")
    scratch = tmpdir(f"tw-escapes-cal-{attack.name[:4]}-")
    try:
        shown, what = _calibrate(attack, scratch)
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
    assert attack.effect in shown, f"{attack.name}: {attack.effect} not shown ({shown}); {what}"


def test_the_docs_table_matches_the_attacks() -> None:
    from doctable import table

    page = (ROOT / "docs" / "sandbox.md").read_text()
    assert table() in page, "regenerate it: .venv/bin/python tests/escapes/doctable.py"


def test_the_detectors_see_what_they_look_for(stack: Stack) -> None:
    """Each side-effect check fires when the side effect is made, by a
    process of the sandbox user outside the sandbox: a held attack is held
    because nothing happened, not because nothing was looked at."""
    st = stack
    nb = nobody()

    def as_sandbox_user() -> None:
        os.setgroups([])
        os.setgid(nb.pw_gid)
        os.setuid(nb.pw_uid)

    code = (
        "import socket, sys, pathlib\n"
        "pathlib.Path(sys.argv[1]).write_text('x')\n"
        "pathlib.Path(sys.argv[2]).write_text('x')\n"
        "socket.create_connection(('127.0.0.1', int(sys.argv[3]))).close()\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "u.sendto(b'x', ('127.0.0.1', int(sys.argv[4])))\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.connect(sys.argv[5])\n"
        "s.close()\n"
    )
    since = time.time() - 1
    before = st.listeners.snapshot()
    tmp_file = Path("/tmp") / f"tw-escapes-detector-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            str(SANDBOX_PYTHON),
            "-c",
            code,
            str(st.targets.outside_file),
            str(tmp_file),
            str(st.listeners.tcp_port),
            str(st.listeners.udp_port),
            str(st.listeners.unix_path),
        ],
        preexec_fn=as_sandbox_user,
        check=True,
        timeout=30,
    )
    sleeper = subprocess.Popen(["/bin/sleep", "30"], cwd=st.sandbox_dir, preexec_fn=as_sandbox_user)
    try:
        assert st.targets.outside_entries() == {"escaped"}
        assert str(tmp_file) in _new_files_of_the_sandbox_user(since)
        wait_for(
            lambda: all(
                st.listeners.snapshot()[k] == before[k] + 1 for k in ("tcp", "udp", "unix")
            ),
            5,
            "one connection or datagram on each listener",
        )
        assert any(f"pid {sleeper.pid} " in s for s in _stray_processes(st))
        for value in st.canaries.values():
            assert leaks(f"...{value}...", st.canaries, "")
        assert leaks("<module 'os' (frozen)>", st.canaries, "")
        assert leaks("xx" + "flag-value" + "xx", st.canaries, "flag-value")
    finally:
        sleeper.kill()
        sleeper.wait()
        tmp_file.unlink(missing_ok=True)
        st.targets.clear_outside()


# One mode per session: the held suite, or (TW_ESCAPES_UNSAFE=1) calibration.
if UNSAFE:
    del test_attack_is_held, test_a_plain_job_runs_after_every_attack
    del test_the_detectors_see_what_they_look_for
else:
    del test_attack_is_live_outside_the_sandbox
