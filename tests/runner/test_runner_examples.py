"""Every script in examples/ runs in the runner, unchanged, on batches shaped
like its demo table, and gives what the example says."""

from __future__ import annotations

import datetime
import math
import re
from pathlib import Path

import pytest
import runnerdata as data
import runnerwire as wire

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROWS = 3000


def run_example(name: str, columns, rows, size=1000) -> wire.Result:
    code = (EXAMPLES / f"{name}.py").read_text()
    res = wire.run_job(code, columns, data.chunks(rows, size))
    assert res.ok, res
    assert res.returncode == 0
    return res


def test_every_example_is_covered() -> None:
    names = {p.stem for p in EXAMPLES.glob("*.py")}
    covered = {n[len("test_") :] for n in globals() if n.startswith("test_")}
    assert names <= covered, f"examples without a test here: {sorted(names - covered)}"


def test_order_totals() -> None:
    rows = data.orders(1, ROWS)
    res = run_example("order_totals", data.ORDERS_COLUMNS, rows)
    types = res.types_of()
    assert types["price"] == ("float64", "numeric(10,2)")  # keeps its source type
    assert types["total"] == ("float64", "double precision")
    assert types["ordered_at"] == ("timestamptz", "timestamp with time zone")
    assert res.status["rows_in"] == res.status["rows_out"] == ROWS
    assert len(res.batches) == 3 and [m["rows_in"] for m in res.metrics] == [1000, 2000, 3000]
    for src, r in zip(rows, res.records(), strict=True):
        assert r["id"] == src[0] and r["ordered_at"] == src[5] and r["note"] == src[9]
        assert math.isclose(r["total"], float(src[3]) * src[4])
        disc = src[7] or 0
        assert math.isclose(r["total_after_discount"], r["total"] * (1 - disc), abs_tol=0.006)


def test_clean_customers() -> None:
    res = run_example("clean_customers", data.CUSTOMERS_COLUMNS, data.customers(1, ROWS))
    rows = res.records()
    assert len(rows) == ROWS
    for r in rows:
        name = r["full_name"]
        assert name == name.strip() and "  " not in name and name == name.title()
        if r["email"] is not None:
            assert r["email"] == r["email"].strip().lower()
        if r["phone"] is not None:
            assert r["phone"].isdigit()
        if r["city"] is not None:
            assert r["city"] == r["city"].strip() and r["city"] != ""
    assert any(r["phone"] is None for r in rows) and any(r["city"] is None for r in rows)
    assert res.types_of()["signed_up"] == ("date", "date")
    assert rows[0]["signed_up"] == datetime.date(2020, 1, 2)


def test_parse_dates() -> None:
    res = run_example("parse_dates", data.EVENTS_COLUMNS, data.events(1, ROWS))
    types = res.types_of()
    assert types["happened_at"] == ("timestamptz", "timestamp with time zone")
    assert types["payload"] == ("text", "jsonb")
    days = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
    rows = res.records()
    parsed = [r for r in rows if r["happened_at_text"] is not None]
    assert parsed and all(r["happened_at"] is not None for r in parsed)
    assert all(r["weekday"] in days for r in parsed)
    assert all(re.fullmatch(r"2024-\d\d|2025-\d\d", r["month"]) for r in parsed)
    dmy = [r for r in parsed if "/" in r["happened_at_text"]]
    assert dmy
    for r in dmy:
        assert r["happened_at"].strftime("%d/%m/%Y") == r["happened_at_text"]
    for r in rows:
        if r["happened_at_text"] is None:
            assert r["happened_at"] is None and r["weekday"] is None


def test_categorize_orders() -> None:
    res = run_example("categorize_orders", data.ORDERS_COLUMNS, data.orders(1, ROWS))
    for r in res.records():
        p = r["price"]
        want = "budget" if p < 10 else "standard" if p < 50 else "premium" if p < 100 else "luxury"
        assert r["price_band"] == want
        assert r["size"] == ("bulk" if r["qty"] >= 10 else "single")
        assert r["discounted_gift"] == (r["is_gift"] and (r["discount"] or 0) > 0)
    assert res.types_of()["discounted_gift"] == ("bool", "boolean")


def test_filter_large_orders() -> None:
    # prices grow with the id: take ids whose orders reach 500
    res = run_example("filter_large_orders", data.ORDERS_COLUMNS, data.orders(5001, 5000 + ROWS))
    rows = res.records()
    assert rows and len(rows) < ROWS
    for r in rows:
        assert r["qty"] >= 10 and r["region"] is not None and r["value"] >= 500
    assert res.names == ["id", "customer_id", "product", "price", "qty", "region", "value"]


@pytest.mark.parametrize("size", [1000, ROWS])
def test_sales_by_region(size: int) -> None:
    rows = data.orders(1, ROWS)
    res = run_example("sales_by_region", data.ORDERS_COLUMNS, rows, size)
    assert res.ready == {"whole_table": True, "allow_empty": False}
    out = res.records()
    assert sum(r["orders"] for r in out) == ROWS
    assert math.isclose(
        sum(r["revenue"] for r in out), sum(float(o[3]) * o[4] for o in rows), rel_tol=1e-9
    )
    assert {r["region"] for r in out} == {"north", "south", "east", 'west, "central"', "unknown"}
    keys = [(r["region"], r["month"]) for r in out]
    assert keys == sorted(keys)
