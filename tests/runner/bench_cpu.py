"""How much CPU the runner spends on the reference table: 2M rows shaped
like bench/orders.sql (10 columns) through `df["total"] = df["price"] *
df["qty"]`, fed as a synthetic stream of BATCH frames (no database).

Run with the sandbox venv's Python, which has numpy to build the stream:

    sandbox/.venv/bin/python tests/runner/bench_cpu.py [--rows N] [--chunk N]

Prints the runner's CPU seconds (user + system, from wait4), its peak
resident size, the wall time (which includes building the stream: the
batches are built as they are sent) and the rows that came back. A
benchmark; test_runner_perf.py runs it on 1M rows with a CPU bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "sandbox"))
from tablewright_runner import frames  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runnerdata as data  # noqa: E402

CODE = 'def transform(df):\n    df["total"] = df["price"] * df["qty"]\n    return df\n'


def text_column(values: list, n: int) -> frames.Column:
    """A text column from Python strings (None: NULL)."""
    enc = [b"" if v is None else v.encode() for v in values]
    lengths = np.fromiter((len(b) for b in enc), dtype=np.int32, count=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    validity = None
    if any(v is None for v in values):
        valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=n)
        validity = np.packbits(valid, bitorder="little").tobytes()
    return frames.Column(frames.TEXT, validity, offsets.tobytes(), b"".join(enc))


def fixed(kind, arr, valid=None) -> frames.Column:
    validity = None
    if valid is not None and not valid.all():
        validity = np.packbits(valid, bitorder="little").tobytes()
        arr = np.where(valid, arr, 0).astype(arr.dtype)
    return frames.Column(kind, validity, None, np.ascontiguousarray(arr).tobytes())


def batch(first: int, n: int) -> bytes:
    g = np.arange(first, first + n, dtype=np.int64)
    products = [f"product-{i}" for i in range(997)]
    regions = [None, "north", "south", "east", 'west, "central"']
    prices = (g % 10000) / 100.0 + 0.99
    t0 = 1704067200 * 1_000_000
    disc_valid = g % 7 != 0
    notes = np.where(g % 13 == 0, 1, np.where(g % 3 == 0, 2, 0))
    note_vals = [None, "gift wrap\nline two", ""]
    cols = [
        fixed(frames.INT64, g),
        fixed(frames.INT32, ((g * 7919) % 50000).astype(np.int32)),
        text_column([products[i] for i in (g % 997).tolist()], n),
        text_column([f"{p:.2f}" for p in prices.tolist()], n),
        fixed(frames.INT32, (1 + g % 12).astype(np.int32)),
        fixed(frames.TIMESTAMPTZ, t0 + (g % 31536000) * 1_000_000),
        text_column([regions[i] for i in (g % 5).tolist()], n),
        fixed(frames.FLOAT64, (g % 30) / 100.0, disc_valid),
        fixed(frames.BOOL, (g % 11 == 0).astype(np.uint8)),
        text_column([note_vals[i] for i in notes.tolist()], n),
    ]
    parts = frames.encode_batch(n, cols)
    return frames.encode_header(frames.BATCH, frames.batch_bytes(parts)) + b"".join(
        bytes(p) for p in parts
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--code", default=CODE)
    args = ap.parse_args()
    job = {
        "protocol": 1,
        "task": "run",
        "job_id": 1,
        "attempt": 1,
        "code": args.code,
        "source_table": "public.orders",
        "destination_table": "order_totals",
        "publish_mode": "create",
        "chunk_rows": args.chunk,
        "max_output_rows": 50_000_000,
        "preview_rows": 200,
        "columns": [{**c, "type": c["type"]} for c in data.ORDERS_COLUMNS],
    }
    # The runner starts first, while this process is small: a child forked
    # from a parent holding the whole stream would count the parent's pages
    # in its peak resident size. The batches are built as they are sent
    # (the runner waits for them without using CPU).
    python = ROOT / "sandbox" / ".venv" / "bin" / "python"
    proc = subprocess.Popen(
        [str(python), "-I", "-m", "tablewright_runner"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
    )
    sent = {"bytes": 0, "batches": 0}

    def feed() -> None:
        proc.stdin.write(frames.encode_frame(frames.JOB, json.dumps(job).encode()))
        for first in range(1, args.rows + 1, args.chunk):
            frame = batch(first, min(args.chunk, args.rows - first + 1))
            sent["bytes"] += len(frame)
            sent["batches"] += 1
            proc.stdin.write(frame)
        proc.stdin.write(frames.encode_frame(frames.END))
        proc.stdin.close()

    t = time.perf_counter()
    writer = threading.Thread(target=feed)
    writer.start()
    reader = frames.FrameReader(proc.stdout)
    out_rows = 0
    status = None
    while (f := reader.read()) is not None:
        ftype, payload = f
        if ftype == frames.BATCH:
            out_rows += int.from_bytes(payload[:4], "little")
        elif ftype == frames.STATUS:
            status = json.loads(payload)
    writer.join()
    _, rc, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    cpu = usage.ru_utime + usage.ru_stime
    print(f"status: {status}, exit {os.waitstatus_to_exitcode(rc)}, rows out {out_rows}")
    print(
        f"runner: {cpu:.2f} s CPU ({usage.ru_utime:.2f} user + {usage.ru_stime:.2f} system), "
        f"{wall:.2f} s wall, peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
    )
    return 0 if status and status.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
