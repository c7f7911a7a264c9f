"""The table explorer through the real server: GET /api/v1/tables,
/api/v1/tables/{schema}/{name} and .../rows (docs/tables.md).

Most tests share one database and one server per module (TW_DATA_SCHEMAS
"public,sales", a viewer signed in): creating the data is the slow part.
Tests that change the data use table names of their own. The database's
own defaults are set to unusual values (TimeZone Asia/Tokyo,
extra_float_digits 0, bytea_output escape) so the tests show the explorer
does not depend on them.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest

# Before the import, so the helpers' asserts are rewritten too.
pytest.register_assert_rewrite("authfixtures")

from authfixtures import Api, add_user, assert_error, auth_env  # noqa: E402

from conftest import (  # noqa: E402
    Server,
    base_env,
    create_database,
    drop_database,
    run_tw,
    start_server,
)

TABLES = "/api/v1/tables"
VIEWER_EMAIL = "viewer@example.com"
VIEWER_PASSWORD = "viewer-Secret-3"

SETUP_SQL = """
CREATE SCHEMA sales;
CREATE SCHEMA private;
CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL, email text);
INSERT INTO public.customers SELECT g, 'customer ' || g, NULL FROM generate_series(1, 20) g;
CREATE VIEW public.customer_names AS SELECT id, name FROM public.customers;
CREATE TABLE sales.orders (id bigint PRIMARY KEY, customer_id int NOT NULL,
                           amount numeric(10,2));
INSERT INTO sales.orders SELECT g, g % 20 + 1, g * 1.25 FROM generate_series(1, 50) g;
CREATE MATERIALIZED VIEW sales.order_totals AS
    SELECT customer_id, sum(amount) AS total FROM sales.orders GROUP BY customer_id;
CREATE MATERIALIZED VIEW sales.never_refreshed AS SELECT 1 AS x WITH NO DATA;
CREATE TABLE sales.events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE sales.events_2024 PARTITION OF sales.events
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO sales.events VALUES (1, '2024-03-01'), (2, '2024-04-01');
CREATE TABLE private.secrets (id int PRIMARY KEY, secret text);
INSERT INTO private.secrets VALUES (1, 'do not show');
CREATE TABLE public."Mixed Case" (x int);
INSERT INTO public."Mixed Case" VALUES (1);
CREATE TABLE public.oddcols (id int PRIMARY KEY, "Odd Col" text, "select" int,
                             "a""quote" text);
INSERT INTO public.oddcols VALUES (1, 'one', 10, 'q1'), (2, 'two', 5, 'q2');
CREATE TABLE public.composite (b int, a text, c int, PRIMARY KEY (a, b));
INSERT INTO public.composite VALUES (2, 'x', 1), (1, 'x', 2), (1, 'a', 3);
CREATE TABLE public.json_only (id int, doc json);
INSERT INTO public.json_only VALUES (1, '{"a": 1}');
CREATE TABLE public.victim (id int PRIMARY KEY, v text);
INSERT INTO public.victim VALUES (1, 'still here');
"""


@dataclass
class Explorer:
    db: str
    server: Server
    api: Api

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []


def viewer_api(server: Server) -> Api:
    return Api(server).as_user(VIEWER_EMAIL, VIEWER_PASSWORD)


@pytest.fixture(scope="module")
def explorer(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explorer]:
    workdir = tmp_path_factory.mktemp("tables")
    db = create_database(pg_url)
    try:
        res = run_tw(["migrate"], workdir, base_env(workdir, TW_DATABASE_URL=db))
        assert res.returncode == 0, res.stderr
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(SETUP_SQL)
            name = db.rpartition("/")[2]
            for setting in (
                "TimeZone = 'Asia/Tokyo'",
                "extra_float_digits = 0",
                "bytea_output = 'escape'",
            ):
                conn.execute(f'ALTER DATABASE "{name}" SET {setting}')
        add_user(db, VIEWER_EMAIL, VIEWER_PASSWORD, "viewer")
        srv = start_server(workdir, auth_env(workdir, db, TW_DATA_SCHEMAS="public, sales"))
        try:
            yield Explorer(db, srv, viewer_api(srv))
        finally:
            code = srv.stop()
            assert code == 0, "server exited with %s: %s" % (code, srv.stderr())
    finally:
        drop_database(pg_url, db)


def table_name() -> str:
    return "t_" + uuid.uuid4().hex[:10]


def ok(resp: Any) -> Any:
    assert resp.status_code == 200, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.json()


def listing(ex: Explorer) -> list[dict[str, Any]]:
    body = ok(ex.api.get(TABLES))
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    return body["items"]


def by_name(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["schema"], i["name"]): i for i in items}


def rows(ex: Explorer, schema: str, name: str, **params: str) -> dict[str, Any]:
    body = ok(ex.api.get(f"{TABLES}/{schema}/{name}/rows", params=params or None))
    assert set(body) == {"columns", "rows", "limit", "offset"}
    return body


def raw_get(server: Server, path: str, token: str | None) -> tuple[int, bytes]:
    """GET with the path sent exactly as given (requests would normalise
    "..", and encode what it finds unsafe)."""
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --- the list ---------------------------------------------------------------


def test_list_shows_only_the_data_schemas(explorer: Explorer) -> None:
    items = listing(explorer)
    for item in items:
        assert set(item) == {"schema", "name", "kind", "estimated_rows", "size_bytes"}
    schemas = {i["schema"] for i in items}
    assert schemas <= {"public", "sales"}, schemas
    names = by_name(items)
    assert ("public", "customers") in names
    assert ("sales", "orders") in names
    assert not any(s == "private" for s, _ in names)
    assert not any(s == "tablewright" for s, _ in names)
    # Sorted by schema, then name (byte order).
    keys = [(i["schema"], i["name"]) for i in items]
    assert keys == sorted(keys, key=lambda k: (k[0].encode(), k[1].encode()))


def test_list_kinds_and_sizes(explorer: Explorer) -> None:
    names = by_name(listing(explorer))
    assert names[("public", "customers")]["kind"] == "table"
    view = names[("public", "customer_names")]
    assert view["kind"] == "view"
    assert view["estimated_rows"] is None and view["size_bytes"] is None
    assert names[("sales", "order_totals")]["kind"] == "materialized_view"
    assert names[("sales", "events")]["kind"] == "partitioned_table"
    # A partition is a table of its own too.
    assert names[("sales", "events_2024")]["kind"] == "table"
    size = names[("public", "customers")]["size_bytes"]
    assert isinstance(size, int) and size > 0
    assert isinstance(names[("sales", "events")]["size_bytes"], int)


def test_list_foreign_table(explorer: Explorer) -> None:
    try:
        explorer.sql("CREATE EXTENSION IF NOT EXISTS file_fdw")
    except psycopg.Error:
        pytest.skip("file_fdw is not installed")
    name = table_name()
    explorer.sql("CREATE SERVER IF NOT EXISTS files FOREIGN DATA WRAPPER file_fdw")
    explorer.sql(
        f"CREATE FOREIGN TABLE public.{name} (a int, b text) SERVER files "
        "OPTIONS (program 'printf \"1,x\\n2,y\\n\"', format 'csv')"
    )
    item = by_name(listing(explorer))[("public", name)]
    assert item["kind"] == "foreign_table" and item["size_bytes"] is None
    assert rows(explorer, "public", name)["rows"] == [[1, "x"], [2, "y"]]


def test_table_created_after_start_appears(explorer: Explorer) -> None:
    name = table_name()
    assert ("public", name) not in by_name(listing(explorer))
    explorer.sql(f"CREATE TABLE public.{name} (id int)")
    item = by_name(listing(explorer))[("public", name)]
    assert item["kind"] == "table"
    explorer.sql(f"DROP TABLE public.{name}")
    assert ("public", name) not in by_name(listing(explorer))


def test_estimated_rows_come_from_analyze(explorer: Explorer) -> None:
    name = table_name()
    explorer.sql(f"CREATE TABLE sales.{name} AS SELECT g AS id FROM generate_series(1, 500) g")
    # Never analysed: unknown, not 0 (and never a count(*)).
    assert by_name(listing(explorer))[("sales", name)]["estimated_rows"] is None
    assert ok(explorer.api.get(f"{TABLES}/sales/{name}"))["estimated_rows"] is None
    explorer.sql(f"ANALYZE sales.{name}")
    assert by_name(listing(explorer))[("sales", name)]["estimated_rows"] == 500
    assert ok(explorer.api.get(f"{TABLES}/sales/{name}"))["estimated_rows"] == 500


def test_app_schema_is_hidden_and_cannot_be_configured(explorer: Explorer, tmp_path: Path) -> None:
    # Naming the app schema or PostgreSQL's own as data schemas used to be
    # survived by filtering; now start-up refuses it outright (issue 9).
    schemas = "public,tablewright,pg_catalog,information_schema,pg_toast"
    env = auth_env(tmp_path, explorer.db, TW_DATA_SCHEMAS=schemas)
    res = run_tw(["serve", "--bind", "127.0.0.1:0"], tmp_path, env, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "TW_DATA_SCHEMAS" in res.stderr and "must live in other schemas" in res.stderr
    api = explorer.api
    body = ok(api.get(TABLES))
    assert not {i["schema"] for i in body["items"]} & {
        "tablewright", "pg_catalog", "information_schema", "pg_toast"}
    for path in (
        "tablewright/users",
        "tablewright/schema_migrations",
        "pg_catalog/pg_class",
        "pg_catalog/pg_authid",
        "information_schema/tables",
    ):
        assert_error(api.get(f"{TABLES}/{path}"), 404, "not_found")
        assert_error(api.get(f"{TABLES}/{path}/rows"), 404, "not_found")


# --- one table --------------------------------------------------------------


def test_table_detail(explorer: Explorer) -> None:
    body = ok(explorer.api.get(f"{TABLES}/sales/orders"))
    assert body == {
        "schema": "sales",
        "name": "orders",
        "kind": "table",
        "columns": [
            {"name": "id", "type": "bigint", "nullable": False},
            {"name": "customer_id", "type": "integer", "nullable": False},
            {"name": "amount", "type": "numeric(10,2)", "nullable": True},
        ],
        "primary_key": ["id"],
        "estimated_rows": body["estimated_rows"],
        "size_bytes": body["size_bytes"],
        "produced_by": None,  # no job made it (test_publish.py has those)
    }
    assert isinstance(body["size_bytes"], int)


def test_table_detail_types_and_dropped_columns(explorer: Explorer) -> None:
    name = table_name()
    explorer.sql(
        f"CREATE TABLE public.{name} (a varchar(20) NOT NULL, gone int, b timestamptz,"
        " c numeric(12,3)[], d uuid, e character(3))"
    )
    explorer.sql(f"ALTER TABLE public.{name} DROP COLUMN gone")
    body = ok(explorer.api.get(f"{TABLES}/public/{name}"))
    assert body["columns"] == [
        {"name": "a", "type": "character varying(20)", "nullable": False},
        {"name": "b", "type": "timestamp with time zone", "nullable": True},
        {"name": "c", "type": "numeric(12,3)[]", "nullable": True},
        {"name": "d", "type": "uuid", "nullable": True},
        {"name": "e", "type": "character(3)", "nullable": True},
    ]
    assert body["primary_key"] == [] and body["estimated_rows"] is None


def test_composite_primary_key_in_key_order(explorer: Explorer) -> None:
    assert ok(explorer.api.get(f"{TABLES}/public/composite"))["primary_key"] == ["a", "b"]
    # The default order is the key's: (a, b).
    assert rows(explorer, "public", "composite")["rows"] == [
        [1, "a", 3],
        [1, "x", 2],
        [2, "x", 1],
    ]


def test_primary_key_include_columns_are_not_key_columns(explorer: Explorer) -> None:
    name = table_name()
    explorer.sql(
        f"CREATE TABLE public.{name} (extra text, id int, PRIMARY KEY (id) INCLUDE (extra))"
    )
    assert ok(explorer.api.get(f"{TABLES}/public/{name}"))["primary_key"] == ["id"]


@pytest.mark.parametrize(
    "path",
    [
        "public/nope",
        "private/secrets",
        "nope/customers",
        "tablewright/users",
        "PUBLIC/customers",
        "public/CUSTOMERS",
    ],
)
def test_unknown_tables_are_404(explorer: Explorer, path: str) -> None:
    assert_error(explorer.api.get(f"{TABLES}/{path}"), 404, "not_found")
    assert_error(explorer.api.get(f"{TABLES}/{path}/rows"), 404, "not_found")


def test_name_that_needs_quoting_is_listed_but_not_browsable(explorer: Explorer) -> None:
    assert ("public", "Mixed Case") in by_name(listing(explorer))
    assert_error(explorer.api.get(f"{TABLES}/public/Mixed%20Case"), 404, "not_found")
    assert_error(explorer.api.get(f"{TABLES}/public/Mixed%20Case/rows"), 404, "not_found")


def test_columns_that_need_quoting_are_shown(explorer: Explorer) -> None:
    body = rows(explorer, "public", "oddcols")
    assert [c["name"] for c in body["columns"]] == ["id", "Odd Col", "select", 'a"quote']
    assert body["rows"] == [[1, "one", 10, "q1"], [2, "two", 5, "q2"]]
    # A reserved word passes the identifier rule and is quoted.
    assert rows(explorer, "public", "oddcols", order_by="select")["rows"][0][0] == 2
    for col in ("Odd Col", 'a"quote'):
        assert_error(
            explorer.api.get(f"{TABLES}/public/oddcols/rows", params={"order_by": col}),
            422,
            "validation_failed",
        )


def test_materialized_view_rows(explorer: Explorer) -> None:
    body = rows(explorer, "sales", "order_totals", order_by="customer_id", limit="2")
    assert [c["name"] for c in body["columns"]] == ["customer_id", "total"]
    assert [r[0] for r in body["rows"]] == [1, 2]
    assert_error(explorer.api.get(f"{TABLES}/sales/never_refreshed/rows"), 409, "conflict")


def test_view_and_partitioned_rows(explorer: Explorer) -> None:
    body = rows(explorer, "public", "customer_names", order_by="id", limit="3")
    assert body["rows"] == [[1, "customer 1"], [2, "customer 2"], [3, "customer 3"]]
    assert rows(explorer, "sales", "events")["rows"] == [[1, "2024-03-01"], [2, "2024-04-01"]]


def test_unauthenticated_is_401(explorer: Explorer) -> None:
    anon = explorer.api.anonymous()
    for path in (TABLES, f"{TABLES}/public/customers", f"{TABLES}/public/customers/rows"):
        assert_error(anon.get(path), 401, "unauthorized")
        assert_error(anon.with_token("not.a.token").get(path), 401, "unauthorized")


# --- values -----------------------------------------------------------------


def roundtrip(ex: Explorer, sql_type: str, values: list[str | None]) -> tuple[list[Any], str]:
    """Stores each text value cast to sql_type, one row each, and returns
    the values the rows endpoint gives back (in insertion order) and the
    raw body."""
    name = table_name()
    ex.sql(f"CREATE TABLE public.{name} (id int PRIMARY KEY, v {sql_type})")
    with psycopg.connect(ex.db, autocommit=True) as conn:
        for i, v in enumerate(values):
            conn.execute(f"INSERT INTO public.{name} VALUES (%s, %s::{sql_type})", (i, v))
    resp = ex.api.get(f"{TABLES}/public/{name}/rows")
    body = ok(resp)
    assert body["columns"][1]["name"] == "v"
    assert [r[0] for r in body["rows"]] == list(range(len(values)))
    return [r[1] for r in body["rows"]], resp.text


def test_small_integers(explorer: Explorer) -> None:
    got, _ = roundtrip(explorer, "int2", ["-32768", "32767", "0", None])
    assert got == [-32768, 32767, 0, None]
    got, _ = roundtrip(explorer, "int4", ["-2147483648", "2147483647"])
    assert got == [-2147483648, 2147483647]


def test_int8_beyond_2_53_is_a_string(explorer: Explorer) -> None:
    got, _ = roundtrip(
        explorer,
        "int8",
        [
            "9007199254740992",
            "-9007199254740992",
            "9007199254740993",
            "-9007199254740993",
            "-9223372036854775808",
            "9223372036854775807",
            "0",
            "-1",
            None,
        ],
    )
    assert got == [
        9007199254740992,
        -9007199254740992,
        "9007199254740993",
        "-9007199254740993",
        "-9223372036854775808",
        "9223372036854775807",
        0,
        -1,
        None,
    ]


def test_numeric_with_scale(explorer: Explorer) -> None:
    got, text = roundtrip(
        explorer, "numeric(30,2)", ["12.34", "12345678901234567890.12", "-0.50", "0", None]
    )
    assert got == [12.34, "12345678901234567890.12", -0.5, 0, None]
    # The number is PostgreSQL's text, declared scale included.
    assert "12.34]" in text and "-0.50]" in text


def test_numeric_exactness_rule(explorer: Explorer) -> None:
    got, _ = roundtrip(
        explorer,
        "numeric",
        [
            "123456789012345",  # 15 significant digits
            "1234567890123456",  # 16
            "9007199254740993",
            "100000000000000000000",  # 1 significant digit
            "0.000000000000000001",
            "1.000000000000000000000",  # trailing zeros do not count
            "0.1234567890123456",
            "1e-300",
            "1e-302",  # below a double's normal range
            "NaN",
            "Infinity",
            "-Infinity",
        ],
    )
    assert got == [
        123456789012345,
        "1234567890123456",
        "9007199254740993",
        100000000000000000000,
        1e-18,
        1.0,
        "0.1234567890123456",
        1e-300,
        "0." + "0" * 301 + "1",
        "NaN",
        "Infinity",
        "-Infinity",
    ]


def test_floats(explorer: Explorer) -> None:
    got, text = roundtrip(
        explorer,
        "float8",
        ["0.1", "0.30000000000000004", "NaN", "Infinity", "-Infinity", "1e+300", "-0"],
    )
    assert got[:2] == [0.1, 0.30000000000000004]
    assert got[2:5] == ["NaN", "Infinity", "-Infinity"]
    assert got[5] == 1e300
    # The shortest exact form, whatever the database's extra_float_digits.
    assert "[0,0.1]" in text and "0.30000000000000004]" in text
    got, text = roundtrip(explorer, "float4", ["0.1", "NaN", "Infinity", "-Infinity", None])
    assert got == [0.1, "NaN", "Infinity", "-Infinity", None]
    assert "[0,0.1]" in text


def test_booleans(explorer: Explorer) -> None:
    got, _ = roundtrip(explorer, "bool", ["true", "false", None])
    assert got == [True, False, None]


def test_text_round_trips(explorer: Explorer) -> None:
    values = [
        'say "hi"',
        "line one\nline two\r\n",
        "tab\there",
        "back\\slash \\n not a newline",
        "unicode: é ü ñ 中文 ✓",
        "emoji: 😀🎉👩‍👩‍👧",
        "control: \x01\x1f\x7f",
        "</script><script>alert(1)</script>",
        "",
        None,
    ]
    got, _ = roundtrip(explorer, "text", values)
    assert got == values
    assert got[-2] == "" and got[-1] is None


def test_dates_and_times_in_utc(explorer: Explorer) -> None:
    got, _ = roundtrip(explorer, "date", ["2024-01-01", "1999-12-31", "infinity"])
    assert got == ["2024-01-01", "1999-12-31", "infinity"]
    got, _ = roundtrip(explorer, "timestamp", ["2024-01-01 00:00:00", "2024-06-01 12:34:56.25"])
    assert got == ["2024-01-01T00:00:00", "2024-06-01T12:34:56.25"]
    # The database defaults to Asia/Tokyo: the explorer still answers in UTC.
    got, _ = roundtrip(
        explorer,
        "timestamptz",
        ["2024-01-01 00:00:00+00", "2024-06-01 12:34:56.5+02", "2024-12-31 23:00:00-05"],
    )
    assert got == [
        "2024-01-01T00:00:00+00:00",
        "2024-06-01T10:34:56.5+00:00",
        "2025-01-01T04:00:00+00:00",
    ]


def test_uuid_json_jsonb(explorer: Explorer) -> None:
    u = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    got, _ = roundtrip(explorer, "uuid", [u])
    assert got == [u]
    doc = '{"a": [1, 2.50, "x"], "b": null, "c": {"d": true}}'
    got, text = roundtrip(explorer, "json", [doc, "[]", '"s"', "3", None])
    assert got == [json.loads(doc), [], "s", 3, None]
    # json is embedded as it was stored.
    assert doc in text
    got, _ = roundtrip(explorer, "jsonb", [doc, '{"big": 12345678901234567890}'])
    assert got == [json.loads(doc), {"big": 12345678901234567890}]


def test_bytea_is_hex(explorer: Explorer) -> None:
    # The database defaults to bytea_output = escape: still hex here.
    got, _ = roundtrip(explorer, "bytea", ["\\xdeadbeef", "\\x", None])
    assert got == ["\\xdeadbeef", "\\x", None]


def test_arrays(explorer: Explorer) -> None:
    got, _ = roundtrip(explorer, "int[]", ["{1,2,NULL}", "{{1,2},{3,4}}", "{}"])
    assert got == [[1, 2, None], [[1, 2], [3, 4]], []]
    got, _ = roundtrip(explorer, "text[]", ['{"a\\"b","c,d",NULL,""}'])
    assert got == [['a"b', "c,d", None, ""]]
    got, _ = roundtrip(explorer, "int8[]", ["{1,9007199254740993,-9223372036854775808,NULL}"])
    assert got == [[1, "9007199254740993", "-9223372036854775808", None]]
    got, _ = roundtrip(explorer, "numeric[]", ["{1.5,12345678901234567890.12,NaN}"])
    assert got == [[1.5, "12345678901234567890.12", "NaN"]]


# --- ordering and paging ----------------------------------------------------


@pytest.fixture(scope="module")
def seq(explorer: Explorer) -> list[tuple[int, int | None]]:
    """public.seq: 250 rows inserted out of order; grp repeats, some NULL."""
    data = [(i, None if i % 25 == 0 else i % 7) for i in range(1, 251)]
    explorer.sql("CREATE TABLE public.seq (id int PRIMARY KEY, grp int)")
    with psycopg.connect(explorer.db, autocommit=True) as conn:
        with conn.cursor() as cur:
            shuffled = sorted(data, key=lambda r: (r[0] * 7919) % 251)
            cur.executemany("INSERT INTO public.seq VALUES (%s, %s)", shuffled)
    return data


def pages(ex: Explorer, limit: int, **params: str) -> list[list[Any]]:
    out: list[list[Any]] = []
    offset = 0
    while True:
        body = rows(ex, "public", "seq", limit=str(limit), offset=str(offset), **params)
        assert body["limit"] == limit and body["offset"] == offset
        out += body["rows"]
        if len(body["rows"]) < limit:
            return out
        offset += limit


def test_default_order_is_the_primary_key(explorer: Explorer, seq: list[Any]) -> None:
    body = rows(explorer, "public", "seq")
    assert body["limit"] == 100 and body["offset"] == 0
    assert [r[0] for r in body["rows"]] == list(range(1, 101))
    assert pages(explorer, 33) == [list(r) for r in seq]
    assert pages(explorer, 40, desc="true") == [list(r) for r in reversed(seq)]
    assert pages(explorer, 40, desc="false") == [list(r) for r in seq]


def test_order_by_a_column_is_stable(explorer: Explorer, seq: list[Any]) -> None:
    # Ascending: NULLs last; ties broken by the primary key.
    expected = sorted(seq, key=lambda r: (r[1] is None, r[1] or 0, r[0]))
    assert pages(explorer, 17, order_by="grp") == [list(r) for r in expected]
    assert pages(explorer, 17, order_by="grp", desc="true") == [list(r) for r in reversed(expected)]
    assert pages(explorer, 50, order_by="id", desc="true") == [list(r) for r in reversed(seq)]


def test_paging_past_the_end(explorer: Explorer, seq: list[Any]) -> None:
    assert rows(explorer, "public", "seq", offset="250")["rows"] == []
    assert rows(explorer, "public", "seq", offset="1000000000")["rows"] == []
    assert len(rows(explorer, "public", "seq", offset="249")["rows"]) == 1


def test_desc_needs_an_order(explorer: Explorer) -> None:
    # json_only has no primary key: no default order to reverse.
    assert rows(explorer, "public", "json_only")["rows"] == [[1, {"a": 1}]]
    assert_error(
        explorer.api.get(f"{TABLES}/public/json_only/rows", params={"desc": "true"}),
        422,
        "validation_failed",
    )


def test_order_by_a_column_without_ordering(explorer: Explorer) -> None:
    assert_error(
        explorer.api.get(f"{TABLES}/public/json_only/rows", params={"order_by": "doc"}),
        422,
        "validation_failed",
    )


def test_limit_bounds(explorer: Explorer) -> None:
    name = table_name()
    explorer.sql(f"CREATE TABLE public.{name} AS SELECT g AS id FROM generate_series(1, 1200) g")
    body = rows(explorer, "public", name, limit="1000")
    assert len(body["rows"]) == 1000 and body["limit"] == 1000
    assert len(rows(explorer, "public", name, limit="1")["rows"]) == 1
    for params in (
        {"limit": "1001"},
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": ""},
        {"limit": "1.5"},
        {"limit": " 5"},
        {"limit": "99999999999999999999999"},
        {"offset": "-1"},
        {"offset": "1000000001"},
        {"offset": "x"},
        {"desc": "yes"},
        {"desc": "TRUE"},
        {"desc": "1"},
        {"desc": ""},
    ):
        assert_error(
            explorer.api.get(f"{TABLES}/public/{name}/rows", params=params),
            422,
            "validation_failed",
        )


def test_unknown_and_repeated_query_parameters(explorer: Explorer) -> None:
    base = f"{TABLES}/public/customers"
    for path in (
        f"{base}/rows?limt=5",
        f"{base}/rows?limit=5&limit=6",
        f"{base}/rows?desc",
        f"{base}/rows?order_by",
        f"{base}/rows?where=1%3D1",
        f"{base}?x=1",
        f"{TABLES}?schema=private",
    ):
        assert_error(explorer.api.get(path), 422, "validation_failed")


def test_page_too_large_is_413(explorer: Explorer) -> None:
    name = table_name()
    explorer.sql(
        f"CREATE TABLE public.{name} AS SELECT g AS id, repeat('x', 1000000) AS s "
        "FROM generate_series(1, 40) g"
    )
    err = assert_error(
        explorer.api.get(f"{TABLES}/public/{name}/rows", params={"limit": "40"}),
        413,
        "payload_too_large",
    )
    assert "limit" in err["message"]
    # The connection is fine afterwards, and a smaller page works.
    body = rows(explorer, "public", name, limit="5")
    assert len(body["rows"]) == 5 and len(body["rows"][0][1]) == 1000000


# --- hostile input ----------------------------------------------------------

LONG = "a" * 64

HOSTILE_NAMES = [
    "customers'",
    'customers"',
    "customers;DROP TABLE victim",
    "victim; DROP TABLE victim; --",
    "customers--",
    "cust omers",
    "customers%00",
    "pg_catalog",
    "information_schema",
    "..",
    ".",
    "public.customers",
    "*",
    "%",
    "customers)",
    "$1",
    "é",
    LONG,
    "a" * 63 + "b",  # 64 characters: truncated to 63 by PostgreSQL's name type
    "a" * 1000,
]


def hostile_paths() -> list[str]:
    paths = []
    for bad in HOSTILE_NAMES:
        enc = quote(bad, safe="")
        paths += [
            f"{TABLES}/{enc}/customers",
            f"{TABLES}/public/{enc}",
            f"{TABLES}/{enc}/customers/rows",
            f"{TABLES}/public/{enc}/rows",
        ]
    paths += [
        # Raw (not percent-encoded) forms; the router splits on "/".
        f"{TABLES}/public/../public/victim",
        f"{TABLES}/public/victim/../victim/rows",
        f"{TABLES}/public/..%2Fvictim/rows",
        f"{TABLES}/public/victim%2F/rows",
        f"{TABLES}/public/victim%27/rows",
        f"{TABLES}/public/victim%22/rows",
        f"{TABLES}/public/victim%3B%20DROP%20TABLE%20victim/rows",
        f"{TABLES}/pg_catalog/pg_class/rows",
        f"{TABLES}/pg_catalog/pg_authid",
        f"{TABLES}/information_schema/tables/rows",
        f"{TABLES}/tablewright/users/rows",
        f"{TABLES}/public/victim/rows/extra",
        f"{TABLES}//victim/rows",
        f"{TABLES}/public//rows",
    ]
    return paths


HOSTILE_QUERIES = [
    "order_by=id;%20DROP%20TABLE%20victim",
    "order_by=id%3B%20DROP%20TABLE%20victim",
    "order_by=%22id%22",
    "order_by=id%22%3B%20DROP%20TABLE%20victim%3B--",
    "order_by=v%20DESC",
    "order_by=1",
    "order_by=id,v",
    "order_by=customer_id",  # a column of another table
    "order_by=secret",
    "order_by=pg_sleep(1)",
    "order_by=" + LONG,
    "order_by=ctid",  # a system column: not among the table's columns
    "order_by=",
    "limit=1;DROP%20TABLE%20victim",
    "limit=1%20OR%201=1",
    "offset=0)",
    "desc=true;",
    "desc=true%27",
    "limit=10&order_by[]=id",
    "%27=1",
]


def test_hostile_paths_are_404_or_422(explorer: Explorer) -> None:
    token = explorer.api.token
    for path in hostile_paths():
        status, body = raw_get(explorer.server, path, token)
        # Control characters are refused by the HTTP layer (400) first.
        allowed = {400, 404, 422} if "%00" in path else {404, 422}
        assert status in allowed, (path, status, body)
        assert json.loads(body)["error"]["code"] in (
            "not_found",
            "validation_failed",
            "bad_request",
        )
    assert rows(explorer, "public", "victim")["rows"] == [[1, "still here"]]


def test_hostile_query_strings_are_422(explorer: Explorer) -> None:
    token = explorer.api.token
    for query in HOSTILE_QUERIES:
        path = f"{TABLES}/public/victim/rows?{query}"
        status, body = raw_get(explorer.server, path, token)
        assert status == 422, (path, status, body)
        assert json.loads(body)["error"]["code"] == "validation_failed"
    assert rows(explorer, "public", "victim")["rows"] == [[1, "still here"]]
    assert explorer.sql("SELECT v FROM public.victim") == [("still here",)]


def test_server_log_holds_no_row_data(explorer: Explorer) -> None:
    rows(explorer, "public", "victim")
    logs = explorer.server.workdir / "logs"
    text = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    assert "still here" not in text
    assert "do not show" not in text


# --- database privileges ----------------------------------------------------


def test_only_tables_the_role_may_read(explorer: Explorer, tmp_path: Path) -> None:
    """The server's own database role decides: a table it may not SELECT
    is not listed and is 404, as is everything in a schema without USAGE."""
    role = "tw_ro_" + uuid.uuid4().hex[:8]
    explorer.sql(f"CREATE ROLE {role} LOGIN")
    explorer.sql(f"GRANT USAGE ON SCHEMA tablewright TO {role}")
    explorer.sql(f"GRANT ALL ON ALL TABLES IN SCHEMA tablewright TO {role}")
    explorer.sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA tablewright TO {role}")
    explorer.sql(f"GRANT USAGE ON SCHEMA public TO {role}")
    explorer.sql(f"GRANT SELECT ON public.customers, public.customer_names TO {role}")
    # SELECT on a table of sales, but no USAGE on the schema.
    explorer.sql(f"GRANT SELECT ON sales.orders TO {role}")
    url = explorer.db.replace("postgres@", f"{role}@", 1)
    srv = start_server(tmp_path, auth_env(tmp_path, url, TW_DATA_SCHEMAS="public,sales"))
    try:
        api = viewer_api(srv)
        keys = set(by_name(ok(api.get(TABLES))["items"]))
        assert keys == {("public", "customers"), ("public", "customer_names")}
        assert len(ok(api.get(f"{TABLES}/public/customers/rows"))["rows"]) == 20
        for path in ("public/victim", "sales/orders", "public/seq"):
            assert_error(api.get(f"{TABLES}/{path}"), 404, "not_found")
            assert_error(api.get(f"{TABLES}/{path}/rows"), 404, "not_found")
    finally:
        assert srv.stop() == 0, srv.stderr()
        explorer.sql(f"DROP OWNED BY {role}")
        explorer.sql(f"DROP ROLE {role}")


# --- time limit -------------------------------------------------------------


def test_statement_timeout_is_503_and_the_server_recovers(explorer: Explorer) -> None:
    name = table_name()
    explorer.sql(f"CREATE VIEW public.{name} AS SELECT pg_sleep(11)::text AS s")
    resp = explorer.api.get(f"{TABLES}/public/{name}/rows")
    err = assert_error(resp, 503, "unavailable")
    assert "sleep" not in err["message"]
    assert rows(explorer, "public", "victim")["rows"] == [[1, "still here"]]


def test_errors_raised_by_a_view_are_passed_on(explorer: Explorer) -> None:
    name = table_name()
    explorer.sql(f"CREATE VIEW public.{name} AS SELECT 1 / 0 AS x")
    err = assert_error(explorer.api.get(f"{TABLES}/public/{name}/rows"), 422, "validation_failed")
    assert "division by zero" in err["message"]


def test_user_defined_types(explorer: Explorer) -> None:
    name = table_name()
    explorer.sql(f"CREATE TYPE public.{name}_mood AS ENUM ('sad', 'happy')")
    explorer.sql(f"CREATE TYPE public.{name}_pair AS (a int, b text)")
    explorer.sql(
        f"CREATE TABLE public.{name} (id int PRIMARY KEY, m public.{name}_mood,"
        f" p public.{name}_pair, i interval)"
    )
    explorer.sql(f"INSERT INTO public.{name} VALUES (1, 'happy', ROW(1, 'x'), '1 day')")
    body = ok(explorer.api.get(f"{TABLES}/public/{name}"))
    assert [c["type"] for c in body["columns"]] == [
        "integer",
        f"public.{name}_mood",
        f"public.{name}_pair",
        "interval",
    ]
    assert rows(explorer, "public", name, order_by="m")["rows"] == [
        [1, "happy", {"a": 1, "b": "x"}, "1 day"]
    ]
