"""Live internals never reach a script, attack by attack: AttributeError.obj
(which in 3.10+ hands out the object looked in, a real module included),
ImportError's path, tracebacks and frames, generators' frames and code,
code objects, string.Formatter and operator's getters, except*, and the
RestrictedPython advisories (format strings on str subclasses, positional-
only parameters shadowing the guards, iteration in C). And the module
proxies: a script never holds a real module, whatever it tries."""

from __future__ import annotations

import subprocess

import pytest
import runnerwire as wire

COLS = [wire.column("x", "int8", False)]
ROWS = [[[1], [2]]]
HEAD = "import pandas as pd\nimport numpy as np\nimport math\nimport statistics\nimport re\n\n"


def run(code: str) -> wire.Result:
    res = wire.run_job(code, COLS, ROWS)
    assert res.returncode == 0, res
    assert res.types[-1] == wire.frames.STATUS, res
    return res


def body_code(body: str) -> str:
    lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return HEAD + f"def transform(df):\n{lines}\n    return df\n"


def refused(body: str, *needles: str) -> wire.Result:
    res = run(body_code(body))
    status = res.status
    assert status["ok"] is False and status["error_code"] == "sandbox_violation", status
    for n in needles:
        assert n in status["message"], status
    return res


def works(body: str) -> wire.Result:
    res = run(body_code(body))
    assert res.ok, res
    return res


# --- exceptions ----------------------------------------------------------------------

CATCH = "try:\n    {}\nexcept AttributeError as e:\n    "


@pytest.mark.parametrize(
    "body, needle",
    [
        # 3.10+: AttributeError.obj is the object looked in
        (CATCH.format("pd.nothing") + "v = e.obj", '"AttributeError.obj"'),
        (CATCH.format("df.nothing") + "v = e.obj", '"AttributeError.obj"'),
        (
            "try:\n    df.x.dt\nexcept AttributeError as e:\n    v = getattr(e, 'o' + 'bj')",
            '"AttributeError.obj"',
        ),
        (
            'try:\n    df.nothing\nexcept AttributeError as e:\n    v = "{0.obj}".format(e)',
            '"AttributeError.obj"',
        ),
        ('e = ImportError("x", path="/etc/passwd")\nv = e.path', '"ImportError.path"'),
        ('e = ImportError("x", name="os")\nv = getattr(e, "name_from")', '"ImportError.name_from"'),
        (
            "try:\n    1 / 0\nexcept Exception as e:\n    v = getattr(e, '__traceback__')",
            '"__traceback__"',
        ),
        (
            "try:\n    1 / 0\nexcept Exception as e:\n    v = '{0.__traceback__}'.format(e)",
            '"__traceback__"',
        ),
        (
            "try:\n    1 / 0\nexcept Exception as e:\n    v = getattr(e, '__context__')",
            '"__context__"',
        ),
    ],
)
def test_exceptions_do_not_carry_internals_out(body: str, needle: str) -> None:
    refused(body, needle)


def test_an_attribute_error_is_still_an_ordinary_error() -> None:
    res = run(body_code("v = np.nothing_here"))
    assert res.status["error_code"] == "user_error", res.status
    assert "module 'numpy' has no attribute 'nothing_here'" in res.status["message"]
    res = works(
        """
try:
    df.nothing
except AttributeError as e:
    print("caught", e.name, e.args[0][:30])
try:
    undefined_name
except NameError as e:
    print("name", e.name)
"""
    )
    assert "caught nothing" in res.log and "name undefined_name" in res.log


def test_except_star_is_refused_at_compile_time() -> None:
    code = HEAD + (
        "def transform(df):\n    try:\n        pass\n    except* ValueError as eg:\n"
        "        v = eg.exceptions\n    return df\n"
    )
    res = run(code)
    assert res.status["error_code"] == "sandbox_violation", res.status
    assert "TryStar" in res.status["message"], res.status
    assert res.types == [wire.frames.STATUS]


def test_exception_groups_cannot_be_built() -> None:
    res = run(body_code('eg = ExceptionGroup("g", [ValueError("v")])'))
    assert res.status["error_code"] == "user_error", res.status
    assert "ExceptionGroup" in res.status["message"]


# --- frames, generators, coroutines, code --------------------------------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        ("g = (x for x in [1])\nv = getattr(g, 'gi_frame')", '"gi_frame"'),
        ("g = (x for x in [1])\nv = getattr(g, 'gi_' + 'code')", '"gi_code"'),
        ("g = (x for x in [1])\nv = getattr(g, 'gi_yieldfrom')", '"gi_yieldfrom"'),
        ("g = (x for x in [1])\nv = '{0.gi_frame}'.format(g)", '"gi_frame"'),
        ("v = getattr(df.items(), 'gi_frame')", '"gi_frame"'),
        ("v = getattr(df.iterrows(), 'gi_code')", '"gi_code"'),
        ("v = getattr(getattr(df.items(), 'gi_frame'), 'f_back')", '"gi_frame"'),
        ("g = (x for x in [1])\nv = getattr(g, 'cr_frame')", '"cr_frame"'),
        ("g = (x for x in [1])\nv = getattr(g, 'ag_frame')", '"ag_frame"'),
        ("g = (x for x in [1])\nv = getattr(g, 'cr_await')", '"cr_await"'),
        ("g = (x for x in [1])\nv = getattr(g, 'ag_await')", '"ag_await"'),
        ("f = lambda: 1\nv = getattr(f, '__code__')", '"__code__"'),
        ("f = lambda: 1\nv = getattr(f, '__globals__')", '"__globals__"'),
        ("v = getattr(pd.DataFrame.sum, '__globals__')", '"__globals__"'),
        ("v = getattr(transform, '__builtins__')", '"__builtins__"'),
        ("v = hasattr((x for x in []), 'gi_frame') or getattr(df, 'f_globals')", '"f_globals"'),
    ],
)
def test_frames_and_code_never_reach_the_script(body: str, needle: str) -> None:
    refused(body, needle)


@pytest.mark.parametrize(
    "source",
    [
        "g = (x for x in [1])\nv = g.gi_frame",
        "def gen():\n    yield 1\nv = gen().gi_frame.f_back.f_globals",
        "v = df.items().gi_code",
        "async def f():\n    pass",
        "async def f():\n    await g()",
        "async def f():\n    yield 1",
        "def f(_getattr_=None, /):\n    return 1",
        "def f(a, _getiter_=list, /):\n    return 1",
        "f = lambda _getitem_, /: 1",
        "f = lambda x: x.__code__",
        "import string",
        "from string import Formatter",
        "import operator",
        "from operator import attrgetter, methodcaller",
        "from numpy import *",
        "v = __builtins__",
        "v = __import__('os')",
    ],
)
def test_refused_at_compile_time(source: str) -> None:
    code = "def transform(df):\n" + "\n".join("    " + s for s in source.splitlines())
    res = run(code + "\n    return df\n")
    assert res.status["error_code"] == "sandbox_violation", (source, res.status)
    assert res.types == [wire.frames.STATUS], res  # nothing ran
    val = wire.validate(code + "\n    return df\n")
    assert val.status["ok"] is False


# --- formatting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        ('class S(str):\n    pass\nv = S("{0.__class__}").format(1)', '"__class__"'),
        ('class S(str):\n    pass\nv = S.format(S("{0._x}"), 1)', '"str.format"'),
        ('v = str.format("{0.__class__}", 1)', '"str.format"'),
        ('v = str.format_map("{a.__class__}", {"a": 1})', '"str.format_map"'),
        ('v = "{a.__class__}".format_map({"a": 1})', '"__class__"'),
        ('v = "{0:{1.__class__}}".format(1, 2)', '"__class__"'),
        ('v = "{0.__globals__}".format(transform)', '"__globals__"'),
        ('v = "{0[0].__class__}".format([1])', '"__class__"'),
        ('v = "{0.sum.__self__}".format(df)', '"__self__"'),
        ('v = "{0.load}".format(np)', '"numpy.load"'),
    ],
)
def test_format_strings_go_through_the_guards(body: str, needle: str) -> None:
    refused(body, needle)


def test_format_hands_out_no_formatter() -> None:
    # "".format is a plain function: no .func, no Formatter methods
    res = run(body_code('f = "{}".format\nv = getattr(f, "func")'))
    assert res.status["error_code"] == "user_error", res.status
    assert "AttributeError" in res.status["message"]
    res = run(body_code('f = "{}".format\nv = f.parse("{0.x}")'))
    assert res.status["error_code"] == "user_error", res.status
    res = works('print("F", "{0:>4}|{1[k]}|{x.shape}".format(7, {"k": 2}, x=df))')
    assert "F    7|2|(2, 1)" in res.log


# --- module proxies ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        ("v = getattr(np, '__dict__')", '"__dict__"'),
        ("v = getattr(np, '__loader__')", '"__loader__"'),
        ("v = getattr(np, '__spec__')", '"__spec__"'),
        ("v = getattr(np, '__class__')", '"__class__"'),
        ("v = getattr(np, '__getattr__')", '"__getattr__"'),
        ("v = '{0.__dict__}'.format(np)", '"__dict__"'),
        ("np.extra = 1", 'the module "numpy"'),
        ("setattr(np, 'sum', len)", 'the module "numpy"'),
        ("del math.pi", 'the module "math"'),
        ("np.random.seed = 1", 'the module "numpy.random"'),
        ("statistics.sys", '"statistics.sys"'),
        ("statistics.random", '"statistics.random"'),
        ("re.enum", '"re.enum"'),
        ("re.copyreg", '"re.copyreg"'),
        ("re.functools", '"re.functools"'),
        ("import datetime\nv = datetime.sys", '"datetime.sys"'),
        ("import datetime\nv = datetime.datetime_CAPI", '"datetime.datetime_CAPI"'),
        ("v = np.random.mtrand", '"numpy.random.mtrand"'),
        ("v = np.ma.extras", '"numpy.ma.extras"'),
        ("v = pd.errors.cow", '"pandas.errors.cow"'),
        ("v = getattr(pd, 'co' + 're')", '"pandas.core"'),
        ("v = pd.Series([np])[0].load", '"numpy.load"'),
        ("v = pd.Series([np]).to_numpy()[0].lib", '"numpy.lib"'),
        ("v = [m for m in [np]][0].ctypeslib", '"numpy.ctypeslib"'),
        ("v = np.array([np], dtype=object).item().f2py", '"numpy.f2py"'),
        ("v = {'m': np}['m'].testing", '"numpy.testing"'),
        (
            "v = pd.ArrowDtype.construct_from_string('int64[pyarrow]').pyarrow_dtype",
            "another library's object",
        ),
        ("v = np.random.default_rng().bit_generator.lock", "another library's object"),
    ],
)
def test_module_proxies_do_not_leak(body: str, needle: str) -> None:
    refused(body, needle)


def test_module_proxies_behave_like_the_modules() -> None:
    res = works(
        """
import numpy
import numpy as np2
import numpy.linalg
import numpy.linalg as la
from numpy.random import default_rng
from pandas.api.types import is_numeric_dtype
from pandas import offsets
print("SAME", numpy is np2 is np, la is np.linalg, numpy.linalg is la)
print("REPR", repr(np), repr(np.random), str(pd))
print("NOTMOD", isinstance(np, pd.DataFrame), callable(np))
a = np.array([3.0, 4.0])
df["n"] = float(la.norm(a)) + float(default_rng(0).integers(0, 1, 1)[0])
df["b"] = is_numeric_dtype(df["x"])
df["e"] = float(np.emath.sqrt(4)) + float(np.fft.fft([1.0, 0.0]).real[0])
df["o"] = (pd.Timestamp("2024-01-31") + offsets.MonthEnd(1)).day
"""
    )
    assert "SAME True True True" in res.log
    assert "REPR <module 'numpy'> <module 'numpy.random'> <module 'pandas'>" in res.log
    assert "NOTMOD False False" in res.log
    assert res.column("n") == [5.0, 5.0] and res.column("e") == [3.0, 3.0]
    assert res.column("o") == [29, 29]


def test_a_name_not_on_the_list_is_refused_with_the_reason() -> None:
    res = refused("v = np.load", '"numpy.load" is not available in scripts', "files")
    assert res.status["line"] == 8
    refused("v = pd.eval", '"pandas.eval"', "evaluates a string as code")
    refused("v = np.bmat", '"numpy.bmat"', "frame")


# --- iteration in C --------------------------------------------------------------------


def test_builtins_that_iterate_go_through_the_guard() -> None:
    res = works(
        """
for f in (sorted, map, filter, zip, enumerate, min, max, sum, any, all, list, tuple, set):
    print("B", f)
df["s"] = sum(sorted(map(abs, filter(None, [-1, 2]))))
"""
    )
    lines = [ln for ln in res.log.splitlines() if ln.startswith("B ")]
    assert len(lines) == 13
    assert all("built-in" not in ln for ln in lines), lines
    assert res.column("s") == [3, 3]


# --- the C-level import pass-through ---------------------------------------------------


def test_c_code_imports_still_work() -> None:
    # numpy's dtype printing imports numpy._core.arrayprint, strptime _strptime:
    # both through the script's own __import__, from C
    res = works(
        """
import datetime
print("P", np.dtype([("a", "i4")]), repr(np.array([1.5])))
print("T", datetime.datetime.strptime("2024-02-03", "%Y-%m-%d").day)
"""
    )
    assert "P [('a', '<i4')] array([1.5])" in res.log and "T 3" in res.log


def _in_runner(code: str) -> str:
    out = subprocess.run(
        [str(wire.SANDBOX_PYTHON), "-I", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_c_import_call_shape_imports_nothing_else() -> None:
    # The shape PyImport_Import uses (fromlist [], locals is globals): were a
    # script ever to call __import__ that way, it gets nothing outside the
    # libraries' own C-level imports.
    out = _in_runner(
        """
import numpy, pandas
from tablewright_runner import policy
sb = policy.Sandbox(print)
g = sb.make_globals()
imp = g["__builtins__"]["__import__"]
for name in ("os", "sys", "subprocess", "posix", "builtins", "importlib", "ctypes",
             "pickle", "socket", "io", "_io", "marshal", "os.path", "shutil"):
    try:
        imp(name, g, g, [], 0)
        print("IMPORTED", name)
    except policy.SandboxViolation as e:
        print("REFUSED", name)
print("OK", type(imp("numpy._core.arrayprint", g, g, [], 0)).__name__)
print("OK", type(imp("_strptime", g, g, [], 0)).__name__)
"""
    )
    assert "IMPORTED" not in out, out
    assert out.count("REFUSED") == 14, out
    assert out.count("OK module") == 2, out


def test_a_script_cannot_reach_its_own_import_function() -> None:
    for body, needle in [
        ('v = np.bmat("__builtins__")', '"numpy.bmat"'),
        ('v = np.r_["__builtins__"]', "np.r_"),
        ('v = getattr(transform, "__globals__")', '"__globals__"'),
        ('v = "{0.__builtins__}".format(transform)', '"__builtins__"'),
        ('v = df.agg("__import__")', '"__import__"'),
    ]:
        refused(body, needle)
