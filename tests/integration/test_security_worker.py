"""Issue 9, items 3, 10 and 15: what a sandboxed child and the files on disk
give away.

3. The child cannot read the worker's secrets: not from
   /proc/<worker>/environ (the worker is non-dumpable, wipes secrets from
   its environment block once read, and as root starts the child as the
   unprivileged TW_SANDBOX_USER), not from .env; `tablewright worker` does
   not keep TW_SECRET_KEY in its memory at all.
10. Log files are created owner-only (0600), an older world-readable one
   is fixed, and so are the files rotation leaves.
15. The job log keeps the child's text but none of its terminal controls.

The stand-in child is tests/integration/helpers/fake_runner.py, scripted by
each job's code_text (see test_worker.py).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_worker import (
    AS_ROOT,
    FINAL,
    Worker,
    make_jobs,
    start_worker,
    wait_for,
    worker_env,
    workers,  # noqa: F401 (the fixture itself, found by pytest by its name)
)

from conftest import base_env, run_tw, start_server

# Mappings larger than this are not scanned for secrets: the sanitizer's
# shadow memory and reserved allocator space run to terabytes, untouched.
SCAN_REGION_MAX = 256 * 1024 * 1024


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory laid out like an installation (/opt/tablewright): mode
    755 all the way down, so what keeps the sandbox user out of a file
    there is the file's own mode and owner, not pytest's private tmp_path."""
    d = Path(tempfile.mkdtemp(prefix="tw-secwork-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def peeks(log: str) -> dict[str, tuple[str, bytes | str]]:
    """The child's "peek PATH ok HEX" / "peek PATH error NAME" lines."""
    out: dict[str, tuple[str, bytes | str]] = {}
    for line in log.splitlines():
        m = re.match(r"peek (\S+) (ok|error) (\S*)$", line)
        if m:
            path, what, rest = m.groups()
            out[path] = (what, bytes.fromhex(rest) if what == "ok" else rest)
    return out


def scan_memory(pid: int, needles: list[bytes], env: dict[str, str]) -> list[str]:
    """Which needles occur in the writable memory of process pid (as root:
    /proc/<pid>/mem needs ptrace access), with where.

    One copy is not the program's: the sanitizer runtime reads
    /proc/self/environ into a buffer of its own before main() (its
    GetEnv() on Linux), so a sanitizer build holds the environment it was
    started with, env, verbatim. That copy is blanked before searching; a
    build without sanitizers has none.
    """
    initial = b"\0".join(f"{k}={v}".encode() for k, v in env.items())
    found = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if not fields[1].startswith("rw") or hi - lo > SCAN_REGION_MAX:
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            data = data.replace(initial, b"\0" * len(initial))
            for n in needles:
                if n in data:
                    found.append(f"{n[:6]!r}... in {line.strip()}")
    return found


# --- item 3 -----------------------------------------------------------------


def test_sandbox_child_cannot_read_the_workers_secrets(
    migrated: str, tmp_path: Path, public_dir: Path, workers: list[Worker]
) -> None:
    env_key = secrets.token_hex(32)  # the worker's TW_SECRET_KEY, from its environment
    file_key = secrets.token_hex(32)  # the one in its .env file
    admin_pw = "admin-" + secrets.token_hex(12)  # TW_ADMIN_PASSWORD, environment
    workdir = public_dir / "worker"
    workdir.mkdir(mode=0o755)
    dotenv = workdir / ".env"
    # As `tablewright init` writes it: owner only.
    fd = os.open(dotenv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, f"TW_SECRET_KEY={file_key}\n".encode())
    os.close(fd)

    with make_jobs(tmp_path / "server", migrated) as jobs:
        settings = {"TW_SECRET_KEY": env_key, "TW_ADMIN_PASSWORD": admin_pw}
        w = start_worker(workdir, migrated, 1, **settings)
        workers.append(w)
        wenv = f"/proc/{w.proc.pid}/environ"
        code = "\n".join([
            "whoami",
            "peek /proc/{ppid}/environ",
            f"peek {wenv}",
            f"peek /proc/{w.proc.pid}/mem",
            f"peek {dotenv}",
        ])
        job_id = jobs.submit(code)
        j = jobs.wait(job_id, FINAL)
        log = jobs.logs(job_id)
        assert j["status"] == "succeeded", log

        secrets_seen = [env_key, file_key, admin_pw, migrated]
        got = peeks(log)
        assert set(got) == {"/proc/{ppid}/environ", wenv, f"/proc/{w.proc.pid}/mem",
                            str(dotenv)}, log
        read = b"".join(v for what, v in got.values() if what == "ok")  # type: ignore[misc]
        for s in secrets_seen:
            assert s.encode() not in read, f"the child read a secret: {got}"
            assert s not in log
        # Refused outright, not merely found empty.
        for path in ("/proc/{ppid}/environ", wenv, f"/proc/{w.proc.pid}/mem"):
            assert got[path][0] == "error" and got[path][1] in ("EACCES", "EPERM"), (path, got)

        m = re.search(r"^whoami uid=(\d+) gid=(\d+) groups=(\S*)$", log, re.M)
        assert m, log
        uid, gid = int(m.group(1)), int(m.group(2))
        groups = {int(g) for g in m.group(3).split(",") if g}
        if AS_ROOT:
            # A root worker's child runs as TW_SANDBOX_USER (nobody), with
            # none of root's groups, and cannot open the owner-only .env.
            assert uid != 0 and gid != 0 and 0 not in groups, m.group(0)
            assert got[str(dotenv)] == ("error", "EACCES"), got[str(dotenv)]
            assert 'sandbox children run as user "nobody"' in w.log()
        else:
            print("not root: the child runs as the worker's user; .env is not checked")

        # Read as root, the worker's environment block holds no secret:
        # wiped in place, not merely unset.
        block = Path(wenv).read_bytes()
        for s in secrets_seen:
            assert s.encode() not in block, f"{s[:8]}... still in {wenv}"

        # A process that only runs jobs does not keep the signing key (nor
        # the admin's password) anywhere in its memory.
        if AS_ROOT:
            found = scan_memory(w.proc.pid,
                                [env_key.encode(), file_key.encode(), admin_pw.encode()],
                                worker_env(workdir, migrated, **settings))
            assert not found, found
        assert w.stop() == 0, w.stderr()


def test_worker_refuses_a_missing_sandbox_user(migrated: str, tmp_path: Path) -> None:
    if not AS_ROOT:
        pytest.skip("only a root worker changes user")
    env = worker_env(tmp_path, migrated, TW_SANDBOX_USER="tw-no-such-user-9")
    res = run_tw(["worker"], tmp_path, env, timeout=20)
    assert res.returncode == 1, res.stdout + res.stderr
    assert 'user "tw-no-such-user-9" does not exist' in res.stderr, res.stderr
    assert "TW_SANDBOX_USER" in res.stderr
    res = run_tw(["worker"], tmp_path, worker_env(tmp_path, migrated, TW_SANDBOX_USER="root"),
                 timeout=20)
    assert res.returncode == 1 and "unprivileged" in res.stderr, res.stderr


# --- item 10 ----------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_log_files_are_owner_only(
    migrated: str, tmp_path: Path, public_dir: Path, workers: list[Worker]
) -> None:
    logs = public_dir / "logs"
    logs.mkdir()
    # What an older version left behind: world-readable files.
    for name in ("app.log", "app.log.1"):
        (logs / name).write_text("an older line\n")
        os.chmod(logs / name, 0o644)
    env = base_env(public_dir, TW_DATABASE_URL=migrated, TW_LOG_MAX_BYTES="4096",
                   TW_LOG_MAX_FILES="3")
    srv = start_server(public_dir, env)
    try:
        names = ("app.log", "worker.log", "sandbox.log")
        for name in names:
            assert mode(logs / name) == 0o600, (name, oct(mode(logs / name)))
        # Rotation: the fresh app.log and the rotated files, an older one
        # included, are owner-only too.
        for _ in range(120):
            srv.get("/healthz")
        wait_for(lambda: (logs / "app.log.2").exists(), 10, "two rotations")
    finally:
        assert srv.stop() == 0, srv.stderr()
    rotated = sorted(p.name for p in logs.iterdir() if p.name.startswith("app.log"))
    assert rotated == ["app.log", "app.log.1", "app.log.2"], rotated
    for name in rotated:
        assert mode(logs / name) == 0o600, (name, oct(mode(logs / name)))

    # The worker's own log files, in a directory of their own.
    w = start_worker(public_dir / "w", migrated, 1)
    workers.append(w)
    wlogs = public_dir / "w" / "logs"
    for name in ("app.log", "worker.log", "sandbox.log"):
        assert mode(wlogs / name) == 0o600, (name, oct(mode(wlogs / name)))
    assert w.stop() == 0, w.stderr()


# --- item 15 ----------------------------------------------------------------


def test_job_log_has_no_terminal_controls(
    migrated: str, tmp_path: Path, workers: list[Worker]
) -> None:
    with make_jobs(tmp_path, migrated) as jobs:
        job_id = jobs.submit("say before\ncontrols\nsay after")
        workers.append(jobs.worker(1))
        j = jobs.wait(job_id, FINAL)
        assert j["status"] == "succeeded", jobs.logs(job_id)
        r = jobs.api.get(f"/api/v1/jobs/{job_id}/logs")
        assert r.status_code == 200
        raw = r.content
        text = raw.decode("utf-8")
    for b in (b"\x1b", b"\r", b"\x08", b"\x07", b"\x7f"):
        assert b not in raw, (b, raw)
    c1 = [hex(ord(ch)) for ch in text if 0x80 <= ord(ch) <= 0x9F]
    assert not c1, c1
    others = [hex(ord(ch)) for ch in text if ord(ch) < 0x20 and ch not in "\n\t"]
    assert not others, others
    # The text stays, with its tab and line ends; the sequences go whole.
    assert "red\ttabbed plain\n" in text, text
    assert "over\nwritten backspace bell del c1nextcsi end \u00e9\n" in text, text
    assert "[31m" not in text and "title" not in text
    assert "before\n" in text and "after\n" in text
