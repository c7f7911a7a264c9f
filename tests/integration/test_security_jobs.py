"""Issue 9, the jobs items: what one account can do to others through jobs.

- Item 1 (second half): event streams count against a per-user limit
  (TW_MAX_STREAMS_PER_USER, 429 with Retry-After beyond), so one account
  cannot hold every connection.
- Item 6: an open event stream ends once its token would be refused (the
  user disabled, or signed out by a password change).
- Item 8: replace and append only write to tables Tablewright created
  (published_tables), of the caller's own (any, for an admin), never the
  source; create never writes over an existing relation.
- Item 9: TW_MAX_QUEUED_PER_USER queued jobs per user (429 beyond, exact
  under concurrent submissions), and workers claim fairly between users.
- Item 16: who sees which jobs, per role and per route, and every document
  saying the same.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

pytest.register_assert_rewrite("authfixtures")

from authfixtures import PASSWORDS, Api, add_user, assert_error  # noqa: E402
from test_jobs_api import (  # noqa: E402
    JOBS,
    Env,
    EventStream,
    add_event,
    body,
    make_env,
    serve,
    setup_db,
    submit,
)
from test_worker import (  # noqa: E402
    FINAL,
    Jobs,
    Worker,
    jobs,  # noqa: F401 (the fixture itself, found by pytest by its name)
    wait_for,
)

from conftest import ROOT  # noqa: E402

pytest_plugins = ("authfixtures",)


@pytest.fixture
def env(migrated: str, tmp_path: Path) -> Iterator[Env]:
    """test_jobs_api's users (admin, analyst, other analyst, viewer) on a
    server with data schemas public and sales, output schema out."""
    setup_db(migrated)
    srv = serve(tmp_path, migrated)
    try:
        yield make_env(srv, migrated)
    finally:
        code = srv.stop()
        assert code == 0, "server exited with %s: %s" % (code, srv.stderr())


def probe_events(api: Api, job_id: int) -> requests.Response:
    """Opens /events and returns the response at its headers, closed: a
    refusal's body is read, a stream's is not waited for."""
    with requests.get(
        f"{api.server.url}{JOBS}/{job_id}/events",
        headers={"Authorization": f"Bearer {api.token}"},
        stream=True,
        timeout=10,
    ) as r:
        if r.status_code != 200:
            r.content  # noqa: B018 - read the error body before closing
        return r


def open_stream(api: Api, job_id: int) -> EventStream:
    s = EventStream(api, job_id)
    assert s.resp.status_code == 200, s.resp.text
    s.wait_for(lambda evs: len(evs) >= 1, 5)
    return s


# --- item 1: event streams per user -----------------------------------------


def test_event_streams_are_limited_per_user(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    theirs = submit(env.other, body(env, owner="other"))
    mine: list[EventStream] = []
    others: list[EventStream] = []
    try:
        # The default limit is 8 streams at once per user.
        mine = [open_stream(env.analyst, jid) for _ in range(8)]
        r = probe_events(env.analyst, jid)
        err = assert_error(r, 429, "too_many_requests")
        assert int(r.headers["Retry-After"]) > 0
        assert "event streams" in err["message"]
        # Another user is not affected: their own job, and the same job.
        others.append(open_stream(env.other, theirs))
        others.append(open_stream(env.admin, jid))
        # Every stream still works.
        seq = add_event(env.db, jid, "log", {"text": "still there\n"})
        for s in mine:
            s.wait_for(lambda evs, seq=seq: evs[-1].id == seq, 5)

        # A stream the client closed is given back within a second, with
        # no event or keepalive to write.
        mine.pop().close()
        t0 = time.monotonic()

        def opens() -> EventStream | None:
            s = EventStream(env.analyst, jid)
            if s.resp.status_code == 200:
                return s
            assert s.resp.status_code == 429, s.resp.text
            s.close()
            return None

        mine.append(wait_for(opens, 3, "a ninth stream after one closed"))
        print(f"a closed stream's slot came back after {time.monotonic() - t0:.2f} s")
    finally:
        for s in mine + others:
            s.close()


def test_stream_limit_is_configurable_and_counts_ended_streams(
    migrated: str, tmp_path: Path
) -> None:
    setup_db(migrated)
    srv = serve(tmp_path, migrated, TW_MAX_STREAMS_PER_USER="2")
    try:
        env = make_env(srv, migrated)
        jid = submit(env.analyst, body(env))
        # Streams of a finished job end by themselves: they do not count.
        assert env.analyst.post(f"{JOBS}/{jid}/cancel").status_code == 202
        for _ in range(5):
            EventStream(env.analyst, jid).wait_end(5)
        live = submit(env.analyst, body(env))
        streams = [open_stream(env.analyst, live) for _ in range(2)]
        try:
            assert_error(probe_events(env.analyst, live), 429, "too_many_requests")
        finally:
            for s in streams:
                s.close()
    finally:
        assert srv.stop() == 0, srv.stderr()


# --- item 6: a stream ends when its token would be refused ------------------


def test_disabling_a_user_ends_their_open_streams(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    mine = open_stream(env.analyst, jid)
    watcher = open_stream(env.viewer, jid)
    try:
        t0 = time.monotonic()
        r = env.admin.patch(f"/api/v1/users/{env.ids['analyst']}", {"disabled": True})
        assert r.status_code == 200, r.text
        mine.wait_end(10)
        took = time.monotonic() - t0
        print(f"the disabled user's stream ended after {took:.2f} s")
        assert "the token is no longer valid" in " ".join(mine.comments)
        # Other users' streams go on.
        seq = add_event(env.db, jid, "log", {"text": "after\n"})
        watcher.wait_for(lambda evs: evs[-1].id == seq, 5)
        assert not watcher.done.is_set()
        # And the disabled user cannot open a new one.
        assert_error(probe_events(env.analyst, jid), 401, "unauthorized")
    finally:
        mine.close()
        watcher.close()


def test_a_password_change_ends_the_old_tokens_streams(env: Env) -> None:
    jid = submit(env.analyst, body(env))
    old = open_stream(env.analyst, jid)
    try:
        r = env.analyst.post(
            "/api/v1/auth/password",
            {"current_password": PASSWORDS["analyst"], "new_password": "a-new-Secret-42"},
        )
        assert r.status_code == 204, r.text
        old.wait_end(10)
        # A new sign-in streams again.
        fresh = env.analyst.as_user("analyst@example.com", "a-new-Secret-42")
        s = open_stream(fresh, jid)
        s.close()
    finally:
        old.close()


# --- item 8: where replace and append may write ------------------------------

PUBLISH_SQL = """
CREATE TABLE public.mine (id int, name text);
CREATE TABLE public.theirs (id int, name text);
CREATE TABLE public.was_table (id int);
CREATE TABLE public.plain (id int);
"""


def publish(db: str, table: str, user_id: int, schema: str = "public") -> None:
    """Records a table as created by a job of user_id, as the publisher
    will."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tablewright.published_tables (schema_name, table_name, user_id) "
            "VALUES (%s, %s, %s)",
            (schema, table, user_id),
        )


@pytest.fixture
def same_schema(migrated: str, tmp_path: Path) -> Iterator[Env]:
    """One schema for sources and results (public), so a job could name its
    source as destination, with a plain table (public.plain) and a view
    (public.customer_names) in it."""
    setup_db(migrated)
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute(PUBLISH_SQL)
    srv = serve(tmp_path, migrated, TW_DATA_SCHEMAS="public", TW_OUTPUT_SCHEMA="public")
    try:
        yield make_env(srv, migrated)
    finally:
        assert srv.stop() == 0, srv.stderr()


@pytest.fixture
def published(same_schema: Env) -> Env:
    """same_schema with tables recorded as created by jobs: the analyst's
    public.mine, the other analyst's public.theirs, and the analyst's
    public.was_table, which someone has since replaced with a view."""
    env = same_schema
    publish(env.db, "mine", env.ids["analyst"])
    publish(env.db, "theirs", env.ids["other"])
    publish(env.db, "was_table", env.ids["analyst"])
    with psycopg.connect(env.db, autocommit=True) as conn:
        conn.execute("DROP TABLE public.was_table")
        conn.execute("CREATE VIEW public.was_table AS SELECT 1 AS id")
    return env


def refused(api: Api, b: dict[str, Any], why: str) -> None:
    err = assert_error(api.post(JOBS, b), 409, "conflict")
    assert err["details"] == {"field": "destination_table"}, err
    assert why in err["message"], err


def job_body(env: Env, mode: str, dest: str, src: str = "public.customers",
             owner: str = "analyst") -> dict[str, Any]:
    return body(env, owner=owner, mode=mode, source_table=src, destination_table=dest)


@pytest.mark.parametrize("mode", ["replace", "append"])
def test_replace_and_append_refuse_the_source_tables_and_views(
    same_schema: Env, mode: str
) -> None:
    env = same_schema
    # The job's own source, a table made by hand, a view: refused, for an
    # admin too.
    for api in (env.analyst, env.admin):
        refused(api, job_body(env, mode, "customers"), "is the job's source")
        refused(api, job_body(env, mode, "plain"), "is not a table Tablewright created")
        refused(api, job_body(env, mode, "customer_names"), "is not a table Tablewright created")
    with psycopg.connect(env.db) as conn:
        row = conn.execute("SELECT count(*) FROM tablewright.jobs").fetchone()
    assert row is not None and row[0] == 0, "a refused job was queued"


@pytest.mark.parametrize("mode", ["replace", "append"])
def test_replace_and_append_only_write_to_tables_tablewright_made(
    published: Env, mode: str
) -> None:
    env = published
    a = env.analyst

    def b(dest: str, src: str = "public.customers", owner: str = "analyst") -> dict[str, Any]:
        return job_body(env, mode, dest, src, owner)

    # Another analyst's result, a published name that is a view now: refused.
    refused(a, b("theirs"), "another user's job")
    refused(a, b("was_table"), "is not a table Tablewright created")
    # Not even one's own published table when it is the job's source.
    refused(a, b("mine", src="public.mine"), "is the job's source")
    # An app table is not in the output schema: a new table of that name.
    assert submit(a, b("users"))

    # One's own published table: accepted.
    jid = submit(a, b("mine"))
    assert a.get(f"{JOBS}/{jid}").json()["destination_table"] == "mine"
    # A published table is open to its owner and to an admin, and refused
    # to another analyst.
    submit(env.other, b("theirs", owner="other"))
    submit(env.admin, b("theirs", owner="admin"))
    refused(env.other, b("mine", owner="other"), "another user's job")
    # A name that does not exist yet is created, whatever the mode.
    submit(a, b("brand_new"))
    # Nothing refused was queued.
    with psycopg.connect(env.db) as conn:
        dests = {r[0] for r in conn.execute("SELECT destination_table FROM tablewright.jobs")}
    assert dests == {"users", "mine", "theirs", "brand_new"}, dests


def test_create_never_writes_over_an_existing_relation(published: Env) -> None:
    env = published
    for dest in ("customers", "plain", "customer_names", "mine", "theirs"):
        err = assert_error(
            env.analyst.post(JOBS, body(env, mode="create", destination_table=dest)),
            409,
            "conflict",
        )
        assert err["details"] == {"field": "destination_table"}
    # For one's own table the message points at replace and append.
    err = assert_error(
        env.analyst.post(JOBS, body(env, mode="create", destination_table="mine")), 409, "conflict"
    )
    assert "replace or append" in err["message"]


# --- item 9: queued jobs per user, and fairness ------------------------------


def test_queued_jobs_per_user_are_limited(migrated: str, tmp_path: Path) -> None:
    setup_db(migrated)
    srv = serve(tmp_path, migrated, TW_MAX_QUEUED_PER_USER="3")
    try:
        env = make_env(srv, migrated)
        ids = [submit(env.analyst, body(env)) for _ in range(3)]
        r = env.analyst.post(JOBS, body(env))
        err = assert_error(r, 429, "too_many_requests")
        assert int(r.headers["Retry-After"]) > 0
        assert "3 jobs queued" in err["message"]
        # Others are not held up by it.
        submit(env.other, body(env, owner="other"))
        # Once one has left the queue (cancelled; running would do too),
        # there is room for one more.
        assert env.analyst.post(f"{JOBS}/{ids[0]}/cancel").status_code == 202
        submit(env.analyst, body(env))
        assert_error(env.analyst.post(JOBS, body(env)), 429, "too_many_requests")
        with psycopg.connect(migrated, autocommit=True) as conn:
            conn.execute("UPDATE tablewright.jobs SET status = 'running' WHERE id = %s", (ids[1],))
        submit(env.analyst, body(env))

        # Submissions at once are counted one after the other: exactly as
        # many are accepted as there is room for.
        other_ids = [j["id"] for j in env.other.get(JOBS).json()["items"]]
        for jid in other_ids:
            env.other.post(f"{JOBS}/{jid}/cancel")
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(lambda _: env.other.post(JOBS, body(env, owner="other"))
                                  .status_code, range(12)))
        assert sorted(codes) == [202] * 3 + [429] * 9, codes
    finally:
        assert srv.stop() == 0, srv.stderr()


def submit_as(api: Api, code: str) -> int:
    r = api.post("/api/v1/scripts", {"name": "s_" + uuid.uuid4().hex[:12], "code_text": code})
    assert r.status_code == 201, r.text
    r = api.post(
        JOBS,
        {
            "script_id": r.json()["id"],
            "source_table": "public.src",
            "destination_table": "out_" + uuid.uuid4().hex[:12],
        },
    )
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def test_workers_claim_fairly_between_users(jobs: Jobs) -> None:
    """User A queues 20 jobs, then user B 2; one worker running one job at a
    time starts B's among the first few, not after all of A's."""
    b_email = f"b-{uuid.uuid4().hex[:6]}@example.com"
    add_user(jobs.db_url, b_email, "worker-test-password-2", "analyst")
    b_api = Api(jobs.server).as_user(b_email, "worker-test-password-2")
    for _ in range(20):
        jobs.submit("sleep 0.05")
    b_ids = [submit_as(b_api, "sleep 0.05") for _ in range(2)]
    w: Worker = jobs.worker(concurrency=1)
    with psycopg.connect(jobs.db_url, autocommit=True) as conn:

        def all_done() -> bool:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status <> ALL (%s)) FROM tablewright.jobs",
                (sorted(FINAL),),
            ).fetchone()
            return row is not None and row[0] == 0

        try:
            wait_for(all_done, 60, "every job finished")
        finally:
            assert w.stop() == 0, w.stderr()
        order = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM tablewright.jobs ORDER BY started_at, id"
            ).fetchall()
        ]
        assert len(order) == 22
    positions = sorted(order.index(j) for j in b_ids)
    print(f"B's jobs started at positions {positions} of {len(order)}")
    assert positions[-1] <= 4, (positions, order)


# --- item 16: who sees which jobs --------------------------------------------


def test_who_sees_which_jobs_per_role_and_route(env: Env) -> None:
    mine = submit(env.analyst, body(env))
    theirs = submit(env.other, body(env, owner="other"))
    admins = submit(env.admin, body(env, owner="admin"))
    every = {mine, theirs, admins}

    def listed(api: Api) -> set[int]:
        r = api.get(JOBS)
        assert r.status_code == 200, r.text
        return {j["id"] for j in r.json()["items"]}

    # Reading: admins and viewers every job, analysts their own (others'
    # are 404, like a job that does not exist).
    expect = {
        "admin": (env.admin, every),
        "analyst": (env.analyst, {mine}),
        "viewer": (env.viewer, every),
    }
    for role, (api, visible) in expect.items():
        assert listed(api) == visible, role
        for jid in every:
            want = 200 if jid in visible else 404
            assert api.get(f"{JOBS}/{jid}").status_code == want, (role, jid)
            assert api.get(f"{JOBS}/{jid}/logs").status_code == want, (role, jid)
            assert probe_events(api, jid).status_code == want, (role, jid)

    # Writing: viewers never (403), analysts their own (others' 404),
    # admins any.
    assert_error(env.viewer.post(JOBS, body(env, owner="analyst")), 403, "forbidden")
    for jid in every:
        assert_error(env.viewer.post(f"{JOBS}/{jid}/cancel"), 403, "forbidden")
    assert_error(env.analyst.post(f"{JOBS}/{theirs}/cancel"), 404, "not_found")
    assert_error(env.analyst.post(f"{JOBS}/{admins}/cancel"), 404, "not_found")
    assert env.analyst.post(f"{JOBS}/{mine}/cancel").status_code == 202
    assert env.admin.post(f"{JOBS}/{theirs}/cancel").status_code == 202
    assert env.admin.post(f"{JOBS}/{admins}/cancel").status_code == 202


def table_row(text: str, first_cell: str) -> list[str]:
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells[1:]
    raise AssertionError(f"no row {first_cell!r}")


def test_every_document_says_the_same_about_who_sees_jobs() -> None:
    """admin: all jobs; analyst: their own; viewer: all, read only; as the
    code does (the test above)."""
    auth = (ROOT / "docs" / "auth.md").read_text()
    assert table_row(auth, "see jobs") == ["all", "their own", "all (read only)"]
    assert table_row(auth, "cancel jobs") == ["all", "their own", "no"]
    jobs_md = (ROOT / "docs" / "jobs.md").read_text()
    assert table_row(jobs_md, "list, read, log, events") == ["all jobs", "their own", "all jobs"]
    assert table_row(jobs_md, "cancel") == ["all jobs", "their own", "no"]
    spec = json.loads((ROOT / "src" / "api" / "openapi.json").read_text())
    paths = spec["paths"]
    listing = paths["/api/v1/jobs"]["get"]
    assert "Analysts see their own jobs; admins and viewers see everyone's" in (
        listing["description"]
    )
    for path in ("/api/v1/jobs/{id}", "/api/v1/jobs/{id}/logs", "/api/v1/jobs/{id}/events"):
        text = paths[path]["get"].get("description", "")
        assert re.search(r"[Aa]nalysts.*their own", text), (path, text)
        assert "404" in text, (path, text)
