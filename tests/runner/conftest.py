"""The runner's tests drive the real runner process over pipes:
sandbox/.venv/bin/python -I -m tablewright_runner, the way the worker starts
it (without the sandbox user and limits, which the integration suite
covers). The venv holds a copy of the runner that scripts/deps.sh installs;
a stale copy fails the session instead of testing old code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wire  # noqa: E402


def pytest_sessionstart(session: pytest.Session) -> None:
    if not wire.SANDBOX_PYTHON.exists():
        raise pytest.UsageError(f"{wire.SANDBOX_PYTHON} is missing: run scripts/deps.sh")
    current, where = wire.installed_runner_is_current()
    if not current:
        raise pytest.UsageError(
            f"the runner installed in the sandbox venv ({where}) is not the checkout's: "
            "run scripts/deps.sh"
        )
