"""Publishing end to end (docs/publishing.md): the real server and worker,
with tests/integration/helpers/fake_runner.py as the sandbox child (it
echoes the source back unchanged, so a destination must hold exactly its
source's rows). The tables are checked with psycopg from outside.

Covered: create (with provenance), destination_exists with the table
untouched, concurrent creates of one name (exactly one table), replace
(the previous version kept, contents swapped, the versions in
produced_by), replace of a table no job made or of another analyst's
(refused; an admin may), append (rows added; schema_mismatch for a
missing column, a type with no assignment cast and an uncovered NOT NULL
column, nothing written), rollback through the API (200, contents back,
409 when nothing more is kept, 403 and 404) and the command line,
TW_KEEP_VERSIONS=0, a failed job and a killed worker (no table, no
staging table).
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from authfixtures import Api, add_user, assert_error
from test_worker import FINAL, Jobs, Worker, make_jobs, wait_for

from conftest import base_env, run_tw

PASSWORD = "publish-test-password-1"


class Pub:
    """The jobs fixture with two more users and helpers for tables."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self.db_url = jobs.db_url
        self.ana = jobs.api
        self.ana_id = jobs.user.id
        self.bob, self.bob_id = self.user("analyst")
        self.admin, self.admin_id = self.user("admin")
        self.viewer, _ = self.user("viewer")

    def user(self, role: str) -> tuple[Api, int]:
        email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
        uid = add_user(self.db_url, email, PASSWORD, role)
        return Api(self.jobs.server).as_user(email, PASSWORD), uid

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cur = conn.execute(query, args or None)
            return cur.fetchall() if cur.description else []

    def source(self, rows: list[tuple[Any, ...]], ddl: str = "id int, v text") -> str:
        name = "src_" + uuid.uuid4().hex[:10]
        self.sql(f"CREATE TABLE public.{name} ({ddl})")
        for row in rows:
            marks = ", ".join(["%s"] * len(row))
            self.sql(f"INSERT INTO public.{name} VALUES ({marks})", *row)
        return f"public.{name}"

    def submit(
        self,
        dest: str,
        source: str,
        mode: str = "create",
        api: Api | None = None,
        code: str = "say publishing",
    ) -> int:
        api = api or self.ana
        r = api.post("/api/v1/scripts", {"name": "s_" + uuid.uuid4().hex[:10], "code_text": code})
        assert r.status_code == 201, r.text
        r = api.post(
            "/api/v1/jobs",
            {
                "script_id": r.json()["id"],
                "source_table": source,
                "destination_table": dest,
                "mode": mode,
            },
        )
        assert r.status_code == 202, r.text
        return int(r.json()["id"])

    def wait(self, job_id: int, timeout: float = 60) -> dict[str, Any]:
        """Waits as the admin, who sees every user's jobs."""

        def done() -> dict[str, Any] | None:
            r = self.admin.get(f"/api/v1/jobs/{job_id}")
            assert r.status_code == 200, r.text
            return r.json() if r.json()["status"] in FINAL else None

        return wait_for(done, timeout, f"job {job_id} finished")

    def run(
        self,
        dest: str,
        source: str,
        mode: str = "create",
        api: Api | None = None,
        code: str = "say publishing",
    ) -> dict[str, Any]:
        return self.wait(self.submit(dest, source, mode, api, code))

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        return self.sql(f"SELECT * FROM {table} ORDER BY 1")

    def exists(self, schema: str, name: str) -> bool:
        return bool(self.sql("SELECT to_regclass(%s) IS NOT NULL", f'"{schema}"."{name}"')[0][0])

    def stages(self) -> list[str]:
        return [
            r[0]
            for r in self.sql(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relname LIKE 'tw\\_stage\\_%%'"
            )
        ]

    def kept(self) -> list[str]:
        return [
            r[0]
            for r in self.sql(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'tablewright' AND c.relname LIKE 'tw\\_kept\\_%%'"
            )
        ]

    def produced_by(self, name: str, api: Api | None = None) -> Any:
        r = (api or self.ana).get(f"/api/v1/tables/public/{name}")
        assert r.status_code == 200, r.text
        return r.json()["produced_by"]

    def rollback(self, name: str, api: Api | None = None, schema: str = "public") -> Any:
        return (api or self.ana).post(f"/api/v1/tables/{schema}/{name}/rollback")


@pytest.fixture
def pub(migrated: str, tmp_path: Path) -> Iterator[Pub]:
    with make_jobs(tmp_path, migrated) as j:
        yield Pub(j)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def dest_name() -> str:
    return "t_" + uuid.uuid4().hex[:10]


def ok(job: dict[str, Any]) -> dict[str, Any]:
    assert job["status"] == "succeeded", job
    return job


def failed(job: dict[str, Any], code: str) -> dict[str, Any]:
    assert (job["status"], job["error_code"]) == ("failed", code), job
    return job


# --- create -------------------------------------------------------------------


def test_create_publishes_the_table_with_its_provenance(pub: Pub, workers: list[Worker]) -> None:
    workers.append(pub.jobs.worker())
    src = pub.source([(1, "a"), (2, None), (3, "c")])
    dest = dest_name()
    job = ok(pub.run(dest, src))
    assert pub.rows(f"public.{dest}") == [(1, "a"), (2, None), (3, "c")]
    assert job["rows_out"] == 3
    prov = pub.produced_by(dest)
    assert prov["job_id"] == job["id"] and prov["user_id"] == pub.ana_id
    assert prov["script_id"] == job["script_id"] and prov["script_version"] == 1
    assert (prov["source_table"], prov["mode"], prov["rows"], prov["version"]) == (
        src,
        "create",
        3,
        1,
    )
    assert prov["published_at"].endswith("Z")
    assert [(v["version"], v["state"], v["job_id"]) for v in prov["versions"]] == [
        (1, "current", job["id"])
    ]
    assert pub.sql(
        "SELECT user_id, job_id FROM tablewright.published_tables WHERE table_name = %s", dest
    ) == [(pub.ana_id, job["id"])]
    assert pub.stages() == []
    # A table no job made has none.
    assert pub.produced_by(src.split(".")[1]) is None


def test_create_of_a_table_made_meanwhile_fails_and_leaves_it(
    pub: Pub, workers: list[Worker]
) -> None:
    src = pub.source([(1, "a")])
    dest = dest_name()
    job_id = pub.submit(dest, src)  # no worker yet: the name is free now
    pub.sql(f"CREATE TABLE public.{dest} (x int)")
    pub.sql(f"INSERT INTO public.{dest} VALUES (42)")
    workers.append(pub.jobs.worker())
    job = failed(pub.wait(job_id), "destination_exists")
    assert dest in job["error_message"]
    assert pub.rows(f"public.{dest}") == [(42,)]
    assert pub.produced_by(dest) is None
    assert pub.stages() == []


def test_concurrent_creates_make_exactly_one_table(pub: Pub, workers: list[Worker]) -> None:
    src = pub.source([(i, f"r{i}") for i in range(50)])
    dest = dest_name()
    ids = [pub.submit(dest, src) for _ in range(4)]
    workers.append(pub.jobs.worker(concurrency=4))
    jobs = [pub.wait(i) for i in ids]
    outcomes = sorted((j["status"], j["error_code"]) for j in jobs)
    assert outcomes == [("failed", "destination_exists")] * 3 + [("succeeded", None)], jobs
    assert pub.sql(f"SELECT count(*) FROM public.{dest}") == [(50,)]
    winner = next(j for j in jobs if j["status"] == "succeeded")
    assert pub.produced_by(dest)["job_id"] == winner["id"]
    assert len(pub.produced_by(dest)["versions"]) == 1
    assert pub.stages() == []


# --- replace and rollback -----------------------------------------------------


def test_replace_keeps_the_previous_version_and_rollback_brings_it_back(
    pub: Pub, workers: list[Worker]
) -> None:
    workers.append(pub.jobs.worker())
    v1 = pub.source([(1, "one"), (2, "two")])
    v2 = pub.source([(10, "ten")])
    dest = dest_name()
    j1 = ok(pub.run(dest, v1))
    j2 = ok(pub.run(dest, v2, "replace"))
    assert pub.rows(f"public.{dest}") == [(10, "ten")]
    assert len(pub.kept()) == 1
    prov = pub.produced_by(dest)
    assert (prov["job_id"], prov["version"], prov["mode"]) == (j2["id"], 2, "replace")
    assert [(v["version"], v["state"], v["job_id"]) for v in prov["versions"]] == [
        (2, "current", j2["id"]),
        (1, "kept", j1["id"]),
    ]

    r = pub.rollback(dest)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["version"], body["rolled_back_version"], body["kept_versions"]) == (1, 2, 0)
    assert body["produced_by"]["job_id"] == j1["id"]
    assert pub.rows(f"public.{dest}") == [(1, "one"), (2, "two")]
    assert pub.kept() == []
    assert [(v["version"], v["state"]) for v in pub.produced_by(dest)["versions"]] == [
        (2, "rolled_back"),
        (1, "current"),
    ]
    assert pub.sql(
        "SELECT job_id FROM tablewright.published_tables WHERE table_name = %s", dest
    ) == [(j1["id"],)]
    # Nothing more is kept: 409, and the table is unchanged.
    assert_error(pub.rollback(dest), 409, "conflict")
    assert pub.rows(f"public.{dest}") == [(1, "one"), (2, "two")]


def test_rollback_who_may_and_what(pub: Pub, workers: list[Worker]) -> None:
    workers.append(pub.jobs.worker())
    src = pub.source([(1, "a")])
    dest = dest_name()
    ok(pub.run(dest, src))
    ok(pub.run(dest, pub.source([(2, "b")]), "replace"))
    assert_error(pub.rollback(dest, pub.viewer), 403, "forbidden")
    assert_error(pub.rollback(dest, pub.bob), 403, "forbidden")
    assert pub.rows(f"public.{dest}") == [(2, "b")]
    assert_error(pub.rollback("no_such_table"), 404, "not_found")
    assert_error(pub.rollback("users", schema="tablewright"), 404, "not_found")
    assert_error(pub.rollback("bad name"), 404, "not_found")
    # A table no job made: nothing to roll back.
    pub.sql("CREATE TABLE public.handmade_rb (x int)")
    assert_error(pub.rollback("handmade_rb", pub.admin), 409, "conflict")
    # An admin may roll back anyone's table.
    r = pub.rollback(dest, pub.admin)
    assert r.status_code == 200, r.text
    assert pub.rows(f"public.{dest}") == [(1, "a")]


def test_rollback_from_the_command_line(pub: Pub, workers: list[Worker]) -> None:
    workers.append(pub.jobs.worker())
    dest = dest_name()
    j1 = ok(pub.run(dest, pub.source([(1, "first")])))
    ok(pub.run(dest, pub.source([(2, "second")]), "replace"))
    workdir = pub.jobs.workdir
    env = base_env(workdir, TW_DATABASE_URL=pub.db_url)
    res = run_tw(["rollback", f"public.{dest}"], workdir, env)
    assert res.returncode == 0, res.stderr
    assert f"rolled back public.{dest}: version 1 is the table again" in res.stdout
    assert f"job {j1['id']}" in res.stdout and "version 2 was dropped" in res.stdout
    assert pub.rows(f"public.{dest}") == [(1, "first")]
    res = run_tw(["rollback", f"public.{dest}"], workdir, env)
    assert res.returncode == 1
    assert "no earlier version" in res.stderr
    res = run_tw(["rollback"], workdir, env)
    assert res.returncode == 2 and "SCHEMA.TABLE" in res.stderr
    res = run_tw(["rollback", "nodot"], workdir, env)
    assert res.returncode == 2


def test_keep_versions_zero_keeps_none(pub: Pub, workers: list[Worker]) -> None:
    workers.append(pub.jobs.worker(TW_KEEP_VERSIONS="0"))
    dest = dest_name()
    ok(pub.run(dest, pub.source([(1, "a")])))
    ok(pub.run(dest, pub.source([(2, "b")]), "replace"))
    assert pub.rows(f"public.{dest}") == [(2, "b")]
    assert pub.kept() == []
    assert [(v["version"], v["state"]) for v in pub.produced_by(dest)["versions"]] == [
        (2, "current"),
        (1, "dropped"),
    ]
    assert_error(pub.rollback(dest), 409, "conflict")


def test_keep_versions_two_rolls_back_twice(pub: Pub, workers: list[Worker]) -> None:
    workers.append(pub.jobs.worker(TW_KEEP_VERSIONS="2"))
    dest = dest_name()
    for i, mode in enumerate(["create", "replace", "replace", "replace"]):
        ok(pub.run(dest, pub.source([(i, f"v{i + 1}")]), mode))
    assert len(pub.kept()) == 2
    assert pub.rollback(dest).json()["version"] == 3
    assert pub.rollback(dest).json()["version"] == 2
    assert pub.rows(f"public.{dest}") == [(1, "v2")]
    assert_error(pub.rollback(dest), 409, "conflict")


def test_replace_only_what_a_job_of_the_user_made(pub: Pub, workers: list[Worker]) -> None:
    src = pub.source([(1, "a")])
    # Made by hand after the submission: the worker refuses it.
    hand = dest_name()
    hand_job = pub.submit(hand, src, "replace")
    pub.sql(f"CREATE TABLE public.{hand} (id int, v text)")
    pub.sql(f"INSERT INTO public.{hand} VALUES (7, 'mine')")
    # Bob's replace of a name Ana's job takes first: refused at the end.
    shared = dest_name()
    bob_job = pub.submit(shared, src, "replace", pub.bob, code="sleep 3")
    ana_job = pub.submit(shared, pub.source([(5, "ana")]))
    workers.append(pub.jobs.worker(concurrency=3))
    job = failed(pub.wait(hand_job), "destination_exists")
    assert "not a table Tablewright created" in job["error_message"]
    assert pub.rows(f"public.{hand}") == [(7, "mine")]
    ok(pub.wait(ana_job))
    job = failed(pub.wait(bob_job), "destination_exists")
    assert "another user" in job["error_message"]
    assert pub.rows(f"public.{shared}") == [(5, "ana")]
    # The API refuses both at submission.
    r = pub.bob.post("/api/v1/scripts", {"name": "x", "code_text": "say x"})
    body = {
        "script_id": r.json()["id"],
        "source_table": src,
        "destination_table": shared,
        "mode": "append",
    }
    assert_error(pub.bob.post("/api/v1/jobs", body), 409, "conflict")
    # An admin's job may; the table stays Ana's.
    ok(pub.run(shared, src, "replace", pub.admin))
    assert pub.rows(f"public.{shared}") == [(1, "a")]
    assert pub.sql(
        "SELECT user_id FROM tablewright.published_tables WHERE table_name = %s", shared
    ) == [(pub.ana_id,)]
    assert pub.stages() == []


# --- append ---------------------------------------------------------------------


def test_append_adds_rows(pub: Pub, workers: list[Worker]) -> None:
    workers.append(pub.jobs.worker())
    dest = dest_name()
    j1 = ok(pub.run(dest, pub.source([(1, "a"), (2, "b")])))
    j2 = ok(pub.run(dest, pub.source([(3, "c")]), "append"))
    assert pub.rows(f"public.{dest}") == [(1, "a"), (2, "b"), (3, "c")]
    prov = pub.produced_by(dest)
    assert (prov["job_id"], prov["mode"], prov["rows"], prov["version"]) == (
        j2["id"],
        "append",
        1,
        1,
    )
    assert [(v["version"], v["mode"], v["job_id"]) for v in prov["versions"]] == [
        (1, "append", j2["id"]),
        (1, "create", j1["id"]),
    ]
    # Assignment casts: int4 ids into a bigint column, a column left to its default.
    pub.sql(
        f"ALTER TABLE public.{dest} ALTER COLUMN id TYPE bigint, "
        "ADD COLUMN note text DEFAULT 'later'"
    )
    ok(pub.run(dest, pub.source([(4, "d")]), "append"))
    assert pub.sql(f"SELECT id, v, note FROM public.{dest} WHERE id = 4") == [(4, "d", "later")]


def test_append_schema_mismatch_writes_nothing(pub: Pub, workers: list[Worker]) -> None:
    workers.append(pub.jobs.worker())
    dest = dest_name()
    ok(pub.run(dest, pub.source([(1, "a")])))
    before = pub.rows(f"public.{dest}")
    # A column the table lacks.
    job = failed(
        pub.run(dest, pub.source([(2, "b")], "id int, other text"), "append"), "schema_mismatch"
    )
    assert '"other"' in job["error_message"]
    # A type that does not convert: text into an integer column.
    ints = dest_name()
    ok(pub.run(ints, pub.source([(1, 1)], "id int, v int")))
    job = failed(pub.run(ints, pub.source([(2, "x")]), "append"), "schema_mismatch")
    assert '"v"' in job["error_message"]
    assert pub.rows(f"public.{ints}") == [(1, 1)]
    # A NOT NULL column without a default that the result lacks.
    pub.sql(f"ALTER TABLE public.{dest} ADD COLUMN must int NOT NULL DEFAULT 0")
    pub.sql(f"ALTER TABLE public.{dest} ALTER COLUMN must DROP DEFAULT")
    job = failed(pub.run(dest, pub.source([(3, "c")]), "append"), "schema_mismatch")
    assert '"must"' in job["error_message"]
    assert pub.sql(f"SELECT id, v FROM public.{dest}") == before
    assert pub.stages() == []


# --- failures leave nothing -------------------------------------------------------


def test_failed_job_leaves_no_table_and_no_stage(pub: Pub, workers: list[Worker]) -> None:
    workers.append(pub.jobs.worker())
    src = pub.source([(i, "x") for i in range(10)])
    dest = dest_name()
    failed(pub.run(dest, src, code="exit 3"), "internal")
    failed(pub.run(dest, src, code="fail user_error boom"), "user_error")
    assert not pub.exists("public", dest)
    assert pub.stages() == []
    assert pub.sql(
        "SELECT count(*) FROM tablewright.table_versions WHERE table_name = %s", dest
    ) == [(0,)]
    # A failed replace leaves the current version as it was.
    ok(pub.run(dest, src))
    failed(
        pub.run(dest, pub.source([(99, "new")]), "replace", code="fail user_error boom"),
        "user_error",
    )
    assert pub.sql(f"SELECT count(*) FROM public.{dest}") == [(10,)]
    assert pub.kept() == []
    assert [v["version"] for v in pub.produced_by(dest)["versions"]] == [1]


def test_killed_worker_leaves_no_stage_after_recovery(pub: Pub, workers: list[Worker]) -> None:
    src = pub.source([(i, "x" * 100) for i in range(200)])
    dest = dest_name()
    job_id = pub.submit(dest, src, code="slow 0.3")
    w = pub.jobs.worker(concurrency=1, TW_CHUNK_ROWS="10", TW_JOB_LEASE_S="2")
    workers.append(w)
    # Killed in the middle of the COPY into the staging table.
    wait_for(
        lambda: pub.sql("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY %%tw\\_stage\\_%%'"),
        30,
        "the COPY into the stage",
    )
    w.proc.send_signal(signal.SIGKILL)
    w.proc.wait()
    wait_for(
        lambda: (
            not pub.sql("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY %%tw\\_stage\\_%%'")
        ),
        10,
        "the COPY's session gone",
    )
    assert pub.stages() == [] and not pub.exists("public", dest)
    workers.append(pub.jobs.worker(concurrency=1, TW_JOB_LEASE_S="2"))
    failed(pub.wait(job_id, 60), "worker_lost")
    assert pub.stages() == [] and not pub.exists("public", dest)
