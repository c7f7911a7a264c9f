#include "core/compat.h"

#include "cli/cli.h"
#include "core/err.h"
#include "core/str.h"
#include "db/publish.h"

/*
 * rollback.c - `tablewright rollback SCHEMA.TABLE`: the operator's way to
 * put back the version of a table that a replace job swapped out, with an
 * admin's power (any table a job published). The same step as the API's
 * POST /api/v1/tables/{schema}/{name}/rollback: db_publish_rollback().
 */

int cli_rollback(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	const char *arg = cli->subcommand ? cli->subcommand : "";
	const char *dot = strchr(arg, '.');
	struct cli_db db = { NULL, false };
	struct db_rollback_result rb;
	char schema[128];
	const char *name;
	PGconn *conn = NULL;
	int rc;

	if (!dot || (size_t)(dot - arg) >= sizeof(schema)) {
		buf_errf(err, "rollback needs SCHEMA.TABLE (see tablewright "
			      "--help)");
		return CLI_EXIT_USAGE;
	}
	memcpy(schema, arg, (size_t)(dot - arg));
	schema[dot - arg] = '\0';
	name = dot + 1;
	if (!str_ident_valid(schema) || !str_ident_valid(name)) {
		buf_errf(err,
			 "\"%s\" is not SCHEMA.TABLE with names matching "
			 "%s",
			 arg, "^[A-Za-z_][A-Za-z0-9_]{0,62}$");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(schema, cfg->output_schema) != 0) {
		buf_errf(err,
			 "%s.%s is not in the output schema (%s): only tables "
			 "that jobs published there have earlier versions",
			 schema, name, cfg->output_schema);
		return TW_ENOTFOUND;
	}
	rc = cli_db_open(cfg, cli->embedded, &db, err);
	if (rc == 0)
		rc = cli_check_schema(db.pool, err);
	if (rc == 0)
		rc = db_acquire(db.pool, 10000, &conn, err);
	if (rc < 0)
		goto out;
	rc = db_publish_rollback(conn, cfg->app_schema, schema, name, 0, true,
				 &rb, err);
	if (rc < 0)
		goto out;
	printf("rolled back %s.%s: version %d is the table again", schema, name,
	       rb.restored);
	if (rb.job_id > 0)
		printf(" (written by job %" PRId64 ")", rb.job_id);
	if (rb.dropped > 0)
		printf("; version %d was dropped", rb.dropped);
	printf("; %d earlier version%s still kept\n", rb.kept_remaining,
	       rb.kept_remaining == 1 ? "" : "s");
out:
	if (conn)
		db_release(db.pool, conn, rc == TW_EDB || rc == TW_EUNAVAIL);
	cli_db_close(cfg, &db);
	return rc;
}
