"""Building the runner's input and reading its output in tests: BATCH
payloads from Python values and back, and a whole conversation with the
real runner process over pipes: sandbox/.venv/bin/python -I -m
tablewright_runner, the way the worker starts it (without the sandbox user
and limits, which the integration suite covers).

Uses the runner's own codec, sandbox/tablewright_runner/frames.py, loaded
by its path (it imports the standard library only; this venv has no
pandas).
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import os
import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNER_SRC = ROOT / "sandbox" / "tablewright_runner"
SANDBOX_PYTHON = ROOT / "sandbox" / ".venv" / "bin" / "python"

_spec = importlib.util.spec_from_file_location("tw_frames", RUNNER_SRC / "frames.py")
frames = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(frames)

EPOCH = datetime.datetime(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
EPOCH_DATE = datetime.date(1970, 1, 1)

# pgtype -> (kind name, format_type()) for the columns tests declare.
PGTYPES = {
    "bool": ("bool", "boolean"),
    "int2": ("int16", "smallint"),
    "int4": ("int32", "integer"),
    "int8": ("int64", "bigint"),
    "float4": ("float32", "real"),
    "float8": ("float64", "double precision"),
    "numeric": ("text", "numeric"),
    "text": ("text", "text"),
    "date": ("date", "date"),
    "timestamp": ("timestamp", "timestamp without time zone"),
    "timestamptz": ("timestamptz", "timestamp with time zone"),
    "uuid": ("text", "uuid"),
    "json": ("text", "json"),
    "jsonb": ("text", "jsonb"),
    "other": ("text", "interval"),
}


def installed_runner_is_current() -> tuple[bool, str]:
    """Whether the venv's copy of the runner is the checkout's (deps.sh
    copies it; the tests must not run a stale one)."""
    paths = sorted(
        "./" + p.relative_to(RUNNER_SRC).as_posix()
        for p in RUNNER_SRC.rglob("*.py")
        if "__pycache__" not in p.parts
    )
    listing = "".join(
        f"{hashlib.sha256((RUNNER_SRC / p).read_bytes()).hexdigest()}  {p}\n" for p in paths
    )
    want = hashlib.sha256(listing.encode()).hexdigest()
    out = subprocess.run(
        [
            str(SANDBOX_PYTHON),
            "-I",
            "-c",
            "import tablewright_runner, os; print(os.path.dirname(tablewright_runner.__file__))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return False, out.stderr
    stamp = Path(out.stdout.strip()) / ".source.sha256"
    have = stamp.read_text().strip() if stamp.exists() else ""
    return have == want, str(stamp)


def column(name: str, pgtype: str, nullable: bool = True, type_: str | None = None) -> dict:
    kind, ftype = PGTYPES[pgtype]
    return {
        "name": name,
        "type": type_ or ftype,
        "pgtype": pgtype,
        "kind": kind,
        "nullable": nullable,
    }


# --- values <-> batches ----------------------------------------------------------


def _fixed(kind: int, v) -> bytes:
    if kind == frames.BOOL:
        return b"\x01" if v else b"\x00"
    if kind == frames.INT16:
        return struct.pack("<h", v)
    if kind == frames.INT32:
        return struct.pack("<i", v)
    if kind == frames.INT64:
        return struct.pack("<q", v)
    if kind == frames.FLOAT32:
        return struct.pack("<f", v)
    if kind == frames.FLOAT64:
        return struct.pack("<d", v)
    if kind == frames.DATE:
        return struct.pack("<i", (v - EPOCH_DATE).days)
    if kind == frames.TIMESTAMP:
        d = v - EPOCH
        return struct.pack("<q", (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds)
    if kind == frames.TIMESTAMPTZ:
        d = v - EPOCH_UTC
        return struct.pack("<q", (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds)
    raise ValueError(kind)


def encode_columns(kinds: list[int], rows: list[list]) -> list:
    """frames.Column objects for rows of Python values (None is NULL)."""
    n = len(rows)
    cols = []
    for i, kind in enumerate(kinds):
        values = [r[i] for r in rows]
        validity = None
        if any(v is None for v in values):
            bits = bytearray((n + 7) // 8)
            for j, v in enumerate(values):
                if v is not None:
                    bits[j // 8] |= 1 << (j % 8)
            validity = bytes(bits)
        if kind == frames.TEXT:
            offsets = [0]
            data = bytearray()
            for v in values:
                if v is not None:
                    data += str(v).encode("utf-8")
                offsets.append(len(data))
            cols.append(
                frames.Column(kind, validity, struct.pack(f"<{n + 1}i", *offsets), bytes(data))
            )
        else:
            width = frames.KIND_WIDTH[kind]
            data = b"".join(bytes(width) if v is None else _fixed(kind, v) for v in values)
            cols.append(frames.Column(kind, validity, None, data))
    return cols


def encode_batch(kinds: list[int], rows: list[list]) -> bytes:
    return b"".join(bytes(p) for p in frames.encode_batch(len(rows), encode_columns(kinds, rows)))


def _decode_value(kind: int, data, i: int):
    if kind == frames.BOOL:
        return data[i] == 1
    fmt = {
        frames.INT16: "<h",
        frames.INT32: "<i",
        frames.INT64: "<q",
        frames.FLOAT32: "<f",
        frames.FLOAT64: "<d",
        frames.DATE: "<i",
        frames.TIMESTAMP: "<q",
        frames.TIMESTAMPTZ: "<q",
    }[kind]
    width = struct.calcsize(fmt)
    (v,) = struct.unpack_from(fmt, data, i * width)
    if kind == frames.DATE:
        return EPOCH_DATE + datetime.timedelta(days=v)
    if kind == frames.TIMESTAMP:
        return EPOCH + datetime.timedelta(microseconds=v)
    if kind == frames.TIMESTAMPTZ:
        return EPOCH_UTC + datetime.timedelta(microseconds=v)
    return v


def decode_rows(batch) -> list[list]:
    rows = [[None] * len(batch.columns) for _ in range(batch.nrows)]
    for c, col in enumerate(batch.columns):
        valid = col.validity
        offs = memoryview(col.offsets).cast("i") if col.kind == frames.TEXT else None
        data = bytes(col.data)
        for i in range(batch.nrows):
            if valid is not None and not (valid[i // 8] >> (i % 8)) & 1:
                continue
            if col.kind == frames.TEXT:
                rows[i][c] = data[offs[i] : offs[i + 1]].decode("utf-8")
            else:
                rows[i][c] = _decode_value(col.kind, data, i)
    return rows


# --- a conversation ----------------------------------------------------------------


class Result:
    """What the runner sent back, frame by frame and decoded."""

    def __init__(self, out: bytes, stderr: str, returncode: int):
        self.raw = out
        self.stderr = stderr
        self.returncode = returncode
        self.frames = frames.decode_frames(out)
        self.types = [t for t, _ in self.frames]
        self.ready = None
        self.schema = None
        self.status = None
        self.preview = None
        self.metrics = []
        self.log = ""
        self.batches = []
        self.rows = []
        for t, payload in self.frames:
            if t == frames.READY:
                self.ready = json.loads(payload)
            elif t == frames.SCHEMA:
                self.schema = json.loads(payload)["columns"]
            elif t == frames.STATUS:
                self.status = json.loads(payload)
            elif t == frames.PREVIEW:
                self.preview = json.loads(payload)
            elif t == frames.METRICS:
                self.metrics.append(json.loads(payload))
            elif t == frames.LOG:
                self.log += payload.decode("utf-8")
            elif t == frames.BATCH:
                kinds = [frames.KIND_BY_NAME[c["kind"]] for c in self.schema]
                batch = frames.decode_batch(payload, kinds)
                self.batches.append(batch)
                self.rows += decode_rows(batch)

    @property
    def ok(self) -> bool:
        return bool(self.status and self.status.get("ok"))

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.schema]

    def records(self) -> list[dict]:
        return [dict(zip(self.names, r, strict=True)) for r in self.rows]

    def column(self, name: str) -> list:
        i = self.names.index(name)
        return [r[i] for r in self.rows]

    def types_of(self) -> dict:
        return {c["name"]: (c["kind"], c["type"]) for c in self.schema}

    def __repr__(self) -> str:
        return f"Result(types={self.types}, status={self.status}, stderr={self.stderr[-2000:]!r})"


def job_frame(code: str, columns: list[dict], task: str = "run", **extra) -> bytes:
    job = {
        "protocol": 1,
        "task": task,
        "job_id": 1,
        "attempt": 1,
        "code": code,
        "source_table": "public.t",
        "destination_table": "out",
        "publish_mode": "create",
        "chunk_rows": 100000,
        "max_output_rows": 50_000_000,
        "preview_rows": 200,
        "columns": columns,
    }
    job.update(extra)
    return frames.encode_frame(frames.JOB, json.dumps(job).encode())


def run_runner(
    stdin: bytes, args: tuple = (), timeout: float = 120, env: dict | None = None
) -> Result:
    proc = subprocess.run(
        [str(SANDBOX_PYTHON), "-I", "-m", "tablewright_runner", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
        env=env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd="/",
    )
    return Result(proc.stdout, proc.stderr.decode("utf-8", "replace"), proc.returncode)


def run_job(
    code: str,
    columns: list[dict],
    chunks: list[list[list]] | None = None,
    task: str = "run",
    end: bool = True,
    **extra,
) -> Result:
    """Runs code on the chunks (lists of rows) and returns what came back."""
    kinds = [frames.KIND_BY_NAME[c["kind"]] for c in columns]
    data = job_frame(code, columns, task, **extra)
    for rows in chunks or []:
        data += frames.encode_frame(frames.BATCH, encode_batch(kinds, rows))
    if end:
        data += frames.encode_frame(frames.END)
    return run_runner(data)


def validate(code: str) -> Result:
    return run_runner(job_frame(code, [], "validate"), ("validate",))


# The tests drive the runner installed in the sandbox venv (scripts/deps.sh
# copies it there): a stale copy fails them at import instead of testing
# old code.
if not SANDBOX_PYTHON.exists():
    raise RuntimeError(f"{SANDBOX_PYTHON} is missing: run scripts/deps.sh")
_current, _where = installed_runner_is_current()
if not _current:
    raise RuntimeError(
        f"the runner installed in the sandbox venv ({_where}) is not the checkout's: "
        "run scripts/deps.sh"
    )
