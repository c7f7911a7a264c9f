"""Rows shaped like the demo tables of examples/data/*.sql (the same
generators, in Python), and their column declarations as the worker sends
them."""

from __future__ import annotations

import datetime
import json

import runnerwire as wire

ORDERS_COLUMNS = [
    wire.column("id", "int8", False),
    wire.column("customer_id", "int4", False),
    wire.column("product", "text", False),
    wire.column("price", "numeric", False, "numeric(10,2)"),
    wire.column("qty", "int4", False),
    wire.column("ordered_at", "timestamptz", False),
    wire.column("region", "text"),
    wire.column("discount", "float8"),
    wire.column("is_gift", "bool", False),
    wire.column("note", "text"),
]

CUSTOMERS_COLUMNS = [
    wire.column("id", "int4", False),
    wire.column("full_name", "text", False),
    wire.column("email", "text"),
    wire.column("phone", "text"),
    wire.column("city", "text"),
    wire.column("signed_up", "date", False),
]

EVENTS_COLUMNS = [
    wire.column("id", "int8", False),
    wire.column("kind", "text", False),
    wire.column("happened_at_text", "text"),
    wire.column("payload", "jsonb"),
]

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def orders(first: int, last: int) -> list[list]:
    rows = []
    for g in range(first, last + 1):
        region = [None, "north", "south", "east", 'west, "central"'][g % 5]
        note = "gift wrap\nline two" if g % 13 == 0 else "" if g % 3 == 0 else None
        rows.append(
            [
                g,
                (g * 7919) % 50000,
                f"product-{g % 997}",
                f"{round((g % 10000) / 100.0 + 0.99, 2):.2f}",
                1 + g % 12,
                T0 + datetime.timedelta(seconds=g % 31536000),
                region,
                None if g % 7 == 0 else (g % 30) / 100.0,
                g % 11 == 0,
                note,
            ]
        )
    return rows


def customers(first: int, last: int) -> list[list]:
    names = [
        "  ada lovelace",
        "GRACE  HOPPER ",
        "alan turing",
        " Edsger   Dijkstra",
        "barbara LISKOV",
    ]
    cities = [" paris", "BERLIN ", "new york", "", "zürich"]
    rows = []
    for g in range(first, last + 1):
        phone = [f"+1 (555) 010-{g % 10000:04d}", f"555.010.{g % 10000:04d}", "", None][g % 4]
        rows.append(
            [
                g,
                f"{names[g % 5]} {g}",
                None if g % 17 == 0 else f" User{g}@Example.COM ",
                phone,
                cities[g % 5],
                datetime.date(2020, 1, 1) + datetime.timedelta(days=g % 1500),
            ]
        )
    return rows


def events(first: int, last: int) -> list[list]:
    rows = []
    for g in range(first, last + 1):
        m = g % 4
        if m == 0:
            text = (datetime.date(2024, 1, 1) + datetime.timedelta(days=g % 366)).isoformat()
        elif m == 1:
            t = T0 + datetime.timedelta(minutes=7 * g)
            text = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif m == 2:
            text = (datetime.date(2024, 1, 1) + datetime.timedelta(days=g % 366)).strftime(
                "%d/%m/%Y"
            )
        else:
            text = None
        payload = json.dumps({"ok": g % 9 != 0, "session": g % 1000}, separators=(", ", ": "))
        rows.append([g, ["signup", "login", "purchase", "logout"][g % 4], text, payload])
    return rows


def chunks(rows: list[list], size: int) -> list[list[list]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]
