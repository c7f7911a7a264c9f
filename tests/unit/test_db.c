/*
 * test_db.c - the db module against a real PostgreSQL.
 *
 * TW_TEST_DATABASE_URL names a database where this test may create and
 * drop schemas (scripts/test.sh starts a throwaway cluster and sets it).
 * Without it every database test fails with a message saying so: a skipped
 * database test would pass CI having tested nothing.
 *
 * Each test works in its own schema, tw_test_<pid>_<name>, dropped by the
 * group teardown. test_embedded_cluster additionally runs initdb and pg_ctl
 * in a temporary directory, which takes a few seconds.
 *
 * Connection URLs carry passwords: nothing here prints one, and string
 * comparisons of URLs use assert_true(strcmp(...) == 0), because
 * assert_string_equal() would print both strings on failure.
 */
#include "core/compat.h"

#include <pthread.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/str.h"
#include "db/db.h"
#include "platform/plat.h"

#define SECRET "Sup3rSecretPw"

static const char *test_url(void)
{
	const char *url = getenv("TW_TEST_DATABASE_URL");

	if (!url || !*url)
		fail_msg(
			"TW_TEST_DATABASE_URL is not set: this test needs a "
			"PostgreSQL database it may create schemas in "
			"(scripts/test.sh starts one; by hand, e.g. "
			"TW_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres)");
	return url;
}

/* The schema of one test: tw_test_<pid>_<name>. */
static const char *schema_name(char *out, size_t size, const char *name)
{
	snprintf(out, size, "tw_test_%ld_%s", plat_getpid(), name);
	return out;
}

/* Fails the test with err's text when rc is not the expected code. */
#define assert_rc(rc, want, err)                                              \
	do {                                                                  \
		int rc_ = (rc);                                               \
		if (rc_ != (want))                                            \
			fail_msg("%s returned %d (%s), expected %d: %s", #rc, \
				 rc_, err_name(rc_), (want), (err)->ptr);     \
	} while (0)

static PGconn *direct_connect(void)
{
	PGconn *conn = PQconnectdb(test_url());

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("could not connect to TW_TEST_DATABASE_URL: %s",
			 PQerrorMessage(conn));
	return conn;
}

/* Runs sql, which must succeed, and returns the first value (or ""). */
static char *query_value(PGconn *conn, const char *sql)
{
	static char value[1024];
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	value[0] = '\0';
	if (PQntuples(res) > 0 && PQnfields(res) > 0)
		snprintf(value, sizeof(value), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return value;
}

static struct db_pool *open_pool(const char *url, const char *schema, int size)
{
	struct db_pool_opts po;
	struct db_pool *pool = NULL;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	memset(&po, 0, sizeof(po));
	po.url = url;
	po.app_schema = schema;
	po.size = size;
	assert_rc(db_pool_new(&pool, &po, &err), 0, &err);
	assert_non_null(pool);
	buf_release(&err);
	return pool;
}

/* Drops every schema this process created. */
static int drop_test_schemas(void **state)
{
	const char *url = getenv("TW_TEST_DATABASE_URL");
	char sql[512];
	PGconn *conn;
	PGresult *res;

	(void)state;
	if (!url || !*url)
		return 0;
	conn = PQconnectdb(url);
	snprintf(sql, sizeof(sql),
		 "DO $$ DECLARE s text; BEGIN "
		 "FOR s IN SELECT nspname FROM pg_namespace "
		 "WHERE nspname LIKE 'tw\\_test\\_%ld\\_%%' LOOP "
		 "EXECUTE format('DROP SCHEMA %%I CASCADE', s); "
		 "END LOOP; END $$",
		 plat_getpid());
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	res = PQexec(conn, sql);
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/* --- SQLSTATE table ------------------------------------------------------ */

static void test_sqlstate_table(void **state)
{
	static const struct {
		const char *state;
		int want;
	} cases[] = {
		{ "23505", TW_ECONFLICT },   { "23P01", TW_ECONFLICT },
		{ "23503", TW_EVALIDATION }, { "23502", TW_EVALIDATION },
		{ "23514", TW_EVALIDATION }, { "22012", TW_EVALIDATION },
		{ "22P02", TW_EVALIDATION }, { "22001", TW_EVALIDATION },
		{ "42P01", TW_ENOTFOUND },   { "42703", TW_ENOTFOUND },
		{ "3F000", TW_ENOTFOUND },   { "42501", TW_EFORBIDDEN },
		{ "57014", TW_ETIMEOUT },    { "08006", TW_EUNAVAIL },
		{ "08001", TW_EUNAVAIL },    { "57P01", TW_EUNAVAIL },
		{ "57P02", TW_EUNAVAIL },    { "57P03", TW_EUNAVAIL },
		{ "53100", TW_EUNAVAIL },    { "53300", TW_EUNAVAIL },
		{ "42P07", TW_ECONFLICT },   { "42601", TW_EDB },
		{ "23000", TW_EDB },	     { "57000", TW_EDB },
		{ "XX000", TW_EDB },	     { "40001", TW_EDB },
	};
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(cases); i++) {
		if (db_sqlstate_to_err(cases[i].state) != cases[i].want)
			fail_msg("SQLSTATE %s maps to %d, expected %d",
				 cases[i].state,
				 db_sqlstate_to_err(cases[i].state),
				 cases[i].want);
	}
	assert_int_equal(db_sqlstate_to_err(NULL), TW_EDB);
	assert_int_equal(db_sqlstate_to_err(""), TW_EDB);
	assert_int_equal(db_sqlstate_to_err("22"), TW_EDB);
	assert_int_equal(db_sqlstate_to_err("235050"), TW_EDB);
	assert_int_equal(db_result_check(NULL, NULL), TW_EUNAVAIL);
}

/* --- the pool ------------------------------------------------------------ */

static void test_pool_connects_and_pings(void **state)
{
	char schema[128];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_pool *pool;
	PGconn *conn = NULL;
	PGresult *res = NULL;

	(void)state;
	schema_name(schema, sizeof(schema), "Ping");
	pool = open_pool(test_url(), schema, 3);
	assert_int_equal(db_pool_open_count(pool), 1);
	assert_rc(db_ping(pool, &err), 0, &err);
	assert_int_equal(db_pool_open_count(pool), 1);

	/* Every session has the app schema first in its search_path. */
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_rc(db_exec(conn,
			  "SELECT current_setting('search_path'), "
			  "current_setting('application_name'), "
			  "current_setting('client_encoding')",
			  0, NULL, &res, &err),
		  0, &err);
	assert_non_null(strstr(PQgetvalue(res, 0, 0), schema));
	assert_true(str_starts_with(PQgetvalue(res, 0, 0), "\"tw_test_"));
	assert_string_equal(PQgetvalue(res, 0, 1), "tablewright");
	assert_string_equal(PQgetvalue(res, 0, 2), "UTF8");
	PQclear(res);
	res = NULL;

	/* Parameters travel as values, never spliced into the SQL. */
	{
		const char *params[1] = { "'; DROP TABLE x; --" };

		assert_rc(db_exec(conn, "SELECT $1::text", 1, params, &res,
				  &err),
			  0, &err);
		assert_string_equal(PQgetvalue(res, 0, 0), params[0]);
		PQclear(res);
	}
	db_release(pool, conn, false);
	assert_int_equal(db_pool_open_count(pool), 1);
	db_pool_free(pool);
	buf_release(&err);
}

/*
 * A URL's own parameters override Tablewright's defaults
 * (application_name), and its "options" are kept next to the search_path.
 */
static void test_url_parameters_are_kept(void **state)
{
	const char *base = test_url();
	char schema[128];
	char url[2048];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_pool *pool;
	PGconn *conn = NULL;

	(void)state;
	schema_name(schema, sizeof(schema), "params");
	if (strstr(base, "://"))
		snprintf(
			url, sizeof(url),
			"%s%capplication_name=custom&options=-c%%20work_mem%%3D7MB",
			base, strchr(base, '?') ? '&' : '?');
	else
		snprintf(url, sizeof(url),
			 "%s application_name=custom options='-c work_mem=7MB'",
			 base);
	pool = open_pool(url, schema, 1);
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_string_equal(query_value(conn, "SHOW application_name"),
			    "custom");
	assert_string_equal(query_value(conn, "SHOW work_mem"), "7MB");
	assert_non_null(strstr(query_value(conn, "SHOW search_path"), schema));
	db_release(pool, conn, false);
	db_pool_free(pool);
	buf_release(&err);
}

static void test_malformed_url_is_config_error(void **state)
{
	static const char *const urls[] = {
		/* libpq quotes the whole URI in these two messages */
		"postgresql://tw:" SECRET "@[::1/db",
		"postgresql://[::1]x/db?password=" SECRET,
		/* ... the undecodable component in this one */
		"postgresql://tw:" SECRET "%zz@localhost/db",
		"postgresql://tw:" SECRET "@localhost/db?nonsense=1",
		/* key=value: a space in an unquoted password */
		"host=localhost password=Sup3r " SECRET " dbname=x",
		"host=localhost password='" SECRET,
		"just-a-database-name",
	};
	struct db_pool_opts po;
	struct db_pool *pool = NULL;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(urls); i++) {
		memset(&po, 0, sizeof(po));
		po.url = urls[i];
		po.app_schema = "tablewright";
		po.size = 1;
		buf_reset(&err);
		assert_int_equal(db_pool_new(&pool, &po, &err), TW_ECONFIG);
		assert_null(pool);
		assert_true(str_starts_with(err.ptr, "TW_DATABASE_URL is "
						     "malformed: "));
		assert_true(err.len > strlen("TW_DATABASE_URL is malformed: "));
		if (strstr(err.ptr, "Sup3r") || strstr(err.ptr, "Secret"))
			fail_msg("the message for case %d shows the "
				 "password",
				 (int)i);
		assert_null(strchr(err.ptr, '\n'));
	}
	/* A bad schema name is refused before anything else. */
	memset(&po, 0, sizeof(po));
	po.url = test_url();
	po.app_schema = "bad-name";
	buf_reset(&err);
	assert_int_equal(db_pool_new(&pool, &po, &err), TW_ECONFIG);
	buf_release(&err);
}

static void test_unreachable_server_is_unavailable(void **state)
{
	char url[256];
	struct db_pool_opts po;
	struct db_pool *pool = NULL;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int64_t t0;
	int port = 0;

	(void)state;
	assert_rc(plat_free_tcp_port(&port, &err), 0, &err);
	snprintf(url, sizeof(url),
		 "postgresql://tw:" SECRET "@127.0.0.1:%d/nothing", port);
	memset(&po, 0, sizeof(po));
	po.url = url;
	po.app_schema = "tablewright";
	po.size = 2;
	po.connect_timeout_s = 2;
	t0 = plat_monotonic_ms();
	assert_int_equal(db_pool_new(&pool, &po, &err), TW_EUNAVAIL);
	assert_true(plat_monotonic_ms() - t0 < 3000);
	assert_null(pool);
	assert_true(str_starts_with(err.ptr, "could not connect to the "
					     "database: "));
	assert_null(strstr(err.ptr, SECRET));
	assert_null(strstr(err.ptr, "postgresql://"));
	assert_null(strchr(err.ptr, '\n'));
	buf_release(&err);
}

static void test_release_rolls_back(void **state)
{
	char schema[128];
	char sql[256];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_pool *pool;
	PGconn *conn = NULL;
	PGconn *first;
	PGconn *setup;

	(void)state;
	schema_name(schema, sizeof(schema), "rollback");
	setup = direct_connect();
	snprintf(sql, sizeof(sql), "CREATE SCHEMA \"%s\"", schema);
	query_value(setup, sql);
	pool = open_pool(test_url(), schema, 1);

	/* Inside a transaction: the release rolls it back. */
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	first = conn;
	query_value(conn, "BEGIN");
	query_value(conn, "CREATE TABLE left_behind (x int)");
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
	db_release(pool, conn, false);
	assert_int_equal(db_pool_open_count(pool), 1);
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_ptr_equal(conn, first); /* the same session, cleaned */
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	assert_string_equal(
		query_value(conn, "SELECT to_regclass('left_behind') IS NULL"),
		"t");

	/* In a failed transaction: rolled back too, session reusable. */
	query_value(conn, "BEGIN");
	PQclear(PQexec(conn, "SELECT 1/0"));
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_INERROR);
	db_release(pool, conn, false);
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_ptr_equal(conn, first);
	assert_string_equal(query_value(conn, "SELECT 41 + 1"), "42");

	/* With a result nobody read: closed rather than reused. */
	assert_int_equal(PQsendQuery(conn, "SELECT pg_sleep(0.05)"), 1);
	db_release(pool, conn, false);
	assert_int_equal(db_pool_open_count(pool), 0);
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_string_equal(query_value(conn, "SELECT 1"), "1");

	/* Released as broken: closed, and the slot is free again. */
	db_release(pool, conn, true);
	assert_int_equal(db_pool_open_count(pool), 0);
	assert_rc(db_ping(pool, &err), 0, &err);
	assert_int_equal(db_pool_open_count(pool), 1);

	db_pool_free(pool);
	PQfinish(setup);
	buf_release(&err);
}

static void test_errors_map_through_sqlstate(void **state)
{
	char schema[128];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_pool *pool;
	PGconn *conn = NULL;
	const char *one[1] = { "1" };

	(void)state;
	schema_name(schema, sizeof(schema), "sqlstate");
	pool = open_pool(test_url(), schema, 1);
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_rc(db_exec(conn, "CREATE TEMP TABLE u (x int PRIMARY KEY)", 0,
			  NULL, NULL, &err),
		  0, &err);
	assert_rc(db_exec(conn, "INSERT INTO u VALUES ($1)", 1, one, NULL,
			  &err),
		  0, &err);
	assert_int_equal(db_exec(conn, "INSERT INTO u VALUES ($1)", 1, one,
				 NULL, &err),
			 TW_ECONFLICT);
	assert_true(str_starts_with(err.ptr, "duplicate key value"));
	assert_null(strchr(err.ptr, '\n'));

	buf_reset(&err);
	assert_int_equal(db_exec(conn, "SELECT 1/0", 0, NULL, NULL, &err),
			 TW_EVALIDATION);
	assert_string_equal(err.ptr, "division by zero");
	buf_reset(&err);
	assert_int_equal(db_exec(conn, "SELECT * FROM no_such_table", 0, NULL,
				 NULL, &err),
			 TW_ENOTFOUND);
	buf_reset(&err);
	assert_int_equal(db_exec(conn, "SELEC 1", 0, NULL, NULL, &err), TW_EDB);
	assert_true(str_starts_with(err.ptr, "syntax error"));
	/* err may be NULL; *res is NULL after a failure. */
	{
		PGresult *res = (PGresult *)&err;

		assert_int_equal(db_exec(conn, "SELECT 1/0", 0, NULL, &res,
					 NULL),
				 TW_EVALIDATION);
		assert_null(res);
	}
	/* The temporary table must not outlive this test's session. */
	db_release(pool, conn, true);
	db_pool_free(pool);
	buf_release(&err);
}

struct late_release {
	struct db_pool *pool;
	PGconn *conn;
};

static void *release_later(void *arg)
{
	struct late_release *lr = arg;

	plat_sleep_ms(200);
	db_release(lr->pool, lr->conn, false);
	return NULL;
}

static void test_pool_exhaustion_times_out(void **state)
{
	char schema[128];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_pool *pool;
	struct late_release lr;
	pthread_t th;
	PGconn *a = NULL;
	PGconn *b = (PGconn *)&err;
	int64_t t0;
	int64_t took;

	(void)state;
	schema_name(schema, sizeof(schema), "exhaust");
	pool = open_pool(test_url(), schema, 1);
	assert_rc(db_acquire(pool, 1000, &a, &err), 0, &err);

	t0 = plat_monotonic_ms();
	assert_int_equal(db_acquire(pool, 300, &b, &err), TW_ETIMEOUT);
	took = plat_monotonic_ms() - t0;
	assert_null(b);
	assert_true(took >= 250 && took < 2000);
	assert_non_null(strstr(err.ptr, "no database connection became free"));
	buf_reset(&err);
	assert_int_equal(db_acquire(pool, 0, &b, &err), TW_ETIMEOUT);
	/* db_ping() reports a saturated pool as unavailable, quickly. */
	buf_reset(&err);
	t0 = plat_monotonic_ms();
	assert_int_equal(db_ping(pool, &err), TW_EUNAVAIL);
	assert_true(plat_monotonic_ms() - t0 < 3000);

	/* A waiter wakes up as soon as a connection comes back. */
	lr.pool = pool;
	lr.conn = a;
	assert_int_equal(pthread_create(&th, NULL, release_later, &lr), 0);
	t0 = plat_monotonic_ms();
	buf_reset(&err);
	assert_rc(db_acquire(pool, 10000, &b, &err), 0, &err);
	took = plat_monotonic_ms() - t0;
	pthread_join(th, NULL);
	assert_ptr_equal(b, a);
	assert_true(took >= 150 && took < 2000);
	db_release(pool, b, false);
	db_pool_free(pool);
	buf_release(&err);
}

static void test_terminated_backend_reconnects(void **state)
{
	char schema[128];
	char sql[256];
	char pid[32];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_pool *pool;
	PGconn *conn = NULL;
	PGconn *admin;
	int i;

	(void)state;
	schema_name(schema, sizeof(schema), "terminate");
	pool = open_pool(test_url(), schema, 1);
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	snprintf(pid, sizeof(pid), "%s",
		 query_value(conn, "SELECT pg_backend_pid()"));
	db_release(pool, conn, false);

	admin = direct_connect();
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
	assert_string_equal(query_value(admin, sql), "t");
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid);
	for (i = 0; i < 250; i++) {
		if (strcmp(query_value(admin, sql), "0") == 0)
			break;
		plat_sleep_ms(20);
	}
	assert_true(i < 250);
	PQfinish(admin);

	/* The dead session is noticed and replaced inside db_acquire(). */
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_string_equal(query_value(conn, "SELECT 1"), "1");
	assert_string_not_equal(query_value(conn, "SELECT pg_backend_pid()"),
				pid);
	assert_non_null(
		strstr(query_value(conn, "SELECT "
					 "current_setting('search_path')"),
		       schema));
	db_release(pool, conn, false);
	assert_int_equal(db_pool_open_count(pool), 1);
	assert_rc(db_ping(pool, &err), 0, &err);
	db_pool_free(pool);
	buf_release(&err);
}

/* --- transactions -------------------------------------------------------- */

/* A second session's view: how many rows t holds in schema. */
static int count_rows(PGconn *other, const char *schema)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".t", schema);
	return atoi(query_value(other, sql));
}

static void test_tx_commit_and_rollback(void **state)
{
	char schema[128];
	char sql[512];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_tx tx;
	PGconn *conn, *other;

	(void)state;
	schema_name(schema, sizeof(schema), "tx");
	conn = direct_connect();
	other = direct_connect();
	snprintf(sql, sizeof(sql),
		 "CREATE SCHEMA \"%s\"; CREATE TABLE \"%s\".t (x int UNIQUE "
		 "DEFERRABLE INITIALLY DEFERRED)",
		 schema, schema);
	query_value(conn, sql);
	snprintf(sql, sizeof(sql), "INSERT INTO \"%s\".t VALUES (1)", schema);

	/* Committed: the other session sees the row. */
	assert_rc(db_tx_begin(&tx, conn, &err), 0, &err);
	assert_true(tx.open);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
	assert_rc(db_exec(conn, sql, 0, NULL, NULL, &err), 0, &err);
	assert_int_equal(count_rows(other, schema), 0);
	assert_rc(db_tx_commit(&tx, &err), 0, &err);
	assert_false(tx.open);
	assert_int_equal(count_rows(other, schema), 1);
	/* Rolling back a committed unit does nothing. */
	db_tx_rollback(&tx);
	assert_int_equal(count_rows(other, schema), 1);

	/* Rolled back, also after a failed statement. */
	assert_rc(db_tx_begin(&tx, conn, &err), 0, &err);
	assert_rc(db_exec(conn, "SELECT * FROM no_such_table", 0, NULL, NULL,
			  &err),
		  TW_ENOTFOUND, &err);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_INERROR);
	db_tx_rollback(&tx);
	assert_false(tx.open);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	assert_int_equal(count_rows(other, schema), 1);

	/* A COMMIT that fails maps through the SQLSTATE table. */
	buf_reset(&err);
	assert_rc(db_tx_begin(&tx, conn, &err), 0, &err);
	assert_rc(db_exec(conn, sql, 0, NULL, NULL, &err), 0, &err);
	assert_int_equal(db_tx_commit(&tx, &err), TW_ECONFLICT);
	assert_true(str_starts_with(err.ptr, "duplicate key value"));
	assert_false(tx.open);
	db_tx_rollback(&tx);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	assert_int_equal(count_rows(other, schema), 1);

	/* A BEGIN that fails leaves nothing open. */
	buf_reset(&err);
	query_value(conn, "BEGIN");
	PQclear(PQexec(conn, "SELECT 1/0"));
	assert_int_equal(db_tx_begin(&tx, conn, &err), TW_EDB);
	assert_false(tx.open);
	query_value(conn, "ROLLBACK");

	PQfinish(other);
	PQfinish(conn);
	buf_release(&err);
}

static void test_tx_nested_and_custom_begin(void **state)
{
	char schema[128];
	char sql[512];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_tx outer, inner;
	PGconn *conn, *other;

	(void)state;
	schema_name(schema, sizeof(schema), "txnest");
	conn = direct_connect();
	other = direct_connect();
	snprintf(sql, sizeof(sql),
		 "CREATE SCHEMA \"%s\"; CREATE TABLE \"%s\".t (x int)", schema,
		 schema);
	query_value(conn, sql);
	snprintf(sql, sizeof(sql), "INSERT INTO \"%s\".t VALUES (1)", schema);

	/* Nested on an idle connection: a transaction of its own. */
	assert_rc(db_tx_begin_nested(&inner, conn, "sp", &err), 0, &err);
	assert_null(inner.savepoint);
	assert_rc(db_exec(conn, sql, 0, NULL, NULL, &err), 0, &err);
	assert_rc(db_tx_commit(&inner, &err), 0, &err);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	assert_int_equal(count_rows(other, schema), 1);

	/*
	 * Inside the caller's transaction: a savepoint, whose rollback undoes
	 * only its own work and leaves the caller's transaction usable.
	 */
	assert_rc(db_tx_begin(&outer, conn, &err), 0, &err);
	assert_rc(db_exec(conn, sql, 0, NULL, NULL, &err), 0, &err);
	assert_rc(db_tx_begin_nested(&inner, conn, "sp", &err), 0, &err);
	assert_non_null(inner.savepoint);
	assert_rc(db_exec(conn, sql, 0, NULL, NULL, &err), 0, &err);
	PQclear(PQexec(conn, "SELECT 1/0"));
	db_tx_rollback(&inner);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
	assert_rc(db_tx_begin_nested(&inner, conn, "sp", &err), 0, &err);
	assert_rc(db_exec(conn, sql, 0, NULL, NULL, &err), 0, &err);
	assert_rc(db_tx_commit(&inner, &err), 0, &err);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
	assert_int_equal(count_rows(other, schema), 1);
	assert_rc(db_tx_commit(&outer, &err), 0, &err);
	/* The outer row and the released savepoint's; not the rolled back. */
	assert_int_equal(count_rows(other, schema), 3);

	/* The caller's opening statements, several in one round trip. */
	assert_rc(db_tx_begin_sql(&outer, conn,
				  "BEGIN READ ONLY; SET LOCAL "
				  "statement_timeout = '7s'",
				  &err),
		  0, &err);
	assert_true(outer.open);
	assert_string_equal(query_value(conn, "SHOW statement_timeout"), "7s");
	assert_true(db_exec(conn, sql, 0, NULL, NULL, &err) < 0);
	db_tx_rollback(&outer);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	assert_string_equal(query_value(conn, "SHOW statement_timeout"), "0");
	/* One that fails after BEGIN leaves an open, aborted transaction. */
	buf_reset(&err);
	assert_int_equal(db_tx_begin_sql(&outer, conn,
					 "BEGIN; SET LOCAL no_such = 1", &err),
			 TW_EDB);
	assert_true(outer.open);
	db_tx_rollback(&outer);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);

	PQfinish(other);
	PQfinish(conn);
	buf_release(&err);
}

/* --- reading integers ---------------------------------------------------- */

static void test_col_i64(void **state)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	PGconn *conn;
	PGresult *res;
	int64_t v = -1;

	(void)state;
	conn = direct_connect();
	res = PQexec(conn, "SELECT 42::int8, (-9223372036854775807 - 1)::int8,"
			   " 9223372036854775807::int8, NULL::int8 AS none,"
			   " 'x1'::text AS word, '9223372036854775808'::text,"
			   " ''::text, ' 1'::text, '1.5'::numeric, 7::int2");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_rc(db_col_i64(res, 0, 0, &v, &err), 0, &err);
	assert_true(v == 42);
	assert_rc(db_col_i64(res, 0, 1, &v, &err), 0, &err);
	assert_true(v == INT64_MIN);
	assert_rc(db_col_i64(res, 0, 2, &v, &err), 0, &err);
	assert_true(v == INT64_MAX);
	assert_rc(db_col_i64(res, 0, 9, &v, &err), 0, &err);
	assert_true(v == 7);

	/* NULL and what is not a whole int64: an error naming the column. */
	assert_int_equal(db_col_i64(res, 0, 3, &v, &err), TW_EINTERNAL);
	assert_true(v == 0);
	assert_non_null(strstr(err.ptr, "\"none\""));
	buf_reset(&err);
	assert_int_equal(db_col_i64(res, 0, 4, &v, &err), TW_EINTERNAL);
	assert_non_null(strstr(err.ptr, "\"word\" is not an integer"));
	assert_true(v == 0);
	assert_int_equal(db_col_i64(res, 0, 5, &v, NULL), TW_EINTERNAL);
	assert_int_equal(db_col_i64(res, 0, 6, &v, NULL), TW_EINTERNAL);
	assert_int_equal(db_col_i64(res, 0, 7, &v, NULL), TW_EINTERNAL);
	assert_int_equal(db_col_i64(res, 0, 8, &v, NULL), TW_EINTERNAL);

	/* The _or form: the value, or the fallback. */
	assert_true(db_col_i64_or(res, 0, 0, -1) == 42);
	assert_true(db_col_i64_or(res, 0, 3, -1) == -1);
	assert_true(db_col_i64_or(res, 0, 4, 5) == 5);
	assert_true(db_col_i64_or(res, 0, 5, 5) == 5);
	PQclear(res);
	PQfinish(conn);
	buf_release(&err);
}

/* --- catalog rules ------------------------------------------------------- */

static void test_catalog_rules(void **state)
{
	static char sales[] = "sales", null[] = "null", tw[] = "tw";
	char *schemas[] = { sales, null, tw };
	struct buf b = BUF_INIT(256);
	struct db_catalog_dest d;

	(void)state;
	db_catalog_schemas(&b, schemas, 3);
	assert_string_equal(b.ptr, "{\"sales\",\"null\",\"tw\"}");
	buf_reset(&b);
	db_catalog_schemas(&b, schemas, 0);
	assert_string_equal(b.ptr, "{}");
	buf_release(&b);

	assert_true(db_catalog_is_data_schema("sales", schemas, 3, "app"));
	assert_false(db_catalog_is_data_schema("other", schemas, 3, "app"));
	/* The app schema is never data, even when listed. */
	assert_false(db_catalog_is_data_schema("tw", schemas, 3, "tw"));

	assert_true(db_catalog_name_valid("out_1"));
	assert_true(db_catalog_name_valid("_x"));
	assert_false(db_catalog_name_valid("1x"));
	assert_false(db_catalog_name_valid("a.b"));
	assert_false(db_catalog_name_valid("\"x\""));
	assert_false(db_catalog_name_valid(""));

	/* Nothing under the name: every mode may write. */
	memset(&d, 0, sizeof(d));
	assert_int_equal(db_catalog_dest_verdict(&d, "create", false, 1, false),
			 DB_DEST_OK);
	assert_int_equal(db_catalog_dest_verdict(&d, "append", true, 1, false),
			 DB_DEST_OK);
	/* A published table of user 1. */
	d.exists = d.is_table = d.published = true;
	d.owner = 1;
	assert_int_equal(db_catalog_dest_verdict(&d, "create", false, 1, true),
			 DB_DEST_EXISTS);
	assert_int_equal(db_catalog_dest_verdict(&d, "replace", true, 1, true),
			 DB_DEST_IS_SOURCE);
	assert_int_equal(db_catalog_dest_verdict(&d, "replace", false, 1,
						 false),
			 DB_DEST_OK);
	assert_int_equal(db_catalog_dest_verdict(&d, "append", false, 2, false),
			 DB_DEST_NOT_OWNER);
	assert_int_equal(db_catalog_dest_verdict(&d, "append", false, 2, true),
			 DB_DEST_OK);
	/* Not published, or published but no longer a table. */
	d.published = false;
	assert_int_equal(db_catalog_dest_verdict(&d, "replace", false, 1, true),
			 DB_DEST_NOT_OURS);
	d.published = true;
	d.is_table = false;
	assert_int_equal(db_catalog_dest_verdict(&d, "append", false, 1, true),
			 DB_DEST_NOT_OURS);
}

static void test_catalog_lookups(void **state)
{
	char app[128], data[128], hidden[128];
	char sql[4096];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf arr = BUF_INIT(512);
	struct db_catalog_dest d;
	char *schemas[2];
	bool visible = true;
	int applied = 0;
	PGconn *conn;

	(void)state;
	schema_name(app, sizeof(app), "catapp");
	schema_name(data, sizeof(data), "catdata");
	schema_name(hidden, sizeof(hidden), "cathidden");
	conn = direct_connect();
	assert_rc(db_migrate(conn, app, &applied, &err), 0, &err);
	snprintf(sql, sizeof(sql),
		 "CREATE SCHEMA \"%s\"; CREATE SCHEMA \"%s\";"
		 " CREATE TABLE \"%s\".t (x int);"
		 " CREATE VIEW \"%s\".v AS SELECT 1 AS x;"
		 " CREATE SEQUENCE \"%s\".s;"
		 " CREATE TABLE \"%s\".t (x int);"
		 " CREATE TABLE \"%s\".mine (x int);"
		 " INSERT INTO \"%s\".users (email, password_hash, role)"
		 " VALUES ('a@example.com', 'x', 'analyst');"
		 " INSERT INTO \"%s\".published_tables"
		 " (schema_name, table_name, user_id)"
		 " SELECT '%s', 'mine', id FROM \"%s\".users;"
		 " INSERT INTO \"%s\".published_tables"
		 " (schema_name, table_name, user_id)"
		 " SELECT '%s', 'v', id FROM \"%s\".users",
		 data, hidden, data, data, data, hidden, data, app, app, data,
		 app, app, data, app);
	query_value(conn, sql);
	snprintf(sql, sizeof(sql), "SET search_path = \"%s\", pg_catalog", app);
	query_value(conn, sql);

	/* Visible: tables and views of the data schemas, nothing else. */
	schemas[0] = data;
	schemas[1] = app;
	db_catalog_schemas(&arr, schemas, 2);
	assert_rc(db_catalog_source_visible(conn, arr.ptr, app, data, "t",
					    &visible, &err),
		  0, &err);
	assert_true(visible);
	assert_rc(db_catalog_source_visible(conn, arr.ptr, app, data, "v",
					    &visible, &err),
		  0, &err);
	assert_true(visible);
	assert_rc(db_catalog_source_visible(conn, arr.ptr, app, data, "s",
					    &visible, &err),
		  0, &err);
	assert_false(visible);
	assert_rc(db_catalog_source_visible(conn, arr.ptr, app, hidden, "t",
					    &visible, &err),
		  0, &err);
	assert_false(visible);
	/* The app schema is never shown, even when listed as data. */
	assert_rc(db_catalog_source_visible(conn, arr.ptr, app, app, "users",
					    &visible, &err),
		  0, &err);
	assert_false(visible);

	/* Destinations: what is there, and whose. */
	assert_rc(db_catalog_dest_lookup(conn, data, "nothing", &d, &err), 0,
		  &err);
	assert_false(d.exists);
	assert_rc(db_catalog_dest_lookup(conn, data, "t", &d, &err), 0, &err);
	assert_true(d.exists && d.is_table && !d.published);
	assert_rc(db_catalog_dest_lookup(conn, data, "mine", &d, &err), 0,
		  &err);
	assert_true(d.exists && d.is_table && d.published);
	assert_true(d.owner ==
		    atoll(query_value(conn, "SELECT min(id) FROM users")));
	assert_rc(db_catalog_dest_lookup(conn, data, "v", &d, &err), 0, &err);
	assert_true(d.exists && !d.is_table && d.published);
	assert_int_equal(db_catalog_dest_verdict(&d, "append", false, d.owner,
						 false),
			 DB_DEST_NOT_OURS);

	PQfinish(conn);
	buf_release(&arr);
	buf_release(&err);
}

/* --- migrations ---------------------------------------------------------- */

static void test_migrate_applies_once(void **state)
{
	static const char *const tables[] = {
		"users",
		"scripts",
		"script_versions",
		"jobs",
		"workers",
		"login_attempts",
		"schema_migrations",
		"published_tables",
		"table_versions",
		"table_publishes",
	};
	char schema[128];
	char sql[512];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	PGconn *conn;
	int applied = -1;
	size_t i;

	(void)state;
	assert_true(db_migrations_count >= 1);
	for (i = 1; i < db_migrations_count; i++)
		assert_true(db_migrations[i].version >
			    db_migrations[i - 1].version);
	assert_int_equal(db_migrations[0].version, 1);
	assert_string_equal(db_migrations[0].name, "0001_init");

	schema_name(schema, sizeof(schema), "migrate");
	conn = direct_connect();
	assert_rc(db_migrate(conn, schema, &applied, &err), 0, &err);
	assert_int_equal(applied, (int)db_migrations_count);
	for (i = 0; i < TW_ARRAY_SIZE(tables); i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT to_regclass('\"%s\".%s') IS NOT NULL", schema,
			 tables[i]);
		if (strcmp(query_value(conn, sql), "t") != 0)
			fail_msg("table %s is missing", tables[i]);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM \"%s\".schema_migrations", schema);
	assert_int_equal(atoi(query_value(conn, sql)),
			 (int)db_migrations_count);
	/* The runner's search_path was local to its transactions. */
	assert_null(strstr(query_value(conn, "SHOW search_path"), schema));
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	/* The advisory lock was released. */
	assert_string_equal(query_value(conn, "SELECT count(*) FROM pg_locks "
					      "WHERE locktype = 'advisory' "
					      "AND pid = pg_backend_pid()"),
			    "0");

	/* Second run: nothing to do. */
	applied = -1;
	assert_rc(db_migrate(conn, schema, &applied, &err), 0, &err);
	assert_int_equal(applied, 0);

	/* A recorded migration under another name is refused. */
	snprintf(sql, sizeof(sql),
		 "UPDATE \"%s\".schema_migrations SET name = '0001_other' "
		 "WHERE version = 1",
		 schema);
	query_value(conn, sql);
	assert_int_equal(db_migrate(conn, schema, &applied, &err), TW_ECONFIG);
	assert_non_null(strstr(err.ptr, "0001_other"));
	buf_reset(&err);
	assert_int_equal(db_migrate(conn, "no such schema", &applied, &err),
			 TW_ECONFIG);
	PQfinish(conn);
	buf_release(&err);
}

/* The schema's constraints, through the pool (search_path unqualified). */
static void test_schema_constraints(void **state)
{
	char schema[128];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_pool *pool;
	PGconn *conn = NULL;
	int applied = 0;

	(void)state;
	schema_name(schema, sizeof(schema), "constraints");
	pool = open_pool(test_url(), schema, 1);
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_rc(db_migrate(conn, schema, &applied, &err), 0, &err);
	query_value(conn, "INSERT INTO users (email, password_hash, role) "
			  "VALUES ('a@example.com', 'x', 'admin')");
	assert_int_equal(db_exec(conn,
				 "INSERT INTO users (email, password_hash, "
				 "role) VALUES ('B@example.com', 'x', "
				 "'admin')",
				 0, NULL, NULL, &err),
			 TW_EVALIDATION);
	assert_int_equal(db_exec(conn,
				 "INSERT INTO users (email, password_hash, "
				 "role) VALUES ('a@example.com', 'x', "
				 "'viewer')",
				 0, NULL, NULL, &err),
			 TW_ECONFLICT);
	assert_int_equal(db_exec(conn,
				 "INSERT INTO users (email, password_hash, "
				 "role) VALUES ('c@example.com', 'x', "
				 "'root')",
				 0, NULL, NULL, &err),
			 TW_EVALIDATION);
	/* Script names are unique per user among live scripts only. */
	query_value(conn, "INSERT INTO scripts (user_id, name, code_text) "
			  "VALUES (1, 'clean', 'def transform(df): "
			  "return df')");
	assert_int_equal(db_exec(conn,
				 "INSERT INTO scripts (user_id, name, "
				 "code_text) VALUES (1, 'clean', '')",
				 0, NULL, NULL, &err),
			 TW_ECONFLICT);
	query_value(conn, "UPDATE scripts SET deleted_at = now()");
	query_value(conn, "INSERT INTO scripts (user_id, name, code_text) "
			  "VALUES (1, 'clean', 'v2')");
	/* A job must name a script version that exists. */
	assert_int_equal(db_exec(conn,
				 "INSERT INTO jobs (user_id, script_id, "
				 "script_version, source_table, "
				 "destination_table, mode) VALUES (1, 1, 1, "
				 "'public.a', 'public.b', 'create')",
				 0, NULL, NULL, &err),
			 TW_EVALIDATION);
	query_value(conn, "INSERT INTO script_versions (script_id, version, "
			  "code_text, author_id) VALUES (1, 1, 'x', 1)");
	query_value(conn, "INSERT INTO jobs (user_id, script_id, "
			  "script_version, source_table, destination_table, "
			  "mode) VALUES (1, 1, 1, 'public.a', 'public.b', "
			  "'create')");
	assert_string_equal(query_value(conn, "SELECT status || attempt || "
					      "logs_truncated FROM jobs"),
			    "queued0false");
	/* updated_at follows updates. */
	query_value(conn, "UPDATE users SET updated_at = now() - "
			  "interval '1 day', role = 'analyst'");
	assert_string_equal(query_value(conn, "SELECT updated_at > now() - "
					      "interval '1 minute' FROM "
					      "users"),
			    "t");
	db_release(pool, conn, false);
	db_pool_free(pool);
	buf_release(&err);
}

struct migrate_thread {
	const char *schema;
	int applied;
	int rc;
	char err[512];
};

static void *migrate_in_thread(void *arg)
{
	struct migrate_thread *mt = arg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	PGconn *conn = PQconnectdb(getenv("TW_TEST_DATABASE_URL"));

	mt->rc = db_migrate(conn, mt->schema, &mt->applied, &err);
	snprintf(mt->err, sizeof(mt->err), "%s", err.ptr);
	PQfinish(conn);
	buf_release(&err);
	return NULL;
}

static void test_concurrent_migrate_applies_once(void **state)
{
	char schema[128];
	char sql[256];
	struct migrate_thread mt[4];
	pthread_t th[4];
	PGconn *conn;
	int total = 0;
	int i;

	(void)state;
	test_url();
	schema_name(schema, sizeof(schema), "concurrent");
	for (i = 0; i < 4; i++) {
		memset(&mt[i], 0, sizeof(mt[i]));
		mt[i].schema = schema;
		assert_int_equal(pthread_create(&th[i], NULL, migrate_in_thread,
						&mt[i]),
				 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (mt[i].rc != 0)
			fail_msg("runner %d failed: %s", i, mt[i].err);
		total += mt[i].applied;
	}
	assert_int_equal(total, (int)db_migrations_count);
	conn = direct_connect();
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM \"%s\".schema_migrations", schema);
	assert_int_equal(atoi(query_value(conn, sql)),
			 (int)db_migrations_count);
	PQfinish(conn);
}

/* --- the embedded cluster ------------------------------------------------ */

/* Removes a directory tree; a test helper, not worth a plat_ function. */
static void remove_tree(const char *dir)
{
	const char *rm[] = { "rm", "-rf", dir, NULL };
	const char *cm[] = { "cmake", "-E", "rm", "-rf", dir, NULL };
	struct plat_run_opts ro;
	int status = -1;

	memset(&ro, 0, sizeof(ro));
	ro.argv = rm;
	ro.timeout_ms = 60000;
	if (plat_run(&ro, &status, NULL) == 0 && status == 0)
		return;
	ro.argv = cm;
	plat_run(&ro, &status, NULL);
}

static void test_embedded_cluster(void **state)
{
	char dir[512];
	char path[600];
	const char *tmp = getenv("TMPDIR");
	struct buf url = BUF_INIT(4096);
	struct buf url2 = BUF_INIT(4096);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf pw = BUF_INIT(1024);
	struct db_pool *pool;
	struct stat st;
	int applied = 0;
	PGconn *conn = NULL;
	int64_t t0;

	(void)state;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/tw-test-cluster-%ld", tmp,
		 plat_getpid());
	remove_tree(dir);

	/* First start: initdb, password, config, database. */
	assert_rc(db_cluster_start(dir, &url, &err), 0, &err);
	assert_true(str_starts_with(url.ptr, "postgresql://tablewright:"));
	assert_non_null(strstr(url.ptr, "@127.0.0.1:"));
	assert_true(str_ends_with(url.ptr, "/tablewright"));
	snprintf(path, sizeof(path), "%s/password", dir);
	assert_rc(plat_read_file(path, &pw, &err), 0, &err);
	assert_int_equal(pw.len, 48); /* 24 random bytes in hex */
	assert_non_null(strstr(url.ptr, pw.ptr));
	assert_int_equal(stat(path, &st), 0);
#if defined(S_IRWXG) && defined(S_IRWXO)
	assert_int_equal(st.st_mode & (S_IRWXG | S_IRWXO), 0);
#endif
	snprintf(path, sizeof(path), "%s/initdb.pw", dir);
	assert_false(plat_is_file(path));

	pool = open_pool(url.ptr, "tablewright", 2);
	assert_rc(db_ping(pool, &err), 0, &err);
	assert_rc(db_acquire(pool, 1000, &conn, &err), 0, &err);
	assert_rc(db_migrate(conn, "tablewright", &applied, &err), 0, &err);
	assert_int_equal(applied, (int)db_migrations_count);
	assert_string_equal(query_value(conn, "SHOW listen_addresses"),
			    "127.0.0.1");
	assert_string_equal(query_value(conn, "SHOW password_encryption"),
			    "scram-sha-256");
	db_release(pool, conn, false);

	/* Starting again while it runs reuses the running server. */
	assert_rc(db_cluster_start(dir, &url2, &err), 0, &err);
	assert_true(strcmp(url.ptr, url2.ptr) == 0);

	/* The server stops: ping fails fast instead of hanging. */
	assert_rc(db_cluster_stop(dir, &err), 0, &err);
	t0 = plat_monotonic_ms();
	assert_int_equal(db_ping(pool, &err), TW_EUNAVAIL);
	assert_true(plat_monotonic_ms() - t0 < 3000);
	assert_null(strstr(err.ptr, pw.ptr));
	buf_reset(&err);
	assert_int_equal(db_ping(pool, &err), TW_EUNAVAIL);
	buf_reset(&err);

	/* It comes back on the same port: the pool recovers by itself. */
	buf_reset(&url2);
	assert_rc(db_cluster_start(dir, &url2, &err), 0, &err);
	assert_true(strcmp(url.ptr, url2.ptr) == 0);
	assert_rc(db_ping(pool, &err), 0, &err);
	db_pool_free(pool);

	assert_rc(db_cluster_stop(dir, &err), 0, &err);
	/* Stopping a stopped cluster, or none at all, is fine. */
	assert_rc(db_cluster_stop(dir, &err), 0, &err);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_rc(db_cluster_stop(path, &err), 0, &err);
	/* A TW_PG_BIN without PostgreSQL in it is a configuration error. */
	buf_reset(&url2);
	assert_int_equal(db_cluster_start_bin(dir, dir, &url2, NULL, &err),
			 TW_ECONFIG);
	assert_non_null(strstr(err.ptr, "TW_PG_BIN"));

	remove_tree(dir);
	if (pw.len)
		memset(pw.ptr, 0, pw.len);
	buf_release(&pw);
	buf_release(&url);
	buf_release(&url2);
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlstate_table),
		cmocka_unit_test(test_malformed_url_is_config_error),
		cmocka_unit_test(test_unreachable_server_is_unavailable),
		cmocka_unit_test(test_pool_connects_and_pings),
		cmocka_unit_test(test_url_parameters_are_kept),
		cmocka_unit_test(test_release_rolls_back),
		cmocka_unit_test(test_errors_map_through_sqlstate),
		cmocka_unit_test(test_tx_commit_and_rollback),
		cmocka_unit_test(test_tx_nested_and_custom_begin),
		cmocka_unit_test(test_col_i64),
		cmocka_unit_test(test_catalog_rules),
		cmocka_unit_test(test_catalog_lookups),
		cmocka_unit_test(test_pool_exhaustion_times_out),
		cmocka_unit_test(test_terminated_backend_reconnects),
		cmocka_unit_test(test_migrate_applies_once),
		cmocka_unit_test(test_schema_constraints),
		cmocka_unit_test(test_concurrent_migrate_applies_once),
		cmocka_unit_test(test_embedded_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, drop_test_schemas);
}
