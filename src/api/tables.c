#include "core/compat.h"

#include "api/api_int.h"
#include "core/err.h"
#include "core/str.h"
#include "db/publish.h"
#include "log/log.h"

/*
 * tables.c - the /api/v1/tables resource: the table explorer (read only,
 * every signed-in role). docs/tables.md is the user's view of it,
 * docs/internals/api-tables.md the design.
 *
 * What is shown. The tables, partitioned tables, views, materialized views
 * and foreign tables of the configured data schemas that the server's
 * database role may read (USAGE on the schema, SELECT on the relation),
 * never the app schema nor a system schema (pg_*, information_schema),
 * whatever TW_DATA_SCHEMAS says. Every request reads the catalog afresh,
 * so a table created after start-up is there at once. Anything outside
 * that set answers 404, exactly as a table that does not exist, and so does
 * a schema or table name that fails str_ident_valid(): such a name cannot
 * be a target here (a table created as "Mixed Case" is listed, but its
 * detail and rows are 404; a documented limitation).
 *
 * Identifiers. The catalog is only ever searched with the names as query
 * parameters. SQL text is built for the rows query alone, from names that
 * passed str_ident_valid() and are quoted with PQescapeIdentifier() anyway.
 * A column whose name fails the check is still shown: it is read as
 * to_json(t.*) -> $n, its name a parameter rather than an identifier; it
 * cannot be an order_by column.
 *
 * Reading. Each request runs in a read-only transaction with a 10 s
 * statement timeout (57014 is 503), TimeZone UTC, float output in the
 * shortest exact form, hex bytea output and search_path pg_catalog, so the
 * JSON does not depend on the session's or the database's settings. The
 * page is chosen in a subquery, so only its rows are converted to JSON
 * (build_rows_sql()). The rows query is answered one row at a time
 * (libpq's single-row mode) and assembled as JSON text in a buffer capped
 * at ROWS_PAGE_CAP: memory stays bounded by the cap plus one row, and a
 * page over the cap is 413 ("lower limit") rather than a cut page.
 *
 * Values are PostgreSQL's to_json() text, with one change: an int8 or
 * numeric (or an array of them) that a JSON number (an IEEE double) could
 * not carry exactly becomes a JSON string. See json_number_exact().
 *
 * Errors in reading rows are reported without row data: a 5xx detail (which
 * goes to the log) names the SQLSTATE only, since a message such as
 * 'invalid input syntax for type integer: "..."' would quote a value.
 */

#define ROWS_LIMIT_DEFAULT 100
#define ROWS_LIMIT_MAX 1000
#define ROWS_OFFSET_MAX 1000000000L

/*
 * The largest rows body. The body exists twice for a moment (this buffer,
 * then the reply's copy in the arena), so the cap is kept well below what
 * a server with HTTP_THREADS requests in flight can afford.
 */
#define ROWS_PAGE_CAP ((size_t)32 * 1024 * 1024)

/* The rows query's text: at most 1600 columns of quoted names. */
#define ROWS_SQL_CAP ((size_t)1024 * 1024)

/* lookup_sql's mark for columns whose numbers may not fit a double. */
#define NUM_NONE 0
#define NUM_INT8 'i'
#define NUM_NUMERIC 'n'

/*
 * Opens every request's transaction; one round trip. A failure leaves the
 * transaction to db_release(), which rolls it back (a rows query may have
 * left results unread, which a ROLLBACK here could not get past).
 */
#define BEGIN_SQL                                                        \
	"BEGIN READ ONLY; SET LOCAL statement_timeout = '10s';"          \
	" SET LOCAL TimeZone = 'UTC'; SET LOCAL extra_float_digits = 1;" \
	" SET LOCAL bytea_output = 'hex';"                               \
	" SET LOCAL search_path = pg_catalog, pg_temp"

static const char begin_sql[] = BEGIN_SQL;

/*
 * The planner's row estimate: reltuples, -1 (never analysed) being NULL;
 * for a partitioned table the sum over its analysed leaf partitions; NULL
 * for views.
 */
#define EST_ROWS                                                         \
	" CASE WHEN c.relkind = 'p' THEN (SELECT sum(l.reltuples)::int8" \
	" FROM pg_partition_tree(c.oid) pt JOIN pg_class l"              \
	" ON l.oid = pt.relid WHERE pt.isleaf AND l.reltuples >= 0)"     \
	" WHEN c.relkind IN ('r', 'm', 'f') AND c.reltuples >= 0"        \
	" THEN c.reltuples::int8 END"

/* Table, indexes and TOAST; summed over partitions; NULL without storage. */
#define SIZE_BYTES                                     \
	" CASE WHEN c.relkind IN ('r', 'm')"           \
	" THEN pg_total_relation_size(c.oid)"          \
	" WHEN c.relkind = 'p' THEN (SELECT"           \
	" sum(pg_total_relation_size(pt.relid))::int8" \
	" FROM pg_partition_tree(c.oid) pt) END"

#define FROM_CLASS \
	" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"

#define ORDER_LIST " ORDER BY n.nspname, c.relname"

#define LIST_SQL                                                 \
	"SELECT n.nspname, c.relname, c.relkind::text," EST_ROWS \
	"," SIZE_BYTES FROM_CLASS " WHERE" DB_CATALOG_VISIBLE ORDER_LIST

static const char list_sql[] = LIST_SQL;

/*
 * One relation ($3 schema, $4 name) with one row per column in attnum
 * order (a single row with a NULL column name when it has none). num says
 * whether the column is an int8 or numeric, or an array of either, seeing
 * through one level of domain; pk is the column's place in the primary
 * key (from 0: the index's indkey starts at 0), NULL when it is not one of
 * its key columns (INCLUDE columns are not).
 */
#define ORDER_ATTNUM " ORDER BY a.attnum"

#define PK_POS                                                \
	" (SELECT x.p FROM pg_index i, LATERAL (SELECT"       \
	" array_position(i.indkey::int2[], a.attnum) AS p) x" \
	" WHERE i.indrelid = c.oid AND i.indisprimary"        \
	" AND x.p < i.indnkeyatts)"

#define JOIN_COLUMNS                                                       \
	" LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0" \
	" AND NOT a.attisdropped"                                          \
	" LEFT JOIN pg_type ty ON ty.oid = a.atttypid"                     \
	" LEFT JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd'"     \
	" THEN ty.typbasetype ELSE ty.oid END"                             \
	" LEFT JOIN pg_type el ON el.oid = bt.typelem"                     \
	" AND bt.typcategory = 'A'"

#define NUM_KIND                                                   \
	" CASE WHEN bt.oid = 20::oid OR el.oid = 20::oid THEN 'i'" \
	" WHEN bt.oid = 1700::oid OR el.oid = 1700::oid THEN 'n'"  \
	" ELSE '' END"

#define LOOKUP_SQL                                                          \
	"SELECT c.relkind::text," EST_ROWS "," SIZE_BYTES ","               \
	" c.relispopulated, a.attname,"                                     \
	" format_type(a.atttypid, a.atttypmod), NOT a.attnotnull," NUM_KIND \
	"," PK_POS FROM_CLASS JOIN_COLUMNS                                  \
	" WHERE n.nspname = $3 AND c.relname = $4 AND" DB_CATALOG_VISIBLE   \
		ORDER_ATTNUM

static const char lookup_sql[] = LOOKUP_SQL;

/* The lookup's columns. */
enum {
	LK_KIND,
	LK_EST,
	LK_SIZE,
	LK_POPULATED,
	LK_NAME,
	LK_TYPE,
	LK_NULLABLE,
	LK_NUM,
	LK_PK,
};

struct tbl_column {
	const char *name;
	const char *type; /* format_type(): "numeric(10,2)" */
	bool nullable;
	char num;    /* NUM_INT8, NUM_NUMERIC or NUM_NONE */
	long pk_pos; /* place in the primary key; -1 when not in it */
	bool ident;  /* the name passes str_ident_valid() */
};

/* A relation as looked up; strings point into a PGresult of the arena. */
struct tbl_info {
	const char *schema;
	const char *name;
	char kind;	/* pg_class.relkind */
	bool populated; /* false: a materialized view never refreshed */
	const char *estimated_rows; /* NULL: unknown */
	const char *size_bytes;	    /* NULL: no storage */
	struct tbl_column *cols;
	int ncols;
	int *pk; /* indices into cols, in key order */
	int npk;
};

static const char *kind_name(char relkind)
{
	switch (relkind) {
	case 'r':
		return "table";
	case 'p':
		return "partitioned_table";
	case 'v':
		return "view";
	case 'm':
		return "materialized_view";
	case 'f':
		return "foreign_table";
	default:
		TW_BUG("relation kind '%c' outside the explorer's list",
		       relkind);
	}
}

static const char *value_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/*
 * table_lookup() fills t with schema.name and its columns, or returns
 * TW_ENOTFOUND when the explorer does not show such a relation (it does not
 * exist, is outside the data schemas, or may not be read). Names must have
 * passed str_ident_valid(). Runs inside the request's transaction.
 */
static int table_lookup(struct http_request *req, PGconn *conn,
			const char *schema, const char *name,
			struct tbl_info *t, struct buf *err)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	const char *params[4];
	PGresult *res = NULL;
	int i, n, k;
	int rc;

	memset(t, 0, sizeof(*t));
	params[0] = api_data_schemas_param(req);
	params[1] = cfg->app_schema;
	params[2] = schema;
	params[3] = name;
	rc = api_exec(req, conn, lookup_sql, 4, params, &res, err);
	if (rc < 0)
		goto out;
	n = PQntuples(res);
	if (n == 0) {
		rc = TW_ENOTFOUND;
		goto out;
	}
	t->schema = schema;
	t->name = name;
	t->kind = PQgetvalue(res, 0, LK_KIND)[0];
	t->estimated_rows = value_or_null(res, 0, LK_EST);
	t->size_bytes = value_or_null(res, 0, LK_SIZE);
	t->populated = PQgetvalue(res, 0, LK_POPULATED)[0] == 't';
	if (PQgetisnull(res, 0, LK_NAME))
		n = 0; /* a table without columns */
	t->cols = arena_alloc(req->arena, sizeof(*t->cols) * (size_t)(n + 1));
	t->pk = arena_alloc(req->arena, sizeof(*t->pk) * (size_t)(n + 1));
	for (i = 0; i < n; i++) {
		struct tbl_column *c = &t->cols[i];

		c->name = PQgetvalue(res, i, LK_NAME);
		c->type = PQgetvalue(res, i, LK_TYPE);
		c->nullable = PQgetvalue(res, i, LK_NULLABLE)[0] == 't';
		c->num = PQgetvalue(res, i, LK_NUM)[0];
		c->pk_pos = (long)db_col_i64_or(res, i, LK_PK, -1);
		c->ident = str_ident_valid(c->name);
	}
	t->ncols = n;
	/* The primary key's columns in key order (a key has few columns). */
	for (k = 0; k < n; k++) {
		for (i = 0; i < n && t->cols[i].pk_pos != k; i++)
			;
		if (i == n)
			break;
		t->pk[t->npk++] = i;
	}
out:
	return rc;
}

/* Looks up a column by exact name; -1 when the table has none such. */
static int column_index(const struct tbl_info *t, const char *name)
{
	int i;

	for (i = 0; i < t->ncols; i++) {
		if (!strcmp(t->cols[i].name, name))
			return i;
	}
	return -1;
}

/*
 * path_table() takes {schema} and {name} from the path; a name that fails
 * str_ident_valid() cannot name a table the explorer shows, so it is the
 * same 404 (replied) as one that does not exist.
 */
static int path_table(struct http_request *req, const char **schema,
		      const char **name)
{
	int rc = 0;

	*schema = http_param(req, "schema");
	*name = http_param(req, "name");
	if (!str_ident_valid(*schema) || !str_ident_valid(*name))
		rc = http_reply_error(req, TW_ENOTFOUND,
				      "no such table in the data schemas");
	return rc;
}

/* Replies for a failed catalog query or lookup. */
static int reply_lookup_error(struct http_request *req, int rc,
			      const struct buf *err)
{
	if (rc == TW_ENOTFOUND)
		return http_reply_error(req, rc,
					"no such table in the data schemas");
	return http_reply_error(req, rc, "could not read the catalog: %s",
				err->ptr);
}

/* A bigint column's text as a JSON integer, or null. */
static json_t *json_int8(const char *text)
{
	return text ? json_integer((json_int_t)strtoll(text, NULL, 10))
		    : json_null();
}

/* --- GET /api/v1/tables -------------------------------------------------- */

int api_tables_list(struct http_request *req)
{
	struct db_tx tx;
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *params[2];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	json_t *items, *item;
	int i, n;
	int rc;

	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	params[0] = api_data_schemas_param(req);
	params[1] = cfg->app_schema;
	rc = db_tx_begin_sql(&tx, conn, begin_sql, &err);
	if (rc == 0)
		rc = api_exec(req, conn, list_sql, 2, params, &res, &err);
	if (rc == 0)
		rc = db_tx_commit(&tx, &err);
	if (rc < 0) {
		reply_lookup_error(req, rc, &err);
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (i = 0; i < n; i++) {
		item = json_pack(
			"{s:s, s:s, s:s, s:o, s:o}", "schema",
			PQgetvalue(res, i, 0), "name", PQgetvalue(res, i, 1),
			"kind", kind_name(PQgetvalue(res, i, 2)[0]),
			"estimated_rows", json_int8(value_or_null(res, i, 3)),
			"size_bytes", json_int8(value_or_null(res, i, 4)));
		/* NULL only for a name that is not UTF-8 (a SQL_ASCII db). */
		if (item)
			json_array_append_new(items, item);
	}
	rc = http_reply_json(req, 200,
			     json_pack("{s:o, s:n}", "items", items,
				       "next_cursor"));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/*
 * produced_by() sets *out to the provenance of schema.name when a job
 * published the relation under that name (db_publish_provenance()), JSON
 * null otherwise. Runs outside the request's read-only transaction, whose
 * search_path leaves out the app schema.
 */
static int produced_by(struct http_request *req, PGconn *conn,
		       const char *schema, const char *name, json_t **out,
		       struct buf *err)
{
	char *text = NULL;
	json_t *j = NULL;
	int rc;

	(void)req;
	rc = db_publish_provenance(conn, schema, name, &text, err);
	if (rc == 0 && text) {
		j = json_loads(text, 0, NULL);
		if (!j) {
			buf_errf(err, "the provenance of %s.%s is not JSON",
				 schema, name);
			rc = TW_EINTERNAL;
		}
	}
	free(text);
	*out = j ? j : json_null();
	return rc;
}

/* --- GET /api/v1/tables/{schema}/{name} ---------------------------------- */

int api_tables_get(struct http_request *req)
{
	struct db_tx tx;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *schema, *name;
	struct tbl_info t;
	PGconn *conn = NULL;
	json_t *cols, *pk, *body, *produced;
	int i;
	int rc;

	rc = path_table(req, &schema, &name);
	if (rc < 0)
		goto out;
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = db_tx_begin_sql(&tx, conn, begin_sql, &err);
	if (rc == 0)
		rc = table_lookup(req, conn, schema, name, &t, &err);
	if (rc == 0)
		rc = db_tx_commit(&tx, &err);
	if (rc < 0) {
		reply_lookup_error(req, rc, &err);
		goto out;
	}
	cols = json_array();
	for (i = 0; i < t.ncols; i++)
		json_array_append_new(
			cols, json_pack("{s:s, s:s, s:b}", "name",
					t.cols[i].name, "type", t.cols[i].type,
					"nullable", t.cols[i].nullable));
	pk = json_array();
	for (i = 0; i < t.npk; i++)
		json_array_append_new(pk, json_string(t.cols[t.pk[i]].name));
	body = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "schema",
			 t.schema, "name", t.name, "kind", kind_name(t.kind),
			 "columns", cols, "primary_key", pk, "estimated_rows",
			 json_int8(t.estimated_rows), "size_bytes",
			 json_int8(t.size_bytes));
	rc = produced_by(req, conn, schema, name, &produced, &err);
	if (rc < 0) {
		json_decref(body);
		reply_lookup_error(req, rc, &err);
		goto out;
	}
	json_object_set_new(body, "produced_by", produced);
	rc = http_reply_json(req, 200, body);
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/* --- POST /api/v1/tables/{schema}/{name}/rollback ------------------------ */

/*
 * Puts back the newest kept version of a table a replace swapped out
 * (db_publish_rollback(): the current table is dropped). Only tables of
 * the output schema; everything else is 404. 403 for another user's table
 * (an analyst), 409 when it is not a table a job published or no earlier
 * version is kept.
 */
int api_tables_rollback(struct http_request *req)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	const struct auth_user *me = req->auth;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_rollback_result rb;
	const char *schema, *name;
	PGconn *conn = NULL;
	json_t *produced = NULL;
	bool admin;
	int rc;

	rc = path_table(req, &schema, &name);
	if (rc < 0)
		goto out;
	rc = api_may_write(req);
	if (rc < 0)
		goto out;
	if (strcmp(schema, cfg->output_schema) != 0) {
		rc = http_reply_error(req, TW_ENOTFOUND,
				      "no such table in the output schema");
		goto out;
	}
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	admin = auth_role_bit(me->role) == AUTH_ROLE_ADMIN;
	rc = db_publish_rollback(conn, cfg->app_schema, schema, name, me->id,
				 admin, &rb, &err);
	if (rc == TW_ENOTFOUND || rc == TW_EFORBIDDEN || rc == TW_ECONFLICT) {
		http_reply_error(req, rc, "%s", err.ptr);
		goto out;
	}
	if (rc == 0)
		rc = produced_by(req, conn, schema, name, &produced, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "could not roll back %s.%s: %s",
				 schema, name, err.ptr);
		goto out;
	}
	log_info(LOG_APP, "%s.%s rolled back to version %d by user %" PRId64,
		 schema, name, rb.restored, me->id);
	rc = http_reply_json(
		req, 200,
		json_pack("{s:s, s:s, s:i, s:o, s:i, s:o}", "schema", schema,
			  "name", name, "version", rb.restored,
			  "rolled_back_version",
			  rb.dropped ? json_integer(rb.dropped) : json_null(),
			  "kept_versions", rb.kept_remaining, "produced_by",
			  produced));
	produced = NULL;
out:
	json_decref(produced);
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/* --- GET /api/v1/tables/{schema}/{name}/rows ----------------------------- */

/* 2^53: every integer up to this magnitude is exact in an IEEE double. */
static const char two_pow_53[] = "9007199254740992";

/*
 * json_number_exact() says whether the JSON number text s (n bytes, as
 * PostgreSQL's to_json() writes an int8 or a numeric: -?digits[.digits])
 * means exactly the same value to a reader that parses numbers as IEEE
 * doubles, as JavaScript does:
 *
 *  - int8 (num NUM_INT8): |v| <= 2^53;
 *  - numeric: at most 15 significant digits, counted without the sign, the
 *    point, leading zeros and trailing zeros (on either side of the point:
 *    12.30 and 1200 have 3 and 2), and a decimal exponent within +-300, so
 *    the double is normal and prints back as the same decimal. Trailing
 *    zeros do not count because they do not change the value: a
 *    numeric(20,2) price of 1234567890123.40 stays a number. A reader that
 *    needs the declared scale finds it in the column's type.
 *
 * Anything else (an exponent, which PostgreSQL does not write for these
 * types) is not exact.
 */
static bool json_number_exact(const char *s, size_t n, char num)
{
	size_t i = 0, ndig = 0, point = SIZE_MAX;
	size_t first = SIZE_MAX, last = 0;
	long exp10;

	if (i < n && s[i] == '-')
		i++;
	if (num == NUM_INT8) {
		if (n - i < 16)
			return true;
		return n - i == 16 && memcmp(s + i, two_pow_53, 16) <= 0;
	}
	for (; i < n; i++) {
		if (s[i] == '.' && point == SIZE_MAX) {
			point = ndig;
		} else if (s[i] >= '0' && s[i] <= '9') {
			if (s[i] != '0') {
				if (first == SIZE_MAX)
					first = ndig;
				last = ndig;
			}
			ndig++;
		} else {
			return false;
		}
	}
	if (first == SIZE_MAX)
		return true; /* zero */
	if (point == SIZE_MAX)
		point = ndig;
	/* The value is 0.d1d2...dk * 10^exp10 with d1 the first non-zero. */
	exp10 = (long)point - (long)first;
	return last - first + 1 <= 15 && exp10 >= -300 && exp10 <= 300;
}

static bool json_number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
	       c == 'e' || c == 'E';
}

/*
 * add_exact_json() appends the JSON text s (n bytes) of an int8 or numeric
 * value, or of an array of them, quoting every number token that
 * json_number_exact() refuses: 9007199254740993 becomes
 * "9007199254740993". Strings ("NaN", "Infinity") and the rest are copied
 * as they are.
 */
static int add_exact_json(struct buf *b, const char *s, size_t n, char num)
{
	size_t i = 0, j;
	int rc = 0;

	while (i < n && rc == 0) {
		if (s[i] == '"') {
			for (j = i + 1; j < n && s[j] != '"'; j++) {
				if (s[j] == '\\')
					j++;
			}
			j = j < n ? j + 1 : n;
			rc = buf_add(b, s + i, j - i);
		} else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
			for (j = i + 1; j < n && json_number_char(s[j]); j++)
				;
			if (json_number_exact(s + i, j - i, num)) {
				rc = buf_add(b, s + i, j - i);
			} else {
				rc = buf_addch(b, '"');
				if (rc == 0)
					rc = buf_add(b, s + i, j - i);
				if (rc == 0)
					rc = buf_addch(b, '"');
			}
		} else {
			for (j = i + 1; j < n && s[j] != '"' && s[j] != '-' &&
					!(s[j] >= '0' && s[j] <= '9');
			     j++)
				;
			rc = buf_add(b, s + i, j - i);
		}
		i = j;
	}
	return rc;
}

/*
 * add_json_string() appends s as a JSON string: quote, backslash and
 * control characters escaped, other bytes copied (the database is UTF-8).
 */
static int add_json_string(struct buf *b, const char *s)
{
	int rc = buf_addch(b, '"');

	for (; *s && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = buf_addf(b, "\\%c", c);
		else if (c < 0x20)
			rc = buf_addf(b, "\\u%04x", c);
		else
			rc = buf_addch(b, c);
	}
	if (rc == 0)
		rc = buf_addch(b, '"');
	return rc;
}

/* Appends ",[v1,v2,...]" (no comma for the first row) for one row. */
static int add_row(struct buf *page, const PGresult *res, int row,
		   const struct tbl_info *t, bool first)
{
	int rc = buf_adds(page, first ? "[" : ",[");
	int i;

	for (i = 0; i < t->ncols && rc == 0; i++) {
		const char *v = PQgetvalue(res, row, i);
		size_t len = (size_t)PQgetlength(res, row, i);

		if (i)
			rc = buf_addch(page, ',');
		if (rc < 0)
			break;
		if (PQgetisnull(res, row, i))
			rc = buf_adds(page, "null");
		else if (t->cols[i].num != NUM_NONE)
			rc = add_exact_json(page, v, len, t->cols[i].num);
		else
			rc = buf_add(page, v, len);
	}
	if (rc == 0)
		rc = buf_addch(page, ']');
	return rc;
}

/*
 * add_quoted() appends name quoted with PQescapeIdentifier(); name has
 * passed str_ident_valid() already (the quoting is the second guard).
 */
static int add_quoted(struct buf *sql, PGconn *conn, const char *name,
		      struct buf *err)
{
	char *q = PQescapeIdentifier(conn, name, strlen(name));
	int rc;

	if (!q) {
		buf_errf(err, "could not quote an identifier: %s",
			 PQerrorMessage(conn));
		return TW_EINTERNAL;
	}
	rc = buf_adds(sql, q);
	PQfreemem(q);
	return rc;
}

/* Appends " ORDER BY alias.c1 [DESC], ..." for the order columns. */
static int add_order(struct buf *sql, PGconn *conn, const struct tbl_info *t,
		     const int *order, int norder, bool desc, const char *alias,
		     struct buf *err)
{
	int i, rc = 0;

	for (i = 0; i < norder && rc == 0; i++) {
		rc = buf_addf(sql, "%s%s.", i ? ", " : " ORDER BY ", alias);
		if (rc == 0)
			rc = add_quoted(sql, conn, t->cols[order[i]].name, err);
		if (rc == 0 && desc)
			rc = buf_adds(sql, " DESC");
	}
	return rc;
}

/*
 * build_rows_sql() writes the rows query into sql and the names of the
 * columns read by parameter (those whose names fail str_ident_valid())
 * into params from index 2 on; $1 and $2 are the limit and the offset.
 * order holds indices into t->cols, already checked to be identifiers.
 *
 * The page is chosen in a subquery and only its rows are turned into JSON:
 *
 *	SELECT to_json(t."id")::text, ... FROM (SELECT * FROM "s"."n" AS r
 *	ORDER BY r."id" LIMIT $1 OFFSET $2) AS t ORDER BY t."id"
 *
 * Written flat, PostgreSQL would compute to_json() for every row skipped
 * by the offset, and for every row of the table before sorting by a column
 * without an index (its planner only postpones expensive expressions past
 * a sort). The outer ORDER BY keeps the order guaranteed; the planner sees
 * that the subquery's rows come sorted already and adds no sort.
 */
static int build_rows_sql(PGconn *conn, const struct tbl_info *t,
			  const int *order, int norder, bool desc,
			  struct buf *sql, const char **params, int *nparams,
			  struct buf *err)
{
	int i, np = 2;
	int rc;

	rc = buf_adds(sql, "SELECT ");
	for (i = 0; i < t->ncols && rc == 0; i++) {
		const struct tbl_column *c = &t->cols[i];

		if (i)
			rc = buf_adds(sql, ", ");
		if (rc < 0)
			break;
		if (c->ident) {
			rc = buf_adds(sql, "to_json(t.");
			if (rc == 0)
				rc = add_quoted(sql, conn, c->name, err);
			if (rc == 0)
				rc = buf_adds(sql, ")::text");
		} else {
			params[np] = c->name;
			np++;
			rc = buf_addf(sql, "(to_json(t.*) -> $%d::text)::text",
				      np);
		}
	}
	if (rc == 0)
		rc = buf_adds(sql, " FROM (SELECT * FROM ");
	if (rc == 0)
		rc = add_quoted(sql, conn, t->schema, err);
	if (rc == 0)
		rc = buf_addch(sql, '.');
	if (rc == 0)
		rc = add_quoted(sql, conn, t->name, err);
	if (rc == 0)
		rc = buf_adds(sql, " AS r");
	if (rc == 0)
		rc = add_order(sql, conn, t, order, norder, desc, "r", err);
	if (rc == 0)
		rc = buf_adds(sql, " LIMIT $1 OFFSET $2) AS t");
	if (rc == 0)
		rc = add_order(sql, conn, t, order, norder, desc, "t", err);
	if (rc == TW_ETOOBIG) {
		buf_errf(err, "the rows query is longer than %zu bytes",
			 ROWS_SQL_CAP);
		rc = TW_EINTERNAL;
	}
	*nparams = np;
	return rc;
}

/*
 * fetch_rows() runs the rows query in single-row mode and appends each row
 * to page with add_row(). Past page's cap it stops appending (TW_ETOOBIG)
 * but reads the rest of the result, one row at a time, so the connection
 * is ready for the next statement; a cancel request is not used because
 * it could arrive after the query ended and hit a later one. A server
 * error returns its code with the SQLSTATE in sqlstate (6 bytes) and, for
 * an error a client may see (4xx), the server's message in err.
 */
static int fetch_rows(PGconn *conn, const char *sql, int nparams,
		      const char *const *params, const struct tbl_info *t,
		      struct buf *page, int *nrows, char *sqlstate,
		      struct buf *err)
{
	struct buf msg = BUF_INIT(BUF_SMALL_CAP);
	PGresult *res;
	const char *state;
	int rc = 0, step, i;

	*nrows = 0;
	sqlstate[0] = '\0';
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL,
			       0)) {
		buf_errf(err, "could not send the rows query: %s",
			 PQerrorMessage(conn));
		rc = TW_EUNAVAIL;
		goto out;
	}
	/* When this fails, the result comes whole: still correct. */
	PQsetSingleRowMode(conn);
	for (res = PQgetResult(conn); res; res = PQgetResult(conn)) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
			for (i = 0; i < PQntuples(res) && rc == 0; i++) {
				step = add_row(page, res, i, t, *nrows == 0);
				if (step < 0)
					rc = step;
				else
					(*nrows)++;
			}
		} else if (rc == 0) {
			buf_reset(&msg);
			rc = db_result_check(res, &msg);
			state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			snprintf(sqlstate, 6, "%s", state ? state : "");
			if (rc == 0)
				rc = TW_EDB; /* a status nobody expects */
			else if (http_status_for(rc) < 500)
				buf_errf(err, "%s", msg.ptr);
		}
		PQclear(res);
	}
out:
	buf_release(&msg);
	return rc;
}

/*
 * Replies for a failed rows query. The rows query itself only fails for
 * reasons about the data (a view's expression, a foreign server), for an
 * order_by column of a type without ordering (42883), or because the
 * table changed under the request (42P01, 42703: gone, so 404).
 */
static int reply_rows_error(struct http_request *req, int rc,
			    const char *sqlstate, bool custom_order,
			    const char *order_by, const struct buf *err)
{
	if (rc == TW_ETOOBIG)
		return http_reply_error(req, rc,
					"page larger than %zu bytes: lower "
					"limit",
					ROWS_PAGE_CAP);
	if (!strcmp(sqlstate, "42883") && custom_order)
		return http_reply_error(req, TW_EVALIDATION,
					"order_by: column %s cannot be sorted",
					order_by);
	if (!strcmp(sqlstate, "42P01") || !strcmp(sqlstate, "42703"))
		return http_reply_error(req, TW_ENOTFOUND,
					"no such table in the data schemas");
	if (http_status_for(rc) < 500)
		return http_reply_error(req, rc, "could not read the rows: %s",
					err->ptr);
	/* Logged: the SQLSTATE only, never the message (it may hold data). */
	return http_reply_error(req, rc,
				"could not read the rows: %s (SQLSTATE %s)",
				err->len ? err->ptr : "server error",
				sqlstate[0] ? sqlstate : "none");
}

/* The query arguments of a rows request, checked. */
struct rows_args {
	long limit;
	long offset;
	const char *order_by; /* NULL: the primary key */
	bool desc;
};

/* Parses and checks the query string, replying 422 on a bad value. */
static int rows_args_parse(struct http_request *req, struct rows_args *a)
{
	const char *limit = http_query(req, "limit");
	const char *offset = http_query(req, "offset");
	const char *desc = http_query(req, "desc");
	int rc = 0;

	a->limit = ROWS_LIMIT_DEFAULT;
	a->offset = 0;
	a->desc = false;
	a->order_by = http_query(req, "order_by");
	if (limit && str_to_long(limit, 1, ROWS_LIMIT_MAX, &a->limit) < 0) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "limit must be an integer from 1 to %d",
				      ROWS_LIMIT_MAX);
		goto out;
	}
	if (offset && str_to_long(offset, 0, ROWS_OFFSET_MAX, &a->offset) < 0) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "offset must be an integer from 0 to %ld",
				      ROWS_OFFSET_MAX);
		goto out;
	}
	if (desc && strcmp(desc, "true") && strcmp(desc, "false")) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "desc must be true or false");
		goto out;
	}
	a->desc = desc && !strcmp(desc, "true");
out:
	return rc;
}

/*
 * rows_order() picks the ORDER BY columns (indices into t->cols) into
 * order: the order_by column followed by the primary key's other columns
 * (ties broken, so paging is stable), or the primary key alone, or nothing
 * when the table has no key (or one with a column that needs quoting).
 * Replies 422 for an order_by that is not a column of the table or whose
 * name fails str_ident_valid(), and for desc without any order.
 */
static int rows_order(struct http_request *req, const struct tbl_info *t,
		      const struct rows_args *a, int *order, int *norder)
{
	bool pk_usable = true;
	const char *shown;
	int i, col = -1;
	int rc = 0;

	*norder = 0;
	for (i = 0; i < t->npk; i++)
		pk_usable = pk_usable && t->cols[t->pk[i]].ident;
	if (a->order_by) {
		col = column_index(t, a->order_by);
		shown = http_quotable(a->order_by);
		if (col < 0 && shown)
			rc = http_reply_error(req, TW_EVALIDATION,
					      "order_by: no column \"%s\" in "
					      "this table",
					      shown);
		else if (col < 0)
			rc = http_reply_error(req, TW_EVALIDATION,
					      "order_by: no such column in "
					      "this table");
		else if (!t->cols[col].ident)
			rc = http_reply_error(req, TW_EVALIDATION,
					      "order_by: a column whose name "
					      "needs quoting cannot be used");
		if (rc < 0)
			goto out;
		order[(*norder)++] = col;
	}
	for (i = 0; pk_usable && i < t->npk; i++) {
		if (t->pk[i] != col)
			order[(*norder)++] = t->pk[i];
	}
	if (a->desc && *norder == 0)
		rc = http_reply_error(req, TW_EVALIDATION,
				      "desc needs order_by: this table has "
				      "no primary key to order by");
out:
	return rc;
}

int api_tables_rows(struct http_request *req)
{
	struct db_tx tx;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf sql = BUF_INIT(ROWS_SQL_CAP);
	struct buf page = BUF_INIT(ROWS_PAGE_CAP);
	const char *schema, *name, **params;
	char lim[24], off[24], sqlstate[6] = "";
	struct rows_args args;
	struct tbl_info t;
	PGconn *conn = NULL;
	int *order;
	int i, norder = 0, nparams = 0, nrows = 0;
	int rc;

	rc = rows_args_parse(req, &args);
	if (rc == 0)
		rc = path_table(req, &schema, &name);
	if (rc < 0)
		goto out;
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = db_tx_begin_sql(&tx, conn, begin_sql, &err);
	if (rc == 0)
		rc = table_lookup(req, conn, schema, name, &t, &err);
	if (rc < 0) {
		reply_lookup_error(req, rc, &err);
		goto out;
	}
	if (!t.populated) {
		rc = http_reply_error(req, TW_ECONFLICT,
				      "the materialized view has not been "
				      "populated (REFRESH MATERIALIZED VIEW)");
		goto out;
	}
	order = arena_alloc(req->arena, sizeof(*order) * (size_t)(t.npk + 1));
	rc = rows_order(req, &t, &args, order, &norder);
	if (rc < 0)
		goto out;

	params = arena_alloc(req->arena,
			     sizeof(*params) * (size_t)(t.ncols + 2));
	snprintf(lim, sizeof(lim), "%ld", args.limit);
	snprintf(off, sizeof(off), "%ld", args.offset);
	params[0] = lim;
	params[1] = off;
	rc = build_rows_sql(conn, &t, order, norder, args.desc, &sql, params,
			    &nparams, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "%s", err.ptr);
		goto out;
	}

	rc = buf_adds(&page, "{\"columns\":[");
	for (i = 0; i < t.ncols && rc == 0; i++) {
		rc = buf_adds(&page, i ? ",{\"name\":" : "{\"name\":");
		if (rc == 0)
			rc = add_json_string(&page, t.cols[i].name);
		if (rc == 0)
			rc = buf_adds(&page, ",\"type\":");
		if (rc == 0)
			rc = add_json_string(&page, t.cols[i].type);
		if (rc == 0)
			rc = buf_addch(&page, '}');
	}
	if (rc == 0)
		rc = buf_adds(&page, "],\"rows\":[");
	if (rc == 0)
		rc = fetch_rows(conn, sql.ptr, nparams, params, &t, &page,
				&nrows, sqlstate, &err);
	if (rc == 0)
		rc = buf_addf(&page, "],\"limit\":%ld,\"offset\":%ld}",
			      args.limit, args.offset);
	if (rc == 0)
		rc = db_tx_commit(&tx, &err);
	if (rc < 0) {
		reply_rows_error(req, rc, sqlstate, args.order_by != NULL,
				 args.order_by, &err);
		goto out;
	}
	rc = http_reply_data(req, 200, "application/json", page.ptr, page.len);
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&page);
	buf_release(&sql);
	buf_release(&err);
	return rc;
}
