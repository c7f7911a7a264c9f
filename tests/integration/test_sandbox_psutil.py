"""The sandbox monitor's CPU % and memory against psutil's readings of the same process.

tests/tools/sbx_tool spawns the sbx_helper fake child under sbx_spawn() and
prints one line per sbx_poll() sample ("PID CPU_PERCENT RSS_BYTES CPU_SECONDS
WALL_MS", every 250 ms, as the worker samples). As each line arrives this
test samples the same pid with psutil: cpu_percent(interval=None), which uses
the same formula (100 * delta(user + system) / delta(wall), not divided by
cores), and memory_info().rss.

Tolerances, stated:
  - CPU %: the means of both series over the run agree within 15 points.
    Single samples of 250 ms hold about 25 clock ticks, and the two readers
    look a few milliseconds apart, so only the average is compared.
  - RSS: every pair agrees within 10 % (the child's memory is steady: a
    sleeping helper of about 1 MiB, and one holding 100 MiB).
Both series are printed, so a failure shows them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import psutil
import pytest

from conftest import BINARY

BUILD = Path(os.environ.get("TW_TEST_BUILD_DIR") or BINARY.parent)
CPU_POINTS = 15.0
RSS_RATIO = 0.10
SECONDS = 3
INTERVAL_MS = 250


Series = list[tuple[float, int]]


def run_and_sample(mode: str, *args: str) -> tuple[Series, Series]:
    """Runs the helper in mode under sbx_tool; returns (ours, psutil's)
    series of (cpu_percent, rss_bytes)."""
    tool = BUILD / "sbx_tool"
    helper = BUILD / "sbx_helper"
    for f in (tool, helper):
        if not f.exists():
            pytest.fail(f"{f} is missing: build the tests first")
    ours: Series = []
    theirs: Series = []
    with tempfile.TemporaryDirectory(prefix="tw-sbx-psutil-") as sandbox:
        proc = subprocess.Popen(
            [
                str(tool),
                "sample",
                str(SECONDS),
                str(INTERVAL_MS),
                sandbox,
                "--",
                str(helper),
                f"--helper={mode}",
                *args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdin is not None
            first = proc.stdout.readline().split()
            assert first[0] == "pid", first
            pid = int(first[1])
            p = psutil.Process(pid)
            p.cpu_percent(interval=None)  # the baseline, as sbx_tool's
            for line in proc.stdout:
                if line == "end\n":
                    break
                fields = line.split()
                assert int(fields[0]) == pid
                try:
                    cpu = p.cpu_percent(interval=None)
                    rss = p.memory_info().rss
                except psutil.NoSuchProcess:
                    break
                ours.append((float(fields[1]), int(fields[2])))
                theirs.append((cpu, rss))
            proc.stdin.close()  # now sbx_tool kills the child
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print(f"\n{mode}: ours (cpu%, rss) vs psutil (cpu%, rss)")
    for (oc, orss), (tc, trss) in zip(ours, theirs, strict=True):
        print(f"  {oc:7.2f} {orss:>11}   {tc:7.2f} {trss:>11}")
    return ours, theirs


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.mark.parametrize(("mode", "args"), [("spin", ()), ("sleep", ()), ("hold-mem", ("100",))])
def test_cpu_and_rss_agree_with_psutil(mode: str, args: tuple[str, ...]) -> None:
    ours, theirs = run_and_sample(mode, *args)
    # 3 s at 250 ms: 12 samples; allow a few lost to scheduling.
    assert len(ours) >= 8, ours
    our_cpu = mean([c for c, _ in ours])
    their_cpu = mean([c for c, _ in theirs])
    print(f"mean cpu%: ours {our_cpu:.1f}, psutil {their_cpu:.1f}")
    assert abs(our_cpu - their_cpu) <= CPU_POINTS
    if mode == "spin":
        assert our_cpu > 50, "the spinning helper got no CPU: machine too busy?"
    else:
        assert our_cpu < 5
    if mode == "hold-mem":
        assert ours[-1][1] > 100 * 1024 * 1024
    for (_, orss), (_, trss) in zip(ours, theirs, strict=True):
        assert orss > 0
        assert abs(orss - trss) <= RSS_RATIO * trss, (orss, trss)
