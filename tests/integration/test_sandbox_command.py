"""TW_SANDBOX_COMMAND as an argument vector: double quotes group words
(a program under a directory with spaces, as "C:\\Program Files\\..." on
Windows), backslashes are literal, and a quote left open stops start-up
with one line instead of failing every job. The rule itself is unit-tested
in tests/unit/test_plat.c (plat_split_command) and, on Windows paths, in
the Wine smoke test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_worker import (
    FAKE_RUNNER,
    FINAL,
    Jobs,
    Worker,
    jobs,  # noqa: F401 (the fixture itself, found by pytest by its name)
    sandbox_command,
    shared_dir,
)

from conftest import base_env, run_tw


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers a test starts; stopped afterwards."""
    started: list[Worker] = []
    yield started
    for w in started:
        assert w.stop() == 0, w.stderr()


def runner_under_spaces() -> Path:
    """A copy of the stand-in child in a directory whose name has spaces
    and non-ASCII letters, readable by the sandbox user."""
    d = shared_dir() / "runner dir é中"
    d.mkdir(exist_ok=True)
    os.chmod(d, 0o755)
    runner = d / "fake runner.py"
    shutil.copyfile(FAKE_RUNNER, runner)
    os.chmod(runner, 0o644)
    return runner


def test_quoted_program_and_arguments_with_spaces_run(jobs: Jobs, workers: list[Worker]) -> None:
    # sandbox_command() is "<python> <runner>"; the python path has no space.
    python = sandbox_command().split(" ")[0]
    command = f'"{python}"  -I "{runner_under_spaces()}"'
    # Written in .env as docs/configuration.md shows it: single quotes
    # around a command that starts with a double quote.
    (jobs.workdir / ".env").write_text(f"TW_SANDBOX_COMMAND='{command}'\n")
    workers.append(jobs.worker(TW_SANDBOX_COMMAND=None))
    job_id = jobs.submit("say ran from a quoted path")
    j = jobs.wait(job_id, FINAL)
    assert j["status"] == "succeeded", (j, jobs.logs(job_id))
    assert "ran from a quoted path" in jobs.logs(job_id)


def test_unclosed_quote_stops_start_up_with_one_line(tmp_path: Path) -> None:
    env = base_env(
        tmp_path,
        TW_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        TW_SANDBOX_COMMAND='"C:\\Program Files\\Python312\\python.exe -I -m runner',
    )
    res = run_tw(["worker"], tmp_path, env)
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("tablewright: TW_SANDBOX_COMMAND (environment): "), lines
    assert "expected a command whose double quotes are closed" in lines[0]
