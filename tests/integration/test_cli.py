"""The command line itself: help, version, unknown input, unbuilt commands."""

from pathlib import Path

from conftest import base_env, run_tw


def test_help_lists_every_command(tmp_path: Path) -> None:
    res = run_tw(["--help"], tmp_path, base_env(tmp_path))
    assert res.returncode == 0
    for cmd in ("init", "migrate", "serve", "worker", "run", "routes"):
        assert f"  {cmd} " in res.stdout


def test_version(tmp_path: Path) -> None:
    res = run_tw(["--version"], tmp_path, base_env(tmp_path))
    assert res.returncode == 0
    assert res.stdout.startswith("tablewright 0.")


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    res = run_tw(["frobnicate"], tmp_path, base_env(tmp_path))
    assert res.returncode == 2
    assert res.stderr.strip() == (
        'tablewright: unknown command "frobnicate" (see tablewright --help)'
    )


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    res = run_tw(["serve", "--bogus"], tmp_path, base_env(tmp_path))
    assert res.returncode == 2
    assert '"--bogus"' in res.stderr


def test_option_without_value(tmp_path: Path) -> None:
    res = run_tw(["serve", "--bind"], tmp_path, base_env(tmp_path))
    assert res.returncode == 2
    assert "--bind needs a value" in res.stderr


def test_routes_prints_method_and_path(tmp_path: Path) -> None:
    res = run_tw(["routes"], tmp_path, base_env(tmp_path))
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert "GET /healthz" in lines
    assert "GET /api/v1/openapi.json" in lines
