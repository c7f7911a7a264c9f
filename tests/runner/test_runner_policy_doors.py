"""The doors of the public pandas/numpy API, attack by attack: every reader
and writer, pickles, numpy's file functions, options, plotting, extension
registration, Styler, pandas' interpreters and functions named by string.
Each is refused (sandbox_violation, the message naming what and why)
wherever it is reached: an attribute, getattr() with a computed name,
hasattr(), a method of a returned object, a format field. Doors that touch
the file system also leave it untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import runnerwire as wire

COLS = [wire.column("x", "int8", False)]
ROWS = [[[1], [2]]]
HEAD = "import pandas as pd\nimport numpy as np\n\n"


def run(code: str) -> wire.Result:
    res = wire.run_job(code, COLS, ROWS)
    assert res.returncode == 0, res
    assert res.types[-1] == wire.frames.STATUS, res
    return res


def refused(body: str, *needles: str) -> wire.Result:
    """Runs `body` inside transform(df) (after pd and np are imported) and
    checks the job ends in a sandbox_violation whose message holds the
    needles."""
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    res = run(HEAD + f"def transform(df):\n{lines}\n    return df\n")
    status = res.status
    assert status["ok"] is False and status["error_code"] == "sandbox_violation", status
    for n in needles:
        assert n in status["message"], status
    return res


def works(body: str) -> wire.Result:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    res = run(HEAD + f"def transform(df):\n{lines}\n    return df\n")
    assert res.ok, res
    return res


# --- files: nothing is written ------------------------------------------------------

WRITERS = [
    ('df.to_csv("{p}")', '"to_csv"'),
    ('df.to_csv(path_or_buf="{p}")', '"to_csv"'),
    ('df["x"].to_csv("{p}")', '"to_csv"'),
    ('df.to_json("{p}")', '"to_json"'),
    ('df.to_string("{p}")', '"to_string"'),
    ('df.to_string(buf="{p}")', '"to_string"'),
    ('df.to_pickle("{p}")', '"to_pickle"'),
    ('pd.to_pickle(df, "{p}")', '"pandas.to_pickle"'),
    ('df.to_parquet("{p}")', '"to_parquet"'),
    ('df.to_feather("{p}")', '"to_feather"'),
    ('df.to_orc("{p}")', '"to_orc"'),
    ('df.to_html("{p}")', '"to_html"'),
    ('df.to_xml("{p}")', '"to_xml"'),
    ('df.to_latex("{p}")', '"to_latex"'),
    ('df.to_markdown("{p}")', '"to_markdown"'),
    ('df.to_excel("{p}")', '"to_excel"'),
    ('df.to_stata("{p}")', '"to_stata"'),
    ('df.to_hdf("{p}", key="k")', '"to_hdf"'),
    ('df.to_sql("t", "sqlite:///{p}")', '"to_sql"'),
    ("df.to_clipboard()", '"to_clipboard"'),
    ("df.to_xarray()", '"to_xarray"'),
    ('getattr(df, "to_" + "csv")("{p}")', '"to_csv"'),
    ('df.index.to_frame().to_csv("{p}")', '"to_csv"'),
    ('pd.DataFrame.to_csv(df, "{p}")', '"to_csv"'),
    ('pd.DataFrame.mro()[1].to_json(df, "{p}")', '"mro"'),
    ('pd.Series.to_string(df["x"], buf="{p}")', '"to_string"'),
    ('np.save("{p}", df["x"].to_numpy())', '"numpy.save"'),
    ('np.savez("{p}", a=df["x"].to_numpy())', '"numpy.savez"'),
    ('np.savez_compressed("{p}", a=df["x"].to_numpy())', '"numpy.savez_compressed"'),
    ('np.savetxt("{p}", df["x"].to_numpy())', '"numpy.savetxt"'),
    ('df["x"].to_numpy().tofile("{p}")', '"tofile"'),
    ('df["x"].to_numpy().dump("{p}")', '"dump"'),
    ('np.memmap("{p}", dtype="int8", mode="w+", shape=(4,))', '"numpy.memmap"'),
    ('np.ma.masked_array([1, 2]).tofile("{p}")', '"tofile"'),
    ('pd.ExcelWriter("{p}")', '"pandas.ExcelWriter"'),
    ('pd.HDFStore("{p}")', '"pandas.HDFStore"'),
    ('df.groupby("x").sum().to_csv("{p}")', '"to_csv"'),
    ('df.describe().to_parquet("{p}")', '"to_parquet"'),
    ('pd.col("x").to_csv("{p}")', '"to_csv"'),
]


@pytest.mark.parametrize("expr, needle", WRITERS, ids=[w[0][:40] for w in WRITERS])
def test_writers_are_refused_and_write_nothing(tmp_path: Path, expr: str, needle: str) -> None:
    target = tmp_path / "out.file"
    refused("v = " + expr.format(p=target), needle)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


CANARY = "tw-canary-7f3a9c"

READERS = [
    ('pd.read_csv("{p}")', '"pandas.read_csv"'),
    ('pd.read_table("{p}")', '"pandas.read_table"'),
    ('pd.read_fwf("{p}")', '"pandas.read_fwf"'),
    ('pd.read_json("{p}")', '"pandas.read_json"'),
    ('pd.read_pickle("{p}")', '"pandas.read_pickle"'),
    ('pd.read_parquet("{p}")', '"pandas.read_parquet"'),
    ('pd.read_excel("{p}")', '"pandas.read_excel"'),
    ('pd.read_xml("{p}")', '"pandas.read_xml"'),
    ('pd.read_html("{p}")', '"pandas.read_html"'),
    ('pd.read_sql("select 1", "sqlite:///{p}")', '"pandas.read_sql"'),
    ("pd.read_clipboard()", '"pandas.read_clipboard"'),
    ('pd.read_csv("http://127.0.0.1:9/x.csv")', '"pandas.read_csv"'),
    ('pd.ExcelFile("{p}")', '"pandas.ExcelFile"'),
    ('np.load("{p}", allow_pickle=True)', '"numpy.load"'),
    ('np.loadtxt("{p}", dtype=str)', '"numpy.loadtxt"'),
    ('np.genfromtxt("{p}", dtype=str)', '"numpy.genfromtxt"'),
    ('np.fromfile("{p}", dtype="uint8")', '"numpy.fromfile"'),
    ('np.fromregex("{p}", ".*", [("a", "U40")])', '"numpy.fromregex"'),
    ('np.memmap("{p}", dtype="uint8", mode="r")', '"numpy.memmap"'),
    ('np.DataSource().open("{p}")', '"numpy.DataSource"'),
    ('getattr(pd, "read_" + "csv")("{p}")', '"pandas.read_csv"'),
    ('getattr(pd, "read_csv", None)("{p}")', '"pandas.read_csv"'),
    ('"{{0.read_csv}}".format(pd)', '"pandas.read_csv"'),
    ('"{{m.read_csv}}".format_map(dict(m=pd))', '"pandas.read_csv"'),
    ('df.read_csv("{p}")', '"read_csv"'),
]


@pytest.mark.parametrize("expr, needle", READERS, ids=[r[0][:40] for r in READERS])
def test_readers_are_refused_and_read_nothing(tmp_path: Path, expr: str, needle: str) -> None:
    source = tmp_path / "in.csv"
    source.write_text(f"a\n{CANARY}\n")
    res = refused(f"v = {expr.format(p=source)}\nprint(v)", needle)
    assert CANARY not in res.log and CANARY not in str(res.status)


def test_writers_without_a_path_return_text() -> None:
    res = works(
        """
print("CSV", df.to_csv(index=False).strip().replace(chr(10), "|"))
print("JSON", df.to_json(orient="records"))
print("STR", df["x"].to_string(index=False).replace(chr(10), "|"))
df["j"] = df.apply(lambda r: r.to_json(), axis=1)
"""
    )
    assert "CSV x|1|2" in res.log
    assert 'JSON [{"x":1},{"x":2}]' in res.log
    assert "STR 1| 2" in res.log or "STR 1|2" in res.log
    assert res.column("j") == ['{"x":1}', '{"x":2}']


def test_in_memory_conversions_work() -> None:
    res = works(
        """
a = df["x"].to_numpy().tolist() + df["x"].to_list()
d = df.to_dict("list")
r = df.to_records(index=False)
f = df["x"].to_frame()
t = pd.to_datetime(pd.Series(["2024-01-02"])).dt.to_pydatetime()
n = pd.to_numeric(pd.Series(["1.5"]))
p = pd.Series(pd.to_datetime(["2024-03-01"])).dt.to_period("M")
i = pd.MultiIndex.from_tuples([(1, 2)]).to_flat_index()
td = pd.to_timedelta(["1D"]).to_pytimedelta()
df["n"] = len(a) + len(d["x"]) + len(r) + len(f) + len(t) + len(n) + len(p) + len(i) + len(td)
"""
    )
    assert res.column("n") == [15, 15]


# --- pickles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, needle",
    [
        ('df["x"].to_numpy().dumps()', '"dumps"'),
        ("np.ma.dumps(np.ma.masked_array([1]))", '"numpy.ma.dumps"'),
        ('np.ma.loads(b"")', '"numpy.ma.loads"'),
        ('np.load("x.npy", allow_pickle=True)', '"numpy.load"'),
        ("df.pickle", '"pickle"'),
        ('pd.read_pickle("x.pkl")', '"pandas.read_pickle"'),
        ('pd.to_pickle(df, "x.pkl")', '"pandas.to_pickle"'),
        ('getattr(df, "to_" + "pickle")', '"to_pickle"'),
        ('np.lib.format.read_array("x")', '"numpy.lib"'),
    ],
)
def test_pickle_is_refused_everywhere(expr: str, needle: str) -> None:
    refused(f"v = {expr}", needle)


# --- numpy's files, memory and introspection ----------------------------------------


@pytest.mark.parametrize(
    "expr, needle",
    [
        ("np.ctypeslib", '"numpy.ctypeslib"'),
        ('df["x"].to_numpy().ctypes', '"ctypes"'),
        ("np.random.default_rng().bit_generator.ctypes", '"ctypes"'),
        ("np.random.default_rng().bit_generator.cffi", '"cffi"'),
        ("np.random.default_rng().bit_generator.capsule", '"capsule"'),
        ("np.random.default_rng().bit_generator.lock", "another library's object"),
        ("np.lib", '"numpy.lib"'),
        ("np.lib.format", '"numpy.lib"'),
        ("np.f2py", '"numpy.f2py"'),
        ("np.rec.fromfile", '"numpy.rec"'),
        ("np.testing", '"numpy.testing"'),
        ("np.test()", '"numpy.test"'),
        ("pd.test()", '"pandas.test"'),
        ("np.info(np)", '"numpy.info"'),
        ("np.show_config()", '"numpy.show_config"'),
        ("np.show_runtime()", '"numpy.show_runtime"'),
        ("np.get_include()", '"numpy.get_include"'),
        ("pd.show_versions()", '"pandas.show_versions"'),
        ("np.from_dlpack(df)", '"numpy.from_dlpack"'),
        ("np.core", '"numpy.core"'),
        ("np.typing", '"numpy.typing"'),
        ("np.set_printoptions(threshold=1)", '"numpy.set_printoptions"'),
        ("np.seterrcall(print)", '"numpy.seterrcall"'),
        ("np.random.bit_generator", '"numpy.random.bit_generator"'),
        ("np.random.mtrand", '"numpy.random.mtrand"'),
        ("np.ma.core", '"numpy.ma.core"'),
        ("np.polynomial.polyutils", '"numpy.polynomial.polyutils"'),
        ('np.bmat("df")', '"numpy.bmat"'),
        ('np.r_["df"]', "np.r_"),
        ('np.c_["__builtins__"]', "np.r_"),
    ],
)
def test_numpy_doors_are_refused(expr: str, needle: str) -> None:
    refused(f"v = {expr}", needle)


# --- options, plotting, registration, Styler, interpreters --------------------------


@pytest.mark.parametrize(
    "expr, needle",
    [
        ('pd.set_option("plotting.backend", "os")', '"pandas.set_option"'),
        ('pd.get_option("display.max_rows")', '"pandas.get_option"'),
        ("pd.reset_option('all')", '"pandas.reset_option"'),
        ("pd.describe_option()", '"pandas.describe_option"'),
        ('pd.option_context("display.max_rows", 1)', '"pandas.option_context"'),
        ("pd.options", '"pandas.options"'),
        ("pd.set_eng_float_format()", '"pandas.set_eng_float_format"'),
        ("df.plot()", '"plot"'),
        ('df.plot(backend="os")', '"plot"'),
        ('df["x"].plot.line()', '"plot"'),
        ("df.hist()", '"hist"'),
        ("df.boxplot()", '"boxplot"'),
        ('df.groupby("x").plot', '"plot"'),
        ("pd.plotting", '"pandas.plotting"'),
        ('getattr(df, "pl" + "ot")', '"plot"'),
        ("pd.api.extensions", '"pandas.api.extensions"'),
        ('pd.api.extensions.register_dataframe_accessor("x")', '"pandas.api.extensions"'),
        ("df.register_dataframe_accessor", '"register_dataframe_accessor"'),
        ("pd.api.interchange", '"pandas.api.interchange"'),
        ("df.style", '"style"'),
        ('getattr(df, "sty" + "le")', '"style"'),
        ('df.query("x > 1")', '"query"'),
        ('df.query("@df")', '"query"'),
        ('df.eval("y = x + 1")', '"eval"'),
        ('pd.eval("1 + 1")', '"pandas.eval"'),
        ("df.numexpr", '"numexpr"'),
        ("pd.io", '"pandas.io"'),
        ("pd.core", '"pandas.core"'),
        ("pd.util", '"pandas.util"'),
        ("pd.testing", '"pandas.testing"'),
        ("pd.tseries", '"pandas.tseries"'),
        ("pd.errors.ctypes", '"pandas.errors.ctypes"'),
        ('pd.col("x").to_pickle', '"to_pickle"'),
        ('pd.col("x").plot', '"plot"'),
    ],
)
def test_pandas_doors_are_refused(expr: str, needle: str) -> None:
    refused(f"v = {expr}", needle)


# --- functions named by string -------------------------------------------------------


@pytest.mark.parametrize(
    "expr, needle",
    [
        ('df.agg("to_csv")', 'agg("to_csv")'),
        ('df.agg("eval")', 'agg("eval")'),
        ('df.aggregate("to_pickle")', 'aggregate("to_pickle")'),
        ('df.apply("query", args=("x > 0",))', 'apply("query")'),
        ('df["x"].apply("to_csv")', 'apply("to_csv")'),
        ('df.transform("to_json")', 'transform("to_json")'),
        ('df.agg(["sum", "to_csv"])', 'agg("to_csv")'),
        ('df.agg(("to_csv", "sum"))', 'agg("to_csv")'),
        ('df.agg({"x": "to_csv"})', 'agg("to_csv")'),
        ('df.agg({"x": ["sum", "to_csv"]})', 'agg("to_csv")'),
        ('df.agg(func="to_csv")', 'agg("to_csv")'),
        ('df.groupby("x").agg("to_csv")', 'agg("to_csv")'),
        ('df.groupby("x").agg(total=("x", "to_pickle"))', 'agg("to_pickle")'),
        ('df.groupby("x").agg(total=pd.NamedAgg("x", "to_pickle"))', 'agg("to_pickle")'),
        ('df.groupby("x").agg(total=pd.NamedFunc("x", "to_pickle"))', 'agg("to_pickle")'),
        ('df.groupby("x")["x"].agg([("t", "to_csv")])', 'agg("to_csv")'),
        ('df.groupby("x").transform("plot")', 'transform("plot")'),
        ('df.groupby("x").apply("to_csv")', 'apply("to_csv")'),
        ('df.groupby("x").pipe("to_csv")', 'pipe("to_csv")'),
        ('df.rolling(2).agg("to_csv")', 'agg("to_csv")'),
        ('df["x"].rolling(2).aggregate(["sum", "plot"])', 'aggregate("plot")'),
        (
            'df.set_index(pd.date_range("2024", periods=2)).resample("D").agg("to_csv")',
            'agg("to_csv")',
        ),
        ('df.expanding().agg("to_csv")', 'agg("to_csv")'),
        ('df["x"].map("to_csv")', 'map("to_csv")'),
        ('df.agg("style")', 'agg("style")'),
        ('df.agg("save")', 'agg("save")'),
        ('df.agg("fromfile")', 'agg("fromfile")'),
        ('df.agg("memory_usage")', 'agg("memory_usage")'),
        ('df.apply("_mgr")', 'apply("_mgr")'),
        ('df.pipe("to_csv")', 'pipe("to_csv")'),
        ('pd.DataFrame.agg(df, "to_csv")', 'agg("to_csv")'),
        ('pd.Series.apply(df["x"], "to_pickle")', 'apply("to_pickle")'),
        ('pd.DataFrame.mro()[1].pipe(df, "to_csv")', '"mro"'),
    ],
)
def test_functions_named_by_string_are_refused(expr: str, needle: str) -> None:
    refused(f"v = {expr}", needle)


def test_allow_listed_aggregations_by_name_still_work() -> None:
    res = works(
        """
g = df.assign(k=[1, 1]).groupby("k")
a = g.agg(total=("x", "sum"), n=("x", "count"), m=pd.NamedAgg("x", "max"))
b = g["x"].agg([("t", "sum"), ("u", "mean")])
c = df.agg({"x": ["sum", "mean"]})
d = df["x"].rolling(1).agg(["sum", "max"])
e = g["x"].transform("cumsum")
df["r"] = [int(a["total"].iloc[0]), int(b["u"].iloc[0] * 10)]
df["s"] = [float(c.loc["sum", "x"]), float(d["max"].iloc[1] + e.iloc[1])]
"""
    )
    assert res.column("r") == [3, 15]
    assert res.column("s") == [3.0, 5.0]


# --- however the name is reached ------------------------------------------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        ('name = "to_" + "pickle"\nv = getattr(df, name)', '"to_pickle"'),
        ('v = hasattr(df, "to_pickle")\nassert not v\nv = getattr(df, "to_pickle")', '"to_pickle"'),
        ("v = df.head(1).describe().T.to_pickle", '"to_pickle"'),
        ('v = df["x"].astype(float).to_numpy().tofile', '"tofile"'),
        ('v = "{0.to_pickle}".format(df)', '"to_pickle"'),
        ('v = "{d.to_pickle}".format_map({"d": df})', '"to_pickle"'),
        ('v = "{0[x].to_pickle}".format(df)', '"to_pickle"'),
        ('v = f"{df.to_pickle}"', '"to_pickle"'),
        ('v = [getattr(o, "to_pickle") for o in [df]]', '"to_pickle"'),
        ("v = pd.DataFrame.to_pickle", '"to_pickle"'),
        ("v = np.ndarray.tofile", '"tofile"'),
    ],
)
def test_a_door_is_refused_however_it_is_reached(body: str, needle: str) -> None:
    refused(body, needle)


def test_hasattr_on_a_door_is_false_without_failing_the_job() -> None:
    res = works(
        """
df["h"] = [hasattr(df, "to_pickle"), hasattr(np, "load")]
df["k"] = [hasattr(df, "to_numpy"), hasattr(np, "where")]
"""
    )
    assert res.column("h") == [False, False]
    assert res.column("k") == [True, True]


# --- raw memory: object pointers forged from bytes -----------------------------------

FORGE = "(1234567).to_bytes(8, 'little')"


@pytest.mark.parametrize(
    "expr, needle",
    [
        (f"np.ndarray((1,), dtype=object, buffer={FORGE})", "np.ndarray()"),
        (f"np.ndarray((1,), object, {FORGE})", "np.ndarray()"),
        (f'np.ndarray((1,), dtype=[("a", "O")], buffer={FORGE})', "np.ndarray()"),
        (f'np.recarray((1,), dtype=[("a", "O")], buf={FORGE})', "np.recarray()"),
        (f'np.recarray((1,), formats=["O"], buf={FORGE})', "np.recarray()"),
        ("np.ma.MaskedArray.mro()", '"mro"'),
        ("np.matrix.mro()[1]", '"mro"'),
    ],
)
def test_object_arrays_over_raw_bytes_are_refused(expr: str, needle: str) -> None:
    refused(f"v = {expr}\nprint(v)", needle)


def test_class_ndarray_still_works_for_scripts() -> None:
    res = works(
        """
class Tagged(np.ndarray):
    pass
a = np.ndarray((2,), dtype=np.int64, buffer=bytes(16))
t = np.zeros(2).view(Tagged)
r = np.recarray((1,), dtype=[("a", "i8")])
df["k"] = [isinstance(df["x"].to_numpy(), np.ndarray), isinstance(t, Tagged)]
df["s"] = int(a.sum()) + len(r) + len(np.asarray(t).view(np.ndarray))
"""
    )
    assert res.column("k") == [True, True] and res.column("s") == [3, 3]


@pytest.mark.parametrize(
    "expr",
    [
        "np.zeros(1, dtype=np.int64).view(object)",
        "np.frombuffer(bytes(8), dtype=object)",
        "np.zeros(2, np.int64).getfield(np.dtype(object))",
        "np.ndarray((10,), dtype=np.int64, buffer=bytes(8), strides=(1000000,))",
        "np.ndarray((10,), dtype=np.int64, buffer=bytes(8), offset=100)",
    ],
)
def test_numpy_itself_refuses_the_other_memory_forgeries(expr: str) -> None:
    res = run(HEAD + f"def transform(df):\n    v = {expr}\n    return df\n")
    assert res.status["error_code"] == "user_error", res.status
    assert res.status["message"].startswith(("TypeError", "ValueError")), res.status
