"""`seed-demo` creates the demo tables and saves the examples as the
admin's scripts; each example runs on its table and does what it says."""

import math
import pickle
import re
import subprocess
from pathlib import Path

import psycopg
import pytest

from conftest import base_env, run_tw

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SANDBOX_PYTHON = ROOT / "sandbox" / ".venv" / "bin" / "python"
ROWS = 12000


@pytest.fixture(scope="module")
def seeded(pg_url: str, tmp_path_factory: pytest.TempPathFactory):
    from conftest import create_database, drop_database

    url = create_database(pg_url)
    tmp = tmp_path_factory.mktemp("seed")
    env = base_env(tmp, TW_DATABASE_URL=url)
    res = run_tw(["init", "--admin-email", "admin@example.com"], tmp, env)
    assert res.returncode == 0, res.stderr
    res = run_tw(["seed-demo", "--rows", str(ROWS)], tmp, env)
    assert res.returncode == 0, res.stderr
    yield url, tmp, env, res.stdout
    drop_database(pg_url, url)


def table_rows(url: str, table: str) -> tuple[list[str], list[tuple]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(f"SELECT * FROM public.{table} ORDER BY 1")
        return [d.name for d in cur.description], cur.fetchall()


def run_example(name: str, url: str, table: str) -> list[dict]:
    cols, rows = table_rows(url, table)
    payload = pickle.dumps({"columns": cols, "rows": [list(r) for r in rows]})
    proc = subprocess.run(
        [str(SANDBOX_PYTHON), str(Path(__file__).parent / "helpers" / "run_example.py"),
         str(EXAMPLES / f"{name}.py")],
        input=payload, capture_output=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return pickle.loads(proc.stdout)["rows"]


def test_seed_creates_tables_and_scripts(seeded) -> None:
    url, tmp, env, out = seeded
    with psycopg.connect(url) as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM public.{t}").fetchone()[0]
            for t in ("orders", "customers", "events")
        }
        scripts = conn.execute(
            "SELECT s.name, s.code_text, v.version, u.email FROM tablewright.scripts s"
            " JOIN tablewright.script_versions v ON v.script_id = s.id"
            " JOIN tablewright.users u ON u.id = s.user_id ORDER BY s.name"
        ).fetchall()
    assert counts == {
        "orders": ROWS, "customers": max(ROWS // 20, 100), "events": max(ROWS // 10, 100)
    }
    files = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    assert len(files) >= 6
    assert [s[0] for s in scripts] == files
    for name, code, version, owner in scripts:
        assert code == (EXAMPLES / f"{name}.py").read_text()
        assert version == 1 and owner == "admin@example.com"
    assert "created demo table public.orders" in out


def test_seed_again_changes_nothing(seeded) -> None:
    url, tmp, env, _ = seeded
    with psycopg.connect(url) as conn:
        before = conn.execute("SELECT count(*) FROM tablewright.scripts").fetchone()
        conn.execute("DELETE FROM public.orders WHERE id <= 10")
        conn.commit()
    res = run_tw(["seed-demo", "--rows", "50"], tmp, env)
    assert res.returncode == 0, res.stderr
    assert "exists; left as it is" in res.stdout
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM tablewright.scripts").fetchone() == before
        # The user's change to a demo table survives a second seed.
        assert conn.execute("SELECT count(*) FROM public.orders").fetchone() == (ROWS - 10,)


def test_seed_rejects_bad_rows(tmp_path: Path, migrated: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=migrated)
    res = run_tw(["seed-demo", "--rows", "lots"], tmp_path, env)
    assert res.returncode == 2
    assert "--rows" in res.stderr


def test_seed_needs_an_admin(tmp_path: Path, migrated: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=migrated)
    res = run_tw(["seed-demo", "--rows", "100"], tmp_path, env)
    assert res.returncode == 1
    assert "no admin user" in res.stderr


def test_order_totals(seeded) -> None:
    for r in run_example("order_totals", seeded[0], "orders"):
        assert math.isclose(r["total"], r["price"] * r["qty"])
        disc = r["discount"] if r["discount"] is not None else 0
        assert math.isclose(r["total_after_discount"], r["total"] * (1 - disc), abs_tol=0.006)


def test_clean_customers(seeded) -> None:
    rows = run_example("clean_customers", seeded[0], "customers")
    for r in rows:
        name = r["full_name"]
        assert name == name.strip() and "  " not in name and name == name.title()
        if r["email"] is not None:
            assert r["email"] == r["email"].strip().lower()
        if r["phone"] is not None:
            assert r["phone"].isdigit()
        if r["city"] is not None:
            assert r["city"] == r["city"].strip() and r["city"] != ""
    assert any(r["phone"] is None for r in rows)


def test_parse_dates(seeded) -> None:
    rows = run_example("parse_dates", seeded[0], "events")
    days = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
    parsed = [r for r in rows if r["happened_at_text"] is not None]
    assert parsed and all(r["happened_at"] is not None for r in parsed)
    assert all(r["weekday"] in days for r in parsed)
    assert all(re.fullmatch(r"2024-\d\d|2025-\d\d", r["month"]) for r in parsed)
    dmy = [r for r in parsed if "/" in r["happened_at_text"]]
    assert dmy
    for r in dmy:
        d, m, y = r["happened_at_text"].split("/")
        assert r["happened_at"].strftime("%d/%m/%Y") == f"{d}/{m}/{y}"


def test_categorize_orders(seeded) -> None:
    for r in run_example("categorize_orders", seeded[0], "orders"):
        p = r["price"]
        want = "budget" if p < 10 else "standard" if p < 50 else "premium" if p < 100 else "luxury"
        assert r["price_band"] == want
        assert r["size"] == ("bulk" if r["qty"] >= 10 else "single")


def test_filter_large_orders(seeded) -> None:
    rows = run_example("filter_large_orders", seeded[0], "orders")
    assert rows
    for r in rows:
        assert r["qty"] >= 10 and r["region"] is not None and r["value"] >= 500
        assert set(r) == {"id", "customer_id", "product", "price", "qty", "region", "value"}


def test_sales_by_region(seeded) -> None:
    rows = run_example("sales_by_region", seeded[0], "orders")
    _, orders = table_rows(seeded[0], "orders")
    assert sum(r["orders"] for r in rows) == len(orders)
    assert math.isclose(
        sum(r["revenue"] for r in rows), float(sum(o[3] * o[4] for o in orders)), rel_tol=1e-9
    )
    assert {r["region"] for r in rows} == {"north", "south", "east", 'west, "central"', "unknown"}
