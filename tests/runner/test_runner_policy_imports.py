"""Imports, every form, outside the allow list: refused at compile time
(validate and run alike) with a message naming the module and listing what
is allowed; nothing of the script runs. And inside the allow list: every
importable module and submodule, in every form."""

from __future__ import annotations

import pytest
import runnerwire as wire

COLS = [wire.column("x", "int8", False)]
ROWS = [[[1], [2]]]
ALLOWED = "datetime, decimal, math, numpy, pandas, re, statistics"

REFUSED_MODULES = [
    "os",
    "sys",
    "subprocess",
    "socket",
    "shutil",
    "pathlib",
    "io",
    "threading",
    "multiprocessing",
    "ctypes",
    "importlib",
    "pickle",
    "builtins",
    "string",
    "operator",
    "gc",
    "inspect",
    "types",
    "marshal",
    "code",
    "codecs",
    "posix",
    "nt",
    "_io",
    "functools",
    "pyarrow",
    "tablewright_runner",
    "numpy.lib",
    "numpy.lib.format",
    "numpy.ctypeslib",
    "numpy.f2py",
    "numpy.testing",
    "numpy.lib.scimath",
    "pandas.io",
    "pandas.io.pickle",
    "pandas.core",
    "pandas.plotting",
    "pandas.api.extensions",
    "pandas.api.interchange",
    "os.path",
]


@pytest.mark.parametrize("form", ["import {m}", "import {m} as alias", "from {m} import x"])
@pytest.mark.parametrize("module", REFUSED_MODULES)
def test_imports_outside_the_allow_list_are_refused_in_every_form(module: str, form: str) -> None:
    code = "def transform(df):\n    return df\n\n" + form.format(m=module) + "\n"
    val = wire.validate(code)
    assert val.returncode == 0 and val.status["ok"] is False, val
    messages = [e["message"] for e in val.status["errors"]]
    if not module.startswith("_"):
        assert any(f'"{module}"' in m and ALLOWED in m for m in messages), messages
    assert all(e["line"] == 4 for e in val.status["errors"]), val.status


@pytest.mark.parametrize("module", ["os", "subprocess", "ctypes", "builtins", "_io"])
def test_a_refused_import_runs_nothing(module: str) -> None:
    code = f'print("TOP RAN")\nimport {module}\n\ndef transform(df):\n    return df\n'
    res = wire.run_job(code, COLS, ROWS)
    assert res.returncode == 0 and res.types == [wire.frames.STATUS], res
    assert res.status["error_code"] == "sandbox_violation", res.status
    assert "TOP RAN" not in res.log


def test_every_importable_module_in_every_form() -> None:
    code = """
import datetime, decimal, math, re, statistics
import numpy, pandas
import numpy as np
import numpy.random, numpy.linalg, numpy.fft, numpy.ma, numpy.polynomial
import numpy.strings, numpy.char, numpy.dtypes, numpy.exceptions
import pandas.arrays, pandas.errors, pandas.api, pandas.api.types, pandas.api.indexers
import pandas.tseries.offsets
import numpy.linalg as la
import pandas.api.types as pt
from numpy.random import default_rng
from numpy.polynomial import Polynomial
from pandas.errors import MergeError
from pandas.api.indexers import FixedForwardWindowIndexer
from pandas.tseries.offsets import MonthEnd
from decimal import Decimal, ROUND_HALF_UP
from statistics import median
from re import compile as recompile
def transform(df):
    df["a"] = float(la.det(np.eye(2))) + median([1, 2, 3]) + Polynomial([1, 1])(1)
    df["b"] = pt.is_integer_dtype(df["x"]) and issubclass(MergeError, Exception)
    df["c"] = str(Decimal("1.25").quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    df["d"] = bool(recompile("a+").match("aa")) and numpy.ma.masked_array([1]).sum() == 1
    w = df["x"].rolling(FixedForwardWindowIndexer(window_size=2), min_periods=1).sum()
    df["e"] = w + (pandas.Timestamp("2024-01-15") + MonthEnd(1)).day
    df["f"] = int(default_rng(0).integers(5, 6, 1)[0]) + numpy.fft.fft([1.0]).real[0]
    return df
"""
    res = wire.run_job(code, COLS, ROWS)
    assert res.ok, res
    r = res.records()
    assert [x["a"] for x in r] == [5.0, 5.0]
    assert r[0]["b"] is True and r[0]["c"] == "1.3" and r[0]["d"] is True
    assert [x["e"] for x in r] == [34.0, 33.0]
    assert r[0]["f"] == 6.0
