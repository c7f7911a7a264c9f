#include "core/compat.h"

#include "cli/cli.h"
#include "core/err.h"
#include "log/log.h"

/* "orders.sql" -> "orders"; "order_totals.py" -> "order_totals". */
static void file_stem(const char *name, struct buf *out)
{
	const char *dot = strrchr(name, '.');

	buf_add(out, name, dot ? (size_t)(dot - name) : strlen(name));
}

/* Whether schema.table exists (any relation kind). */
static int relation_exists(PGconn *conn, const char *schema, const char *table,
			   bool *exists, struct buf *err)
{
	const char *params[2] = { schema, table };
	PGresult *res = NULL;
	int rc;

	rc = db_exec(conn,
		     "SELECT to_regclass(format('%I.%I', $1::text, "
		     "$2::text)) IS NOT NULL",
		     2, params, &res, err);
	if (rc == 0)
		*exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return rc;
}

/*
 * Runs one examples/data/<table>.sql in a transaction, with search_path set
 * to the schema and tablewright.demo_rows to the row count; both settings
 * are local to the transaction.
 */
static int create_table(PGconn *conn, const char *schema,
			const struct cli_file *f, const char *rows,
			struct buf *err)
{
	const char *params[2] = { schema, rows };
	PGresult *res = NULL;
	struct db_tx tx;
	int rc;

	rc = db_tx_begin(&tx, conn, err);
	if (rc < 0)
		goto fail;
	rc = db_exec(conn,
		     "SELECT set_config('search_path', quote_ident($1), true), "
		     "set_config('tablewright.demo_rows', $2, true)",
		     2, params, NULL, err);
	if (rc < 0)
		goto fail;
	res = PQexec(conn, f->data);
	rc = db_result_check(res, err);
	PQclear(res);
	if (rc < 0)
		goto fail;
	rc = db_tx_commit(&tx, err);
fail:
	db_tx_rollback(&tx);
	return rc;
}

static int seed_tables(PGconn *conn, const char *schema, long rows,
		       struct buf *err)
{
	struct buf name = BUF_INIT(256);
	char rows_text[32];
	size_t i;
	int rc = 0;

	snprintf(rows_text, sizeof(rows_text), "%ld", rows);
	for (i = 0; rc == 0 && i < cli_demo_tables_count; i++) {
		const struct cli_file *f = &cli_demo_tables[i];
		bool exists = false;

		buf_reset(&name);
		file_stem(f->name, &name);
		rc = relation_exists(conn, schema, name.ptr, &exists, err);
		if (rc < 0)
			break;
		if (exists) {
			printf("tablewright: demo table %s.%s exists; left as "
			       "it is\n",
			       schema, name.ptr);
			continue;
		}
		rc = create_table(conn, schema, f, rows_text, err);
		if (rc < 0) {
			buf_errf(err, " (while creating demo table %s.%s)",
				 schema, name.ptr);
			break;
		}
		log_info(LOG_APP, "seed-demo: created %s.%s", schema, name.ptr);
		printf("tablewright: created demo table %s.%s\n", schema,
		       name.ptr);
	}
	buf_release(&name);
	return rc;
}

/* The first enabled admin, who owns the example scripts. */
static int first_admin(PGconn *conn, char *id, size_t idlen, struct buf *err)
{
	PGresult *res = NULL;
	int rc;

	rc = db_exec(conn,
		     "SELECT id FROM users WHERE role = 'admin' AND NOT "
		     "disabled ORDER BY id LIMIT 1",
		     0, NULL, &res, err);
	if (rc == 0 && PQntuples(res) == 0) {
		buf_errf(err, "there is no admin user to own the example "
			      "scripts: run `tablewright init` first");
		rc = TW_ECONFIG;
	}
	if (rc == 0)
		snprintf(id, idlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/*
 * Saves one example as a script with its first version, unless the admin
 * already has a script of that name (then *created stays false).
 */
static int save_example(PGconn *conn, const char *admin_id, const char *name,
			const char *code, bool *created, struct buf *err)
{
	const char *params[3] = { admin_id, name, code };
	PGresult *res = NULL;
	int rc;

	*created = false;
	rc = db_exec(conn,
		     "WITH s AS (INSERT INTO scripts (user_id, name, "
		     "code_text) "
		     "VALUES ($1, $2, $3) ON CONFLICT (user_id, name) WHERE "
		     "deleted_at IS NULL DO NOTHING RETURNING id) "
		     "INSERT INTO script_versions (script_id, version, "
		     "code_text, author_id) SELECT id, 1, $3, $1 FROM s "
		     "RETURNING script_id",
		     3, params, &res, err);
	if (rc == 0)
		*created = PQntuples(res) == 1;
	PQclear(res);
	return rc;
}

static int seed_scripts(PGconn *conn, struct buf *err)
{
	struct buf name = BUF_INIT(256);
	char admin[32];
	size_t i;
	int rc;

	rc = first_admin(conn, admin, sizeof(admin), err);
	for (i = 0; rc == 0 && i < cli_examples_count; i++) {
		bool created = false;

		buf_reset(&name);
		file_stem(cli_examples[i].name, &name);
		rc = save_example(conn, admin, name.ptr, cli_examples[i].data,
				  &created, err);
		if (rc == 0 && created)
			printf("tablewright: saved example script %s\n",
			       name.ptr);
	}
	buf_release(&name);
	return rc;
}

int cli_seed_demo(struct db_pool *pool, const struct cfg *cfg, long rows,
		  struct buf *err)
{
	PGconn *conn = NULL;
	int rc;

	rc = db_acquire(pool, 10000, &conn, err);
	if (rc < 0)
		return rc;
	rc = seed_tables(conn, cfg->data_schemas[0], rows, err);
	if (rc == 0)
		rc = seed_scripts(conn, err);
	db_release(pool, conn, rc < 0);
	fflush(stdout);
	return rc;
}
