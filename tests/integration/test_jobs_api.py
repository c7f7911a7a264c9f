"""Jobs through the real server, with no worker running: /api/v1/jobs.

Submitting (every check on the body, 409 for mode create into an existing
table, 202 with Location), the job object, listing with paging, the status
filter and who sees what, the log, cancelling a queued job, and the event
stream: replay, resume after Last-Event-ID, live events written the way a
worker writes them (the test plays the worker with psycopg), its end after
the final status, many open streams not holding up other requests, and a
stop (SIGTERM) with streams open.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

# Before the import, so the helpers' asserts are rewritten too.
pytest.register_assert_rewrite("authfixtures")

from authfixtures import (  # noqa: E402
    PASSWORDS,
    Api,
    add_user,
    assert_error,
    auth_env,
)

from conftest import (  # noqa: E402
    Server,
    base_env,
    create_database,
    drop_database,
    run_tw,
    start_server,
)

pytest_plugins = ("authfixtures",)

JOBS = "/api/v1/jobs"
SCRIPTS = "/api/v1/scripts"
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
JOB_KEYS = {
    "id",
    "user_id",
    "script_id",
    "script_version",
    "source_table",
    "destination_table",
    "mode",
    "status",
    "error_code",
    "error_message",
    "queued_at",
    "started_at",
    "completed_at",
    "rows_in",
    "rows_out",
    "peak_memory_bytes",
    "cpu_seconds",
    "duration_ms",
    "attempt",
    "max_attempts",
    "logs_truncated",
    "cancel_requested",
}
CODE = "def transform(df):\n    return df\n"
MAX_ATTEMPTS = 3

SETUP_SQL = """
CREATE SCHEMA sales;
CREATE SCHEMA private;
CREATE SCHEMA out;
CREATE TABLE public.customers (id int PRIMARY KEY, name text);
CREATE VIEW public.customer_names AS SELECT id, name FROM public.customers;
CREATE TABLE sales.orders (id int PRIMARY KEY, total numeric);
CREATE TABLE private.secrets (id int PRIMARY KEY, secret text);
CREATE TABLE out.existing (id int);
"""


# --- fixtures and helpers ---------------------------------------------------


@dataclass
class Env:
    server: Server
    db: str
    admin: Api
    analyst: Api
    other: Api  # a second analyst
    viewer: Api
    ids: dict[str, int] = field(default_factory=dict)  # user ids by name
    scripts: dict[str, int] = field(default_factory=dict)  # script ids by owner
    job: int = 0  # the analyst's queued job, in the shared env


def sign_in(server: Server, email: str, password: str) -> Api:
    return Api(server).as_user(email, password)


def new_script(api: Api, name: str) -> int:
    r = api.post(SCRIPTS, {"name": name, "code_text": CODE})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def serve(tmp_path: Path, db: str, **overrides: str) -> Server:
    settings = {
        "TW_DATA_SCHEMAS": "public, sales",
        "TW_OUTPUT_SCHEMA": "out",
        "TW_JOB_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        **overrides,
    }
    return start_server(tmp_path, auth_env(tmp_path, db, **settings))


def make_env(server: Server, db: str) -> Env:
    ids = {}
    for name, role in (
        ("admin", "admin"),
        ("analyst", "analyst"),
        ("other", "analyst"),
        ("viewer", "viewer"),
    ):
        ids[name] = add_user(db, f"{name}@example.com", PASSWORDS[role], role)
    env = Env(
        server=server,
        db=db,
        admin=sign_in(server, "admin@example.com", PASSWORDS["admin"]),
        analyst=sign_in(server, "analyst@example.com", PASSWORDS["analyst"]),
        other=sign_in(server, "other@example.com", PASSWORDS["analyst"]),
        viewer=sign_in(server, "viewer@example.com", PASSWORDS["viewer"]),
        ids=ids,
    )
    env.scripts["analyst"] = new_script(env.analyst, "mine")
    env.scripts["other"] = new_script(env.other, "theirs")
    env.scripts["admin"] = new_script(env.admin, "admins")
    env.scripts["deleted"] = new_script(env.analyst, "gone")
    r = env.analyst.request("DELETE", f"{SCRIPTS}/{env.scripts['deleted']}")
    assert r.status_code == 204, r.text
    return env


def setup_db(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(SETUP_SQL)


@pytest.fixture
def env(migrated: str, tmp_path: Path) -> Iterator[Env]:
    setup_db(migrated)
    srv = serve(tmp_path, migrated)
    try:
        yield make_env(srv, migrated)
    finally:
        code = srv.stop()
        assert code == 0, "server exited with %s: %s" % (code, srv.stderr())


@pytest.fixture(scope="module")
def shared(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One server for the tests that only read or are refused: a queued job
    of the analyst's and nothing else, which they must leave as it is."""
    tmp = tmp_path_factory.mktemp("jobs")
    db = create_database(pg_url)
    try:
        res = run_tw(["migrate"], tmp, base_env(tmp, TW_DATABASE_URL=db))
        assert res.returncode == 0, res.stderr
        setup_db(db)
        srv = serve(tmp, db)
        try:
            env = make_env(srv, db)
            env.job = submit(env.analyst, body(env))
            yield env
        finally:
            code = srv.stop()
            assert code == 0, "server exited with %s: %s" % (code, srv.stderr())
    finally:
        drop_database(pg_url, db)


def only_the_shared_job(env: Env) -> None:
    assert [j["id"] for j in env.admin.get(JOBS).json()["items"]] == [env.job]


def body(env: Env, owner: str = "analyst", **over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "script_id": env.scripts[owner],
        "source_table": "public.customers",
        "destination_table": "result",
        "mode": "append",
    }
    b.update(over)
    return {k: v for k, v in b.items() if v is not ...}


def submit(api: Api, b: dict[str, Any]) -> int:
    r = api.post(JOBS, b)
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def add_event(db: str, job_id: int, kind: str, data: dict[str, Any]) -> int:
    """Appends an event as queue_event_add() does: the job's event_seq is
    bumped and the row inserted in one transaction."""
    with psycopg.connect(db, autocommit=True) as conn, conn.transaction():
        row = conn.execute(
            "UPDATE tablewright.jobs SET event_seq = event_seq + 1 WHERE id = %s "
            "RETURNING event_seq",
            (job_id,),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO tablewright.job_events (job_id, seq, kind, data) VALUES (%s, %s, %s, %s)",
            (job_id, row[0], kind, json.dumps(data)),
        )
    return int(row[0])


def set_status(db: str, job_id: int, status: str, **cols: Any) -> int:
    """Changes a job's status with its status event, as a worker would."""
    sets = ", ".join(f"{k} = %s" for k in cols)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            f"UPDATE tablewright.jobs SET status = %s{', ' + sets if sets else ''} WHERE id = %s",
            (status, *cols.values(), job_id),
        )
    return add_event(
        db,
        job_id,
        "status",
        {"status": status, "error_code": cols.get("error_code"), "error_message": None},
    )


@dataclass
class Event:
    id: int
    kind: str
    data: dict[str, Any]


class EventStream:
    """GET /jobs/{id}/events read on a thread of its own, parsed as it
    arrives."""

    def __init__(
        self,
        api: Api,
        job_id: int,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        hdrs = {"Authorization": f"Bearer {api.token}", **(headers or {})}
        self.resp = requests.get(
            f"{api.server.url}{JOBS}/{job_id}/events",
            headers=hdrs,
            params=params,
            stream=True,
            timeout=(10, 60),
        )
        self.events: list[Event] = []
        self.comments: list[str] = []
        self.fields: list[str] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = b""
        try:
            if self.resp.status_code == 200:
                for chunk in self.resp.iter_content(chunk_size=None):
                    buf += chunk
                    while b"\n\n" in buf:
                        block, buf = buf.split(b"\n\n", 1)
                        self._block(block.decode())
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.done.set()

    def _block(self, block: str) -> None:
        ev: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                with self._lock:
                    self.comments.append(line)
                continue
            name, _, value = line.partition(": ")
            ev[name] = value
            with self._lock:
                self.fields.append(name)
        if "event" in ev:
            with self._lock:
                self.events.append(Event(int(ev["id"]), ev["event"], json.loads(ev["data"])))

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    def wait_for(self, pred: Callable[[list[Event]], bool], timeout: float) -> list[Event]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            evs = self.snapshot()
            if pred(evs):
                return evs
            time.sleep(0.02)
        raise AssertionError(f"condition not met within {timeout}s: {self.snapshot()}")

    def wait_end(self, timeout: float) -> list[Event]:
        assert self.done.wait(timeout), f"stream still open: {self.snapshot()}"
        assert self.error is None, self.error
        return self.snapshot()

    def close(self) -> None:
        """Ends the stream from the client's side at once. Closing the
        response would wait for the reading thread's recv() (up to the next
        keepalive), so the socket is shut down under it first."""
        try:
            sock = self.resp.raw._fp.fp.raw._sock  # http.client's socket
            sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.done.wait(5)
        self.resp.close()


def statuses(events: list[Event]) -> list[str]:
    return [e.data["status"] for e in events if e.kind == "status"]


# --- submitting -------------------------------------------------------------


def test_submit_answers_202_with_location_and_the_job(env: Env) -> None:
    # A second save makes version 2: the job runs the current version.
    sid = env.scripts["analyst"]
    r = env.analyst.request("PUT", f"{SCRIPTS}/{sid}", {"code_text": CODE + "# v2\n"})
    assert r.status_code == 200, r.text
    r = env.analyst.post(
        JOBS,
        {"script_id": sid, "source_table": "sales.orders", "destination_table": "Orders_2"},
    )
    assert r.status_code == 202, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    created = r.json()
    assert set(created) == {"id", "status"}
    assert isinstance(created["id"], int) and created["status"] == "queued"
    assert r.headers["Location"] == f"{JOBS}/{created['id']}"

    r = env.analyst.get(r.headers["Location"])
    assert r.status_code == 200, r.text
    job = r.json()
    assert set(job) == JOB_KEYS
    assert job["id"] == created["id"]
    assert job["user_id"] == env.ids["analyst"]
    assert job["script_id"] == sid
    assert job["script_version"] == 2
    assert job["source_table"] == "sales.orders"
    assert job["destination_table"] == "Orders_2"
    assert job["mode"] == "create"  # the default
    assert job["status"] == "queued"
    assert RFC3339_UTC.match(job["queued_at"]), job["queued_at"]
    for k in (
        "error_code",
        "error_message",
        "started_at",
        "completed_at",
        "rows_in",
        "rows_out",
        "peak_memory_bytes",
        "cpu_seconds",
        "duration_ms",
    ):
        assert job[k] is None, k
    assert job["attempt"] == 0
    assert job["max_attempts"] == MAX_ATTEMPTS
    assert job["logs_truncated"] is False
    assert job["cancel_requested"] is False

    # The list shows the same object.
    r = env.analyst.get(JOBS)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [job]


def test_the_job_object_carries_what_a_worker_recorded(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    with psycopg.connect(env.db, autocommit=True) as conn:
        conn.execute(
            "UPDATE tablewright.jobs SET status = 'failed', error_code = 'user_error', "
            "error_message = 'boom', started_at = '2024-05-01 10:00:00+02', "
            "completed_at = '2024-05-01 10:00:05+02', rows_in = 10, rows_out = 7, "
            "peak_memory_bytes = 1048576, cpu_seconds = 1.25, duration_ms = 5000, "
            "attempt = 1, logs_truncated = true WHERE id = %s",
            (jid,),
        )
    job = env.analyst.get(f"{JOBS}/{jid}").json()
    assert job["status"] == "failed"
    assert job["error_code"] == "user_error"
    assert job["error_message"] == "boom"
    assert job["started_at"] == "2024-05-01T08:00:00Z"
    assert job["completed_at"] == "2024-05-01T08:00:05Z"
    assert (job["rows_in"], job["rows_out"]) == (10, 7)
    assert job["peak_memory_bytes"] == 1048576
    assert job["cpu_seconds"] == 1.25
    assert job["duration_ms"] == 5000
    assert job["attempt"] == 1
    assert job["logs_truncated"] is True


def test_every_mode_and_a_view_as_source(env: Env) -> None:
    for mode in ("create", "replace", "append"):
        submit(env.analyst, body(env, mode=mode, destination_table=f"d_{mode}"))
    submit(env.analyst, body(env, source_table="public.customer_names"))
    # An admin may run another user's script; the job is the admin's.
    jid = submit(env.admin, body(env, owner="analyst"))
    assert env.admin.get(f"{JOBS}/{jid}").json()["user_id"] == env.ids["admin"]


LONG = "a" * 64
BAD_BODIES: list[tuple[str, dict[str, Any], str | None]] = [
    ("unknown field", {"priority": 1}, "priority"),
    ("script_id missing", {"script_id": ...}, "script_id"),
    ("script_id string", {"script_id": "1"}, "script_id"),
    ("script_id float", {"script_id": 1.5}, "script_id"),
    ("script_id bool", {"script_id": True}, "script_id"),
    ("script_id null", {"script_id": None}, "script_id"),
    ("script_id zero", {"script_id": 0}, "script_id"),
    ("script_id negative", {"script_id": -3}, "script_id"),
    ("source missing", {"source_table": ...}, None),
    ("source number", {"source_table": 5}, None),
    ("destination missing", {"destination_table": ...}, None),
    ("destination array", {"destination_table": ["x"]}, None),
    ("mode number", {"mode": 1}, None),
    ("mode null", {"mode": None}, None),
    ("mode unknown", {"mode": "upsert"}, "mode"),
    ("mode case", {"mode": "Create"}, "mode"),
    ("source without schema", {"source_table": "customers"}, "source_table"),
    ("source empty", {"source_table": ""}, "source_table"),
    ("source three parts", {"source_table": "public.customers.x"}, "source_table"),
    ("source injection", {"source_table": "public.a;drop"}, "source_table"),
    ("source quoted", {"source_table": 'public."x"'}, "source_table"),
    ("source quoted schema", {"source_table": '"public".customers'}, "source_table"),
    ("source 64-char name", {"source_table": f"public.{LONG}"}, "source_table"),
    ("source 64-char schema", {"source_table": f"{LONG}.customers"}, "source_table"),
    ("source space", {"source_table": "public. customers"}, "source_table"),
    ("source not a data schema", {"source_table": "private.secrets"}, "source_table"),
    ("source app schema", {"source_table": "tablewright.users"}, "source_table"),
    ("source catalog", {"source_table": "pg_catalog.pg_authid"}, "source_table"),
    ("source does not exist", {"source_table": "public.nope"}, "source_table"),
    ("source wrong case", {"source_table": "public.Customers"}, "source_table"),
    ("destination injection", {"destination_table": "a;drop"}, "destination_table"),
    ("destination quoted", {"destination_table": '"x"'}, "destination_table"),
    ("destination 64 chars", {"destination_table": LONG}, "destination_table"),
    ("destination empty", {"destination_table": ""}, "destination_table"),
    ("destination digit first", {"destination_table": "1abc"}, "destination_table"),
    ("destination qualified", {"destination_table": "out.x"}, "destination_table"),
    ("destination unicode", {"destination_table": "tabl\u00e9"}, "destination_table"),
]


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_submit_rejects_bad_bodies(
    shared: Env, case: tuple[str, dict[str, Any], str | None]
) -> None:
    _, over, fld = case
    err = assert_error(shared.analyst.post(JOBS, body(shared, **over)), 422, "validation_failed")
    if fld is not None:
        assert err["details"] == {"field": fld}, err
    only_the_shared_job(shared)


def test_submit_accepts_names_at_the_limits(env: Env) -> None:
    with psycopg.connect(env.db, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{'b' * 63} (id int)")
    submit(env.analyst, body(env, source_table=f"public.{'b' * 63}", destination_table="_" * 63))


@pytest.mark.parametrize("owner", ["other", "admin", "deleted"])
def test_submit_a_script_you_may_not_run_is_422(shared: Env, owner: str) -> None:
    err = assert_error(
        shared.analyst.post(JOBS, body(shared, owner=owner)), 422, "validation_failed"
    )
    assert err["details"] == {"field": "script_id"}
    only_the_shared_job(shared)


def test_submit_an_unknown_script_is_422(shared: Env) -> None:
    for sid in (999999, 2**62):
        err = assert_error(
            shared.admin.post(JOBS, body(shared, script_id=sid)), 422, "validation_failed"
        )
        assert err["details"] == {"field": "script_id"}
    only_the_shared_job(shared)


def test_submit_malformed_json_is_400(shared: Env) -> None:
    for data in ("{", "[]", '"x"', '{"script_id": 1, "script_id": 2}'):
        r = shared.analyst.request(
            "POST", JOBS, data=data, headers={"Content-Type": "application/json"}
        )
        assert_error(r, 400, "bad_request")


def test_create_into_an_existing_table_is_409(env: Env) -> None:
    assert_error(
        env.analyst.post(JOBS, body(env, mode="create", destination_table="existing")),
        409,
        "conflict",
    )
    # The default mode is create too.
    assert_error(
        env.analyst.post(JOBS, body(env, mode=..., destination_table="existing")),
        409,
        "conflict",
    )
    # A table of that name elsewhere does not matter.
    submit(env.analyst, body(env, mode="create", destination_table="customers"))
    # Replace and append only write to tables a job created (issue 9,
    # item 8; test_security_jobs.py covers them).
    for mode in ("replace", "append"):
        assert_error(
            env.analyst.post(JOBS, body(env, mode=mode, destination_table="existing")),
            409,
            "conflict",
        )


def test_viewer_may_not_submit_or_cancel(env: Env) -> None:
    assert_error(env.viewer.post(JOBS, body(env)), 403, "forbidden")
    jid = submit(env.analyst, body(env))
    assert_error(env.viewer.post(f"{JOBS}/{jid}/cancel"), 403, "forbidden")
    assert env.viewer.get(f"{JOBS}/{jid}").status_code == 200


def test_jobs_need_a_token(shared: Env) -> None:
    jid = shared.job
    anon = shared.analyst.anonymous()
    for method, path in (
        ("GET", JOBS),
        ("POST", JOBS),
        ("GET", f"{JOBS}/{jid}"),
        ("GET", f"{JOBS}/{jid}/logs"),
        ("GET", f"{JOBS}/{jid}/events"),
        ("POST", f"{JOBS}/{jid}/cancel"),
    ):
        assert_error(anon.request(method, path), 401, "unauthorized")


# --- listing ----------------------------------------------------------------


def list_ids(api: Api, **params: str) -> list[int]:
    r = api.get(JOBS, params=params)
    assert r.status_code == 200, r.text
    return [j["id"] for j in r.json()["items"]]


def test_list_visibility_per_role(env: Env) -> None:
    mine = [submit(env.analyst, body(env)) for _ in range(3)]
    theirs = [submit(env.other, body(env, owner="other")) for _ in range(2)]
    admins = [submit(env.admin, body(env, owner="admin"))]
    every = sorted(mine + theirs + admins, reverse=True)
    assert list_ids(env.analyst) == sorted(mine, reverse=True)
    assert list_ids(env.other) == sorted(theirs, reverse=True)
    assert list_ids(env.admin) == every
    assert list_ids(env.viewer) == every


def test_list_pages_with_the_cursor(env: Env) -> None:
    ids = [submit(env.analyst, body(env)) for _ in range(7)]
    seen: list[int] = []
    cursor = ""
    pages = 0
    while True:
        r = env.analyst.get(JOBS, params={"limit": "3", "cursor": cursor})
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 3
        seen += [j["id"] for j in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        assert page["next_cursor"] == str(page["items"][-1]["id"])
        cursor = page["next_cursor"]
    assert seen == sorted(ids, reverse=True)
    assert pages == 3
    # Exactly a full page: no cursor when nothing follows.
    r = env.analyst.get(JOBS, params={"limit": "7"})
    assert r.json()["next_cursor"] is None
    assert len(r.json()["items"]) == 7
    # The default limit is 50, the largest 500.
    assert len(list_ids(env.analyst)) == 7
    assert env.analyst.get(JOBS, params={"limit": "500"}).status_code == 200


def test_list_status_filter(env: Env) -> None:
    a = submit(env.analyst, body(env))
    b = submit(env.analyst, body(env))
    c = submit(env.analyst, body(env))
    set_status(env.db, b, "running")
    assert env.analyst.post(f"{JOBS}/{c}/cancel").status_code == 202
    assert list_ids(env.analyst, status="queued") == [a]
    assert list_ids(env.analyst, status="running") == [b]
    assert list_ids(env.analyst, status="cancelled") == [c]
    assert list_ids(env.analyst, status="succeeded") == []
    assert list_ids(env.analyst, status="failed") == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"status": "QUEUED"},
        {"status": ""},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"cursor": "abc"},
        {"cursor": "0"},
        {"cursor": "-5"},
        {"user_id": "1"},
        {"sort": "id"},
    ],
)
def test_list_rejects_bad_query(shared: Env, params: dict[str, str]) -> None:
    assert_error(shared.analyst.get(JOBS, params=params), 422, "validation_failed")


def test_list_rejects_repeated_and_valueless_names(shared: Env) -> None:
    for qs in ("?limit=1&limit=2", "?status", "?status=queued&status=running"):
        assert_error(shared.analyst.get(JOBS + qs), 422, "validation_failed")


# --- one job ----------------------------------------------------------------


def test_others_jobs_are_404(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    for path in (f"{JOBS}/{jid}", f"{JOBS}/{jid}/logs", f"{JOBS}/{jid}/events"):
        assert_error(env.other.get(path), 404, "not_found")
    for path in (f"{JOBS}/{jid}", f"{JOBS}/{jid}/logs"):
        assert env.admin.get(path).status_code == 200
        assert env.viewer.get(path).status_code == 200
    assert_error(env.other.post(f"{JOBS}/{jid}/cancel"), 404, "not_found")
    # Still queued: the other analyst's cancel did nothing.
    assert env.analyst.get(f"{JOBS}/{jid}").json()["status"] == "queued"


@pytest.mark.parametrize("bad", ["999999", "0", "-1", "abc", "1.0", "+1", "99999999999999999999"])
def test_unknown_or_malformed_ids_are_404(shared: Env, bad: str) -> None:
    for path in (f"{JOBS}/{bad}", f"{JOBS}/{bad}/logs", f"{JOBS}/{bad}/events"):
        assert_error(shared.admin.get(path), 404, "not_found")
    assert_error(shared.admin.post(f"{JOBS}/{bad}/cancel"), 404, "not_found")


def test_logs_are_plain_text(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    r = env.analyst.get(f"{JOBS}/{jid}/logs")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "queued" in r.text
    with psycopg.connect(env.db, autocommit=True) as conn:
        conn.execute(
            "UPDATE tablewright.jobs SET logs = %s WHERE id = %s",
            ("line one\nzwei \u00e4\u00f6\n", jid),
        )
    r = env.viewer.get(f"{JOBS}/{jid}/logs")
    assert r.content.decode("utf-8") == "line one\nzwei \u00e4\u00f6\n"


# --- cancelling -------------------------------------------------------------


def test_cancel_a_queued_job_then_again(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    r = env.analyst.post(f"{JOBS}/{jid}/cancel")
    assert r.status_code == 202, r.text
    assert r.json() == {"id": jid, "status": "cancelled", "cancel_requested": True}
    job = env.analyst.get(f"{JOBS}/{jid}").json()
    assert job["status"] == "cancelled"
    assert job["cancel_requested"] is True
    assert RFC3339_UTC.match(job["completed_at"])
    assert_error(env.analyst.post(f"{JOBS}/{jid}/cancel"), 409, "conflict")
    assert_error(env.admin.post(f"{JOBS}/{jid}/cancel"), 409, "conflict")

    # The stream replays the whole story and ends by itself.
    s = EventStream(env.analyst, jid)
    assert s.resp.status_code == 200
    events = s.wait_end(5)
    assert statuses(events) == ["queued", "cancelled"]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[0].kind == "status" and events[0].id == 1
    assert events[-1].kind == "status"


def test_cancel_a_running_job_asks_its_worker(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    set_status(env.db, jid, "running", attempt=1, worker_id="w1")
    r = env.admin.post(f"{JOBS}/{jid}/cancel")
    assert r.status_code == 202, r.text
    assert r.json() == {"id": jid, "status": "running", "cancel_requested": True}
    job = env.analyst.get(f"{JOBS}/{jid}").json()
    assert (job["status"], job["cancel_requested"]) == ("running", True)
    # Asking again is harmless while it runs.
    assert env.analyst.post(f"{JOBS}/{jid}/cancel").status_code == 202
    set_status(env.db, jid, "succeeded")
    assert_error(env.analyst.post(f"{JOBS}/{jid}/cancel"), 409, "conflict")


# --- events -----------------------------------------------------------------


def test_events_headers_and_format(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    env.analyst.post(f"{JOBS}/{jid}/cancel")
    r = requests.get(
        f"{env.server.url}{JOBS}/{jid}/events",
        headers={"Authorization": f"Bearer {env.analyst.token}"},
        timeout=10,
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Accel-Buffering"] == "no"
    text = r.text
    assert text.startswith("retry: 2000\n\n")
    blocks = [b for b in text.split("\n\n") if b][1:]
    for i, block in enumerate(blocks, 1):
        lines = block.split("\n")
        assert lines[0] == f"id: {i}"
        assert re.match(r"^event: (status|log|metrics)$", lines[1])
        assert lines[2].startswith("data: ") and len(lines) == 3
        json.loads(lines[2][6:])


def test_events_resume_after_last_event_id(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    env.analyst.post(f"{JOBS}/{jid}/cancel")
    every = EventStream(env.analyst, jid).wait_end(5)
    n = len(every)
    assert n >= 2
    # Header, then query; each gives only what follows.
    for kw in ({"headers": {"Last-Event-ID": "1"}}, {"params": {"last_event_id": "1"}}):
        later = EventStream(env.analyst, jid, **kw).wait_end(5)  # type: ignore[arg-type]
        assert [e.id for e in later] == list(range(2, n + 1))
        assert later == every[1:]
    # The header wins over the query.
    later = EventStream(
        env.analyst, jid, headers={"Last-Event-ID": str(n - 1)}, params={"last_event_id": "0"}
    ).wait_end(5)
    assert [e.id for e in later] == [n]
    # From 0 is from the start.
    assert EventStream(env.analyst, jid, params={"last_event_id": "0"}).wait_end(5) == every


@pytest.mark.parametrize("bad", ["-1", "abc", "1.5", "", " 1", "99999999999"])
def test_events_bad_last_event_id_is_422(shared: Env, bad: str) -> None:
    jid = shared.job
    r = shared.analyst.get(f"{JOBS}/{jid}/events", params={"last_event_id": bad})
    assert_error(r, 422, "validation_failed")


def test_events_unknown_query_is_422(shared: Env) -> None:
    jid = shared.job
    assert_error(
        shared.analyst.get(f"{JOBS}/{jid}/events", params={"since": "1"}), 422, "validation_failed"
    )


def test_live_events_arrive_while_the_stream_is_open(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    s = EventStream(env.analyst, jid)
    try:
        first = s.wait_for(lambda evs: "queued" in statuses(evs), 2)
        last = first[-1].id

        t0 = time.monotonic()
        seq = set_status(env.db, jid, "running", attempt=1, worker_id="w1")
        evs = s.wait_for(lambda evs: evs[-1].id == seq, 1.5)
        assert time.monotonic() - t0 < 1.5
        assert evs[-1].kind == "status" and evs[-1].data["status"] == "running"
        assert seq == last + 1

        log_seq = add_event(env.db, jid, "log", {"text": "hello\nworld\n"})
        metrics_seq = add_event(env.db, jid, "metrics", {"wall_ms": 10, "rss_bytes": 1})
        evs = s.wait_for(lambda evs: evs[-1].id == metrics_seq, 1.5)
        assert evs[-2] == Event(log_seq, "log", {"text": "hello\nworld\n"})
        assert evs[-1].kind == "metrics"
        assert not s.done.is_set()

        final = set_status(env.db, jid, "failed", error_code="user_error")
        evs = s.wait_end(3)
        assert evs[-1].id == final
        assert evs[-1].data == {
            "status": "failed",
            "error_code": "user_error",
            "error_message": None,
        }
        ids = [e.id for e in evs]
        assert ids == list(range(1, final + 1))
    finally:
        s.close()


def test_a_long_history_arrives_whole_and_in_order(env: Env) -> None:
    """More events than one poll takes (500) and more bytes than one call
    appends (1 MiB), read by a slow client: nothing lost, nothing twice."""
    jid = submit(env.analyst, body(env))
    text = "x" * 5000
    with psycopg.connect(env.db, autocommit=True) as conn, conn.transaction():
        (start,) = conn.execute(  # type: ignore[misc]
            "SELECT event_seq FROM tablewright.jobs WHERE id = %s FOR UPDATE", (jid,)
        ).fetchone()
        conn.execute(
            "INSERT INTO tablewright.job_events (job_id, seq, kind, data) "
            "SELECT %s, %s + g, 'log', json_build_object('text', %s || g)::text "
            "FROM generate_series(1, 1200) g",
            (jid, start, text),
        )
        conn.execute(
            "UPDATE tablewright.jobs SET event_seq = event_seq + 1200 WHERE id = %s", (jid,)
        )
    final = set_status(env.db, jid, "succeeded")
    r = requests.get(
        f"{env.server.url}{JOBS}/{jid}/events",
        headers={"Authorization": f"Bearer {env.analyst.token}"},
        stream=True,
        timeout=30,
    )
    data = b""
    for chunk in r.iter_content(chunk_size=65536):
        data += chunk
        time.sleep(0.001)
    ids = [int(m) for m in re.findall(rb"^id: (\d+)$", data, re.M)]
    assert ids == list(range(1, final + 1))
    assert data.count(text.encode()) == 1200


def test_events_end_when_the_job_is_deleted(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    s = EventStream(env.analyst, jid)
    try:
        s.wait_for(lambda evs: len(evs) >= 1, 2)
        with psycopg.connect(env.db, autocommit=True) as conn:
            conn.execute("DELETE FROM tablewright.jobs WHERE id = %s", (jid,))
        s.wait_end(3)
    finally:
        s.close()


def test_open_streams_do_not_hold_up_requests(migrated: str, tmp_path: Path) -> None:
    setup_db(migrated)
    # Fewer pool threads than streams: a stream must not hold a thread.
    # One user opens them all, so the per-user limit is raised.
    srv = serve(tmp_path, migrated, TW_HTTP_THREADS="4", TW_MAX_STREAMS_PER_USER="20")
    streams: list[EventStream] = []
    try:
        env = make_env(srv, migrated)
        jobs = [submit(env.analyst, body(env)) for _ in range(5)]
        streams = [EventStream(env.analyst, jobs[i % 5]) for i in range(20)]
        for s in streams:
            assert s.resp.status_code == 200
            s.wait_for(lambda evs: len(evs) >= 1, 5)

        def one(_: int) -> float:
            t = time.monotonic()
            r = env.viewer.from_address("127.0.0.1").get(JOBS, params={"limit": "5"})
            assert r.status_code == 200, r.text
            return time.monotonic() - t

        with ThreadPoolExecutor(8) as pool:
            took = list(pool.map(one, range(40)))
        assert max(took) < 2, took
        assert not any(s.done.is_set() for s in streams)

        # Every stream still follows its job.
        seq = set_status(migrated, jobs[0], "running")
        for s in streams[::5]:
            s.wait_for(lambda evs, seq=seq: evs[-1].id == seq, 2)
    finally:
        for s in streams:
            s.close()
        code = srv.stop()
        assert code == 0, srv.stderr()


def test_stop_with_streams_open_is_prompt(migrated: str, tmp_path: Path) -> None:
    setup_db(migrated)
    srv = serve(tmp_path, migrated)
    env = make_env(srv, migrated)
    jid = submit(env.analyst, body(env))
    streams = [EventStream(env.analyst, jid) for _ in range(5)]
    try:
        for s in streams:
            s.wait_for(lambda evs: len(evs) >= 1, 5)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        code = srv.proc.wait(timeout=10)
        took = time.monotonic() - t0
        assert code == 0, srv.stderr()
        assert took < 3, took
        for s in streams:
            assert s.done.wait(3)
    finally:
        for s in streams:
            s.close()
        srv.stop()
