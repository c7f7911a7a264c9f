"""What scripts may not do: imports outside the allow list, names starting
with "_", the pandas and numpy doors to files, pickles and code, changing
modules and classes. Each is a sandbox_violation naming what was refused,
with the line; a refusal the script catches still fails the job. And
hostile source (deep nesting) is a clean refusal, never a crash."""

from __future__ import annotations

import pytest
import runnerwire as wire

COLS = [wire.column("x", "int8", False)]
ROWS = [[[1], [2]]]


def run(code: str) -> wire.Result:
    res = wire.run_job(code, COLS, ROWS)
    assert res.returncode == 0, res
    assert res.types[-1] == wire.frames.STATUS
    return res


def violation(code: str, *needles: str) -> dict:
    status = run(code).status
    assert status["ok"] is False and status["error_code"] == "sandbox_violation", status
    for n in needles:
        assert n in status["message"], status
    return status


@pytest.mark.parametrize(
    "stmt, name",
    [
        ("import os", "os"),
        ("import sys", "sys"),
        ("import subprocess", "subprocess"),
        ("import importlib", "importlib"),
        ("import pickle", "pickle"),
        ("import builtins", "builtins"),
        ("import pyarrow", "pyarrow"),
        ("import tablewright_runner", "tablewright_runner"),
        ("from os import path", "os"),
        ("from pandas.io import common", "pandas.io"),
        ("import numpy.lib", "numpy.lib"),
        ("import os.path as p", "os.path"),
    ],
)
def test_imports_outside_the_allow_list_are_refused(stmt: str, name: str) -> None:
    code = f"{stmt}\n\ndef transform(df):\n    return df\n"
    status = violation(code, f'"{name}"', "datetime, decimal, math, numpy, pandas, re, statistics")
    assert status["line"] == 1 and status["column"] == 1


def test_import_inside_transform_is_refused_at_compile_time_with_its_line() -> None:
    status = violation(
        "def transform(df):\n    x = 1\n    import socket\n    return df\n", '"socket"'
    )
    assert (status["line"], status["column"]) == (3, 5)


def test_allowed_imports() -> None:
    code = """
import datetime
import decimal
import math
import re
import statistics
import numpy as np
import pandas as pd
from datetime import date, timedelta
from math import sqrt
from pandas import DataFrame, Timestamp
from numpy import random
import numpy.linalg
def transform(df):
    df["a"] = sqrt(16) + math.pi * 0 + statistics.mean([1, 2, 3])
    df["b"] = re.sub("x", "y", "xx")
    df["c"] = decimal.Decimal("1.5")
    df["d"] = date(2024, 1, 1) + timedelta(days=1)
    df["e"] = isinstance(df, DataFrame) and isinstance(Timestamp("2024"), pd.Timestamp)
    df["f"] = float(numpy.linalg.norm(np.array([3.0, 4.0])))
    random.seed(1)
    return df
"""
    res = run(code)
    assert res.ok, res
    r = res.records()[0]
    assert (r["a"], r["b"], r["c"], r["f"], r["e"]) == (6.0, "yy", "1.5", 5.0, True)


@pytest.mark.parametrize(
    "line, needle",
    [
        ("df._data", '"_data"'),
        ("df.__class__", '"__class__"'),
        ("_hidden = 1", '"_hidden"'),
        ("(lambda: 1).__globals__", '"__globals__"'),
        ("[].__class__.__base__.__subclasses__()", '"__class__"'),
    ],
)
def test_underscore_names_are_refused_at_compile_time(line: str, needle: str) -> None:
    status = violation(f"def transform(df):\n    {line}\n    return df\n", needle)
    assert status["line"] == 2


@pytest.mark.parametrize(
    "expr, needle",
    [
        ('getattr(df, "_data")', '"_data"'),
        ('getattr(df, "__class__")', '"__class__"'),
        ('"{0.__class__}".format(df)', '"__class__"'),
        ('"{0._mgr}".format(df)', '"_mgr"'),
        ('getattr((x for x in []), "gi_frame")', '"gi_frame"'),
    ],
)
def test_underscore_names_are_refused_at_run_time(expr: str, needle: str) -> None:
    status = violation(f"def transform(df):\n    y = 1\n    v = {expr}\n    return df\n", needle)
    assert status["line"] == 3 and status["column"] is not None


@pytest.mark.parametrize(
    "expr, needle",
    [
        ('pd.read_csv("/etc/passwd")', '"pandas.read_csv"'),
        ('pd.read_pickle("/tmp/x")', '"pandas.read_pickle"'),
        ('df.to_csv("/tmp/out.csv")', '"to_csv"'),
        ('df.to_pickle("/tmp/out.pkl")', '"to_pickle"'),
        ('df.to_string(buf="/tmp/out.txt")', '"to_string"'),
        ('df.query("x > 1")', '"query"'),
        ('df.eval("y = x + 1")', '"eval"'),
        ('pd.eval("1 + 1")', '"pandas.eval"'),
        ('np.load("/tmp/x.npy", allow_pickle=True)', '"numpy.load"'),
        ('np.save("/tmp/x.npy", df["x"].to_numpy())', '"numpy.save"'),
        ('df["x"].to_numpy().tofile("/tmp/x")', '"tofile"'),
        ('df["x"].to_numpy().dumps()', '"dumps"'),
        ('df["x"].to_numpy().ctypes', '"ctypes"'),
        ("df.plot()", '"plot"'),
        ('pd.set_option("plotting.backend", "os")', '"pandas.set_option"'),
        ("pd.options", '"pandas.options"'),
        ('df.agg("eval")', 'agg("eval")'),
        ('df["x"].apply("to_csv")', 'apply("to_csv")'),
        ('df.groupby("x").agg(total=("x", "to_pickle"))', 'agg("to_pickle")'),
        ("pd.io", '"pandas.io"'),
        ("np.lib", '"numpy.lib"'),
        ("statistics.sys", '"statistics.sys"'),
        ("re.enum", '"re.enum"'),
        ("getattr(pd, 'core')", '"pandas.core"'),
    ],
)
def test_dangerous_pandas_and_numpy_api_is_refused(expr: str, needle: str) -> None:
    head = "import pandas as pd\nimport numpy as np\nimport statistics\nimport re\n\n"
    code = head + f"def transform(df):\n    v = {expr}\n    return df\n"
    status = violation(code, needle)
    assert status["line"] == 7


def test_a_caught_refusal_still_fails_the_job() -> None:
    code = """
def transform(df):
    try:
        import os
    except Exception:
        pass
    return df
"""
    # refused at compile time already
    violation(code, '"os"')
    code = """
import pandas as pd
def transform(df):
    try:
        pd.read_csv("/etc/passwd")
    except Exception as e:
        print("caught", e)
    return df
"""
    res = run(code)
    assert res.status["error_code"] == "sandbox_violation", res
    assert '"pandas.read_csv"' in res.status["message"] and res.status["line"] == 5
    assert "caught" in res.log


@pytest.mark.parametrize(
    "stmt, needle",
    [
        ("math.pi = 3", 'the module "math"'),
        ("pd.DataFrame.to_dict = len", 'the class "DataFrame"'),
        ("setattr(math, 'tau', 1)", 'the module "math"'),
        ("np.dtype.x = 1", 'the class "dtype"'),
    ],
)
def test_modules_and_classes_cannot_be_changed(stmt: str, needle: str) -> None:
    head = "import math\nimport pandas as pd\nimport numpy as np\n"
    code = head + f"def transform(df):\n    {stmt}\n    return df\n"
    violation(code, needle)


def test_writes_to_frames_containers_and_own_objects_are_allowed() -> None:
    code = """
import numpy as np
class Acc:
    def __init__(self):
        self.total = 0
    def add(self, v):
        self.total += v
def transform(df):
    acc = Acc()
    for v in df["x"]:
        acc.add(v)
    d = {}
    d["k"] = 1
    d["k"] += 1
    lst = [0, 0]
    lst[1] = 5
    arr = np.zeros(2)
    arr[0] = 7
    df["acc"] = acc.total
    df.loc[df["x"] > 1, "acc"] = -1
    df.loc[:, "x"] += 10
    df["x"] *= 2
    df.columns = ["x2", "acc"]
    df["d"] = d["k"] + lst[1] + arr[0]
    return df
"""
    res = run(code)
    assert res.ok, res
    assert res.records() == [{"x2": 22, "acc": 3, "d": 14.0}, {"x2": 24, "acc": -1, "d": 14.0}]


def test_builtins_that_do_not_exist_in_scripts() -> None:
    for name in (
        "open",
        "exec",
        "eval",
        "compile",
        "globals",
        "vars",
        "dir",
        "input",
        "breakpoint",
    ):
        res = run(f"def transform(df):\n    f = {name}\n    return df\n")
        assert res.status["ok"] is False, (name, res)
        assert res.status["error_code"] in ("user_error", "sandbox_violation"), res


@pytest.mark.parametrize(
    "source, message",
    [
        ("x = " + "-" * 100000 + "1\n", "MemoryError"),  # the parser's stack overflows (3.11)
        ("x = " + "1+" * 200000 + "1\n", "RecursionError"),
        ("x = a" + ".b" * 100000 + "\n", "RecursionError"),
        ("x = f" + "()" * 100000 + "\n", "RecursionError"),
        ("x = " + "(" * 300 + "1" + ")" * 300 + "\n", "too many nested parentheses"),
        ("x = " + "lambda: " * 10000 + "1\n", "MemoryError"),
    ],
    ids=["unary", "binop", "attributes", "calls", "parentheses", "lambdas"],
)
def test_hostile_source_is_a_clean_refusal(source: str, message: str) -> None:
    res = wire.run_job(source + "def transform(df):\n    return df\n", COLS, ROWS)
    assert res.returncode == 0, res
    assert res.types == [wire.frames.STATUS], res
    assert res.status["ok"] is False and res.status["error_code"] == "user_error"
    assert message in res.status["message"], res.status
    val = wire.validate(source)
    assert val.returncode == 0 and val.status["ok"] is False
    assert message in val.status["errors"][0]["message"]
