"""Everyday pandas runs unchanged under the sandbox: each idiom below is a
transform a user writes, run by the real runner on a small orders table,
with the result checked."""

from __future__ import annotations

import datetime

import pytest
import runnerwire as wire

UTC = datetime.UTC
COLS = [
    wire.column("id", "int8", False),
    wire.column("region", "text"),
    wire.column("price", "numeric", False, "numeric(10,2)"),
    wire.column("qty", "int4", False),
    wire.column("at", "timestamptz", False),
    wire.column("note", "text"),
]
ROWS = [
    [1, "north", "10.00", 2, datetime.datetime(2024, 1, 5, 10, tzinfo=UTC), " Gift "],
    [2, "south", "5.50", 1, datetime.datetime(2024, 2, 6, 11, tzinfo=UTC), None],
    [3, None, "20.00", 3, datetime.datetime(2024, 2, 7, 12, tzinfo=UTC), "rush"],
    [4, "north", "1.25", 4, datetime.datetime(2024, 3, 8, 13, tzinfo=UTC), ""],
]

HEAD = "import datetime\nimport math\nimport re\nimport numpy as np\nimport pandas as pd\n\n"

IDIOMS = {
    "groupby_agg_named_methods": (
        """WHOLE_TABLE = True
def transform(df):
    g = df.groupby("region", dropna=False)
    out = g["price"].sum().to_frame()
    out["n"] = g["id"].count()
    out["avg_qty"] = g["qty"].mean()
    return out.reset_index()""",
        lambda r: (
            {(x["region"], x["price"], x["n"]) for x in r}
            == {("north", 11.25, 2), ("south", 5.5, 1), (None, 20.0, 1)}
        ),
    ),
    "groupby_agg_named_aggregation": (
        """WHOLE_TABLE = True
def transform(df):
    out = df.groupby("region").agg(total=("price", "sum"), orders=("id", "count"))
    return out.reset_index()""",
        lambda r: (
            sorted((x["region"], x["total"], x["orders"]) for x in r)
            == [("north", 11.25, 2), ("south", 5.5, 1)]
        ),
    ),
    "merge_frames_built_in_code": (
        """def transform(df):
    regions = pd.DataFrame({"region": ["north", "south"], "manager": ["Ann", "Bo"]})
    return df.merge(regions, on="region", how="left")[["id", "manager"]]""",
        lambda r: [x["manager"] for x in r] == ["Ann", "Bo", None, "Ann"],
    ),
    "fillna_and_astype": (
        """def transform(df):
    df["region"] = df["region"].fillna("unknown")
    df["qty"] = df["qty"].astype("int64")
    df["price_text"] = df["price"].astype(str)
    return df""",
        lambda r: (
            [x["region"] for x in r] == ["north", "south", "unknown", "north"]
            and r[0]["price_text"] == "10.0"
        ),
    ),
    "str_methods": (
        """def transform(df):
    df["note"] = df["note"].str.strip().str.upper()
    df["has_r"] = df["region"].str.contains("r", na=False)
    df["first"] = df["region"].str[0]
    df["parts"] = df["region"].str.split("o").str.len()
    return df""",
        lambda r: (
            [x["note"] for x in r] == ["GIFT", None, "RUSH", ""]
            and [x["has_r"] for x in r] == [True, False, False, True]
            and [x["first"] for x in r] == ["n", "s", None, "n"]
        ),
    ),
    "dt_accessor": (
        """def transform(df):
    df["month"] = df["at"].dt.month
    df["day"] = df["at"].dt.date
    df["weekday"] = df["at"].dt.day_name()
    df["local"] = df["at"].dt.tz_convert("Europe/Paris").dt.hour
    df["naive"] = df["at"].dt.tz_localize(None)
    return df""",
        lambda r: (
            [x["month"] for x in r] == [1, 2, 2, 3]
            and r[0]["day"] == datetime.date(2024, 1, 5)
            and r[0]["weekday"] == "Friday"
            and r[0]["local"] == 11
            and r[0]["naive"] == datetime.datetime(2024, 1, 5, 10)
        ),
    ),
    "np_where_and_select": (
        """def transform(df):
    df["band"] = np.select([df["price"] < 5, df["price"] < 15], ["low", "mid"], default="high")
    df["bulk"] = np.where(df["qty"] >= 3, "yes", "no")
    return df""",
        lambda r: (
            [x["band"] for x in r] == ["mid", "mid", "high", "low"]
            and [x["bulk"] for x in r] == ["no", "no", "yes", "yes"]
        ),
    ),
    "comprehensions": (
        """def transform(df):
    df["sq"] = [q * q for q in df["qty"]]
    lookup = {r: i for i, r in enumerate(sorted(set(df["region"].dropna())))}
    df["code"] = df["region"].map(lookup)
    pairs = {k: v for k, v in zip(df["id"], df["qty"]) if v > 1}
    df["pair"] = df["id"].map(pairs)
    df["gen"] = sum(q for q in df["qty"])
    return df""",
        lambda r: (
            [x["sq"] for x in r] == [4, 1, 9, 16]
            and [x["code"] for x in r] == [0.0, 1.0, None, 0.0]
            and [x["pair"] for x in r] == [2.0, None, 3.0, 4.0]
            and r[0]["gen"] == 10
        ),
    ),
    "builtins_that_iterate": (
        """def transform(df):
    q = list(df["qty"])
    df["s"] = str(sorted(q, reverse=True))
    df["z"] = str(list(zip(q, df["id"]))[:2])
    df["e"] = str([i for i, _ in enumerate(q, start=1)])
    df["mm"] = min(q) * 100 + max(q) + max(3, 7) + min([5, 6], key=lambda v: -v)
    df["sa"] = sum(q) + any(v > 3 for v in q) + all(v > 0 for v in q)
    df["mf"] = str(list(map(lambda v: v * 2, filter(lambda v: v % 2 == 0, q))))
    df["rv"] = str(list(reversed(q))) + str(tuple(q)) + str(sorted(set(q))) + str(len(frozenset(q)))
    df["d"] = str(dict(zip(["a", "b"], [1, 2]))) + str(dict(a=1)) + str(dict(df["qty"].head(1)))
    df["r"] = str(list(range(3))) + str(abs(-2)) + str(round(2.567, 1))
    df["r"] += str(int("4") + float("1.5"))
    df["it"] = next(iter(q))
    df["b"] = bool(q) and isinstance(q, list) and not isinstance(q, (dict, tuple))
    df["fk"] = str(dict.fromkeys(["k"], 0)) + str(isinstance({}, dict)) + str(issubclass(bool, int))
    return df""",
        lambda r: (
            r[0]["s"] == "[4, 3, 2, 1]"
            and r[0]["z"] == "[(2, 1), (1, 2)]"
            and r[0]["e"] == "[1, 2, 3, 4]"
            and r[0]["mm"] == 100 + 4 + 7 + 6
            and r[0]["sa"] == 12
            and r[0]["mf"] == "[4, 8]"
            and r[0]["rv"] == "[4, 3, 1, 2](2, 1, 3, 4)[1, 2, 3, 4]4"
            and r[0]["d"] == "{'a': 1, 'b': 2}{'a': 1}{0: np.int32(2)}"
            and r[0]["r"] == "[0, 1, 2]22.65.5"
            and r[0]["it"] == 2
            and r[0]["b"] is True
        ),
    ),
    "f_strings_and_format": (
        """def transform(df):
    pairs = zip(df["id"], df["region"])
    df["label"] = [f"{i:03d}-{r if isinstance(r, str) else '?'}" for i, r in pairs]
    df["fmt"] = "{} x {:.1f}".format(df["qty"].iloc[0], 2.25) + "{0.shape}".format(df)
    df["pct"] = "%d%%" % 5
    return df""",
        lambda r: (
            [x["label"] for x in r] == ["001-north", "002-south", "003-?", "004-north"]
            and r[0]["fmt"] == "2 x 2.2(4, 7)"
            and r[0]["pct"] == "5%"
        ),
    ),
    "lambda_in_apply": (
        """def transform(df):
    df["total"] = df.apply(lambda row: row["price"] * row["qty"], axis=1)
    df["tag"] = df["region"].apply(lambda r: "N" if r == "north" else "other")
    return df""",
        lambda r: (
            [x["total"] for x in r] == [20.0, 5.5, 60.0, 5.0]
            and [x["tag"] for x in r] == ["N", "other", "other", "N"]
        ),
    ),
    "loc_iloc": (
        """def transform(df):
    df.loc[df["qty"] > 2, "region"] = "big"
    df.loc[0, "note"] = "first"
    first_price = df.iloc[0, 2]
    df["rel"] = df["price"] / first_price
    return df.iloc[1:]""",
        lambda r: (
            [x["region"] for x in r] == ["south", "big", "big"]
            and [x["rel"] for x in r] == [0.55, 2.0, 0.125]
        ),
    ),
    "assign_rename_drop": (
        """def transform(df):
    out = df.assign(total=lambda d: d["price"] * d["qty"], one=1)
    out = out.rename(columns={"qty": "quantity"}).drop(columns=["note", "at"])
    return out""",
        lambda r: (
            list(r[0]) == ["id", "region", "price", "quantity", "total", "one"]
            and r[3]["total"] == 5.0
        ),
    ),
    "sort_values_reset_index": (
        """def transform(df):
    return df.sort_values(["price"], ascending=False).reset_index(drop=True)""",
        lambda r: [x["id"] for x in r] == [3, 1, 2, 4],
    ),
    "augmented_assignment": (
        """def transform(df):
    df["qty"] += 1
    df["price"] *= 2
    df.loc[df["id"] == 1, "qty"] -= 10
    total = 0
    for q in df["qty"]:
        total += q
    df["total"] = total
    return df""",
        lambda r: (
            [x["qty"] for x in r] == [-7, 2, 4, 5] and r[0]["price"] == 20.0 and r[0]["total"] == 4
        ),
    ),
    "pd_and_np_functions": (
        """def transform(df):
    df["ts"] = pd.to_datetime("2024-01-01", utc=True) + pd.to_timedelta(df["qty"], unit="D")
    df["num"] = pd.to_numeric(pd.Series(["1", "x", "3", "4"]), errors="coerce")
    df["cut"] = pd.cut(df["price"], [0, 5, 100], labels=["cheap", "dear"]).astype(str)
    df["log"] = np.log1p(df["qty"]).round(3)
    df["clip"] = df["qty"].clip(upper=2)
    df["rank"] = df["price"].rank()
    df["cum"] = df["qty"].cumsum()
    df["shift"] = df["qty"].shift(1)
    df["month_end"] = df["at"] + pd.offsets.MonthEnd(0)
    df["sqrt_neg"] = str(np.emath.sqrt(-4))
    try:
        pd.to_datetime("not a date")
    except (ValueError, pd.errors.ParserError):
        pass
    return df""",
        lambda r: (
            r[1]["ts"] == datetime.datetime(2024, 1, 2, tzinfo=UTC)
            and [x["num"] for x in r] == [1.0, None, 3.0, 4.0]
            and [x["cut"] for x in r] == ["dear", "dear", "dear", "cheap"]
            and [x["cum"] for x in r] == [2, 3, 6, 10]
            and r[0]["shift"] is None
            and r[0]["month_end"] == datetime.datetime(2024, 1, 31, 10, tzinfo=UTC)
            and r[0]["sqrt_neg"] == "2j"
        ),
    ),
    "new_frame_and_concat": (
        """def transform(df):
    extra = pd.DataFrame({"id": [99], "qty": [1]})
    out = pd.concat([df[["id", "qty"]], extra], ignore_index=True)
    out["idx"] = out.index
    return out""",
        lambda r: [x["id"] for x in r] == [1, 2, 3, 4, 99] and r[4]["idx"] == 4,
    ),
    "helper_functions_and_classes": (
        """def band(p):
    if p >= 10:
        return "high"
    return "low"

class Counter:
    def __init__(self):
        self.n = 0
    def bump(self):
        self.n += 1
        return self.n

def transform(df):
    c = Counter()
    df["band"] = df["price"].map(band)
    df["seq"] = [c.bump() for _ in range(len(df))]
    return df""",
        lambda r: (
            [x["band"] for x in r] == ["high", "low", "high", "low"]
            and [x["seq"] for x in r] == [1, 2, 3, 4]
        ),
    ),
    "try_except_and_tuples": (
        """def transform(df):
    try:
        v = int("x")
    except ValueError as e:
        v = -1
    a, (b, c) = 1, (2, 3)
    first, *rest = list(df["id"])
    df["v"] = v + a + b + c + first + len(rest)
    for i, (k, q) in enumerate(zip(df["id"], df["qty"])):
        pass
    return df""",
        lambda r: r[0]["v"] == -1 + 1 + 2 + 3 + 1 + 3,
    ),
    "regex_math_datetime": (
        """def transform(df):
    df["digits"] = df["note"].fillna("").map(lambda s: bool(re.search(r"\\\\d", s)))
    df["root"] = df["qty"].map(math.sqrt)
    df["later"] = df["at"] + datetime.timedelta(days=1)
    # C code that imports a helper (strptime, a dtype's repr) while the script runs
    df["parsed"] = datetime.datetime.strptime("2024-01-02", "%Y-%m-%d")
    df["dtype"] = repr(np.dtype([("a", "i4")])) + str(len("x".encode("utf-16")))
    return df""",
        lambda r: (
            [x["digits"] for x in r] == [False] * 4
            and r[3]["root"] == 2.0
            and r[0]["later"] == datetime.datetime(2024, 1, 6, 10, tzinfo=UTC)
            and r[0]["parsed"] == datetime.datetime(2024, 1, 2)
            and r[0]["dtype"] == "dtype([('a', '<i4')])4"
        ),
    ),
    "pivot_and_value_counts": (
        """WHOLE_TABLE = True
def transform(df):
    counts = df["region"].value_counts().rename_axis("region").reset_index(name="n")
    return counts.sort_values("region")""",
        lambda r: [(x["region"], x["n"]) for x in r] == [("north", 2), ("south", 1)],
    ),
}


@pytest.mark.parametrize("name", sorted(IDIOMS))
def test_idiom(name: str) -> None:
    body, check = IDIOMS[name]
    res = wire.run_job(HEAD + body + "\n", COLS, [ROWS])
    assert res.ok, res
    rows = res.records()
    assert check(rows), rows
