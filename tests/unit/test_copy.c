/*
 * test_copy.c - COPY for the data path (src/db/copy.h) against a real
 * PostgreSQL: the catalog lookup, the wrappers, and the binary codec.
 *
 * The round trip is the heart of it: a table with every type the data
 * path carries, edge values and NULLs goes out with COPY TO STDOUT
 * (FORMAT binary) through db_bin_decode_row(), through a BATCH frame and
 * back, and into a second table through db_bin_encode_rows() and COPY FROM
 * STDIN; SQL then compares the two tables (EXCEPT ALL both ways, and their
 * text renderings), and the decoded values are compared with PostgreSQL's
 * own text output (numeric_out(), uuid_out(), ...).
 *
 * TW_TEST_DATABASE_URL names a database where this test may create and
 * drop schemas (scripts/test.sh starts a throwaway cluster and sets it).
 * Without it every database test fails with a message saying so, as in
 * test_db.c: a skipped database test would pass CI having tested nothing.
 * Each run works in its own schema, tw_test_<pid>_copy, dropped at the end.
 */
#include "core/compat.h"

#include <math.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/colbatch.h"
#include "core/err.h"
#include "db/copy.h"
#include "platform/plat.h"
#include "sandbox/frame.h"

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

#define assert_rc(rc, want, err)                                              \
	do {                                                                  \
		int rc_ = (rc);                                               \
		if (rc_ != (want))                                            \
			fail_msg("%s returned %d (%s), expected %d: %s", #rc, \
				 rc_, err_name(rc_), (want), (err)->ptr);     \
	} while (0)

static char schema[64];

/* Runs sql, which must succeed. */
static void exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s in: %.200s", PQresultErrorMessage(res), sql);
	PQclear(res);
}

/* Runs sql, which must fail. */
static void exec_fails(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_FATAL_ERROR)
		fail_msg("%s succeeded, expected an error", sql);
	PQclear(res);
}

/* The first value of sql's result, copied to a static buffer. */
static const char *value(PGconn *conn, const char *sql)
{
	static char v[4096];
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	snprintf(v, sizeof(v), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* A connection whose search_path is this run's schema. */
static PGconn *connect_schema(void)
{
	PGconn *conn = PQconnectdb(test_url());
	char sql[256];

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("could not connect to TW_TEST_DATABASE_URL: %s",
			 PQerrorMessage(conn));
	exec_ok(conn, "SET client_min_messages = warning");
	exec_ok(conn, "SET client_encoding = 'UTF8'");
	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", schema);
	exec_ok(conn, sql);
	snprintf(sql, sizeof(sql), "SET search_path = %s", schema);
	exec_ok(conn, sql);
	return conn;
}

static int drop_schema(void **state)
{
	const char *url = getenv("TW_TEST_DATABASE_URL");
	char sql[256];
	PGconn *conn;

	(void)state;
	if (!url || !*url)
		return 0;
	conn = PQconnectdb(url);
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	PQclear(PQexec(conn, sql));
	PQfinish(conn);
	return 0;
}

/* --- helpers: COPY out into a batch, a batch in through COPY ------------- */

/* COPY sql out into b (initialised here with the types' kinds). */
static void copy_out(PGconn *conn, const char *sql, const enum db_pgtype *types,
		     size_t n, struct colbatch *b)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_bin_reader r;
	enum col_kind kinds[64];
	size_t i;
	int rc;

	assert_true(n <= 64);
	for (i = 0; i < n; i++)
		kinds[i] = db_pgtype_kind(types[i]);
	assert_int_equal(colbatch_init(b, kinds, n), 0);
	db_bin_reader_init(&r, types, n);
	assert_rc(db_copy_out_begin(conn, sql, &err), 0, &err);
	for (;;) {
		char *row;
		int len;

		rc = db_copy_out_next(conn, &row, &len, &err);
		assert_true(rc >= 0);
		if (rc == 0)
			break;
		rc = db_bin_decode_row(&r, row, (size_t)len, b, &err);
		PQfreemem(row);
		if (rc < 0)
			fail_msg("db_bin_decode_row: %s", err.ptr);
	}
	assert_true(r.trailer_seen);
	assert_int_equal(r.rows, b->nrows);
	buf_release(&err);
}

/* COPY b into a table through sql, step rows per db_bin_encode_rows(). */
static void copy_in(PGconn *conn, const char *sql, const struct colbatch *b,
		    const enum db_pgtype *types, size_t step)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf out = BUF_INIT((size_t)64 * 1024 * 1024);
	size_t from;

	assert_rc(db_copy_in_begin(conn, sql, &err), 0, &err);
	assert_int_equal(db_bin_encode_header(&out), 0);
	for (from = 0; from < b->nrows; from += step) {
		size_t to = from + step < b->nrows ? from + step : b->nrows;

		assert_rc(db_bin_encode_rows(&out, b, types, from, to, &err), 0,
			  &err);
		/* Send in pieces, as the worker does. */
		if (out.len > 4096) {
			assert_rc(db_copy_in_put(conn, out.ptr, out.len, &err),
				  0, &err);
			buf_reset(&out);
		}
	}
	assert_int_equal(db_bin_encode_trailer(&out), 0);
	assert_rc(db_copy_in_put(conn, out.ptr, out.len, &err), 0, &err);
	assert_rc(db_copy_in_end(conn, NULL, &err), 0, &err);
	buf_release(&out);
	buf_release(&err);
}

/* b through a BATCH frame and back, as it travels to the runner. */
static void through_frame(struct colbatch *b)
{
	struct buf out = BUF_INIT(FRAME_MAX_BATCH + 8);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	enum col_kind kinds[64];
	struct colbatch d = { 0 };
	struct frame f;
	size_t used, i;

	for (i = 0; i < b->ncols; i++)
		kinds[i] = b->cols[i].kind;
	assert_rc(frame_batch_encode(&out, b, &err), 0, &err);
	assert_int_equal(frame_decode((const uint8_t *)out.ptr, out.len, &f,
				      &used, &err),
			 1);
	assert_rc(frame_batch_decode(f.payload, f.len, kinds, b->ncols, &d,
				     &err),
		  0, &err);
	colbatch_release(b);
	*b = d;
	buf_release(&out);
	buf_release(&err);
}

static const char *text_at(const struct colbatch *b, size_t col, size_t row,
			   size_t *len)
{
	return colbuf_text(&b->cols[col], row, len);
}

/* --- types and the catalog ------------------------------------------------ */

static void test_pgtypes(void **state)
{
	static const struct {
		unsigned oid;
		enum db_pgtype t;
		enum col_kind k;
	} cases[] = {
		{ 16, DB_PG_BOOL, COL_BOOL },
		{ 21, DB_PG_INT2, COL_INT16 },
		{ 23, DB_PG_INT4, COL_INT32 },
		{ 20, DB_PG_INT8, COL_INT64 },
		{ 700, DB_PG_FLOAT4, COL_FLOAT32 },
		{ 701, DB_PG_FLOAT8, COL_FLOAT64 },
		{ 1700, DB_PG_NUMERIC, COL_TEXT },
		{ 25, DB_PG_TEXT, COL_TEXT },
		{ 1043, DB_PG_TEXT, COL_TEXT },
		{ 1042, DB_PG_TEXT, COL_TEXT },
		{ 19, DB_PG_TEXT, COL_TEXT },
		{ 1082, DB_PG_DATE, COL_DATE },
		{ 1114, DB_PG_TIMESTAMP, COL_TIMESTAMP },
		{ 1184, DB_PG_TIMESTAMPTZ, COL_TIMESTAMPTZ },
		{ 2950, DB_PG_UUID, COL_TEXT },
		{ 114, DB_PG_JSON, COL_TEXT },
		{ 3802, DB_PG_JSONB, COL_TEXT },
		{ 1186, DB_PG_OTHER, COL_TEXT }, /* interval */
		{ 1007, DB_PG_OTHER, COL_TEXT }, /* int4[] */
		{ 0, DB_PG_OTHER, COL_TEXT },
	};
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(cases); i++) {
		assert_int_equal(db_pgtype_from_oid(cases[i].oid), cases[i].t);
		assert_int_equal(db_pgtype_kind(cases[i].t), cases[i].k);
	}
}

static void test_output_type(void **state)
{
	static const struct {
		enum col_kind k;
		const char *type;
		enum db_pgtype want; /* DB_PG_OTHER: refused */
	} cases[] = {
		{ COL_BOOL, "boolean", DB_PG_BOOL },
		{ COL_INT16, "smallint", DB_PG_INT2 },
		{ COL_INT32, "integer", DB_PG_INT4 },
		{ COL_INT64, "bigint", DB_PG_INT8 },
		{ COL_FLOAT32, "real", DB_PG_FLOAT4 },
		{ COL_FLOAT64, "double precision", DB_PG_FLOAT8 },
		{ COL_FLOAT64, "numeric", DB_PG_NUMERIC },
		{ COL_FLOAT64, "numeric(10,2)", DB_PG_NUMERIC },
		{ COL_FLOAT64, "numeric(5)", DB_PG_NUMERIC },
		{ COL_DATE, "date", DB_PG_DATE },
		{ COL_TIMESTAMP, "timestamp without time zone",
		  DB_PG_TIMESTAMP },
		{ COL_TIMESTAMPTZ, "timestamp with time zone",
		  DB_PG_TIMESTAMPTZ },
		{ COL_TEXT, "text", DB_PG_TEXT },
		{ COL_TEXT, "uuid", DB_PG_UUID },
		{ COL_TEXT, "json", DB_PG_JSON },
		{ COL_TEXT, "jsonb", DB_PG_JSONB },
		{ COL_TEXT, "numeric", DB_PG_NUMERIC },
		{ COL_TEXT, "numeric(1000,1000)", DB_PG_NUMERIC },
		{ COL_TEXT, "numeric(7,-2)", DB_PG_NUMERIC },
		/* refused */
		{ COL_INT64, "integer", DB_PG_OTHER },
		{ COL_INT32, "bigint", DB_PG_OTHER },
		{ COL_INT16, "int2", DB_PG_OTHER },
		{ COL_BOOL, "bool", DB_PG_OTHER },
		{ COL_FLOAT32, "double precision", DB_PG_OTHER },
		{ COL_FLOAT32, "numeric", DB_PG_OTHER },
		{ COL_INT64, "numeric", DB_PG_OTHER },
		{ COL_DATE, "timestamp without time zone", DB_PG_OTHER },
		{ COL_TIMESTAMP, "timestamp with time zone", DB_PG_OTHER },
		{ COL_TIMESTAMPTZ, "timestamptz", DB_PG_OTHER },
		{ COL_TEXT, "varchar(10)", DB_PG_OTHER },
		{ COL_TEXT, "Text", DB_PG_OTHER },
		{ COL_TEXT, "text ", DB_PG_OTHER },
		{ COL_TEXT, "", DB_PG_OTHER },
		{ COL_TEXT, "numeric(0)", DB_PG_OTHER },
		{ COL_TEXT, "numeric(1001)", DB_PG_OTHER },
		{ COL_TEXT, "numeric( 10,2)", DB_PG_OTHER },
		{ COL_TEXT, "numeric(10, 2)", DB_PG_OTHER },
		{ COL_TEXT, "numeric(10,2", DB_PG_OTHER },
		{ COL_TEXT, "numeric(10,2))", DB_PG_OTHER },
		{ COL_TEXT, "numeric(10,2); DROP TABLE x", DB_PG_OTHER },
		{ COL_TEXT, "numeric()", DB_PG_OTHER },
		{ COL_TEXT, "numeric(-5)", DB_PG_OTHER },
		{ COL_TEXT, "numericx", DB_PG_OTHER },
		{ (enum col_kind)0, "text", DB_PG_OTHER },
	};
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(cases); i++) {
		enum db_pgtype t = DB_PG_OTHER;
		int rc;

		buf_reset(&err);
		rc = db_output_type(cases[i].k, cases[i].type, &t, &err);
		if (cases[i].want == DB_PG_OTHER) {
			if (rc != TW_EINVAL)
				fail_msg("%d -> \"%s\" was accepted",
					 (int)cases[i].k, cases[i].type);
			assert_non_null(strstr(err.ptr, "cannot be stored as"));
		} else {
			if (rc != 0)
				fail_msg("%d -> \"%s\": %s", (int)cases[i].k,
					 cases[i].type, err.ptr);
			assert_int_equal(t, cases[i].want);
		}
	}
	buf_release(&err);
}

static void test_table_columns(void **state)
{
	PGconn *conn = connect_schema();
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_columns cols;

	(void)state;
	exec_ok(conn, "CREATE TABLE cols (a bigint NOT NULL, gone int, "
		      "\"Mixed Case\" varchar(20), n numeric(10,2), "
		      "arr int[], u uuid, ts timestamptz)");
	exec_ok(conn, "ALTER TABLE cols DROP COLUMN gone");
	exec_ok(conn, "CREATE VIEW cols_v AS SELECT a, n FROM cols");
	exec_ok(conn, "CREATE MATERIALIZED VIEW cols_m AS SELECT u FROM cols");
	exec_ok(conn, "CREATE TABLE nocols ()");
	exec_ok(conn, "CREATE INDEX cols_idx ON cols (a)");
	exec_ok(conn, "CREATE SEQUENCE cols_seq");

	assert_rc(db_table_columns(conn, schema, "cols", &cols, &err), 0, &err);
	assert_int_equal(cols.n, 6);
	assert_string_equal(cols.items[0].name, "a");
	assert_string_equal(cols.items[0].type, "bigint");
	assert_int_equal(cols.items[0].pgtype, DB_PG_INT8);
	assert_int_equal(cols.items[0].kind, COL_INT64);
	assert_false(cols.items[0].nullable);
	assert_string_equal(cols.items[1].name, "Mixed Case");
	assert_string_equal(cols.items[1].type, "character varying(20)");
	assert_int_equal(cols.items[1].pgtype, DB_PG_TEXT);
	assert_true(cols.items[1].nullable);
	assert_string_equal(cols.items[2].type, "numeric(10,2)");
	assert_int_equal(cols.items[2].pgtype, DB_PG_NUMERIC);
	assert_int_equal(cols.items[2].kind, COL_TEXT);
	assert_string_equal(cols.items[3].type, "integer[]");
	assert_int_equal(cols.items[3].pgtype, DB_PG_OTHER);
	assert_int_equal(cols.items[4].pgtype, DB_PG_UUID);
	assert_string_equal(cols.items[5].type, "timestamp with time zone");
	assert_int_equal(cols.items[5].kind, COL_TIMESTAMPTZ);
	db_columns_release(&cols);
	assert_int_equal(cols.n, 0);

	assert_rc(db_table_columns(conn, schema, "cols_v", &cols, &err), 0,
		  &err);
	assert_int_equal(cols.n, 2);
	assert_string_equal(cols.items[1].name, "n");
	db_columns_release(&cols);
	assert_rc(db_table_columns(conn, schema, "cols_m", &cols, &err), 0,
		  &err);
	assert_int_equal(cols.n, 1);
	db_columns_release(&cols);
	assert_rc(db_table_columns(conn, schema, "nocols", &cols, &err), 0,
		  &err);
	assert_int_equal(cols.n, 0);
	db_columns_release(&cols);

	/* Not there, not a table, or named differently (no case folding). */
	assert_int_equal(db_table_columns(conn, schema, "missing", &cols, &err),
			 TW_ENOTFOUND);
	assert_non_null(strstr(err.ptr, "does not exist"));
	assert_int_equal(cols.n, 0);
	assert_int_equal(db_table_columns(conn, schema, "cols_idx", &cols,
					  &err),
			 TW_ENOTFOUND);
	assert_int_equal(db_table_columns(conn, schema, "cols_seq", &cols,
					  &err),
			 TW_ENOTFOUND);
	assert_int_equal(db_table_columns(conn, schema, "COLS", &cols, &err),
			 TW_ENOTFOUND);
	assert_int_equal(db_table_columns(conn, "no_such_schema", "cols", &cols,
					  &err),
			 TW_ENOTFOUND);
	/* Names travel as parameters: quotes are only characters. */
	assert_int_equal(db_table_columns(conn, schema, "cols' OR '1'='1",
					  &cols, &err),
			 TW_ENOTFOUND);
	buf_release(&err);
	PQfinish(conn);
}

/* --- the round trip ------------------------------------------------------- */

/* The source table: every type, edge values, and 3000 random rows. */
static const char src_sql[] =
	"CREATE TABLE src (id int PRIMARY KEY, b boolean, i2 smallint, "
	"i4 integer, i8 bigint, f4 real, f8 double precision, n numeric, "
	"n2 numeric(10,2), t text, vc varchar(40), bp char(5), d date, "
	"ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb, "
	"o interval, nm name);"
	"INSERT INTO src (id) VALUES (1);"
	"INSERT INTO src VALUES (2, true, -32768, -2147483648, "
	"-9223372036854775808, '-3.4028235e38', '-1.7976931348623157e308', "
	"'-123456789012345678901234567890.123456789012345678901234567890', "
	"'-99999999.99', E'quote'' \"dq\" tab\\there nl\\nnext back\\\\slash "
	"cr\\r end', '', 'ab', '0001-01-01', '1969-12-31 23:59:59.999999', "
	"'1900-01-01 00:00:00+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
	"'{\"a\": [1, 2.50, \"x\"]}', '{\"b\": {\"c\": null}, \"a\": 1}', "
	"'1 day 02:03:04', 'name');"
	"INSERT INTO src VALUES (3, false, 32767, 2147483647, "
	"9223372036854775807, 'Infinity', '-Infinity', 'NaN', 0, '', "
	"E'\\u00fcn\\u00ef', 'x', '1999-12-31', '2000-01-01 00:00:00', "
	"'2038-01-19 03:14:08+00', '00000000-0000-0000-0000-000000000000', "
	"'[]', '\"str\"', '-1 mon', '');"
	"INSERT INTO src VALUES (4, true, 0, 0, 0, 'NaN', 'NaN', 'Infinity', "
	"'0.01', E'\\u65e5\\u672c\\u8a9e \\U0001F389 \\u00e9', '\\N', NULL, "
	"'1970-01-01', '4000-12-31 23:59:59.123456', "
	"'1970-01-01 00:00:00.000001+00', "
	"'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '  {\"ws\" : 1}  ', "
	"'[1, 2]', NULL, 'x');"
	"INSERT INTO src (id, n, t, d, ts, tstz) VALUES "
	"(5, '-Infinity', 'NULL', '4713-01-01 BC', '4713-01-01 00:00:00 BC', "
	"'294246-12-31 23:59:59.999999+00'),"
	"(6, '0.000000001', E'\\\\N', '5874897-12-31', '1999-12-31 23:59:59', "
	"'2000-01-01 00:00:00.000001+00');"
	"INSERT INTO src (id, n) SELECT 100 + i, v::numeric FROM unnest("
	"ARRAY['0', '-0', '0.0', '0.000', '1', '-1', '9999', '10000', "
	"'10000.0001', '0.0001', '0.00001', '123.4500', '1e100', '1e-100', "
	"'-1.5e-5', '12345678901234567890', '0.1000000000000000000001', "
	"'99999999999999999999999999999999999999.9', '1e131071', "
	"'0.99999999', '1000000000000000000', '0.10', '-0.5', '1.0e-7', "
	"'3.14159265358979323846264338327950288419716939937510']) "
	"WITH ORDINALITY AS x(v, i);"
	"SELECT setseed(0.42);"
	"INSERT INTO src SELECT 1000 + g, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE random() < 0.5 END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 65535 - 32768)::int END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 4e9 - 2e9)::bigint END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 1e18 - 5e17)::bigint END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 1e6 - 5e5)::real END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE (random() - 0.5) * 10 ^ (random() * 40 - 20) END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE round(((random() - 0.5) * 10 ^ (random() * 30))::numeric, (random() * 12)::int) END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE round((random() * 2e7 - 1e7)::numeric, 2) END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE repeat(chr(32 + (random() * 94)::int) || E'\\u00e9\\t', (random() * 5)::int) END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE md5(g::text) END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE left(md5(g::text), 3) END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE date '1970-01-01' + (random() * 100000 - 50000)::int END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE timestamp '2000-01-01' + (random() * 2e9 - 1e9) * interval '1 second' END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE timestamptz '2000-01-01 00:00:00+00' + (random() * 2e9 - 1e9) * interval '1 second' END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE md5(g::text)::uuid END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE json_build_object('g', g, 's', md5(g::text)) END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE jsonb_build_array(g, random() < 0.5, NULL) END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 1000)::int * interval '1 minute' END, "
	"CASE WHEN random() < 0.1 THEN NULL ELSE left(md5(g::text), 8)::name END "
	"FROM generate_series(1, 3000) g;";

/* The source's columns as the worker selects them (OTHER as text). */
static const char select_src[] =
	"COPY (SELECT id, b, i2, i4, i8, f4, f8, n, n2, t, vc, bp, d, ts, "
	"tstz, u, j, jb, o::text, nm FROM src ORDER BY id) TO STDOUT "
	"(FORMAT binary)";

static const enum db_pgtype src_types[] = {
	DB_PG_INT4,    DB_PG_BOOL,	DB_PG_INT2,	   DB_PG_INT4,
	DB_PG_INT8,    DB_PG_FLOAT4,	DB_PG_FLOAT8,	   DB_PG_NUMERIC,
	DB_PG_NUMERIC, DB_PG_TEXT,	DB_PG_TEXT,	   DB_PG_TEXT,
	DB_PG_DATE,    DB_PG_TIMESTAMP, DB_PG_TIMESTAMPTZ, DB_PG_UUID,
	DB_PG_JSON,    DB_PG_JSONB,	DB_PG_OTHER,	   DB_PG_TEXT,
};

/* How both tables are compared: json has no equality, o is text in dst. */
#define RENDER                                                              \
	"SELECT id, b, i2, i4, i8, f4, f8, n, n2, t, vc, bp, d, ts, tstz, " \
	"u, j::text AS j, jb, o::text AS o, nm FROM "

/* The decoded values are PostgreSQL's own text output, row by row. */
static void check_decoded(PGconn *conn, const struct colbatch *b)
{
	static const struct {
		size_t col;
		const char *expr;
	} texts[] = {
		{ 7, "n::text" },   { 8, "n2::text" },	{ 9, "t" },
		{ 10, "vc::text" }, { 11, "bp" },	{ 15, "u::text" },
		{ 16, "j::text" },  { 17, "jb::text" }, { 18, "o::text" },
		{ 19, "nm::text" },
	};
	char sql[512];
	PGresult *res;
	size_t i, row;

	for (i = 0; i < TW_ARRAY_SIZE(texts); i++) {
		snprintf(sql, sizeof(sql), "SELECT %s FROM src ORDER BY id",
			 texts[i].expr);
		res = PQexec(conn, sql);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_int_equal((size_t)PQntuples(res), b->nrows);
		for (row = 0; row < b->nrows; row++) {
			const struct colbuf *c = &b->cols[texts[i].col];
			size_t len;
			const char *s;

			if (PQgetisnull(res, (int)row, 0)) {
				assert_true(colbuf_is_null(c, row));
				continue;
			}
			assert_false(colbuf_is_null(c, row));
			s = text_at(b, texts[i].col, row, &len);
			if (len != (size_t)PQgetlength(res, (int)row, 0) ||
			    memcmp(s, PQgetvalue(res, (int)row, 0), len))
				fail_msg("%s, row %zu: decoded \"%.*s\", "
					 "PostgreSQL says \"%s\"",
					 texts[i].expr, row, (int)len, s,
					 PQgetvalue(res, (int)row, 0));
		}
		PQclear(res);
	}
	/* Dates and times: the epoch shift. */
	res = PQexec(conn, "SELECT d - date '1970-01-01', "
			   "(extract(epoch FROM ts) * 1000000)::bigint, "
			   "(extract(epoch FROM tstz) * 1000000)::bigint, "
			   "i8, f8::text FROM src ORDER BY id");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	for (row = 0; row < b->nrows; row++) {
		if (!PQgetisnull(res, (int)row, 0))
			assert_int_equal(*(const int32_t *)colbuf_fixed(
						 &b->cols[12], row),
					 atol(PQgetvalue(res, (int)row, 0)));
		if (!PQgetisnull(res, (int)row, 1))
			assert_true(*(const int64_t *)colbuf_fixed(&b->cols[13],
								   row) ==
				    strtoll(PQgetvalue(res, (int)row, 1), NULL,
					    10));
		if (!PQgetisnull(res, (int)row, 2))
			assert_true(*(const int64_t *)colbuf_fixed(&b->cols[14],
								   row) ==
				    strtoll(PQgetvalue(res, (int)row, 2), NULL,
					    10));
		if (!PQgetisnull(res, (int)row, 3))
			assert_true(*(const int64_t *)colbuf_fixed(&b->cols[4],
								   row) ==
				    strtoll(PQgetvalue(res, (int)row, 3), NULL,
					    10));
		if (!PQgetisnull(res, (int)row, 4)) {
			double want =
				strtod(PQgetvalue(res, (int)row, 4), NULL);
			double got =
				*(const double *)colbuf_fixed(&b->cols[6], row);

			assert_true(got == want || (isnan(got) && isnan(want)));
		}
	}
	PQclear(res);
}

static void test_round_trip(void **state)
{
	PGconn *conn = connect_schema();
	struct colbatch b;
	size_t len;

	(void)state;
	exec_ok(conn, src_sql);
	exec_ok(conn, "CREATE TABLE dst (id int, b boolean, i2 smallint, "
		      "i4 integer, i8 bigint, f4 real, f8 double precision, "
		      "n numeric, n2 numeric(10,2), t text, vc varchar(40), "
		      "bp char(5), d date, ts timestamp, tstz timestamptz, "
		      "u uuid, j json, jb jsonb, o text, nm name)");
	copy_out(conn, select_src, src_types, TW_ARRAY_SIZE(src_types), &b);
	assert_string_equal(value(conn, "SELECT count(*) FROM src"), "3031");
	assert_int_equal(b.nrows, 3031);

	/* Row 1 is NULL but for its id; NULL is not the empty string. */
	for (size_t i = 1; i < b.ncols; i++)
		assert_true(colbuf_is_null(&b.cols[i], 0));
	assert_false(colbuf_is_null(&b.cols[10], 1));
	text_at(&b, 10, 1, &len);
	assert_int_equal(len, 0);
	check_decoded(conn, &b);

	/* Out to the runner and back, then into the second table. */
	through_frame(&b);
	check_decoded(conn, &b);
	/* o arrives as text and goes into a text column. */
	{
		enum db_pgtype dst_types[TW_ARRAY_SIZE(src_types)];

		memcpy(dst_types, src_types, sizeof(dst_types));
		dst_types[18] = DB_PG_TEXT;
		copy_in(conn, "COPY dst FROM STDIN (FORMAT binary)", &b,
			dst_types, 7);
	}
	assert_string_equal(value(conn, "SELECT count(*) FROM dst"), "3031");
	assert_string_equal(value(conn, "SELECT count(*) FROM (" RENDER
					"src EXCEPT ALL " RENDER "dst) x"),
			    "0");
	assert_string_equal(value(conn, "SELECT count(*) FROM (" RENDER
					"dst EXCEPT ALL " RENDER "src) x"),
			    "0");
	/* The same text too: numeric scales, json whitespace, padding. */
	assert_string_equal(
		value(conn, "SELECT (SELECT md5(string_agg(r::text, '|' ORDER "
			    "BY id)) FROM (" RENDER "src) r) = "
			    "(SELECT md5(string_agg(r::text, '|' ORDER BY id)) "
			    "FROM (" RENDER "dst) r)"),
		"t");
	/* ... and the comparison can fail. */
	exec_ok(conn, "UPDATE dst SET n = n::text::numeric(1000,20) WHERE id = "
		      "1002 AND n IS NOT NULL AND n <> 'NaN'");
	exec_ok(conn, "UPDATE dst SET n = 1.5 WHERE id = 1002 AND n IS NULL");
	assert_string_equal(
		value(conn, "SELECT (SELECT md5(string_agg(r::text, '|' ORDER "
			    "BY id)) FROM (" RENDER "src) r) = "
			    "(SELECT md5(string_agg(r::text, '|' ORDER BY id)) "
			    "FROM (" RENDER "dst) r)"),
		"f");
	colbatch_release(&b);
	PQfinish(conn);
}

/* Text into numeric: what numeric_in() accepts, the same value and scale. */
static void test_text_to_numeric(void **state)
{
	static const char *const good[] = {
		"0",	       "-0",
		"+0",	       "0.0",
		"00012.3400",  ".5",
		"5.",	       "-.5",
		"+5.",	       "1e3",
		"1E3",	       "1e+3",
		"1e-3",	       "1.5e-7",
		"12.5e-5",     "123.456e2",
		"123.456e-2",  "1e100",
		"1e-100",      "-1e-1000",
		"1e16383",     "9999999999999999999999999.99999999999999999999",
		"  42  ",      "\t-7\n",
		"NaN",	       "nan",
		"NAN",	       "Infinity",
		"-Infinity",   "+Infinity",
		"inf",	       "-INF",
		"+inf",	       " infinity ",
		"0e10",	       "0.000e-5",
		"1e-16383",    "100000000",
		"1.0000",      "0.00001",
		"-000.000100", "12345678.12345678",
		"1e131071",
	};
	static const char *const bad[] = {
		"",	    " ",	 "abc",	 "1.2.3",     "1e",
		"1e+",	    "--1",	 "+-1",	 ".",	      "-",
		"1 2",	    "Infinityx", "NaN1", "1e1000001", "1e-20000",
		"1e131072", "e5",	 "1f",	 "1.5e5.5",   "- 1",
		"١",
	};
	static const enum col_kind k[] = { COL_INT32, COL_TEXT };
	static const enum db_pgtype t[] = { DB_PG_INT4, DB_PG_NUMERIC };
	PGconn *conn = connect_schema();
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf out = BUF_INIT(1024 * 1024);
	struct colbatch b;
	char sql[512];
	size_t i;

	(void)state;
	exec_ok(conn, "CREATE TABLE numin (id int, txt text);"
		      "CREATE TABLE numbin (id int, n numeric)");
	assert_int_equal(colbatch_init(&b, k, 2), 0);
	for (i = 0; i < TW_ARRAY_SIZE(good); i++) {
		int32_t id = (int32_t)i;
		const char *params[1] = { good[i] };
		PGresult *res;

		assert_int_equal(colbuf_append_fixed(&b.cols[0], i, &id), 0);
		assert_int_equal(colbuf_append_text(&b.cols[1], i, good[i],
						    strlen(good[i])),
				 0);
		colbatch_end_row(&b);
		snprintf(sql, sizeof(sql), "INSERT INTO numin VALUES (%zu, $1)",
			 i);
		res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
		PQclear(res);
	}
	copy_in(conn, "COPY numbin FROM STDIN (FORMAT binary)", &b, t, 5);
	/* Each value as PostgreSQL parses the same text. */
	{
		PGresult *res = PQexec(conn,
				       "SELECT i.txt, i.txt::numeric::text, "
				       "b.n::text FROM numin i JOIN numbin b "
				       "USING (id) ORDER BY id");

		assert_int_equal(PQntuples(res), (int)TW_ARRAY_SIZE(good));
		for (i = 0; i < TW_ARRAY_SIZE(good); i++) {
			if (strcmp(PQgetvalue(res, (int)i, 1),
				   PQgetvalue(res, (int)i, 2)) != 0)
				fail_msg("\"%s\": PostgreSQL reads %.60s, we "
					 "sent %.60s",
					 PQgetvalue(res, (int)i, 0),
					 PQgetvalue(res, (int)i, 1),
					 PQgetvalue(res, (int)i, 2));
		}
		PQclear(res);
	}
	/* What PostgreSQL refuses is refused here, naming column and row. */
	for (i = 0; i < TW_ARRAY_SIZE(bad); i++) {
		int32_t id = 7;
		PGresult *res;
		const char *params[1] = { bad[i] };

		colbatch_reset(&b);
		assert_int_equal(colbuf_append_fixed(&b.cols[0], 0, &id), 0);
		assert_int_equal(colbuf_append_null(&b.cols[1], 0), 0);
		colbatch_end_row(&b);
		assert_int_equal(colbuf_append_fixed(&b.cols[0], 1, &id), 0);
		assert_int_equal(colbuf_append_text(&b.cols[1], 1, bad[i],
						    strlen(bad[i])),
				 0);
		colbatch_end_row(&b);
		buf_reset(&out);
		buf_reset(&err);
		assert_int_equal(buf_add(&out, "keep", 4), 0);
		if (db_bin_encode_rows(&out, &b, t, 0, 2, &err) != TW_EINVAL)
			fail_msg("\"%s\" was accepted as a numeric", bad[i]);
		assert_non_null(strstr(err.ptr, "column 2, row 2: the text"));
		assert_int_equal(out.len, 4);
		/* Row 1 alone (its NULL) is fine. */
		assert_rc(db_bin_encode_rows(&out, &b, t, 0, 1, &err), 0, &err);
		res = PQexecParams(conn, "SELECT $1::numeric", 1, NULL, params,
				   NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_FATAL_ERROR)
			fail_msg("PostgreSQL accepts \"%s\" as a numeric",
				 bad[i]);
		PQclear(res);
	}
	colbatch_release(&b);
	buf_release(&out);
	buf_release(&err);
	PQfinish(conn);
}

/* float64 into numeric: the shortest decimal that reads back the same. */
static void test_float_to_numeric(void **state)
{
	static const double fixed[] = {
		0.1,
		0.2,
		1.0 / 3,
		2.0 / 3,
		1e-300,
		5e-324,
		1.7976931348623157e308,
		123456789.123,
		1e15,
		1e16,
		1e22,
		1e23,
		9007199254740993.0,
		0.30000000000000004,
		-2.5,
		100,
		1234.5678,
		3.14159,
		-0.0,
		0,
		12.34,
		99999999.99,
		0.015,
		1e-5,
		123456789012345.6,
		0.1 + 0.7,
	};
	static const enum col_kind k[] = { COL_INT32, COL_FLOAT64,
					   COL_FLOAT64 };
	static const enum db_pgtype t[] = { DB_PG_INT4, DB_PG_NUMERIC,
					    DB_PG_FLOAT8 };
	PGconn *conn = connect_schema();
	struct colbatch b;
	uint64_t x = 88172645463325252u;
	size_t i, n = 0;

	(void)state;
	exec_ok(conn, "CREATE TABLE fnum (id int, n numeric, f float8)");
	/* The significant digits of a numeric. */
	exec_ok(conn, "CREATE FUNCTION sig(numeric) RETURNS int AS $$ "
		      "SELECT length(trim(both '0' FROM replace(replace("
		      "$1::text, '-', ''), '.', ''))) $$ LANGUAGE sql");
	assert_int_equal(colbatch_init(&b, k, 3), 0);
	for (i = 0; i < TW_ARRAY_SIZE(fixed) + 4000; i++) {
		int32_t id = (int32_t)n;
		double d;

		if (i < TW_ARRAY_SIZE(fixed)) {
			d = fixed[i];
		} else if (i % 4 == 0) {
			/* Cents, as a numeric(10,2) column holds them. */
			d = (double)(int64_t)(x % 2000000000) / 100 - 1e7;
		} else if (i % 4 == 1) {
			d = (double)(int64_t)(x % 1000000) / 1000;
		} else {
			memcpy(&d, &x, 8);
			if (!isfinite(d) || fabs(d) > 1e300 || fabs(d) < 1e-300)
				d = (double)x / 3;
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		assert_int_equal(colbuf_append_fixed(&b.cols[0], n, &id), 0);
		assert_int_equal(colbuf_append_fixed(&b.cols[1], n, &d), 0);
		assert_int_equal(colbuf_append_fixed(&b.cols[2], n, &d), 0);
		colbatch_end_row(&b);
		n++;
	}
	/* Infinities become numeric's; NULL stays NULL. */
	{
		static const double inf[2] = { INFINITY, -INFINITY };

		for (i = 0; i < 3; i++) {
			int32_t id = (int32_t)n;

			assert_int_equal(
				colbuf_append_fixed(&b.cols[0], n, &id), 0);
			if (i < 2)
				assert_int_equal(colbuf_append_fixed(&b.cols[1],
								     n,
								     &inf[i]),
						 0);
			else
				assert_int_equal(
					colbuf_append_null(&b.cols[1], n), 0);
			assert_int_equal(colbuf_append_fixed(&b.cols[2], n,
							     &inf[i % 2]),
					 0);
			colbatch_end_row(&b);
			n++;
		}
	}
	copy_in(conn, "COPY fnum FROM STDIN (FORMAT binary)", &b, t, 1000);
	assert_string_equal(value(conn, "SELECT count(*) FROM fnum"), "4029");
	/*
	 * Every value reads back as the same double, with no more digits
	 * than float8out()'s shortest text (Ryu), which keeps a 17th digit
	 * where the 16-digit decimal lies exactly halfway between two
	 * doubles and 1e23 as 9.999999999999999e+22.
	 */
	{
		PGresult *res = PQexec(
			conn, "SELECT id, f::text, n::text FROM fnum WHERE "
			      "id < 4026 AND (n::float8 <> f OR "
			      "sig(n) > sig(f::text::numeric)) "
			      "ORDER BY id LIMIT 5");
		/* (the last three rows are checked below) */

		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		for (i = 0; i < (size_t)PQntuples(res); i++)
			fprintf(stderr, "row %s: float %s became numeric %s\n",
				PQgetvalue(res, (int)i, 0),
				PQgetvalue(res, (int)i, 1),
				PQgetvalue(res, (int)i, 2));
		assert_int_equal(PQntuples(res), 0);
		PQclear(res);
	}
	assert_string_equal(value(conn, "SELECT string_agg(coalesce(n::text, "
					"'NULL'), ',' ORDER BY id) FROM fnum "
					"WHERE id >= 4026"),
			    "Infinity,-Infinity,NULL");
	assert_string_equal(
		value(conn, "SELECT n::text FROM fnum WHERE id = 0"), "0.1");
	/* Mostly the very same text as float8out()'s. */
	assert_string_equal(value(conn, "SELECT count(*) < 40 FROM fnum WHERE "
					"id < 4026 AND n::text <> "
					"f::text::numeric::text"),
			    "t");
	assert_string_equal(value(conn,
				  "SELECT n::text = '5e-324'::numeric::text "
				  "FROM fnum WHERE id = 5"),
			    "t");
	assert_string_equal(value(conn,
				  "SELECT n::text FROM fnum WHERE id = 11"),
			    "100000000000000000000000");
	assert_string_equal(value(conn,
				  "SELECT n::text FROM fnum WHERE id = 12"),
			    "9007199254740992");
	assert_string_equal(
		value(conn, "SELECT n::text FROM fnum WHERE id = 22"), "0.015");
	assert_string_equal(value(conn,
				  "SELECT n::text FROM fnum WHERE id = 25"),
			    "0.7999999999999999");
	colbatch_release(&b);
	PQfinish(conn);
}

/* Text into uuid: PostgreSQL's input forms; the rest refused. */
static void test_text_to_uuid(void **state)
{
	static const char *const good[] = {
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
		"a0eebc999c0b4ef8bb6d6bb9bd380a11",
		"a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
		"{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
	};
	static const char *const bad[] = {
		"",
		"a0eebc99",
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
		"-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
		"a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
		"a0eeb-c99-9c0b-4ef8-bb6d-6bb9bd380a11",
		" a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}x",
	};
	static const enum col_kind k[] = { COL_TEXT };
	static const enum db_pgtype t[] = { DB_PG_UUID };
	PGconn *conn = connect_schema();
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf out = BUF_INIT(4096);
	struct colbatch b;
	size_t i;

	(void)state;
	exec_ok(conn, "CREATE TABLE uu (u uuid)");
	assert_int_equal(colbatch_init(&b, k, 1), 0);
	for (i = 0; i < TW_ARRAY_SIZE(good); i++) {
		assert_int_equal(colbuf_append_text(&b.cols[0], i, good[i],
						    strlen(good[i])),
				 0);
		colbatch_end_row(&b);
	}
	copy_in(conn, "COPY uu FROM STDIN (FORMAT binary)", &b, t, 2);
	assert_string_equal(value(conn, "SELECT count(DISTINCT u) || ' ' || "
					"min(u::text) FROM uu"),
			    "1 a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
	for (i = 0; i < TW_ARRAY_SIZE(bad); i++) {
		const char *params[1] = { bad[i] };
		PGresult *res;

		colbatch_reset(&b);
		assert_int_equal(colbuf_append_text(&b.cols[0], 0, bad[i],
						    strlen(bad[i])),
				 0);
		colbatch_end_row(&b);
		buf_reset(&err);
		if (db_bin_encode_rows(&out, &b, t, 0, 1, &err) != TW_EINVAL)
			fail_msg("\"%s\" was accepted as a uuid", bad[i]);
		assert_non_null(strstr(err.ptr, "column 1, row 1: the text "
						"is not a uuid"));
		assert_int_equal(out.len, 0);
		res = PQexecParams(conn, "SELECT $1::uuid", 1, NULL, params,
				   NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_FATAL_ERROR)
			fail_msg("PostgreSQL accepts \"%s\" as a uuid", bad[i]);
		PQclear(res);
	}
	colbatch_release(&b);
	buf_release(&out);
	buf_release(&err);
	PQfinish(conn);
}

/* --- refusals ------------------------------------------------------------- */

/* A binary COPY message: the header when first, then raw bytes. */
static size_t msg(uint8_t *out, bool header, const char *bytes, size_t n)
{
	static const uint8_t h[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	size_t off = 0;

	if (header) {
		memcpy(out, h, 19);
		off = 19;
	}
	memcpy(out + off, bytes, n);
	return off + n;
}

/* Decoding one message of one column of type t fails mentioning want. */
static void refuse_row(enum db_pgtype t, bool header, const char *bytes,
		       size_t n, const char *want)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_bin_reader r;
	enum col_kind k = db_pgtype_kind(t);
	struct colbatch b;
	uint8_t m[256];
	size_t len = msg(m, header, bytes, n);
	int rc;

	assert_int_equal(colbatch_init(&b, &k, 1), 0);
	db_bin_reader_init(&r, &t, 1);
	rc = db_bin_decode_row(&r, (const char *)m, len, &b, &err);
	if (rc != TW_EINVAL)
		fail_msg("expected a refusal mentioning \"%s\", got %d", want,
			 rc);
	if (!strstr(err.ptr, want))
		fail_msg("expected \"%s\" in \"%s\"", want, err.ptr);
	assert_int_equal(b.nrows, 0);
	assert_int_equal(colbatch_bytes(&b), k == COL_TEXT ? 4 : 0);
	assert_false(r.header_seen);
	colbatch_release(&b);
	buf_release(&err);
}

#define ROW(s) s, sizeof(s) - 1

static void test_decode_refusals(void **state)
{
	uint8_t m[64];

	(void)state;
	/* The header. */
	refuse_row(DB_PG_INT4, false, ROW("\0\1\0\0\0\4\0\0\0\1"),
		   "binary COPY signature");
	memcpy(m, "PGCOPY\n\377\r\n\0\0\1\0\0\0\0\0\0\0\1\0\0\0\4\0\0\0\1", 29);
	{
		struct buf err = BUF_INIT(BUF_SMALL_CAP);
		struct db_bin_reader r;
		enum db_pgtype t = DB_PG_INT4;
		enum col_kind k = COL_INT32;
		struct colbatch b;

		assert_int_equal(colbatch_init(&b, &k, 1), 0);
		db_bin_reader_init(&r, &t, 1);
		/* Flag bit 16 (OIDs) is critical ... */
		assert_int_equal(db_bin_decode_row(&r, (const char *)m, 29, &b,
						   &err),
				 TW_EINVAL);
		assert_non_null(strstr(err.ptr, "flags 0x00010000"));
		/* ... bit 0 is not; an extension is skipped. */
		memcpy(m + 11, "\0\0\0\1\0\0\0\3xyz\0\1\0\0\0\4\0\0\0\7", 21);
		assert_int_equal(db_bin_decode_row(&r, (const char *)m, 32, &b,
						   &err),
				 1);
		assert_int_equal(*(const int32_t *)colbuf_fixed(&b.cols[0], 0),
				 7);
		/* After the header, rows come without one. */
		assert_int_equal(db_bin_decode_row(&r, "\0\1\0\0\0\4\0\0\0\x08",
						   10, &b, &err),
				 1);
		assert_int_equal(db_bin_decode_row(&r, "\xff\xff", 2, &b, &err),
				 0);
		assert_true(r.trailer_seen);
		assert_int_equal(r.rows, 2);
		assert_int_equal(db_bin_decode_row(&r, "\xff\xff", 2, &b, &err),
				 TW_EINVAL);
		assert_non_null(
			strstr(err.ptr, "after the binary COPY trailer"));
		colbatch_release(&b);
		buf_release(&err);
	}
	refuse_row(DB_PG_INT4, true, ROW(""), "without a row");
	refuse_row(DB_PG_INT4, true, ROW("\xff\xff\0"),
		   "bytes after the binary COPY trailer");

	/* Rows and fields. */
	refuse_row(DB_PG_INT4, true,
		   ROW("\0\2\0\0\0\4\0\0\0\1\xff\xff\xff\xff"),
		   "a COPY row of 2 fields, expected 1");
	refuse_row(DB_PG_INT4, true, ROW("\xff\xfe"), "of -2 fields");
	refuse_row(DB_PG_INT4, true, ROW("\0\1\0\0\0\3\0\0\1"),
		   "a field of 3 bytes, expected 4");
	refuse_row(DB_PG_INT4, true, ROW("\0\1\0\0\0\5\0\0\0\1"),
		   "runs past the row");
	refuse_row(DB_PG_INT4, true, ROW("\0\1\xff\xff\xff\xfe"),
		   "a field of -2 bytes");
	refuse_row(DB_PG_INT4, true, ROW("\0\1\0\0"),
		   "the row ends before the field");
	refuse_row(DB_PG_INT4, true, ROW("\0\1\0\0\0\4\0\0\0\1\0"),
		   "1 bytes after its last field");
	refuse_row(DB_PG_BOOL, true, ROW("\0\1\0\0\0\2\0\1"),
		   "a field of 2 bytes, expected 1");
	refuse_row(DB_PG_UUID, true, ROW("\0\1\0\0\0\4abcd"),
		   "a field of 4 bytes, expected 16");

	/* numeric: header, digits, sign, scale. */
	refuse_row(DB_PG_NUMERIC, true, ROW("\0\1\0\0\0\6\0\0\0\0\0\0"),
		   "shorter than its header");
	refuse_row(DB_PG_NUMERIC, true,
		   ROW("\0\1\0\0\0\x0a\0\1\0\0\0\0\0\0\x27\x10"), "bad digits");
	refuse_row(DB_PG_NUMERIC, true,
		   ROW("\0\1\0\0\0\x0a\0\2\0\0\0\0\0\0\0\1"),
		   "a length that does not match its digits");
	refuse_row(DB_PG_NUMERIC, true,
		   ROW("\0\1\0\0\0\x08\0\0\0\0\x12\x34\0\0"), "a bad sign");
	refuse_row(DB_PG_NUMERIC, true, ROW("\0\1\0\0\0\x08\0\0\0\0\0\0\x40\0"),
		   "a bad display scale");
	refuse_row(DB_PG_NUMERIC, true,
		   ROW("\0\1\0\0\0\x08\xff\xff\0\0\0\0\0\0"),
		   "a length that does not match");

	/* jsonb's version, text's encoding. */
	refuse_row(DB_PG_JSONB, true, ROW("\0\1\0\0\0\3\2{}"),
		   "a jsonb version other than 1");
	refuse_row(DB_PG_JSONB, true, ROW("\0\1\0\0\0\0"), "an empty jsonb");
	refuse_row(DB_PG_TEXT, true, ROW("\0\1\0\0\0\3a\xffz"),
		   "text that is not UTF-8");
	refuse_row(DB_PG_OTHER, true, ROW("\0\1\0\0\0\2\xc0\x80"),
		   "column 1 (other), row 1: text that is not UTF-8");

	/* Infinite dates and times; a time past int64 microseconds. */
	refuse_row(DB_PG_DATE, true, ROW("\0\1\0\0\0\4\x7f\xff\xff\xff"),
		   "column 1 (date), row 1: the value is infinity");
	refuse_row(DB_PG_DATE, true, ROW("\0\1\0\0\0\4\x80\0\0\0"),
		   "the value is -infinity");
	refuse_row(DB_PG_TIMESTAMP, true,
		   ROW("\0\1\0\0\0\x08\x7f\xff\xff\xff\xff\xff\xff\xff"),
		   "the value is infinity");
	refuse_row(DB_PG_TIMESTAMPTZ, true,
		   ROW("\0\1\0\0\0\x08\x80\0\0\0\0\0\0\0"),
		   "the value is -infinity");
	refuse_row(DB_PG_TIMESTAMP, true,
		   ROW("\0\1\0\0\0\x08\x7f\xff\xff\xff\xff\xff\xff\x00"),
		   "past what 64-bit microseconds since 1970 can hold");
}

/* Decodes one numeric field (bytes after the length) to its text. */
static void numeric_is(const char *bytes, size_t n, const char *want)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_bin_reader r;
	enum db_pgtype t = DB_PG_NUMERIC;
	enum col_kind k = COL_TEXT;
	struct colbatch b;
	uint8_t m[128];
	size_t len, got_len;
	const char *got;

	memcpy(m, "\0\1\0\0\0", 5);
	m[5] = (uint8_t)n;
	memcpy(m + 6, bytes, n);
	len = msg(m + 64, true, (const char *)m, 6 + n);
	assert_int_equal(colbatch_init(&b, &k, 1), 0);
	db_bin_reader_init(&r, &t, 1);
	assert_rc(db_bin_decode_row(&r, (const char *)m + 64, len, &b, &err), 1,
		  &err);
	got = colbuf_text(&b.cols[0], 0, &got_len);
	if (got_len != strlen(want) || memcmp(got, want, got_len))
		fail_msg("decoded \"%.*s\", expected \"%s\"", (int)got_len, got,
			 want);
	colbatch_release(&b);
	buf_release(&err);
}

/*
 * Bytes PostgreSQL never sends decode to the value numeric_recv() would
 * make of them: leading zero digits dropped, digits past the scale cut,
 * a zero without its sign (found by fuzz_copy).
 */
static void test_decode_numeric_normalises(void **state)
{
	(void)state;
	/* 1.50 as PostgreSQL sends it */
	numeric_is(ROW("\0\2\0\0\0\0\0\2\0\1\x13\x88"), "1.50");
	/* a leading zero digit: 0000 0255 with weight 1 is 255 */
	numeric_is(ROW("\0\2\0\1\0\0\0\0\0\0\0\xff"), "255");
	/* all digits zero, weight 93, negative */
	numeric_is(ROW("\0\2\0\x5d\x40\0\0\0\0\0\0\0"), "0");
	/* -0.0001 with scale 2: the digit is cut, and the sign with it */
	numeric_is(ROW("\0\1\xff\xff\x40\0\0\2\0\1"), "0.00");
	/* -0.0100 with scale 2 keeps its sign */
	numeric_is(ROW("\0\1\xff\xff\x40\0\0\2\0\x64"), "-0.01");
	/* no digits and a negative sign */
	numeric_is(ROW("\0\0\0\0\x40\0\0\0"), "0");
}

/* No rows: the server sends the header and the trailer in one message. */
static void test_empty_copy(void **state)
{
	PGconn *conn = connect_schema();
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	enum db_pgtype types[2] = { DB_PG_INT8, DB_PG_TEXT };
	struct colbatch b;

	(void)state;
	copy_out(conn,
		 "COPY (SELECT 1::bigint, 'x'::text WHERE false) TO STDOUT "
		 "(FORMAT binary)",
		 types, 2, &b);
	assert_int_equal(b.nrows, 0);
	/* ... and an empty batch goes back in as header and trailer. */
	exec_ok(conn, "CREATE TABLE empty_in (a bigint, b text)");
	copy_in(conn, "COPY empty_in FROM STDIN (FORMAT binary)", &b, types,
		10);
	assert_string_equal(value(conn, "SELECT count(*) FROM empty_in"), "0");
	colbatch_release(&b);
	buf_release(&err);
	PQfinish(conn);
}

/* The same refusals on what a real server sends. */
static void test_decode_infinity_from_server(void **state)
{
	static const struct {
		const char *sql;
		enum db_pgtype t;
		const char *want;
	} cases[] = {
		{ "COPY (SELECT x FROM (VALUES (date '2020-01-01'), "
		  "('infinity')) v(x)) TO STDOUT (FORMAT binary)",
		  DB_PG_DATE, "column 1 (date), row 2: the value is infinity" },
		{ "COPY (SELECT '-infinity'::timestamptz) TO STDOUT "
		  "(FORMAT binary)",
		  DB_PG_TIMESTAMPTZ, "row 1: the value is -infinity" },
		{ "COPY (SELECT '294247-01-11'::timestamp) TO STDOUT "
		  "(FORMAT binary)",
		  DB_PG_TIMESTAMP, "past what 64-bit microseconds" },
	};
	PGconn *conn = connect_schema();
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(cases); i++) {
		enum col_kind k = db_pgtype_kind(cases[i].t);
		struct db_bin_reader r;
		struct colbatch b;
		int rc = 1;

		assert_int_equal(colbatch_init(&b, &k, 1), 0);
		db_bin_reader_init(&r, &cases[i].t, 1);
		buf_reset(&err);
		assert_rc(db_copy_out_begin(conn, cases[i].sql, &err), 0, &err);
		for (;;) {
			char *row;
			int len;
			int n = db_copy_out_next(conn, &row, &len, &err);

			assert_true(n >= 0);
			if (n == 0)
				break;
			if (rc > 0)
				rc = db_bin_decode_row(&r, row, (size_t)len, &b,
						       &err);
			PQfreemem(row);
		}
		assert_int_equal(rc, TW_EINVAL);
		if (!strstr(err.ptr, cases[i].want))
			fail_msg("expected \"%s\" in \"%s\"", cases[i].want,
				 err.ptr);
		colbatch_release(&b);
	}
	/* The largest time that fits still decodes. */
	{
		enum db_pgtype t = DB_PG_TIMESTAMP;
		enum col_kind k = COL_TIMESTAMP;
		struct db_bin_reader r;
		struct colbatch b;
		char *row;
		int len;

		assert_int_equal(colbatch_init(&b, &k, 1), 0);
		db_bin_reader_init(&r, &t, 1);
		assert_rc(db_copy_out_begin(conn,
					    "COPY (SELECT '294247-01-10 "
					    "04:00:54.775807'::timestamp) TO "
					    "STDOUT (FORMAT binary)",
					    &err),
			  0, &err);
		assert_int_equal(db_copy_out_next(conn, &row, &len, &err), 1);
		assert_rc(db_bin_decode_row(&r, row, (size_t)len, &b, &err), 1,
			  &err);
		PQfreemem(row);
		assert_true(*(const int64_t *)colbuf_fixed(&b.cols[0], 0) ==
			    INT64_MAX);
		assert_int_equal(db_copy_out_next(conn, &row, &len, &err), 1);
		assert_int_equal(
			db_bin_decode_row(&r, row, (size_t)len, &b, &err), 0);
		PQfreemem(row);
		assert_int_equal(db_copy_out_next(conn, &row, &len, &err), 0);
		colbatch_release(&b);
	}
	buf_release(&err);
	PQfinish(conn);
}

/* A row that does not fit the batch: TW_ETOOBIG, nothing appended. */
static void test_decode_batch_full(void **state)
{
	enum col_kind kinds[1000];
	enum db_pgtype types[1000];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf m = BUF_INIT((size_t)16 * 1024 * 1024);
	struct db_bin_reader r;
	struct colbatch b;
	size_t i, cap;
	uint8_t be[4];

	(void)state;
	for (i = 0; i < 1000; i++) {
		kinds[i] = COL_TEXT;
		types[i] = DB_PG_TEXT;
	}
	assert_int_equal(colbatch_init(&b, kinds, 1000), 0);
	cap = b.cols[0].data.cap;
	db_bin_reader_init(&r, types, 1000);
	/* The header, 1000 fields; the first one too long, the rest 1 byte. */
	assert_int_equal(db_bin_encode_header(&m), 0);
	assert_int_equal(buf_add(&m, "\x03\xe8", 2), 0);
	be[0] = (uint8_t)((cap + 1) >> 24);
	be[1] = (uint8_t)((cap + 1) >> 16);
	be[2] = (uint8_t)((cap + 1) >> 8);
	be[3] = (uint8_t)(cap + 1);
	assert_int_equal(buf_add(&m, be, 4), 0);
	assert_int_equal(buf_grow(&m, cap + 1), 0);
	memset(m.ptr + m.len, 'x', cap + 1);
	m.len += cap + 1;
	for (i = 1; i < 1000; i++)
		assert_int_equal(buf_add(&m, "\0\0\0\1y", 5), 0);
	assert_int_equal(db_bin_decode_row(&r, m.ptr, m.len, &b, &err),
			 TW_ETOOBIG);
	assert_int_equal(b.nrows, 0);
	assert_int_equal(colbatch_bytes(&b), 4000);
	assert_false(r.header_seen);
	assert_int_equal(r.rows, 0);
	colbatch_release(&b);
	buf_release(&m);
	buf_release(&err);
}

static void test_encode_refusals(void **state)
{
	static const enum col_kind k[] = { COL_TEXT, COL_INT64, COL_DATE,
					   COL_TIMESTAMP };
	static const enum db_pgtype t[] = { DB_PG_TEXT, DB_PG_INT8, DB_PG_DATE,
					    DB_PG_TIMESTAMP };
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf out = BUF_INIT(2048);
	struct colbatch b;
	int64_t v = 1, ts = INT64_MIN;
	int32_t d = INT32_MIN;
	enum db_pgtype wrong[4];

	(void)state;
	assert_int_equal(colbatch_init(&b, k, 4), 0);
	assert_int_equal(colbuf_append_text(&b.cols[0], 0, "a\0b", 3), 0);
	assert_int_equal(colbuf_append_fixed(&b.cols[1], 0, &v), 0);
	assert_int_equal(colbuf_append_fixed(&b.cols[2], 0, &d), 0);
	assert_int_equal(colbuf_append_fixed(&b.cols[3], 0, &ts), 0);
	colbatch_end_row(&b);

	/* A NUL in text. */
	assert_int_equal(db_bin_encode_rows(&out, &b, t, 0, 1, &err),
			 TW_EINVAL);
	assert_non_null(strstr(err.ptr, "column 1, row 1: text with a NUL"));
	assert_int_equal(out.len, 0);

	/* A date or a time that would become an infinity. */
	colbatch_truncate(&b, 0);
	assert_int_equal(colbuf_append_text(&b.cols[0], 0, "ok", 2), 0);
	assert_int_equal(colbuf_append_fixed(&b.cols[1], 0, &v), 0);
	assert_int_equal(colbuf_append_fixed(&b.cols[2], 0, &d), 0);
	assert_int_equal(colbuf_append_null(&b.cols[3], 0), 0);
	colbatch_end_row(&b);
	buf_reset(&err);
	assert_int_equal(db_bin_encode_rows(&out, &b, t, 0, 1, &err),
			 TW_EINVAL);
	assert_non_null(
		strstr(err.ptr, "column 3, row 1: a date out of range"));
	d = INT32_MIN + 10958;
	memcpy(b.cols[2].data.ptr, &d, 4);
	assert_rc(db_bin_encode_rows(&out, &b, t, 0, 1, &err), 0, &err);
	buf_reset(&out);
	colbatch_truncate(&b, 0);
	assert_int_equal(colbuf_append_text(&b.cols[0], 0, "ok", 2), 0);
	assert_int_equal(colbuf_append_fixed(&b.cols[1], 0, &v), 0);
	assert_int_equal(colbuf_append_null(&b.cols[2], 0), 0);
	assert_int_equal(colbuf_append_fixed(&b.cols[3], 0, &ts), 0);
	colbatch_end_row(&b);
	buf_reset(&err);
	assert_int_equal(db_bin_encode_rows(&out, &b, t, 0, 1, &err),
			 TW_EINVAL);
	assert_non_null(
		strstr(err.ptr, "column 4, row 1: a time out of range"));

	/* A kind the type does not take. */
	memcpy(wrong, t, sizeof(wrong));
	wrong[1] = DB_PG_TEXT;
	buf_reset(&err);
	assert_int_equal(db_bin_encode_rows(&out, &b, wrong, 0, 0, &err),
			 TW_EINVAL);
	assert_non_null(strstr(err.ptr, "column 2: a column of kind int64 "
					"cannot be stored as text"));
	wrong[1] = DB_PG_OTHER;
	assert_int_equal(db_bin_encode_rows(&out, &b, wrong, 0, 0, &err),
			 TW_EINVAL);

	/* No room: TW_ETOOBIG, out as it was. */
	colbatch_truncate(&b, 0);
	for (size_t r = 0; r < 100; r++) {
		assert_int_equal(
			colbuf_append_text(&b.cols[0], r, "abcdefgh", 8), 0);
		assert_int_equal(colbuf_append_fixed(&b.cols[1], r, &v), 0);
		assert_int_equal(colbuf_append_null(&b.cols[2], r), 0);
		assert_int_equal(colbuf_append_null(&b.cols[3], r), 0);
		colbatch_end_row(&b);
	}
	buf_reset(&out);
	assert_int_equal(buf_add(&out, "head", 4), 0);
	buf_reset(&err);
	assert_int_equal(db_bin_encode_rows(&out, &b, t, 0, 100, &err),
			 TW_ETOOBIG);
	assert_int_equal(out.len, 4);
	/* 2 + 12 + 12 + 4 + 4 bytes a row: 100 of them do not fit, 100 do
	 * when there is room for exactly them (not for the bound). */
	assert_rc(db_bin_encode_rows(&out, &b, t, 0, 50, &err), 0, &err);
	assert_int_equal(out.len, 4 + 50 * 34);
	colbatch_release(&b);
	buf_release(&out);
	buf_release(&err);
}

/* --- the wrappers --------------------------------------------------------- */

static void test_wrappers(void **state)
{
	PGconn *conn = connect_schema();
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf data = BUF_INIT(4096);
	char *row;
	int len, rc, rows = 0;

	(void)state;
	exec_ok(conn, "CREATE TABLE w (x int)");

	/* A COPY of a table that is not there. */
	assert_int_equal(db_copy_out_begin(conn,
					   "COPY missing TO STDOUT "
					   "(FORMAT binary)",
					   &err),
			 TW_ENOTFOUND);
	assert_non_null(strstr(err.ptr, "missing"));
	assert_string_equal(value(conn, "SELECT 1"), "1");

	/* A statement that is no COPY, or a COPY the other way. */
	buf_reset(&err);
	assert_int_equal(db_copy_out_begin(conn, "SELECT 1", &err),
			 TW_EINTERNAL);
	assert_non_null(strstr(err.ptr, "did not start a COPY TO STDOUT"));
	assert_string_equal(value(conn, "SELECT 2"), "2");
	assert_int_equal(db_copy_out_begin(conn,
					   "COPY w FROM STDIN (FORMAT binary)",
					   &err),
			 TW_EINTERNAL);
	assert_string_equal(value(conn, "SELECT 3"), "3");
	assert_int_equal(db_copy_in_begin(conn,
					  "COPY w TO STDOUT (FORMAT binary)",
					  &err),
			 TW_EINTERNAL);
	assert_string_equal(value(conn, "SELECT 4"), "4");

	/* An error in the middle of COPY OUT. */
	buf_reset(&err);
	assert_rc(db_copy_out_begin(conn,
				    "COPY (SELECT 1 / (5 - x) FROM "
				    "generate_series(1, 10) x) TO STDOUT "
				    "(FORMAT binary)",
				    &err),
		  0, &err);
	for (;;) {
		rc = db_copy_out_next(conn, &row, &len, &err);
		if (rc <= 0)
			break;
		PQfreemem(row);
		rows++;
	}
	assert_int_equal(rc, TW_EVALIDATION);
	assert_non_null(strstr(err.ptr, "division by zero"));
	assert_true(rows < 10);
	assert_string_equal(value(conn, "SELECT 5"), "5");

	/* An aborted COPY IN leaves nothing. */
	buf_reset(&err);
	assert_rc(db_copy_in_begin(conn, "COPY w FROM STDIN (FORMAT binary)",
				   &err),
		  0, &err);
	assert_int_equal(db_bin_encode_header(&data), 0);
	assert_int_equal(buf_add(&data, "\0\1\0\0\0\4\0\0\0\1", 10), 0);
	assert_rc(db_copy_in_put(conn, data.ptr, data.len, &err), 0, &err);
	assert_rc(db_copy_in_end(conn, "the job was cancelled", &err), 0, &err);
	assert_string_equal(value(conn, "SELECT count(*) FROM w"), "0");

	/* Malformed data: the server's refusal comes at the end. */
	assert_rc(db_copy_in_begin(conn, "COPY w FROM STDIN (FORMAT binary)",
				   &err),
		  0, &err);
	assert_rc(db_copy_in_put(conn,
				 "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0"
				 "\0\1\0\0\0\3\0\0\1\xff\xff",
				 31, &err),
		  0, &err);
	buf_reset(&err);
	rc = db_copy_in_end(conn, NULL, &err);
	assert_true(rc < 0);
	assert_true(err.len > 0);
	assert_string_equal(value(conn, "SELECT count(*) FROM w"), "0");

	/* And a good one, in two pieces. */
	assert_rc(db_copy_in_begin(conn, "COPY w FROM STDIN (FORMAT binary)",
				   &err),
		  0, &err);
	assert_int_equal(db_bin_encode_trailer(&data), 0);
	assert_rc(db_copy_in_put(conn, data.ptr, 5, &err), 0, &err);
	assert_rc(db_copy_in_put(conn, data.ptr + 5, data.len - 5, &err), 0,
		  &err);
	assert_rc(db_copy_in_end(conn, NULL, &err), 0, &err);
	assert_string_equal(value(conn, "SELECT sum(x) FROM w"), "1");

	/* A broken connection is TW_EUNAVAIL. */
	exec_fails(conn, "SELECT pg_terminate_backend(pg_backend_pid())");
	buf_reset(&err);
	rc = db_copy_out_begin(conn, "COPY w TO STDOUT (FORMAT binary)", &err);
	assert_int_equal(rc, TW_EUNAVAIL);
	buf_release(&data);
	buf_release(&err);
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pgtypes),
		cmocka_unit_test(test_output_type),
		cmocka_unit_test(test_decode_refusals),
		cmocka_unit_test(test_decode_numeric_normalises),
		cmocka_unit_test(test_decode_batch_full),
		cmocka_unit_test(test_encode_refusals),
		cmocka_unit_test(test_table_columns),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_text_to_numeric),
		cmocka_unit_test(test_float_to_numeric),
		cmocka_unit_test(test_text_to_uuid),
		cmocka_unit_test(test_decode_infinity_from_server),
		cmocka_unit_test(test_empty_copy),
		cmocka_unit_test(test_wrappers),
	};

	snprintf(schema, sizeof(schema), "tw_test_%ld_copy", plat_getpid());
	return cmocka_run_group_tests(tests, NULL, drop_schema);
}
