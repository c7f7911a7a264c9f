"""`python -I -m tablewright_runner validate`: syntax and policy errors with
line and column, without pandas; and the runner's refusal to start on a
RestrictedPython older than 9.0."""

from __future__ import annotations

import subprocess
import time

import runnerwire as wire


def test_a_good_script_is_ok() -> None:
    res = wire.validate("import pandas as pd\n\ndef transform(df):\n    return df\n")
    assert res.returncode == 0 and res.types == ["S"]
    assert res.status == {"ok": True}
    # a compile-time warning (an invalid escape) is no error, and no LOG frame
    res = wire.validate('import re\ndef transform(df):\n    x = re.compile("\\d")\n    return df\n')
    assert res.types == ["S"] and res.status == {"ok": True}


def test_errors_come_with_line_and_column() -> None:
    code = "import os\nimport pandas as pd\n\ndef transform(df):\n    x = df._data\n    return df\n"
    res = wire.validate(code)
    assert res.returncode == 0
    assert res.status["ok"] is False
    assert res.status["errors"] == [
        {
            "line": 1,
            "column": 1,
            "message": 'import of "os" is refused: scripts may import only datetime, decimal, '
            "math, numpy, pandas, re, statistics",
        },
        {
            "line": 5,
            "column": 9,
            "message": '"_data" is an invalid attribute name because it starts with "_".',
        },
    ]


def test_syntax_error() -> None:
    res = wire.validate("def transform(df):\n    return df[\n")
    (err,) = res.status["errors"]
    assert err["line"] == 2 and err["column"] == 14
    assert err["message"].startswith("SyntaxError")


def test_columns_count_characters_not_bytes() -> None:
    res = wire.validate('def transform(df):\n    s = "日本"; t = df._x\n    return df\n')
    (err,) = res.status["errors"]
    assert (err["line"], err["column"]) == (2, 19)  # 23 in bytes


def test_policy_errors_the_transformer_finds() -> None:
    code = "def transform(df):\n    exec('1')\n    async def f():\n        pass\n    return df\n"
    res = wire.validate(code)
    msgs = [(e["line"], e["message"]) for e in res.status["errors"]]
    assert (2, "Exec calls are not allowed.") in msgs
    assert (3, "AsyncFunctionDef statements are not allowed.") in msgs


def test_no_transform_function() -> None:
    res = wire.validate("def other(df):\n    return df\n")
    assert res.status == {
        "ok": False,
        "errors": [
            {"line": 1, "column": 1, "message": "the script defines no transform(df) function"}
        ],
    }


def test_validate_does_not_import_pandas_and_is_fast() -> None:
    frame = wire.job_frame("def transform(df):\n    return df\n", [], "validate")
    t = time.monotonic()
    proc = subprocess.run(
        [
            str(wire.SANDBOX_PYTHON),
            "-I",
            "-X",
            "importtime",
            "-m",
            "tablewright_runner",
            "validate",
        ],
        input=frame,
        capture_output=True,
        check=False,
        timeout=60,
    )
    elapsed = time.monotonic() - t
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines()}
    assert "RestrictedPython" in imported
    assert not {"pandas", "numpy", "pyarrow"} & imported
    assert elapsed < 5, elapsed


def test_a_run_job_also_validates_first() -> None:
    res = wire.run_job("import socket\ndef transform(df):\n    return df\n", [], [])
    assert res.types == ["S"]
    assert res.status["error_code"] == "sandbox_violation" and res.status["line"] == 1


def test_refuses_to_start_on_an_old_restrictedpython(tmp_path) -> None:
    """A RestrictedPython 8.1 found first on the path: exit 3 and why."""
    dist = tmp_path / "RestrictedPython-8.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: RestrictedPython\nVersion: 8.1\n")
    frame = wire.job_frame("def transform(df):\n    return df\n", [], "validate")
    for args in (["validate"], []):
        proc = subprocess.run(
            [str(wire.SANDBOX_PYTHON), "-m", "tablewright_runner", *args],
            input=frame,
            capture_output=True,
            check=False,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
            cwd=str(tmp_path),
        )
        assert proc.returncode == 3, proc
        assert proc.stdout == b""
        err = proc.stderr.decode()
        assert "RestrictedPython 8.1 is too old: the runner needs 9.0 or later" in err
    # the same without the old one: it starts
    proc = subprocess.run(
        [str(wire.SANDBOX_PYTHON), "-m", "tablewright_runner", "validate"],
        input=frame,
        capture_output=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
