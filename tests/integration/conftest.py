"""Fixtures for the black-box tests: a real PostgreSQL cluster, a fresh
database per test, and the real `tablewright` binary started as a process.

The binary is $TW_TEST_BINARY (scripts/test.sh points it at the ASan+UBSan
build) or build/tablewright. The cluster is $TW_TEST_DATABASE_URL's, or one
started here for the session when that is unset.
"""

from __future__ import annotations

import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgcluster import PgCluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("TW_TEST_BINARY", ROOT / "build" / "tablewright"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = os.environ.get("TW_TEST_DATABASE_URL")
    if url:
        yield url
        return
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.destroy()


def _url_with_db(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


def create_database(pg_url: str) -> str:
    name = "tw_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _url_with_db(pg_url, name)


def drop_database(pg_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(pg_url: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    url = create_database(pg_url)
    try:
        yield url
    finally:
        drop_database(pg_url, url)


def base_env(workdir: Path, **overrides: str | None) -> dict[str, str]:
    """A clean environment: no TW_* key from the developer's shell leaks in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        # Leak checking is on: a leak fails the process with exit status 1
        # (docs/development.md, "Sanitizers").
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
        "LSAN_OPTIONS": f"suppressions={ROOT / 'tests' / 'lsan.supp'}:print_suppressions=0",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        # For the ThreadSanitizer build: a race makes the exit status 66.
        "TSAN_OPTIONS": f"suppressions={ROOT / 'tests' / 'tsan.supp'}:second_deadlock_stack=1",
        "TW_LOG_DIR": str(workdir / "logs"),
        "TW_SECRET_KEY": secrets.token_hex(32),
        # Cost 10 keeps the suite fast; test_init_run checks the default 12.
        "TW_BCRYPT_COST": "10",
        # No preview runners kept started (each imports pandas): the tests
        # of previews (test_preview.py) turn the pool on.
        "TW_PREVIEW_POOL": "0",
    }
    if os.environ.get("TW_PG_BIN"):
        env["TW_PG_BIN"] = os.environ["TW_PG_BIN"]
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_tw(
    args: list[str],
    workdir: Path,
    env: dict[str, str],
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BINARY), *args],
        cwd=workdir,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_line_tool(name: str, *args: str, lines: list[str], timeout: float = 600) -> list[str]:
    """Runs a test tool from the build next to BINARY (bcrypt_tool,
    jwt_tool): one input line in, one output line out."""
    tool = Path(os.environ.get("TW_TEST_BUILD_DIR") or BINARY.parent) / name
    if not tool.exists():
        pytest.fail(f"{tool} is missing: build the tests first (make build-test)")
    proc = subprocess.run(
        [str(tool), *args],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert len(out) == len(lines), proc.stdout + proc.stderr
    return out


def recv_all(sock: socket.socket) -> bytes:
    """Reads until the peer closes the connection."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


@dataclass
class Server:
    """A running `tablewright serve` (or `run`) process."""

    proc: subprocess.Popen[str]
    workdir: Path
    env: dict[str, str]
    url: str = ""
    stderr_path: Path = field(default_factory=Path)
    # What the process printed on stdout before it was ready.
    startup: str = ""

    def get(self, path: str, **kw: object) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kw)  # type: ignore[arg-type]

    def request(self, method: str, path: str, **kw: object) -> requests.Response:
        return requests.request(method, self.url + path, timeout=10, **kw)  # type: ignore[arg-type]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        return stop_process(self.proc, "server", sig, timeout)


def stop_process(
    proc: subprocess.Popen[str], what: str, sig: int = signal.SIGTERM, timeout: float = 30
) -> int:
    """Sends sig and returns the exit status; SIGKILL and a failed assertion
    when the process is still there after timeout seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("%s did not stop within %ss" % (what, timeout)) from None
    return proc.returncode


def start_server(
    workdir: Path,
    env: dict[str, str],
    command: str = "serve",
    extra: list[str] | None = None,
    ready_timeout: float = 60,
    bind_any_port: bool = True,
) -> Server:
    """Starts the binary and waits for its "listening on" line."""
    workdir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir / f"{command}-{uuid.uuid4().hex[:6]}.stderr"
    args = [str(BINARY), command]
    if bind_any_port and command in ("serve", "run") and "TW_BIND" not in env:
        args += ["--bind", "127.0.0.1:0"]
    args += extra or []
    proc = subprocess.Popen(
        args,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("w"),
        text=True,
    )
    srv = Server(proc=proc, workdir=workdir, env=env, stderr_path=stderr_path)
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + ready_timeout
    seen = []
    while time.monotonic() < deadline:
        if not sel.select(timeout=0.2):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "listening on " in line:
            srv.url = line.split("listening on ", 1)[1].strip().rstrip("/")
            srv.startup = "".join(seen)
            return srv
    proc.kill()
    proc.wait()
    raise AssertionError(
        "server did not start: stdout=%r stderr=%r" % ("".join(seen), srv.stderr())
    )


@pytest.fixture
def migrated(database: str, tmp_path: Path) -> str:
    """A fresh database with Tablewright's schema applied."""
    res = run_tw(["migrate"], tmp_path, base_env(tmp_path, TW_DATABASE_URL=database))
    assert res.returncode == 0, res.stderr
    return database


@pytest.fixture
def server(migrated: str, tmp_path: Path) -> Iterator[Server]:
    """`tablewright serve` on a free port against a migrated database."""
    env = base_env(tmp_path, TW_DATABASE_URL=migrated)
    srv = start_server(tmp_path, env)
    try:
        yield srv
    finally:
        code = srv.stop()
        assert code == 0, "server exited with %s: %s" % (code, srv.stderr())
