"""The escape suite's shared parts: reading an attack's header, filling in
its placeholders, the targets the attacks aim at (files, listeners,
canaries) and the checks that say whether a side effect happened.

Used by both modes of test_escapes.py: held (through the real stack; every
side effect must be absent) and calibration (TW_ESCAPES_UNSAFE=1: plain
`exec` outside the sandbox; the declared side effect must be present).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ATTACKS = HERE / "attacks"
FIELDS = ("expect", "stage", "effect", "covers", "calibrate")
OUTCOMES = {
    "compile",
    "sandbox_violation",
    "user_error",
    "invalid_output",
    "memory_limit",
    "timeout",
    "cpu_limit",
    "ok",
}
EFFECTS = {"write", "spawn", "secret", "connect", "udp", "unix", "leak", "flag", "output"}
LIMITS = {"memory", "cpu", "recursion", "output", "rows", "log", "disk"}
# Text that must never come back from a run: the repr of a module object
# (something reached a module), and what `import this` prints (an import by
# name, the plotting back-end door).
LEAKS = (re.compile(r"<module '"), re.compile(r"Beautiful is better than ugly"))
# The held suite's caps (test_escapes.py sets them on the server and worker).
MAX_OUTPUT_ROWS = 5000
JOB_LOG_MAX_BYTES = 1 << 20
PREVIEW_LOG_MAX_BYTES = 64 << 10


@dataclass
class Attack:
    name: str
    path: Path
    title: str
    expect: tuple[str, ...]
    stage: str
    effect: str
    covers: str
    calibrate: str
    source: str

    @property
    def limit(self) -> str | None:
        return self.effect.split(":", 1)[1] if self.effect.startswith("limit:") else None

    @property
    def calibrated(self) -> bool:
        return self.calibrate == "live"


def load(path: Path) -> Attack:
    text = path.read_text()
    lines = text.splitlines()
    m = re.match(r"# Attack (a\d{3}): (.*)\.$", lines[0])
    assert m and path.stem.startswith(m.group(1) + "_"), f"{path.name}: bad first line"
    head: dict[str, str] = {}
    for line in lines[1:]:
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        head[key] = value.strip()
    missing = [f for f in FIELDS if f not in head]
    assert not missing, f"{path.name}: header lacks {missing}"
    expect = tuple(head["expect"].split("|"))
    assert set(expect) <= OUTCOMES, f"{path.name}: unknown outcome in {expect}"
    assert head["stage"] in ("preview", "job"), path.name
    eff = head["effect"]
    assert eff in EFFECTS or (eff.startswith("limit:") and eff[6:] in LIMITS), path.name
    cal = head["calibrate"]
    assert cal == "live" or cal.startswith("skip: "), path.name
    return Attack(
        path.stem, path, m.group(2), expect, head["stage"], eff, head["covers"], cal, text
    )


def all_attacks() -> list[Attack]:
    return [load(p) for p in sorted(ATTACKS.glob("a*.py"))]


def nobody() -> pwd.struct_passwd:
    return pwd.getpwnam(os.environ.get("TW_SANDBOX_USER", "nobody"))


@dataclass
class Canaries:
    """Secret values planted around the stack; none may come back."""

    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    db_password: str = field(default_factory=lambda: "pw" + secrets.token_hex(12))
    marker: str = field(default_factory=lambda: "mk" + secrets.token_hex(12))
    secret_file: str = field(default_factory=lambda: "sf" + secrets.token_hex(12))
    dotenv: str = field(default_factory=lambda: "de" + secrets.token_hex(12))
    other_job: str = field(default_factory=lambda: "oj" + secrets.token_hex(12))

    def values(self) -> list[str]:
        return [
            self.secret_key,
            self.db_password,
            self.marker,
            self.secret_file,
            self.dotenv,
            self.other_job,
        ]


class Listeners:
    """A TCP and a UDP socket on 127.0.0.1 and a unix socket: each counts
    what reaches it."""

    def __init__(self, unix_path: Path) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.unix_path = unix_path
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(str(unix_path))
        os.chmod(unix_path, 0o777)
        self.unix.listen(16)
        self.counts = {"tcp": 0, "udp": 0, "unix": 0}
        self.lock = threading.Lock()
        self.stopping = False
        for kind, sock in (("tcp", self.tcp), ("udp", self.udp), ("unix", self.unix)):
            threading.Thread(target=self._serve, args=(kind, sock), daemon=True).start()

    @property
    def tcp_port(self) -> int:
        return self.tcp.getsockname()[1]

    @property
    def udp_port(self) -> int:
        return self.udp.getsockname()[1]

    def _serve(self, kind: str, sock: socket.socket) -> None:
        while not self.stopping:
            try:
                if kind == "udp":
                    sock.recvfrom(65536)
                else:
                    conn, _ = sock.accept()
                    conn.close()
            except OSError:
                return
            with self.lock:
                self.counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def close(self) -> None:
        self.stopping = True
        for s in (self.tcp, self.udp, self.unix):
            s.close()


class Targets:
    """The files and directories the attacks aim at, in a directory the
    sandbox user can reach: an open directory anyone may write to (where an
    escape would leave its file), world-readable secrets (so that only the
    sandbox, not file modes, stands between them and a script), the .env
    of root (mode 0600), another job's directory, planted pickles."""

    def __init__(self, root: Path, canaries: Canaries, job_root: Path) -> None:
        self.root = root
        self.canaries = canaries
        nb = nobody()
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o711)
        self.outside = root / "outside"
        self.outside.mkdir(exist_ok=True)
        os.chmod(self.outside, 0o777)
        self.secrets = root / "secrets"
        self.secrets.mkdir(exist_ok=True)
        os.chmod(self.secrets, 0o755)
        self.secret_file = self.secrets / "secret.txt"
        self.secret_file.write_text(canaries.secret_file + "\n")
        self.secret_json = self.secrets / "secret.json"
        self.secret_json.write_text('{"k": "%s"}' % canaries.secret_file)
        self.secret_parquet = self.secrets / "secret.parquet"
        _write_parquet(self.secret_parquet, canaries.secret_file)
        self.env_file = root / ".env"
        self.env_file.write_text(f"TW_ESCAPES_DOTENV={canaries.dotenv}\n")
        os.chmod(self.env_file, 0o600)
        for p in (self.secret_file, self.secret_json, self.secret_parquet):
            os.chmod(p, 0o644)
        # Another job's directory: the sandbox user's, like every job's.
        self.other_job_dir = job_root / "987654321"
        self.other_job_dir.mkdir(parents=True, exist_ok=True)
        self.other_job_file = self.other_job_dir / "input.txt"
        self.other_job_file.write_text(canaries.other_job + "\n")
        for p in (self.other_job_dir, self.other_job_file):
            os.chown(p, nb.pw_uid, nb.pw_gid)
        os.chmod(self.other_job_dir, 0o700)
        os.chmod(self.other_job_file, 0o600)
        self.pickle_file = self.secrets / "planted.pkl"
        self.npy_pickle_file = self.secrets / "planted.npy"
        self.marker_file = self.outside / "marker"
        self.outside_file = self.outside / "escaped"
        self.unix_socket = root / "listener.sock"
        self._plant_pickles()

    def _plant_pickles(self) -> None:
        touch = f"/usr/bin/touch {self.marker_file}".encode()
        payload = b"cos\nsystem\n(S'" + touch + b"'\ntR."
        self.pickle_file.write_bytes(payload)
        # A .npy of one object array whose data is the same pickle.
        header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
        header = header + " " * (64 - (10 + len(header) + 1) % 64) + "\n"
        self.npy_pickle_file.write_bytes(
            b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + payload
        )
        for p in (self.pickle_file, self.npy_pickle_file):
            os.chmod(p, 0o644)

    def outside_entries(self) -> set[str]:
        return set(os.listdir(self.outside))

    def clear_outside(self) -> None:
        for name in os.listdir(self.outside):
            p = self.outside / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _write_parquet(path: Path, value: str) -> None:
    """With the sandbox venv's pyarrow (the tools venv has none)."""
    python = HERE.parents[1] / "sandbox" / ".venv" / "bin" / "python"
    code = "import sys, pyarrow as pa, pyarrow.parquet as pq; "
    code += "pq.write_table(pa.table({'k': [sys.argv[2]]}), sys.argv[1])"
    subprocess.run([str(python), "-c", code, str(path), value], check=True)


def fill(
    attack: Attack, t: Targets, listeners: Listeners, parent_pid: int | str
) -> tuple[str, str]:
    """The attack's source with its placeholders filled in, and its flag."""
    flag_a, flag_b = secrets.token_hex(6), secrets.token_hex(6)
    attack_flag = flag_a + flag_b
    values = {
        "OUTSIDE_FILE": str(t.outside_file),
        "OUTSIDE_DIR": str(t.outside),
        "MARKER_FILE": str(t.marker_file),
        "SECRET_FILE": str(t.secret_file),
        "SECRET_JSON": str(t.secret_json),
        "SECRET_PARQUET": str(t.secret_parquet),
        "ENV_FILE": str(t.env_file),
        "OTHER_JOB_FILE": str(t.other_job_file),
        "PICKLE_FILE": str(t.pickle_file),
        "NPY_PICKLE_FILE": str(t.npy_pickle_file),
        "LISTEN_PORT": str(listeners.tcp_port),
        "UDP_PORT": str(listeners.udp_port),
        "UNIX_SOCKET": str(listeners.unix_path),
        "PARENT_PID": str(parent_pid),
        # Built at run time, so a traceback that quotes the line does not
        # show the joined flag.
        "FLAG": f'("{flag_a}" + "{flag_b}")',
    }
    src = attack.source
    for k, v in values.items():
        src = src.replace("{" + k + "}", v)
    left = [k for k in re.findall(r"\{[A-Z_]{4,}\}", src) if k != str(parent_pid)]
    assert not left, f"{attack.name}: unknown placeholders {left}"
    return src, attack_flag


def leaks(text: str, canaries: Canaries, flag: str) -> list[str]:
    """What of the secrets, the flag and the leak patterns is in text."""
    found = [f"canary {v[:2]}..." for v in canaries.values() if v in text]
    if flag and flag in text:
        found.append("the attack's flag")
    found += [f"leak {p.pattern!r}" for p in LEAKS if p.search(text)]
    return found


def tmpdir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o711)
    return d
