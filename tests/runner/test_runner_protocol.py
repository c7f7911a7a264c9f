"""The conversation (docs/internals/protocol.md): the order of the frames,
whole-table and chunked modes, output validation, and preview."""

from __future__ import annotations

import datetime
import math

import pytest
import runnerwire as wire

UTC = datetime.UTC
COLS = [wire.column("x", "int8", False), wire.column("s", "text")]
PASS = "def transform(df):\n    return df\n"


def chunks(n_chunks: int, size: int) -> list[list[list]]:
    return [[[c * size + i, f"r{c * size + i}"] for i in range(size)] for c in range(n_chunks)]


def test_frame_order_in_chunked_mode() -> None:
    res = wire.run_job(PASS, COLS, chunks(3, 4))
    assert res.ok and res.returncode == 0
    assert res.types == ["R", "H", "B", "M", "B", "M", "B", "M", "S"]
    assert res.ready == {"whole_table": False, "allow_empty": False}
    assert res.metrics == [
        {"rows_in": 4, "rows_out": 4},
        {"rows_in": 8, "rows_out": 8},
        {"rows_in": 12, "rows_out": 12},
    ]
    assert res.status == {"ok": True, "rows_in": 12, "rows_out": 12}
    assert res.column("x") == list(range(12))


@pytest.mark.parametrize("flag", ["WHOLE_TABLE = True", "CHUNKED = False"])
def test_whole_table_mode_calls_transform_once(flag: str) -> None:
    code = f"{flag}\ndef transform(df):\n    print('called with', len(df))\n    return df\n"
    res = wire.run_job(code, COLS, chunks(3, 4))
    assert res.ok, res
    assert res.ready["whole_table"] is True
    assert res.log == "called with 12\n"
    assert res.types == ["R", "M", "M", "M", "L", "H", "B", "M", "S"]
    assert res.column("x") == list(range(12))


def test_whole_table_output_is_split_into_chunk_rows_batches() -> None:
    code = "WHOLE_TABLE = True\ndef transform(df):\n    return df\n"
    res = wire.run_job(code, COLS, chunks(2, 5), chunk_rows=3)
    assert res.ok, res
    assert [b.nrows for b in res.batches] == [3, 3, 3, 1]
    assert res.column("s") == [f"r{i}" for i in range(10)]


def test_a_chunk_of_one_row_and_a_chunk_of_none() -> None:
    res = wire.run_job(PASS, COLS, [[[1, "a"]], [], [[2, None]]])
    assert res.ok, res
    assert res.rows == [[1, "a"], [2, None]]
    assert [m["rows_in"] for m in res.metrics] == [1, 1, 2]


def test_no_input_batch_still_sends_the_schema() -> None:
    code = 'ALLOW_EMPTY = True\ndef transform(df):\n    df["y"] = df["x"] * 2.5\n    return df\n'
    res = wire.run_job(code, COLS, [])
    assert res.ok, res
    assert res.types == ["R", "H", "M", "S"]
    assert res.types_of() == {
        "x": ("int64", "bigint"),
        "s": ("text", "text"),
        "y": ("float64", "double precision"),
    }
    assert res.status == {"ok": True, "rows_in": 0, "rows_out": 0}


def test_empty_result_needs_allow_empty() -> None:
    code = "def transform(df):\n    return df[df['x'] < 0]\n"
    res = wire.run_job(code, COLS, chunks(2, 3))
    assert res.status["error_code"] == "invalid_output"
    assert "ALLOW_EMPTY = True" in res.status["message"]
    assert res.types[-1] == "S" and "B" not in res.types
    res = wire.run_job("ALLOW_EMPTY = True\n" + code, COLS, chunks(2, 3))
    assert res.ok and res.ready["allow_empty"] is True
    assert res.types.count("H") == 1 and res.types.index("H") < res.types.index("S")
    assert res.status["rows_out"] == 0


def test_some_empty_chunks_are_fine() -> None:
    code = "def transform(df):\n    return df[df['x'] >= 4]\n"
    res = wire.run_job(code, COLS, chunks(2, 3))
    assert res.ok, res
    assert res.column("x") == [4, 5]


# --- output validation -------------------------------------------------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        ("return None", "returned None, not a pandas DataFrame"),
        ("return df['x']", "returned Series, not a pandas DataFrame"),
        ("return [1, 2]", "returned list"),
        ("return df.rename(columns={'x': 'two words'})", "'two words' is not valid"),
        ("return df.rename(columns={'x': '1st'})", "'1st' is not valid"),
        ("return df.rename(columns={'x': 'a' * 64})", "is not valid"),
        ("return df.rename(columns={'x': 'é'})", "'é' is not valid"),
        ("return df.rename(columns={'x': 0})", "column name 0 is not valid"),
        ("return df.rename(columns={'s': 'x'})", 'column name "x" appears twice'),
        ("df['l'] = [[1], [2]]\n    return df", 'column "l" holds mixed values (list)'),
        ("df['d'] = [{'a': 1}, {}]\n    return df", 'column "d" holds mixed values (dict)'),
        ("df['b'] = [b'a', b'b']\n    return df", 'column "b" holds bytes values'),
        ("df['m'] = ['a', 1]\n    return df", 'column "m" holds mixed-integer values'),
        ("df['c'] = df['x'] * 1j\n    return df", 'column "c" is complex128'),
        (
            "df['t'] = pd.to_timedelta(df['x'], unit='s')\n    return df",
            'column "t" is timedelta64',
        ),
        ("df['p'] = pd.Period('2024-01')\n    return df", 'column "p" is period'),
        ("df['u'] = df['x'].astype('uint64')\n    return df", "unsigned 64-bit"),
        ("df['v'] = 'a\\x00b'\n    return df", 'column "v": a text value contains a NUL'),
        (
            "class F(pd.DataFrame):\n        pass\n    return F(df)",
            "returned F, a subclass of DataFrame",
        ),
    ],
)
def test_invalid_output(body: str, needle: str) -> None:
    code = f"import pandas as pd\ndef transform(df):\n    {body}\n"
    res = wire.run_job(code, COLS, chunks(1, 2))
    assert res.returncode == 0 and res.types[-1] == "S"
    assert res.status["error_code"] == "invalid_output", res
    assert needle in res.status["message"], res.status
    assert "B" not in res.types


def test_chunk_schema_mismatch() -> None:
    code = """
def transform(df):
    if df["x"].iloc[0] >= 3:
        df["extra"] = 1
    return df
"""
    res = wire.run_job(code, COLS, chunks(2, 3))
    assert res.status["error_code"] == "invalid_output"
    assert res.status["message"] == (
        "chunk 2 returned the columns ['x', 's', 'extra'], but chunk 1 returned ['x', 's']: "
        "every chunk must return the same columns"
    )
    assert res.types.count("B") == 1
    code = """
def transform(df):
    df["v"] = df["x"] if df["x"].iloc[0] < 3 else df["x"] * 0.5
    return df
"""
    res = wire.run_job(code, COLS, chunks(2, 3))
    assert res.status["error_code"] == "invalid_output"
    assert (
        'chunk 2: column "v" is double precision, but it was bigint in chunk 1'
        in (res.status["message"])
    )


def test_all_null_columns_follow_the_first_chunk() -> None:
    code = """
import numpy as np
def transform(df):
    df["v"] = None if df["x"].iloc[0] >= 3 else df["x"] * 1.5
    return df
"""
    res = wire.run_job(code, COLS, chunks(2, 3))
    assert res.ok, res
    assert res.types_of()["v"] == ("float64", "double precision")
    assert res.column("v") == [0.0, 1.5, 3.0, None, None, None]


def test_more_than_max_output_rows() -> None:
    code = "import pandas as pd\ndef transform(df):\n    return pd.concat([df, df])\n"
    res = wire.run_job(code, COLS, chunks(3, 4), max_output_rows=20)
    assert res.status["error_code"] == "invalid_output"
    assert "more than 20 rows" in res.status["message"]
    assert res.types.count("B") == 2
    res = wire.run_job(code, COLS, chunks(3, 4), max_output_rows=24)
    assert res.ok and res.status["rows_out"] == 24


def test_the_index_is_not_saved_and_a_log_line_says_so() -> None:
    code = "def transform(df):\n    return df.groupby('s').sum()\n"
    res = wire.run_job(code, COLS, chunks(1, 3))
    assert res.ok, res
    assert res.names == ["x"]
    assert "the result's index (s) is not saved; call .reset_index()" in res.log


# --- preview -----------------------------------------------------------------------

PREVIEW_COLS = [
    wire.column("id", "int8", False),
    wire.column("big", "int8"),
    wire.column("price", "numeric", True, "numeric(10,2)"),
    wire.column("exact", "numeric", True, "numeric"),
    wire.column("f", "float8"),
    wire.column("ok", "bool"),
    wire.column("day", "date"),
    wire.column("at", "timestamp"),
    wire.column("at_tz", "timestamptz"),
    wire.column("name", "text"),
    wire.column("doc", "jsonb"),
]


def preview_rows(n: int) -> list[list]:
    rows = []
    for i in range(n):
        rows.append(
            [
                i,
                2**53 + i if i % 2 else i,
                f"{i}.50",
                "12345678901234567890.5" if i == 1 else f"{i}.25",
                math.nan if i == 2 else (math.inf if i == 3 else i / 4),
                None if i == 4 else i % 2 == 0,
                datetime.date(2024, 1, 1 + i % 28),
                datetime.datetime(2024, 1, 1, 12, 0, 0, 250000 if i == 0 else 0),
                datetime.datetime(2024, 6, 1, 10, 34, 56, 500000, tzinfo=UTC),
                None if i == 5 else f"name {i % 3}",
                '{"k": [1, 2]}',
            ]
        )
    return rows


def test_preview_sends_rows_and_profile_and_no_batches() -> None:
    code = 'def transform(df):\n    df["twice"] = df["f"] * 2\n    return df\n'
    res = wire.run_job(
        code, PREVIEW_COLS, [preview_rows(6), preview_rows(4)], task="preview", preview_rows=7
    )
    assert res.ok, res
    assert "B" not in res.types
    assert res.types[-3:] == ["M", "P", "S"] and res.types.count("H") == 1
    rows = res.preview["rows"]
    assert len(rows) == 7
    names = [c["name"] for c in res.schema]
    first = dict(zip(names, rows[0], strict=True))
    assert first == {
        "id": 0,
        "big": 0,
        "price": 0.5,
        "exact": 0.25,
        "f": 0.0,
        "ok": True,
        "day": "2024-01-01",
        "at": "2024-01-01T12:00:00.25",
        "at_tz": "2024-06-01T10:34:56.5+00:00",
        "name": "name 0",
        "doc": {"k": [1, 2]},
        "twice": 0.0,
    }
    r = [dict(zip(names, row, strict=True)) for row in rows]
    assert r[1]["big"] == str(2**53 + 1)  # beyond 2^53: a string
    assert r[1]["exact"] == "12345678901234567890.5"  # more than 15 digits: a string
    assert r[2]["f"] is None  # NaN is NULL
    assert r[3]["f"] == "Infinity"
    assert r[4]["ok"] is None and r[5]["name"] is None
    assert r[1]["at"] == "2024-01-01T12:00:00"
    prof = {p["name"]: p for p in res.preview["profile"]}
    assert set(prof) == set(names)
    assert prof["id"] == {"name": "id", "nulls": 0, "distinct": 6, "min": 0, "max": 5}
    assert prof["name"]["nulls"] == 1 and prof["name"]["distinct"] == 3
    assert prof["name"]["min"] == "name 0" and prof["name"]["max"] == "name 2"
    assert prof["f"]["nulls"] == 2 and prof["f"]["max"] == "Infinity"
    assert prof["ok"]["min"] is False and prof["ok"]["max"] is True and prof["ok"]["nulls"] == 1
    assert prof["day"]["min"] == "2024-01-01" and prof["day"]["max"] == "2024-01-06"
    assert prof["at_tz"]["min"] == "2024-06-01T10:34:56.5+00:00"
    assert prof["exact"]["max"] == "12345678901234567890.5"
    assert res.status == {"ok": True, "rows_in": 10, "rows_out": 10}


def test_preview_of_an_error_has_no_preview_frame() -> None:
    res = wire.run_job(
        "def transform(df):\n    return 1 / 0\n", PREVIEW_COLS, [preview_rows(2)], task="preview"
    )
    assert res.status["error_code"] == "user_error"
    assert "P" not in res.types and "B" not in res.types


def test_preview_of_long_text_and_odd_json() -> None:
    """A long text value's profile is shortened, a json value that is not
    JSON (NaN) stays text, and the preview still fits its frame."""
    code = 'def transform(df):\n    df["long"] = "x" * 3_000_000\n    return df\n'
    cols = [wire.column("id", "int8", False), wire.column("j", "jsonb")]
    res = wire.run_job(code, cols, [[[1, "NaN"], [2, '{"a": 1}']]], task="preview")
    assert res.ok, res
    prof = {p["name"]: p for p in res.preview["profile"]}
    assert len(prof["long"]["max"]) == 1000 and prof["long"]["max"].endswith("\u2026")
    assert res.preview["rows"][0][1] == "NaN"
    assert len(res.preview["rows"]) == 1  # two rows of 3 MB do not fit 4 MiB


@pytest.mark.parametrize("flag", ["WHOLE_TABLE = 1", "CHUNKED = None", "ALLOW_EMPTY = 'yes'"])
def test_options_are_true_or_false(flag: str) -> None:
    res = wire.run_job(f"{flag}\ndef transform(df):\n    return df\n", COLS, chunks(1, 2))
    assert res.types == ["S"]
    assert res.status["error_code"] == "user_error"
    assert "must be True or False" in res.status["message"]
