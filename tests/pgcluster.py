"""A throwaway PostgreSQL cluster for tests, as PostgreSQL's own TAP tests do.

initdb into a temporary directory, pg_ctl start on a free port on 127.0.0.1
with the socket in that directory, stop and remove it afterwards. As root
(our CI machines), initdb and postgres refuse to run, so both run as the
``postgres`` system user that Debian's package creates.

Used by the pytest fixtures and, through the command line, by scripts/test.sh:

    python tests/pgcluster.py start DIR   # prints the connection URL
    python tests/pgcluster.py stop DIR
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory (or $TW_PG_BIN)."""
    if os.environ.get("TW_PG_BIN"):
        return Path(os.environ["TW_PG_BIN"])
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    dirs = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: int(Path(d).parent.name),
    )
    if not dirs:
        raise RuntimeError("no PostgreSQL binaries found: run `make deps`")
    return Path(dirs[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_pg_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _chown_pg(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


class PgCluster:
    """One cluster: superuser ``postgres``, trust auth, loopback only."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="tw-pg-"))
        self.data = self.root / "data"
        self.bin = pg_bin_dir()
        self.port = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        _chown_pg(self.root)
        subprocess.run(
            _as_pg_user(
                [
                    str(self.bin / "initdb"),
                    "-D", str(self.data),
                    "-U", "postgres",
                    "-A", "trust",
                    "-E", "UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self, port: int | None = None) -> None:
        """Starts (again) on port, or a fresh free port."""
        if not self.data.exists():
            self.init()
        self.port = port or free_port()
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        subprocess.run(
            _as_pg_user(
                [
                    str(self.bin / "pg_ctl"),
                    "-D", str(self.data),
                    "-l", str(self.root / "postgres.log"),
                    "-o", opts,
                    "-w", "-t", "60",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self, mode: str = "fast") -> None:
        if not self.data.exists():
            return
        subprocess.run(
            _as_pg_user(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode,
                 "-w", "stop"]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        """Kills the postmaster with SIGKILL, as a crash would."""
        pid_file = self.data / "postmaster.pid"
        pid = int(pid_file.read_text().split("\n", 1)[0])
        os.kill(pid, 9)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        # Orphaned backends exit when they notice the postmaster is gone.
        time.sleep(0.5)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: pgcluster.py start|stop DIR", file=sys.stderr)
        return 2
    c = PgCluster(Path(argv[2]))
    if argv[1] == "start":
        c.start()
        print(c.url)
    else:
        c.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
