"""Running attack code under the runner's own OS layer and audit hook,
outside a job: the sandbox venv's Python with `-I -c` code that calls
oslock and audit exactly as tablewright_runner/__main__.py does (Landlock
first, the heavy imports, seccomp, the audit hook), then runs the attack.

The attack is plain Python, not RestrictedPython: it stands for code that
got past every layer above (layers 1 to 3), which is what layers 5 and 7
are for. Each test then checks that the attack's side effect did not
happen.
"""

from __future__ import annotations

import os
import socket
import subprocess
import textwrap
import threading
import time

import runnerwire as wire

PRELUDE = """
import os, sys
from tablewright_runner import oslock
job_dir = os.getcwd()
threads_at_landlock = oslock.thread_count()
notes = oslock.landlock(job_dir) if {oslock} else []
import datetime, decimal, math, re, statistics
import numpy, pandas, pyarrow, pyarrow.compute, RestrictedPython
from tablewright_runner import audit, dtypes, frames, job, policy
if {oslock}:
    notes += oslock.seccomp()
    del oslock
if {audit}:
    audit.install(job_dir)
for n in notes:
    print("NOTE", n, flush=True)
ATTACK = {attack!r}
code = compile(ATTACK, policy.FILENAME, "exec")
if {audit}:
    audit.script_starts(code)
try:
    exec(code, {{"__name__": "script", "os": os, "threads_at_landlock": threads_at_landlock}})
except BaseException as e:
    print("RAISED", type(e).__name__, e, flush=True)
if {audit}:
    for t in audit.trips():
        print("TRIP", t, flush=True)
print("DONE", flush=True)
"""


class Outcome:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.lines = proc.stdout.splitlines()

    @property
    def raised(self) -> str:
        return "\n".join(x for x in self.lines if x.startswith("RAISED"))

    @property
    def trips(self) -> list[str]:
        return [x[5:] for x in self.lines if x.startswith("TRIP ")]

    @property
    def notes(self) -> list[str]:
        return [x[5:] for x in self.lines if x.startswith("NOTE ")]

    def __repr__(self) -> str:
        return f"Outcome(rc={self.returncode}, out={self.out[-3000:]!r}, err={self.err[-3000:]!r})"


def run(
    attack: str,
    job_dir,
    *,
    oslock: bool = True,
    audit: bool = True,
    timeout: float = 60,
    env: dict | None = None,
) -> Outcome:
    code = PRELUDE.format(oslock=oslock, audit=audit, attack=textwrap.dedent(attack))
    proc = subprocess.run(
        [str(wire.SANDBOX_PYTHON), "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(job_dir),
        env=env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=False,
    )
    out = Outcome(proc)
    assert "DONE" in out.lines or out.returncode != 0, out
    return out


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> int:
        time.sleep(0.3)  # a connection in flight is accepted before we stop
        self.stop = True
        self.thread.join(5)
        self.sock.close()
        return self.accepted
