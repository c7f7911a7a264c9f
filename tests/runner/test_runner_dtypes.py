"""Every PostgreSQL type of the protocol's table, both ways: what the
DataFrame holds (dtype and values, NULLs included), and what comes back
out (kind, destination type, values)."""

from __future__ import annotations

import datetime
import decimal
import json

import pytest
import runnerwire as wire

UTC = datetime.UTC

# (pgtype, declared type, dtype in the frame: not nullable / nullable, values)
CASES = [
    ("bool", None, "bool", "boolean", [True, False, True]),
    ("int2", None, "int16", "Int16", [-32768, 0, 32767]),
    ("int4", None, "int32", "Int32", [-(2**31), 7, 2**31 - 1]),
    ("int8", None, "int64", "Int64", [-(2**63), 2**53 + 1, 2**63 - 1]),
    ("float4", None, "float32", "float32", [1.5, -0.25, 3.0e38]),
    ("float8", None, "float64", "float64", [0.1, -1e300, float("inf")]),
    ("numeric", "numeric(10,2)", "float64", "float64", ["12.34", "-0.01", "99999999.99"]),
    (
        "numeric",
        "numeric",
        "object",
        "object",
        ["12345678901234567890.123456789", "-1", "0.000000000000000000001"],
    ),
    ("numeric", "numeric(20,4)", "object", "object", ["1234567890123456.1234", "0.0001", "0"]),
    ("text", None, "str", "str", ['a "quoted", value', "tab\there\nnewline \\ back", "日本 🎉"]),
    (
        "date",
        None,
        "datetime64[s]",
        "datetime64[s]",
        [datetime.date(1970, 1, 1), datetime.date(1900, 2, 28), datetime.date(2024, 2, 29)],
    ),
    (
        "timestamp",
        None,
        "datetime64[us]",
        "datetime64[us]",
        [
            datetime.datetime(2024, 1, 1, 12, 30, 0, 250000),
            datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
            datetime.datetime(2262, 4, 12),
        ],
    ),
    (
        "timestamptz",
        None,
        "datetime64[us, UTC]",
        "datetime64[us, UTC]",
        [
            datetime.datetime(2024, 6, 1, 10, 34, 56, 500000, tzinfo=UTC),
            datetime.datetime(1900, 1, 1, tzinfo=UTC),
            datetime.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        ],
    ),
    (
        "uuid",
        None,
        "str",
        "str",
        [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
        ],
    ),
    ("json", None, "str", "str", ['{"a": [1, 2]}', "null", '"text"']),
    ("jsonb", None, "str", "str", ['{"a": 1}', "[]", "3.5"]),
    ("other", "interval", "str", "str", ["1 day", "00:00:01", "-3 mons"]),
]

CHECK = """
def transform(df):
    for c in ["v", "w"]:
        print(c, str(df[c].dtype), int(df[c].isna().sum()))
    return df
"""


def expected_out(pgtype: str, declared: str | None, value):
    if value is None:
        return None
    if pgtype == "numeric" and declared == "numeric(10,2)":
        return float(value)
    if pgtype == "numeric":
        return value  # exact text
    if pgtype == "float4":
        import struct

        return struct.unpack("<f", struct.pack("<f", value))[0]
    return value


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1] or ''}" for c in CASES])
def test_round_trip(case) -> None:
    """v is NOT NULL, w may be NULL: a NULL right at the end of the first
    chunk, and a second chunk of one row."""
    pgtype, declared, dtype, dtype_null, values = case
    cols = [wire.column("v", pgtype, False, declared), wire.column("w", pgtype, True, declared)]
    w = values + [None, values[0]]
    v = values + [values[1], values[2]]
    rows = [list(r) for r in zip(v, w, strict=True)]
    res = wire.run_job(CHECK, cols, [rows[:-1], rows[-1:]])
    assert res.ok, res
    assert f"v {dtype} 0\n" in res.log, res.log
    assert f"w {dtype_null} 1\n" in res.log, res.log
    for spec, col in zip(res.schema, cols, strict=True):
        if declared == "numeric(10,2)":  # arrives as text, goes back as float64
            assert (spec["kind"], spec["type"]) == ("float64", "numeric(10,2)")
        elif pgtype == "other":  # anything else arrives as text and stays text
            assert (spec["kind"], spec["type"]) == ("text", "text")
        else:  # an unchanged column keeps its type
            assert (spec["kind"], spec["type"]) == (col["kind"], col["type"])
    assert res.column("v") == [expected_out(pgtype, declared, x) for x in v]
    assert res.column("w") == [expected_out(pgtype, declared, x) for x in w]
    assert [len(b.columns) and b.nrows for b in res.batches] == [len(rows) - 1, 1]


def test_numeric_exact_values_are_decimals() -> None:
    code = """
import decimal
decimal.getcontext().prec = 60
def transform(df):
    assert all(isinstance(v, decimal.Decimal) for v in df["v"].dropna())
    df["twice"] = df["v"] * 2
    return df
"""
    col = wire.column("v", "numeric", True, "numeric(30,10)")
    res = wire.run_job(code, [col], [[["12345678901234567890.0123456789"], [None]]])
    assert res.ok, res
    assert res.types_of()["twice"] == ("text", "numeric")
    assert res.column("twice") == ["24691357802469135780.0246913578", None]
    assert res.column("v") == ["12345678901234567890.0123456789", None]


NEW_COLUMNS = """
import datetime
import decimal
import numpy as np
import pandas as pd
def transform(df):
    out = pd.DataFrame({"id": df["id"]})
    out["i64"] = df["id"] * 10
    out["i32"] = df["id"].astype("int32")
    out["i8"] = df["id"].astype("int8")
    out["u8"] = df["id"].astype("uint8")
    out["u32"] = df["id"].astype("uint32")
    out["nullable_int"] = pd.array([1, None, 3], dtype="Int64")
    out["f64"] = df["id"] / 4
    out["f32"] = (df["id"] / 4).astype("float32")
    out["nan"] = np.where(df["id"] == 2, np.nan, 1.5)
    out["flag"] = df["id"] > 1
    out["maybe"] = pd.array([True, None, False], dtype="boolean")
    out["when"] = pd.to_datetime(["2024-01-01 10:00", None, "2024-03-01 00:00"])
    ns = ["2024-01-01 10:00:00.123456789", "2024-01-02 00:00:00.0", None]
    out["when_ns"] = pd.to_datetime(ns).astype("datetime64[ns]")
    paris = pd.to_datetime(["2024-01-01 10:00", None, "2024-03-01 00:00"])
    out["when_tz"] = paris.tz_localize("Europe/Paris")
    out["label"] = "n" + df["id"].astype(str)
    out["obj_text"] = pd.Series(["x", None, "z"], dtype=object)
    out["money"] = [decimal.Decimal("1.10"), None, decimal.Decimal("-3")]
    out["day"] = [datetime.date(2024, 1, 1), None, datetime.date(1999, 12, 31)]
    out["arrow_int"] = pd.array([1, None, 3], dtype="int64[pyarrow]")
    out["category"] = pd.Categorical(["a", "b", None])
    out["empty"] = None
    return out
"""


def test_new_columns_get_their_types() -> None:
    res = wire.run_job(NEW_COLUMNS, [wire.column("id", "int8", False)], [[[1], [2], [3]]])
    assert res.ok, res
    t = res.types_of()
    assert t["i64"] == ("int64", "bigint")
    assert t["i32"] == ("int32", "integer")
    assert t["i8"] == ("int16", "smallint")
    assert t["u8"] == ("int64", "bigint") and t["u32"] == ("int64", "bigint")
    assert t["nullable_int"] == ("int64", "bigint")
    assert t["f64"] == ("float64", "double precision")
    assert t["f32"] == ("float32", "real")
    assert t["flag"] == ("bool", "boolean") and t["maybe"] == ("bool", "boolean")
    assert t["when"] == ("timestamp", "timestamp without time zone")
    assert t["when_ns"] == ("timestamp", "timestamp without time zone")
    assert t["when_tz"] == ("timestamptz", "timestamp with time zone")
    assert t["label"] == ("text", "text") and t["obj_text"] == ("text", "text")
    assert t["money"] == ("text", "numeric")
    assert t["day"] == ("date", "date")
    assert t["arrow_int"] == ("int64", "bigint")
    assert t["category"] == ("text", "text")
    assert t["empty"] == ("text", "text")
    r = res.records()
    assert [x["nullable_int"] for x in r] == [1, None, 3]
    assert [x["nan"] for x in r] == [1.5, None, 1.5]  # NaN is NULL
    assert [x["maybe"] for x in r] == [True, None, False]
    assert r[0]["when"] == datetime.datetime(2024, 1, 1, 10) and r[1]["when"] is None
    assert r[0]["when_ns"] == datetime.datetime(2024, 1, 1, 10, 0, 0, 123456)
    assert r[0]["when_tz"] == datetime.datetime(2024, 1, 1, 9, tzinfo=UTC)
    assert [x["label"] for x in r] == ["n1", "n2", "n3"]
    assert [x["obj_text"] for x in r] == ["x", None, "z"]
    assert [x["money"] for x in r] == ["1.10", None, "-3"]
    assert [x["day"] for x in r] == [datetime.date(2024, 1, 1), None, datetime.date(1999, 12, 31)]
    assert [x["category"] for x in r] == ["a", "b", None]
    assert [x["empty"] for x in r] == [None, None, None]


def test_kept_source_types() -> None:
    """A column that keeps a source column's name keeps its numeric, date,
    uuid, json or jsonb type while its dtype still fits."""
    cols = [
        wire.column("price", "numeric", False, "numeric(10,2)"),
        wire.column("day", "date", True),
        wire.column("stamp_day", "date", True),
        wire.column("u", "uuid", True),
        wire.column("j", "jsonb", True),
        wire.column("name", "text", True, "character varying(20)"),
        wire.column("n", "int4", True),
    ]
    code = """
import pandas as pd
def transform(df):
    df["price"] = df["price"] * 2
    df["day"] = df["day"] + pd.Timedelta(days=1)
    df["stamp_day"] = df["stamp_day"] + pd.Timedelta(hours=1)
    df["u"] = df["u"].str.upper()
    df["j"] = df["j"].str.replace("1", "2")
    df["n"] = df["n"] * 1.5
    return df
"""
    row = [
        "10.25",
        datetime.date(2024, 1, 31),
        datetime.date(2024, 1, 31),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        '{"a": 1}',
        "bob",
        3,
    ]
    res = wire.run_job(
        code, cols, [[row, [None] * 0 + ["1.00", None, None, None, None, None, None]]]
    )
    assert res.ok, res
    t = res.types_of()
    assert t["price"] == ("float64", "numeric(10,2)")
    assert t["day"] == ("date", "date")
    assert t["stamp_day"] == (
        "timestamp",
        "timestamp without time zone",
    )  # times of day: no longer a date
    assert t["u"] == ("text", "uuid")
    assert t["j"] == ("text", "jsonb")
    assert t["name"] == ("text", "text")
    assert t["n"] == ("float64", "double precision")
    r = res.records()[0]
    assert r["price"] == 20.5 and r["day"] == datetime.date(2024, 2, 1)
    assert r["stamp_day"] == datetime.datetime(2024, 1, 31, 1)
    assert r["u"] == "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11" and r["j"] == '{"a": 2}'


def test_numeric_that_no_longer_fits_is_invalid_output() -> None:
    col = wire.column("price", "numeric", False, "numeric(6,2)")
    res = wire.run_job(
        'def transform(df):\n    df["price"] = df["price"] * 1000\n    return df\n',
        [col],
        [[["12.50"]]],
    )
    assert res.status["error_code"] == "invalid_output", res
    assert "12500.0" in res.status["message"] and "numeric(6,2)" in res.status["message"]


def test_a_date_column_with_times_in_a_later_chunk_is_invalid_output() -> None:
    code = """
import pandas as pd
def transform(df):
    df["day"] = df["day"] + pd.to_timedelta(df["hours"], unit="h")
    return df
"""
    cols = [wire.column("day", "date", False), wire.column("hours", "int4", False)]
    res = wire.run_job(
        code, cols, [[[datetime.date(2024, 1, 1), 0]], [[datetime.date(2024, 1, 2), 5]]]
    )
    assert res.status["error_code"] == "invalid_output", res
    assert 'column "day" holds times of day' in res.status["message"]
    # the other way round: a timestamp in the first chunk stays a timestamp
    res = wire.run_job(
        code, cols, [[[datetime.date(2024, 1, 1), 5]], [[datetime.date(2024, 1, 2), 0]]]
    )
    assert res.ok, res
    assert res.types_of()["day"] == ("timestamp", "timestamp without time zone")
    assert res.column("day") == [datetime.datetime(2024, 1, 1, 5), datetime.datetime(2024, 1, 2)]


def test_text_null_is_not_empty_and_empty_is_not_null() -> None:
    code = (
        "def transform(df):\n"
        '    df["blank"] = df["t"] == ""\n'
        '    df["missing"] = df["t"].isna()\n'
        "    return df\n"
    )
    res = wire.run_job(code, [wire.column("t", "text")], [[[""], [None], ["x"]]])
    assert res.ok, res
    assert res.column("t") == ["", None, "x"]
    assert res.column("blank") == [True, False, False]
    assert res.column("missing") == [False, True, False]


def test_json_text_is_kept_as_is() -> None:
    text = '{"b": 1,   "a": [true, null]}'
    res = wire.run_job(
        "def transform(df):\n    return df\n", [wire.column("j", "json")], [[[text]]]
    )
    assert res.ok and res.column("j") == [text]
    assert json.loads(res.column("j")[0]) == {"b": 1, "a": [True, None]}


def test_decimal_nan_and_infinity() -> None:
    code = """
import decimal
def transform(df):
    df["d"] = [decimal.Decimal("NaN"), decimal.Decimal("Infinity"), decimal.Decimal("-1.5")]
    return df
"""
    res = wire.run_job(code, [wire.column("id", "int4", False)], [[[1], [2], [3]]])
    assert res.ok, res
    assert res.column("d") == ["NaN", "Infinity", "-1.5"]
    assert decimal.Decimal(res.column("d")[2]) == decimal.Decimal("-1.5")


def test_every_type_in_whole_table_mode() -> None:
    """The same values in whole-table mode, where each column is built from
    several batches at once (NULLs at the batch boundaries)."""
    cols, vals = [], []
    for i, (pgtype, declared, _, _, values) in enumerate(CASES):
        cols.append(wire.column(f"v{i}", pgtype, False, declared))
        cols.append(wire.column(f"w{i}", pgtype, True, declared))
        vals.append(values + [values[1], values[2]])
        vals.append([None] + values + [None])
    rows = [list(r) for r in zip(*vals, strict=True)]
    code = "WHOLE_TABLE = True\ndef transform(df):\n    print(len(df))\n    return df\n"
    res = wire.run_job(code, cols, [rows[:1], rows[1:4], rows[4:]])
    assert res.ok, res
    assert res.log == "5\n"
    for i, (pgtype, declared, _, _, _) in enumerate(CASES):
        assert res.column(f"v{i}") == [expected_out(pgtype, declared, x) for x in vals[2 * i]]
        assert res.column(f"w{i}") == [expected_out(pgtype, declared, x) for x in vals[2 * i + 1]]
