"""A user's mistakes: user_error with the script's own line and column and a
traceback of the script's frames only; MemoryError is memory_limit; prints
and warnings become LOG frames and never corrupt the frame stream."""

from __future__ import annotations

import pytest
import runnerwire as wire

COLS = [wire.column("x", "int8", False), wire.column("s", "text")]
ROWS = [[[1, "a"], [2, None]]]


def run(code: str, chunks=None) -> wire.Result:
    res = wire.run_job(code, COLS, ROWS if chunks is None else chunks)
    assert res.returncode == 0, res
    assert res.types[-1] == wire.frames.STATUS and res.types.count(wire.frames.STATUS) == 1
    return res


def test_exception_in_transform_points_at_the_users_line_and_column() -> None:
    code = """# a comment
# another one

def transform(df):
    y = 1
    df["z"] = df["x"] / 0
    df["w"] = y / 0
    return df
"""
    status = run(code).status
    assert status["error_code"] == "user_error"
    assert status["message"] == "ZeroDivisionError: division by zero"
    assert (status["line"], status["column"]) == (7, 15)
    assert status["traceback"] == '  line 7, in transform\n    df["w"] = y / 0\n'


def test_traceback_keeps_only_the_scripts_frames() -> None:
    code = """import pandas as pd

def helper(v):
    if v > 1:
        raise ValueError(f"bad value {v}")
    return v

def transform(df):
    df["y"] = df["x"].apply(lambda v: helper(v))
    return df
"""
    status = run(code).status
    assert status["error_code"] == "user_error"
    assert status["message"] == "ValueError: bad value 2"
    tb = status["traceback"]
    assert tb.splitlines() == [
        "  line 9, in transform",
        '    df["y"] = df["x"].apply(lambda v: helper(v))',
        "  line 9, in <lambda>",
        '    df["y"] = df["x"].apply(lambda v: helper(v))',
        "  line 5, in helper",
        '        raise ValueError(f"bad value {v}")'.strip().join(["    ", ""]),
    ]
    assert "pandas" not in tb and "tablewright_runner" not in tb and "File" not in tb
    assert (status["line"], status["column"]) == (5, 9)


def test_key_error_names_the_column() -> None:
    status = run('def transform(df):\n    df["y"] = df["nope"]\n    return df\n').status
    assert status["error_code"] == "user_error"
    assert status["message"] == "KeyError: 'nope'" and status["line"] == 2


def test_error_at_the_top_level() -> None:
    status = run("x = [1, 2][5]\n\ndef transform(df):\n    return df\n").status
    assert status["error_code"] == "user_error" and status["line"] == 1
    assert status["message"].startswith("IndexError")


def test_syntax_error_has_line_and_column() -> None:
    res = run("def transform(df):\n    return df +\n")
    assert res.types == [wire.frames.STATUS]
    status = res.status
    assert status["error_code"] == "user_error" and status["message"].startswith("SyntaxError")
    assert status["line"] == 2 and status["column"] >= 5


def test_no_transform_function() -> None:
    status = run("def transfrom(df):\n    return df\n").status
    assert status["error_code"] == "user_error"
    assert "defines no transform(df) function" in status["message"]


@pytest.mark.parametrize("exc", ["SystemExit(0)", "KeyboardInterrupt()", "GeneratorExit()"])
def test_base_exceptions_are_user_errors_too(exc: str) -> None:
    status = run(f"def transform(df):\n    raise {exc}\n").status
    assert status["error_code"] == "user_error" and status["line"] == 2


def test_runtime_recursion_is_a_user_error() -> None:
    status = run("def f(n):\n    return f(n + 1)\n\ndef transform(df):\n    return f(0)\n").status
    assert status["error_code"] == "user_error"
    assert status["message"].startswith("RecursionError") and status["line"] == 2
    assert len(status["traceback"]) <= 64 * 1024


def test_memory_error_is_memory_limit() -> None:
    code = (
        "import numpy as np\ndef transform(df):\n    b = np.ones(2**61, np.uint8)\n    return df\n"
    )
    status = run(code).status
    assert status["error_code"] == "memory_limit", status
    assert "memory" in status["message"] and "in transform()" in status["message"]


def test_memory_error_in_the_third_chunk() -> None:
    code = """import numpy as np
def transform(df):
    if df["x"].iloc[0] == 3:
        big = np.ones(2**61, dtype=np.uint8)
    return df
"""
    res = run(code, [[[1, "a"]], [[2, "b"]], [[3, "c"]]])
    assert res.status["error_code"] == "memory_limit"
    assert res.types.count(wire.frames.BATCH) == 2  # what came before was sent


# --- logs -------------------------------------------------------------------------


def test_prints_become_log_frames() -> None:
    code = """
print("top level")
def transform(df):
    print("rows:", len(df), sep=" ")
    print("no newline", end="")
    print(" ... continued")
    print("multi\\nline")
    print("tab\\there", "quote\\"", "unicode 日本")
    return df
"""
    res = run(code, [[[1, "a"]], [[2, "b"]]])
    assert res.ok, res
    assert res.log == (
        "top level\n"
        + 'rows: 1\nno newline ... continued\nmulti\nline\ntab\there quote" unicode 日本\n' * 2
    )
    # every frame decoded (Result parses them all); data frames untouched
    assert res.column("x") == [1, 2]
    # log text comes before the chunk's output
    first_log = res.types.index(wire.frames.LOG)
    assert first_log < res.types.index(wire.frames.BATCH)


def test_printed_reads_back_what_the_function_printed() -> None:
    code = 'def transform(df):\n    print("hello")\n    df["p"] = printed\n    return df\n'
    res = run(code)
    assert res.ok and res.column("p") == ["hello\n", "hello\n"]


def test_a_partial_line_is_flushed_at_the_end_of_the_chunk() -> None:
    res = run('def transform(df):\n    print("no newline at all", end="")\n    return df\n')
    assert res.ok and res.log == "no newline at all\n"


def test_library_output_goes_to_the_log_not_the_frames() -> None:
    res = run("def transform(df):\n    df.info()\n    return df\n")
    assert res.ok, res
    assert "RangeIndex: 2 entries" in res.log and "Data columns" in res.log


def test_warnings_become_log_lines_with_the_users_line() -> None:
    code2 = """import numpy as np
def transform(df):
    df["r"] = np.log(df["x"] - 1)
    return df
"""
    res = run(code2)
    assert res.ok, res
    assert "warning: RuntimeWarning: divide by zero encountered in log (line 3)\n" in res.log


def test_large_output_is_split_and_capped() -> None:
    code = (
        'def transform(df):\n    for i in range(3000):\n        print("x" * 99, i)\n    return df\n'
    )
    res = run(code)
    assert res.ok, res
    assert all(len(p) <= 64 * 1024 for t, p in res.frames if t == wire.frames.LOG)
    assert res.log.count("\n") == 3000
    big = (
        'def transform(df):\n    for i in range(10000):\n        print("y" * 1000)\n    return df\n'
    )
    res = run(big)
    assert res.ok
    assert len(res.log) < 9 * 1024 * 1024
    assert res.log.endswith("the rest of its output is dropped)\n")


def test_memory_limit_under_rlimit_data() -> None:
    """Under the sandbox's RLIMIT_DATA (300 MiB here) the runner still
    starts, and an allocation past it is memory_limit, not a crash."""
    import resource
    import subprocess

    f = wire.frames
    code = "import numpy as np\ndef transform(df):\n    big = np.ones(100_000_000)\n    return df\n"
    data = wire.job_frame(code, [wire.column("x", "int4", False)])
    data += f.encode_frame(f.BATCH, wire.encode_batch([f.INT32], [[1]])) + f.encode_frame(f.END)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (300 << 20, 300 << 20))

    proc = subprocess.run(
        [str(wire.SANDBOX_PYTHON), "-I", "-m", "tablewright_runner"],
        input=data,
        capture_output=True,
        preexec_fn=limit,
        timeout=120,
        check=False,
    )
    res = wire.Result(proc.stdout, proc.stderr.decode(), proc.returncode)
    assert res.returncode == 0, res
    assert res.status["error_code"] == "memory_limit", res
    assert "Unable to allocate" in res.status["message"]
