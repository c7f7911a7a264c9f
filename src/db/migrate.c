/*
 * migrate.c - applies the numbered migrations compiled into the binary
 * (migrations/NNNN_name.sql, embedded by cmake/embed.cmake).
 *
 * Rules the runner relies on (docs/internals/db.md):
 *  - versions are strictly increasing; a migration, once applied anywhere,
 *    is never edited (add a new one instead);
 *  - a migration names Tablewright's tables unqualified: the runner sets
 *    search_path to the app schema for it;
 *  - a migration does not BEGIN, COMMIT or ROLLBACK: the runner wraps each
 *    one in a transaction together with its schema_migrations row, so it is
 *    applied entirely or not at all;
 *  - a session-level advisory lock serialises concurrent runners (two
 *    servers starting at once): the second waits, then finds nothing to do.
 * Nothing is logged here; the caller reports the outcome.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "db/db.h"
#include "db/db_int.h"

/* pg_advisory_lock key: the bytes "twmigrat" as a big-endian bigint. */
#define MIGRATE_LOCK_KEY "8392296730102751604"

struct applied_row {
	int version;
	char *name;
};

/* Runs a statement without parameters; err gets "<what>: <message>". */
static int run(PGconn *conn, const char *sql, const char *what, struct buf *err)
{
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	rc = db_exec(conn, sql, 0, NULL, NULL, &detail);
	if (rc < 0)
		buf_errf(err, "%s: %s", what, detail.ptr);
	buf_release(&detail);
	return rc;
}

/* Aborts when the embedded table is out of order: a build error. */
static void check_order(void)
{
	size_t i;

	for (i = 0; i < db_migrations_count; i++) {
		if (db_migrations[i].version <= 0)
			TW_BUG("migration %s has no positive version",
			       db_migrations[i].name);
		if (i > 0 &&
		    db_migrations[i].version <= db_migrations[i - 1].version)
			TW_BUG("migrations out of order: %s after %s",
			       db_migrations[i].name,
			       db_migrations[i - 1].name);
	}
}

/*
 * ensure_schema() creates the app schema and schema_migrations when they
 * are missing. It looks in the catalogs first instead of using IF NOT
 * EXISTS: CREATE SCHEMA checks the CREATE privilege on the database even
 * when the schema exists, and a DBA may have created it for a role that
 * lacks that privilege.
 */
static int ensure_schema(PGconn *conn, const char *schema, struct buf *err)
{
	const char *params[1] = { schema };
	struct buf sql = BUF_INIT(1024);
	struct buf what = BUF_INIT(1024);
	PGresult *res = NULL;
	int rc;

	rc = db_exec(conn,
		     "SELECT 1 FROM pg_catalog.pg_namespace "
		     "WHERE nspname = $1",
		     1, params, &res, err);
	if (rc < 0)
		goto out;
	if (PQntuples(res) == 0) {
		buf_addf(&sql, "CREATE SCHEMA \"%s\"", schema);
		buf_addf(&what, "could not create schema \"%s\"", schema);
		rc = run(conn, sql.ptr, what.ptr, err);
		if (rc < 0)
			goto out;
	}
	PQclear(res);
	res = NULL;
	rc = db_exec(conn,
		     "SELECT 1 FROM pg_catalog.pg_class c "
		     "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		     "WHERE n.nspname = $1 AND c.relname = 'schema_migrations'",
		     1, params, &res, err);
	if (rc < 0)
		goto out;
	if (PQntuples(res) == 0) {
		buf_reset(&sql);
		buf_reset(&what);
		buf_addf(
			&sql,
			"CREATE TABLE \"%s\".schema_migrations (version int PRIMARY KEY, "
			"name text NOT NULL, "
			"applied_at timestamptz NOT NULL DEFAULT now())",
			schema);
		buf_addf(&what, "could not create \"%s\".schema_migrations",
			 schema);
		rc = run(conn, sql.ptr, what.ptr, err);
	}
out:
	PQclear(res);
	buf_release(&sql);
	buf_release(&what);
	return rc;
}

/* Reads the rows of schema_migrations, in version order. */
static int load_applied(PGconn *conn, const char *schema,
			struct applied_row **rows, int *nrows, struct buf *err)
{
	struct buf sql = BUF_INIT(1024);
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	PGresult *res = NULL;
	long v;
	int n;
	int i;
	int rc;

	*rows = NULL;
	*nrows = 0;
	buf_addf(&sql,
		 "SELECT version, name FROM \"%s\".schema_migrations "
		 "ORDER BY version",
		 schema);
	rc = db_exec(conn, sql.ptr, 0, NULL, &res, &detail);
	if (rc < 0) {
		buf_errf(err, "could not read \"%s\".schema_migrations: %s",
			 schema, detail.ptr);
		goto out;
	}
	n = PQntuples(res);
	*rows = xcalloc((size_t)n + 1, sizeof(**rows));
	for (i = 0; i < n; i++) {
		rc = str_to_long(PQgetvalue(res, i, 0), INT_MIN, INT_MAX, &v);
		if (rc < 0)
			TW_BUG("schema_migrations.version is not an int");
		(*rows)[i].version = (int)v;
		(*rows)[i].name = xstrdup(PQgetvalue(res, i, 1));
	}
	*nrows = n;
out:
	PQclear(res);
	buf_release(&sql);
	buf_release(&detail);
	return rc;
}

static void free_applied(struct applied_row *rows, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(rows[i].name);
	free(rows);
}

static const struct applied_row *find_applied(const struct applied_row *rows,
					      int n, int version)
{
	int i;

	for (i = 0; i < n; i++) {
		if (rows[i].version == version)
			return &rows[i];
	}
	return NULL;
}

/*
 * line_of() turns a server error position (1-based, in characters, into
 * the whole SQL text) into a 1-based line number; 0 when unknown.
 */
static int line_of(const char *sql, const char *position)
{
	long pos;
	long chars = 0;
	int line = 1;
	const unsigned char *p;

	if (!position || str_to_long(position, 1, LONG_MAX, &pos) < 0)
		return 0;
	for (p = (const unsigned char *)sql; *p; p++) {
		if ((*p & 0xC0) == 0x80)
			continue; /* a UTF-8 continuation byte */
		if (++chars >= pos)
			return line;
		if (*p == '\n')
			line++;
	}
	return 0;
}

/*
 * migration_error() appends "migration NAME failed: MESSAGE (line N)" for
 * a failed result (or a lost connection when res is NULL) and returns the
 * mapped error code.
 */
static int migration_error(PGconn *conn, const struct db_migration *m,
			   const PGresult *res, struct buf *err)
{
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	int line;
	int rc;

	if (res) {
		rc = db_result_check(res, &detail);
		if (rc == 0) {
			buf_adds(&detail, "unexpected result status");
			rc = TW_EDB;
		}
		line = line_of(m->sql,
			       PQresultErrorField(res,
						  PG_DIAG_STATEMENT_POSITION));
	} else {
		db__add_first_line(&detail, PQerrorMessage(conn),
				   "lost the connection to the database");
		rc = TW_EUNAVAIL;
		line = 0;
	}
	buf_errf(err, "migration %s failed: %s", m->name, detail.ptr);
	if (line > 0)
		buf_errf(err, " (line %d)", line);
	buf_release(&detail);
	return rc;
}

/*
 * apply_one() runs one migration and records it, in one transaction. The
 * migration's SQL may hold several statements (PQexec sends it as one
 * simple query, which stops at the first error).
 */
static int apply_one(PGconn *conn, const char *schema,
		     const struct db_migration *m, struct buf *err)
{
	struct buf sql = BUF_INIT(1024);
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	char version[16];
	const char *params[2];
	PGTransactionStatusType ts;
	PGresult *res = NULL;
	int rc;

	buf_addf(&sql, "BEGIN; SET LOCAL search_path TO \"%s\", pg_catalog",
		 schema);
	res = PQexec(conn, sql.ptr);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = migration_error(conn, m, res, err);
		goto fail;
	}
	PQclear(res);
	res = PQexec(conn, m->sql);
	if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK &&
		     PQresultStatus(res) != PGRES_TUPLES_OK)) {
		rc = migration_error(conn, m, res, err);
		goto fail;
	}
	PQclear(res);
	res = NULL;
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		buf_errf(err,
			 "migration %s failed: it ended the runner's "
			 "transaction (a migration must not contain BEGIN, "
			 "COMMIT or ROLLBACK)",
			 m->name);
		rc = TW_EDB;
		goto fail;
	}
	snprintf(version, sizeof(version), "%d", m->version);
	params[0] = version;
	params[1] = m->name;
	buf_reset(&sql);
	buf_addf(&sql,
		 "INSERT INTO \"%s\".schema_migrations (version, name) "
		 "VALUES ($1, $2)",
		 schema);
	rc = db_exec(conn, sql.ptr, 2, params, NULL, &detail);
	if (rc < 0) {
		buf_errf(err, "could not record migration %s: %s", m->name,
			 detail.ptr);
		goto fail;
	}
	res = PQexec(conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = migration_error(conn, m, res, err);
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	ts = PQtransactionStatus(conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		PQclear(res);
		res = PQexec(conn, "ROLLBACK");
	}
out:
	PQclear(res);
	buf_release(&sql);
	buf_release(&detail);
	return rc;
}

int db_migrate(PGconn *conn, const char *app_schema, int *applied,
	       struct buf *err)
{
	struct applied_row *rows = NULL;
	const struct applied_row *row;
	const struct db_migration *m;
	bool locked = false;
	int nrows = 0;
	size_t i;
	int rc;

	*applied = 0;
	check_order();
	if (!str_ident_valid(app_schema)) {
		buf_errf(err, "invalid application schema name \"%s\"",
			 app_schema ? app_schema : "");
		rc = TW_ECONFIG;
		goto out;
	}
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		TW_BUG("db_migrate on a connection that is not idle");
	/*
	 * A session lock, not a transaction one: it must outlive the
	 * per-migration transactions. It waits for a concurrent runner; the
	 * server drops it if this connection dies.
	 */
	rc = run(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
		 "could not take the migration lock", err);
	if (rc < 0)
		goto out;
	locked = true;
	rc = ensure_schema(conn, app_schema, err);
	if (rc < 0)
		goto out;
	rc = load_applied(conn, app_schema, &rows, &nrows, err);
	if (rc < 0)
		goto out;
	for (i = 0; i < db_migrations_count; i++) {
		m = &db_migrations[i];
		row = find_applied(rows, nrows, m->version);
		if (row && strcmp(row->name, m->name) != 0) {
			buf_errf(err,
				 "migration %d was applied as \"%s\" but this "
				 "build calls it \"%s\": applied migrations "
				 "must never be renamed or replaced",
				 m->version, row->name, m->name);
			rc = TW_ECONFIG;
			goto out;
		}
		if (row)
			continue;
		rc = apply_one(conn, app_schema, m, err);
		if (rc < 0)
			goto out;
		(*applied)++;
	}
out:
	if (locked && PQstatus(conn) == CONNECTION_OK) {
		PGresult *res = PQexec(conn,
				       "SELECT "
				       "pg_advisory_unlock(" MIGRATE_LOCK_KEY
				       ")");

		PQclear(res);
	}
	free_applied(rows, nrows);
	return rc;
}
