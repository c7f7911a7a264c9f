/*
 * test_publish.c - the worker's publishing step (src/worker/publish.c) and
 * the versions, rollback and provenance of src/db/publish.c, against a real
 * PostgreSQL (TW_TEST_DATABASE_URL, as test_db.c): each test migrates a
 * fresh app schema and makes a fresh output schema, then publishes rows
 * through publish_open/stage/put/finish/commit as the worker does, the
 * rows encoded as binary COPY tuples by hand. The end-to-end tests through
 * the real server and worker are tests/integration/test_publish.py.
 */
#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/str.h"
#include "db/db.h"
#include "db/publish.h"
#include "platform/plat.h"
#include "worker/worker_int.h"

#define assert_rc(rc, want, err)                                              \
	do {                                                                  \
		int rc_ = (rc);                                               \
		if (rc_ != (want))                                            \
			fail_msg("%s returned %d (%s), expected %d: %s", #rc, \
				 rc_, err_name(rc_), (want), (err)->ptr);     \
	} while (0)

struct fx {
	PGconn *conn;  /* the worker's: search_path is the app schema */
	PGconn *conn2; /* another worker's */
	PGconn *other; /* a second session, for visibility checks */
	char app[64];
	char out[64];
	struct cfg cfg;
	int64_t admin, ana, bob; /* user ids */
	int64_t script;
	int64_t next_job;
};

static const char *test_url(void)
{
	const char *url = getenv("TW_TEST_DATABASE_URL");

	if (!url || !*url)
		fail_msg("TW_TEST_DATABASE_URL is not set: this test needs a "
			 "PostgreSQL database it may create schemas in");
	return url;
}

static PGconn *connect_to(const char *app)
{
	PGconn *conn = PQconnectdb(test_url());
	char sql[256];

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("could not connect: %s", PQerrorMessage(conn));
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	snprintf(sql, sizeof(sql), "SET search_path = \"%s\", pg_catalog", app);
	PQclear(PQexec(conn, sql));
	return conn;
}

/* Runs sql, which must succeed; the first value, or "" (static). */
static const char *q(PGconn *conn, const char *fmt, ...) TW_PRINTF(2, 3);
static const char *q(PGconn *conn, const char *fmt, ...)
{
	static char value[8192];
	char sql[4096];
	va_list ap;
	PGresult *res;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	value[0] = '\0';
	if (PQntuples(res) > 0 && PQnfields(res) > 0)
		snprintf(value, sizeof(value), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return value;
}

static int64_t qi(PGconn *conn, const char *sql)
{
	return strtoll(q(conn, "%s", sql), NULL, 10);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	static int n;
	int applied;
	char sql[512];

	n++;
	snprintf(f->app, sizeof(f->app), "tw_test_%ld_pub%d_app", plat_getpid(),
		 n);
	snprintf(f->out, sizeof(f->out), "tw_test_%ld_pub%d_out", plat_getpid(),
		 n);
	f->conn = connect_to(f->app);
	assert_rc(db_migrate(f->conn, f->app, &applied, &err), 0, &err);
	f->other = connect_to(f->app);
	f->conn2 = connect_to(f->app);
	q(f->conn, "CREATE SCHEMA \"%s\"", f->out);
	snprintf(sql, sizeof(sql), "SET search_path = \"%s\", pg_catalog",
		 f->app);
	PQclear(PQexec(f->conn, sql));
	f->admin = qi(f->conn, "INSERT INTO users (email, password_hash, role) "
			       "VALUES ('a@x', 'x', 'admin') RETURNING id");
	f->ana = qi(f->conn, "INSERT INTO users (email, password_hash, role) "
			     "VALUES ('ana@x', 'x', 'analyst') RETURNING id");
	f->bob = qi(f->conn, "INSERT INTO users (email, password_hash, role) "
			     "VALUES ('bob@x', 'x', 'analyst') RETURNING id");
	f->script = qi(f->conn, "INSERT INTO scripts (user_id, name, "
				"code_text) VALUES (1, 's', 'x') RETURNING id");
	q(f->conn,
	  "INSERT INTO script_versions (script_id, version, "
	  "code_text) VALUES (%" PRId64 ", 3, 'x')",
	  f->script);
	f->cfg.app_schema = f->app;
	f->cfg.output_schema = f->out;
	f->cfg.keep_versions = 1;
	buf_release(&err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	q(f->conn, "DROP SCHEMA \"%s\" CASCADE", f->out);
	q(f->conn, "DROP SCHEMA \"%s\" CASCADE", f->app);
	PQfinish(f->conn);
	PQfinish(f->other);
	PQfinish(f->conn2);
	free(f);
	return 0;
}

/* A job row as queue_claim() would hand it over. */
static void make_job(struct fx *f, struct queue_job *job, int64_t user,
		     const char *source, const char *dest, const char *mode)
{
	char sql[1024];

	memset(job, 0, sizeof(*job));
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (user_id, script_id, script_version, "
		 "source_table, destination_table, mode, status) VALUES "
		 "(%" PRId64 ", %" PRId64 ", 3, '%s', '%s', '%s', 'running') "
		 "RETURNING id",
		 user, f->script, source, dest, mode);
	job->id = qi(f->conn, sql);
	job->user_id = user;
	job->script_id = f->script;
	job->script_version = 3;
	job->source_table = (char *)source;
	job->destination_table = (char *)dest;
	job->mode = (char *)mode;
}

/* One binary COPY tuple of (bigint, text); text NULL is SQL NULL. */
static void tuple(struct buf *b, int64_t id, const char *text)
{
	uint64_t v = (uint64_t)id;
	unsigned char h[14] = { 0, 2, 0, 0, 0, 8 };
	size_t len = text ? strlen(text) : 0;
	int i;

	for (i = 0; i < 8; i++)
		h[6 + i] = (unsigned char)(v >> (56 - 8 * i));
	buf_add(b, h, sizeof(h));
	if (!text) {
		buf_add(b, "\377\377\377\377", 4);
		return;
	}
	buf_addch(b, (int)((len >> 24) & 0xff));
	buf_addch(b, (int)((len >> 16) & 0xff));
	buf_addch(b, (int)((len >> 8) & 0xff));
	buf_addch(b, (int)(len & 0xff));
	buf_add(b, text, len);
}

/* The runner's output columns: id bigint, name text (or cols given). */
static char col_id[] = "id", col_name[] = "name";
static char type_bigint[] = "bigint", type_text[] = "text";
static struct db_column default_cols[] = {
	{ col_id, type_bigint, DB_PG_INT8, true, COL_INT64 },
	{ col_name, type_text, DB_PG_TEXT, true, COL_TEXT },
};

/*
 * Publishes rows first..first+n-1 (names "<prefix>N") through the worker's
 * steps as job; returns the first failing step's rc with *code, or 0 after
 * COMMIT. commit false leaves the transaction open after finish.
 */
static int publish(struct fx *f, struct publish *p, struct queue_job *job,
		   int first, int n, const char *prefix, const char **code,
		   struct buf *err, bool commit)
{
	struct db_columns cols = { default_cols, 2 };
	struct buf rows = BUF_INIT((size_t)16 * 1024 * 1024);
	char name[64];
	int rc, i;

	*code = NULL;
	rc = publish_open(p, f->conn, &f->cfg, job, code, err);
	if (rc < 0)
		goto out;
	rc = publish_stage(p, &cols, code, err);
	if (rc < 0)
		goto fail;
	for (i = first; i < first + n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		tuple(&rows, i, name);
	}
	rc = publish_put(p, rows.ptr, rows.len, err);
	if (rc == 0)
		rc = publish_finish(p, n, code, err);
	if (rc < 0)
		goto fail;
	if (commit)
		rc = publish_commit(p, err);
	goto out;
fail:
	publish_abort(p);
out:
	buf_release(&rows);
	return rc;
}

static int publish_ok(struct fx *f, int64_t user, const char *dest,
		      const char *mode, int first, int n, const char *prefix)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct queue_job job;
	struct publish p;
	const char *code;
	int rc;

	make_job(f, &job, user, "public.src", dest, mode);
	rc = publish(f, &p, &job, first, n, prefix, &code, &err, true);
	assert_rc(rc, 0, &err);
	buf_release(&err);
	return (int)job.id;
}

static int64_t count_rows(struct fx *f, const char *table)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".\"%s\"", f->out,
		 table);
	return qi(f->other, sql);
}

static bool exists(struct fx *f, const char *schema, const char *table)
{
	return !strcmp(q(f->other,
			 "SELECT to_regclass('\"%s\".\"%s\"') IS NOT NULL",
			 schema, table),
		       "t");
}

/* --- create ---------------------------------------------------------------
 */

static void test_create_publishes_at_commit_only(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct queue_job job;
	struct publish p;
	const char *code;
	char *prov = NULL;
	char stage[64];

	make_job(f, &job, f->ana, "public.src", "t1", "create");
	assert_rc(publish(f, &p, &job, 1, 1000, "a", &code, &err, false), 0,
		  &err);
	assert_int_equal(p.version, 1);
	assert_int_equal(p.rows_out, 1000);
	/* Finished, not committed: nothing is visible to anyone else. */
	snprintf(stage, sizeof(stage), "tw_stage_%" PRId64, job.id);
	assert_false(exists(f, f->out, "t1"));
	assert_false(exists(f, f->out, stage));
	assert_rc(publish_commit(&p, &err), 0, &err);
	assert_int_equal(count_rows(f, "t1"), 1000);
	assert_false(exists(f, f->out, stage));
	assert_string_equal(q(f->other,
			      "SELECT user_id || ' ' || job_id FROM "
			      "published_tables WHERE table_name = 't1'"),
			    q(f->conn, "SELECT %" PRId64 " || ' ' || %" PRId64,
			      f->ana, job.id));
	assert_string_equal(q(f->other, "SELECT version || state FROM "
					"table_versions WHERE table_name = "
					"'t1'"),
			    "1current");
	assert_rc(db_publish_provenance(f->other, f->out, "t1", &prov, &err), 0,
		  &err);
	assert_non_null(prov);
	assert_non_null(strstr(prov, "\"mode\" : \"create\""));
	assert_non_null(strstr(prov, "\"rows\" : 1000"));
	assert_non_null(strstr(prov, "\"source_table\" : \"public.src\""));
	assert_non_null(strstr(prov, "\"script_version\" : 3"));
	free(prov);
	buf_release(&err);
}

static void test_create_refuses_existing_table(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct queue_job job;
	struct publish p;
	const char *code;

	q(f->conn, "CREATE TABLE \"%s\".handmade (x int)", f->out);
	q(f->conn, "INSERT INTO \"%s\".handmade VALUES (7)", f->out);
	make_job(f, &job, f->admin, "public.src", "handmade", "create");
	assert_rc(publish(f, &p, &job, 1, 5, "a", &code, &err, true),
		  TW_ECONFLICT, &err);
	assert_string_equal(code, "destination_exists");
	assert_non_null(strstr(err.ptr, "already exists"));
	assert_int_equal(count_rows(f, "handmade"), 1);
	assert_int_equal(PQtransactionStatus(f->conn), PQTRANS_IDLE);
	buf_release(&err);
}

/* A table created between the job's start and its end: the check under
 * the lock at finish refuses it, and nothing of the job remains. */
static void test_create_rechecks_at_finish(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_columns cols = { default_cols, 2 };
	struct buf rows = BUF_INIT(4096);
	struct queue_job job;
	struct publish p;
	const char *code;

	make_job(f, &job, f->ana, "public.src", "race", "create");
	assert_rc(publish_open(&p, f->conn, &f->cfg, &job, &code, &err), 0,
		  &err);
	assert_rc(publish_stage(&p, &cols, &code, &err), 0, &err);
	tuple(&rows, 1, "x");
	assert_rc(publish_put(&p, rows.ptr, rows.len, &err), 0, &err);
	/* Another job, on another connection, wins the name meanwhile. */
	f->conn = f->conn2;
	publish_ok(f, f->bob, "race", "create", 1, 3, "b");
	f->conn = p.conn;
	assert_rc(publish_finish(&p, 1, &code, &err), TW_ECONFLICT, &err);
	assert_string_equal(code, "destination_exists");
	publish_abort(&p);
	publish_abort(&p); /* safe twice */
	assert_int_equal(count_rows(f, "race"), 3);
	assert_string_equal(q(f->other, "SELECT count(*) FROM table_publishes "
					"WHERE table_name = 'race'"),
			    "1");
	buf_release(&rows);
	buf_release(&err);
}

static void test_abort_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_columns cols = { default_cols, 2 };
	struct buf rows = BUF_INIT(4096);
	struct queue_job job;
	struct publish p;
	const char *code;
	char stage[64];

	make_job(f, &job, f->ana, "public.src", "gone", "create");
	assert_rc(publish_open(&p, f->conn, &f->cfg, &job, &code, &err), 0,
		  &err);
	assert_rc(publish_stage(&p, &cols, &code, &err), 0, &err);
	tuple(&rows, 1, "x");
	assert_rc(publish_put(&p, rows.ptr, rows.len, &err), 0, &err);
	publish_abort(&p); /* in the middle of the COPY */
	snprintf(stage, sizeof(stage), "tw_stage_%" PRId64, job.id);
	assert_false(exists(f, f->out, stage));
	assert_false(exists(f, f->out, "gone"));
	assert_int_equal(PQtransactionStatus(f->conn), PQTRANS_IDLE);
	/* The connection is usable again. */
	assert_string_equal(q(f->conn, "SELECT 1"), "1");
	buf_release(&rows);
	buf_release(&err);
}

static void test_reserved_and_source_names_refused(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct queue_job job;
	struct publish p;
	const char *code;
	char src[128];

	make_job(f, &job, f->ana, "public.src", "tw_stage_1", "create");
	assert_true(publish(f, &p, &job, 1, 1, "a", &code, &err, true) < 0);
	assert_string_equal(code, "destination_exists");

	/* A job's own source, published earlier by the same user. */
	publish_ok(f, f->ana, "mine", "create", 1, 2, "a");
	snprintf(src, sizeof(src), "%s.mine", f->out);
	buf_reset(&err);
	make_job(f, &job, f->ana, src, "mine", "replace");
	assert_rc(publish(f, &p, &job, 1, 1, "a", &code, &err, true),
		  TW_ECONFLICT, &err);
	assert_string_equal(code, "destination_exists");
	assert_non_null(strstr(err.ptr, "source"));
	assert_int_equal(count_rows(f, "mine"), 2);
	buf_release(&err);
}

/* --- replace and rollback -------------------------------------------------
 */

static void test_replace_keeps_previous_and_rolls_back(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_rollback_result rb;
	char *prov = NULL;
	char kept[64];
	int j1, j2;

	j1 = publish_ok(f, f->ana, "r", "create", 1, 10, "v1_");
	j2 = publish_ok(f, f->ana, "r", "replace", 1, 4, "v2_");
	assert_int_equal(count_rows(f, "r"), 4);
	assert_string_equal(q(f->other,
			      "SELECT name FROM \"%s\".r WHERE id "
			      "= 1",
			      f->out),
			    "v2_1");
	snprintf(kept, sizeof(kept), "%s",
		 q(f->other, "SELECT kept_name FROM table_versions WHERE "
			     "table_name = 'r' AND version = 1 AND state = "
			     "'kept'"));
	assert_true(!strncmp(kept, "tw_kept_", 8));
	assert_true(exists(f, f->app, kept));
	assert_string_equal(q(f->other, "SELECT job_id FROM published_tables "
					"WHERE table_name = 'r'"),
			    q(f->conn, "SELECT %d", j2));
	assert_rc(db_publish_provenance(f->other, f->out, "r", &prov, &err), 0,
		  &err);
	assert_non_null(strstr(prov, "\"version\" : 2"));
	assert_non_null(strstr(prov, "\"state\" : \"kept\""));
	free(prov);

	/* Another analyst may not roll it back; its owner may. */
	assert_rc(db_publish_rollback(f->other, f->app, f->out, "r", f->bob,
				      false, &rb, &err),
		  TW_EFORBIDDEN, &err);
	buf_reset(&err);
	assert_rc(db_publish_rollback(f->other, f->app, f->out, "r", f->ana,
				      false, &rb, &err),
		  0, &err);
	assert_int_equal(rb.restored, 1);
	assert_int_equal(rb.dropped, 2);
	assert_int_equal(rb.job_id, j1);
	assert_int_equal(rb.kept_remaining, 0);
	assert_int_equal(count_rows(f, "r"), 10);
	assert_false(exists(f, f->app, kept));
	assert_string_equal(q(f->other, "SELECT string_agg(version || state, "
					"',' ORDER BY version) FROM "
					"table_versions WHERE table_name = "
					"'r'"),
			    "1current,2rolled_back");
	assert_string_equal(q(f->other, "SELECT job_id FROM published_tables "
					"WHERE table_name = 'r'"),
			    q(f->conn, "SELECT %d", j1));
	/* Nothing more is kept. */
	assert_rc(db_publish_rollback(f->other, f->app, f->out, "r", f->admin,
				      true, &rb, &err),
		  TW_ECONFLICT, &err);
	buf_reset(&err);
	assert_rc(db_publish_rollback(f->other, f->app, f->out, "nope",
				      f->admin, true, &rb, &err),
		  TW_ENOTFOUND, &err);
	/* A replace after the rollback numbers on. */
	publish_ok(f, f->ana, "r", "replace", 1, 2, "v3_");
	assert_string_equal(q(f->other, "SELECT version FROM table_versions "
					"WHERE table_name = 'r' AND state = "
					"'current'"),
			    "3");
	buf_release(&err);
}

static void test_keep_versions_limits_what_is_kept(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_rollback_result rb;

	publish_ok(f, f->ana, "k", "create", 1, 1, "v1_");
	publish_ok(f, f->ana, "k", "replace", 1, 2, "v2_");
	publish_ok(f, f->ana, "k", "replace", 1, 3, "v3_");
	/* keep 1: v1 let go, v2 kept. */
	assert_string_equal(q(f->other, "SELECT string_agg(version || state, "
					"',' ORDER BY version) FROM "
					"table_versions WHERE table_name = "
					"'k'"),
			    "1dropped,2kept,3current");
	assert_string_equal(q(f->other,
			      "SELECT count(*) FROM pg_class c JOIN "
			      "pg_namespace n ON n.oid = "
			      "c.relnamespace WHERE n.nspname = "
			      "'%s' AND c.relname LIKE 'tw\\_kept\\_%%'",
			      f->app),
			    "1");
	f->cfg.keep_versions = 0;
	publish_ok(f, f->ana, "k", "replace", 1, 4, "v4_");
	assert_int_equal(count_rows(f, "k"), 4);
	assert_string_equal(q(f->other, "SELECT count(*) FROM table_versions "
					"WHERE table_name = 'k' AND state = "
					"'kept'"),
			    "0");
	assert_string_equal(q(f->other,
			      "SELECT count(*) FROM pg_class c JOIN "
			      "pg_namespace n ON n.oid = "
			      "c.relnamespace WHERE n.nspname = "
			      "'%s' AND c.relname LIKE 'tw\\_kept\\_%%'",
			      f->app),
			    "0");
	assert_rc(db_publish_rollback(f->other, f->app, f->out, "k", f->ana,
				      false, &rb, &err),
		  TW_ECONFLICT, &err);
	buf_release(&err);
}

/* Each version with a primary key of the same name: kept side by side. */
static void test_kept_versions_with_indexes(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_rollback_result rb;

	f->cfg.keep_versions = 2;
	publish_ok(f, f->ana, "pk", "create", 1, 3, "v1_");
	q(f->conn, "ALTER TABLE \"%s\".pk ADD PRIMARY KEY (id)", f->out);
	publish_ok(f, f->ana, "pk", "replace", 1, 2, "v2_");
	q(f->conn, "ALTER TABLE \"%s\".pk ADD PRIMARY KEY (id)", f->out);
	q(f->conn, "ALTER TABLE \"%s\".pk ADD COLUMN n serial", f->out);
	publish_ok(f, f->ana, "pk", "replace", 1, 1, "v3_");
	q(f->conn, "ALTER TABLE \"%s\".pk ADD PRIMARY KEY (id)", f->out);
	q(f->conn, "ALTER TABLE \"%s\".pk ADD COLUMN n serial", f->out);
	publish_ok(f, f->ana, "pk", "replace", 1, 4, "v4_");
	assert_string_equal(q(f->other, "SELECT string_agg(version || state, "
					"',' ORDER BY version) FROM "
					"table_versions WHERE table_name = "
					"'pk'"),
			    "1dropped,2kept,3kept,4current");
	assert_rc(db_publish_rollback(f->other, f->app, f->out, "pk", f->ana,
				      false, &rb, &err),
		  0, &err);
	assert_rc(db_publish_rollback(f->other, f->app, f->out, "pk", f->ana,
				      false, &rb, &err),
		  0, &err);
	assert_int_equal(rb.restored, 2);
	assert_int_equal(count_rows(f, "pk"), 2);
	buf_release(&err);
}

static void test_replace_only_tables_a_job_made(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct queue_job job;
	struct publish p;
	const char *code;

	/* Made by hand. */
	q(f->conn, "CREATE TABLE \"%s\".hand (id bigint, name text)", f->out);
	make_job(f, &job, f->admin, "public.src", "hand", "replace");
	assert_rc(publish(f, &p, &job, 1, 1, "a", &code, &err, true),
		  TW_ECONFLICT, &err);
	assert_string_equal(code, "destination_exists");
	assert_non_null(strstr(err.ptr, "not a table Tablewright created"));

	/* Another analyst's: refused; an admin's job may. */
	publish_ok(f, f->ana, "anas", "create", 1, 5, "a");
	buf_reset(&err);
	make_job(f, &job, f->bob, "public.src", "anas", "append");
	assert_rc(publish(f, &p, &job, 1, 1, "b", &code, &err, true),
		  TW_ECONFLICT, &err);
	assert_string_equal(code, "destination_exists");
	assert_non_null(strstr(err.ptr, "another user"));
	assert_int_equal(count_rows(f, "anas"), 5);
	publish_ok(f, f->admin, "anas", "replace", 1, 2, "adm");
	assert_int_equal(count_rows(f, "anas"), 2);
	/* The table stays its creator's. */
	assert_string_equal(q(f->other, "SELECT user_id FROM published_tables "
					"WHERE table_name = 'anas'"),
			    q(f->conn, "SELECT %" PRId64, f->ana));

	/* Dropped and made again by hand under the published name. */
	q(f->conn, "DROP TABLE \"%s\".anas", f->out);
	q(f->conn, "CREATE TABLE \"%s\".anas (id bigint, name text)", f->out);
	buf_reset(&err);
	make_job(f, &job, f->ana, "public.src", "anas", "replace");
	assert_rc(publish(f, &p, &job, 1, 1, "a", &code, &err, true),
		  TW_ECONFLICT, &err);
	assert_string_equal(code, "destination_exists");
	assert_non_null(strstr(err.ptr, "made again"));
	buf_release(&err);
}

/* --- append ---------------------------------------------------------------
 */

static void test_append_adds_rows(void **state)
{
	struct fx *f = *state;
	char *prov = NULL;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	publish_ok(f, f->ana, "ap", "create", 1, 5, "a");
	publish_ok(f, f->ana, "ap", "append", 6, 3, "b");
	assert_int_equal(count_rows(f, "ap"), 8);
	assert_string_equal(q(f->other, "SELECT version FROM table_versions "
					"WHERE table_name = 'ap'"),
			    "1");
	assert_rc(db_publish_provenance(f->other, f->out, "ap", &prov, &err), 0,
		  &err);
	assert_non_null(strstr(prov, "\"mode\" : \"append\""));
	free(prov);
	/* A destination with other column types: assignment casts. */
	q(f->conn, "DELETE FROM published_tables");
	q(f->conn, "DELETE FROM table_versions");
	q(f->conn,
	  "CREATE TABLE \"%s\".typed (id int, name varchar(10), extra "
	  "text DEFAULT 'd', opt int)",
	  f->out);
	q(f->conn,
	  "INSERT INTO published_tables (schema_name, table_name, user_id) "
	  "VALUES ('%s', 'typed', %" PRId64 ")",
	  f->out, f->ana);
	publish_ok(f, f->ana, "typed", "append", 1, 3, "c");
	assert_string_equal(q(f->other,
			      "SELECT string_agg(id || name || extra, "
			      "',' ORDER BY id) FROM \"%s\".typed",
			      f->out),
			    "1c1d,2c2d,3c3d");
	buf_release(&err);
}

/* The early append check keeps no lock on the destination for the run. */
static void test_append_check_holds_no_lock(void **state)
{
	struct fx *f = *state;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_columns cols = { default_cols, 2 };
	struct queue_job job;
	struct publish p;
	const char *code;

	publish_ok(f, f->ana, "busy", "create", 1, 2, "a");
	make_job(f, &job, f->ana, "public.src", "busy", "append");
	assert_rc(publish_open(&p, f->conn, &f->cfg, &job, &code, &err), 0,
		  &err);
	assert_rc(publish_stage(&p, &cols, &code, &err), 0, &err);
	/* A rollback or a replace could take the table now. */
	q(f->other, "BEGIN");
	q(f->other, "LOCK TABLE \"%s\".busy IN ACCESS EXCLUSIVE MODE NOWAIT",
	  f->out);
	q(f->other, "ROLLBACK");
	publish_abort(&p);
	assert_int_equal(count_rows(f, "busy"), 2);
	buf_release(&err);
}

static void expect_mismatch(struct fx *f, const char *dest, const char *want)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct queue_job job;
	struct publish p;
	const char *code;
	int64_t before = count_rows(f, dest);

	make_job(f, &job, f->ana, "public.src", dest, "append");
	assert_rc(publish(f, &p, &job, 100, 3, "z", &code, &err, true),
		  TW_EVALIDATION, &err);
	assert_string_equal(code, "schema_mismatch");
	if (!strstr(err.ptr, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.ptr, want);
	assert_int_equal(count_rows(f, dest), before);
	assert_int_equal(PQtransactionStatus(f->conn), PQTRANS_IDLE);
	buf_release(&err);
}

static void adopt(struct fx *f, const char *table)
{
	q(f->conn,
	  "INSERT INTO published_tables (schema_name, table_name, user_id) "
	  "VALUES ('%s', '%s', %" PRId64 ")",
	  f->out, table, f->ana);
}

static void test_append_schema_mismatch(void **state)
{
	struct fx *f = *state;

	/* The result's "name" is not a column of the destination. */
	q(f->conn, "CREATE TABLE \"%s\".m1 (id bigint, other text)", f->out);
	adopt(f, "m1");
	expect_mismatch(f, "m1", "\"name\"");
	/* text into an integer column: no assignment cast. */
	q(f->conn, "CREATE TABLE \"%s\".m2 (id bigint, name int)", f->out);
	adopt(f, "m2");
	expect_mismatch(f, "m2", "\"name\"");
	/* A NOT NULL column without a default that the result lacks. */
	q(f->conn,
	  "CREATE TABLE \"%s\".m3 (id bigint, name text, must int NOT "
	  "NULL)",
	  f->out);
	adopt(f, "m3");
	expect_mismatch(f, "m3", "\"must\"");
	/* A value the destination refuses (too long for varchar(1)). */
	q(f->conn, "CREATE TABLE \"%s\".m4 (id bigint, name varchar(1))",
	  f->out);
	adopt(f, "m4");
	expect_mismatch(f, "m4", "too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_create_publishes_at_commit_only, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_create_refuses_existing_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_rechecks_at_finish,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_reserved_and_source_names_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_replace_keeps_previous_and_rolls_back, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keep_versions_limits_what_is_kept, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_kept_versions_with_indexes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_replace_only_tables_a_job_made, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_adds_rows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_append_schema_mismatch,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_check_holds_no_lock,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
