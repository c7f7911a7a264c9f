#include "core/compat.h"

#include "core/err.h"
#include "core/str.h"
#include "db/db.h"

/*
 * catalog.c - the rules about data tables, in one place for the API (the
 * table explorer, job submissions) and the worker (which checks again
 * when it writes): which relations are visible, which schemas hold data,
 * what a destination may be named, and where each mode may write. The SQL
 * only ever takes names as parameters.
 */

void db_catalog_schemas(struct buf *out, char *const *schemas, size_t n)
{
	size_t i;

	/* An unquoted element "null" would be a NULL. */
	buf_addch(out, '{');
	for (i = 0; i < n; i++)
		buf_addf(out, "%s\"%s\"", i ? "," : "", schemas[i]);
	buf_addch(out, '}');
}

bool db_catalog_is_data_schema(const char *schema, char *const *schemas,
			       size_t n, const char *app_schema)
{
	bool known = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(schemas[i], schema))
			known = true;
	}
	return known && strcmp(schema, app_schema) != 0;
}

/* A relation DB_CATALOG_VISIBLE shows, named $3.$4. */
static const char source_sql[] = "SELECT 1 FROM pg_class c JOIN pg_namespace n "
				 "ON n.oid = c.relnamespace"
				 " WHERE n.nspname = $3 AND c.relname = $4 "
				 "AND" DB_CATALOG_VISIBLE;

int db_catalog_source_visible(PGconn *conn, const char *schemas,
			      const char *app_schema, const char *schema,
			      const char *name, bool *visible, struct buf *err)
{
	const char *params[4];
	PGresult *res = NULL;
	int rc;

	*visible = false;
	params[0] = schemas;
	params[1] = app_schema;
	params[2] = schema;
	params[3] = name;
	rc = db_exec(conn, source_sql, 4, params, &res, err);
	if (rc == 0)
		*visible = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

bool db_catalog_name_valid(const char *name)
{
	return str_ident_valid(name);
}

/*
 * Any relation named $2 in the output schema ($1), table or not: whether
 * it is a table (ordinary or partitioned) and, when Tablewright created it,
 * its owner from published_tables.
 */
static const char dest_sql[] = "SELECT c.relkind IN ('r', 'p'), p.user_id"
			       " FROM pg_class c"
			       " JOIN pg_namespace n ON n.oid = c.relnamespace"
			       " LEFT JOIN published_tables p"
			       " ON p.schema_name = n.nspname"
			       " AND p.table_name = c.relname"
			       " WHERE n.nspname = $1 AND c.relname = $2";

int db_catalog_dest_lookup(PGconn *conn, const char *output_schema,
			   const char *name, struct db_catalog_dest *out,
			   struct buf *err)
{
	const char *params[2];
	PGresult *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	params[0] = output_schema;
	params[1] = name;
	rc = db_exec(conn, dest_sql, 2, params, &res, err);
	if (rc < 0 || PQntuples(res) == 0)
		goto out;
	out->exists = true;
	out->is_table = !strcmp(PQgetvalue(res, 0, 0), "t");
	out->published = !PQgetisnull(res, 0, 1);
	out->owner = db_col_i64_or(res, 0, 1, 0);
out:
	PQclear(res);
	return rc;
}

enum db_catalog_verdict
db_catalog_dest_verdict(const struct db_catalog_dest *dest, const char *mode,
			bool is_source, int64_t user_id, bool is_admin)
{
	if (!dest->exists)
		return DB_DEST_OK;
	if (!strcmp(mode, "create"))
		return DB_DEST_EXISTS;
	if (is_source)
		return DB_DEST_IS_SOURCE;
	if (!dest->published || !dest->is_table)
		return DB_DEST_NOT_OURS;
	if (dest->owner != user_id && !is_admin)
		return DB_DEST_NOT_OWNER;
	return DB_DEST_OK;
}
