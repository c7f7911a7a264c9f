"""The data path stays vectorised: 1M rows of the reference table's shape
through `df["total"] = df["price"] * df["qty"]` cost the runner well under
2.5 s of CPU (about 0.7 s here, half of it importing pandas and pyarrow;
a loop per cell anywhere on the path would cost several seconds).
bench_cpu.py builds the stream with numpy, so it runs with the sandbox
venv's Python."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import runnerwire as wire


def test_a_million_rows_cost_little_cpu() -> None:
    bench = Path(__file__).resolve().parent / "bench_cpu.py"
    proc = subprocess.run(
        [str(wire.SANDBOX_PYTHON), str(bench), "--rows", "1000000"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rows out 1000000" in proc.stdout, proc.stdout
    cpu = float(re.search(r"runner: ([0-9.]+) s CPU", proc.stdout).group(1))
    assert cpu < 2.5, proc.stdout
