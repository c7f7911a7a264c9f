#include "core/compat.h"

#include "core/err.h"
#include "core/str.h"
#include "db/publish.h"
#include "log/log.h"
#include "worker/worker_int.h"

/*
 * publish.c - the job's output side (worker_int.h has the sequence): one
 * transaction on the job's output connection, opened before the data
 * flows and committed together with the job's outcome, so nothing the job
 * writes is visible before it has succeeded, and a failed, killed or
 * cancelled job (or a worker that dies: the server rolls the connection's
 * transaction back) leaves no table, no rows and no staging table.
 *
 * The rows go into a staging table, DB_PUBLISH_STAGE_PREFIX<job id> in the
 * output schema (created inside the transaction, so no one else ever sees
 * it), by binary COPY. At the end, under the destination's publishing lock,
 * the destination is checked again (the submission's check was a while
 * ago) and src/db/publish.c turns the stage into the table's new version or
 * appends it. docs/internals/publish.md is the design.
 */

/* Binary COPY's framing (PostgreSQL's "Binary Format"): the signature,
 * flags and header-extension length, and the trailer's field count -1. */
static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
static const char copy_trailer[2] = "\377\377";

/* Splits "schema.name"; false when it has no dot. */
static bool split_table(const char *qualified, char *schema, size_t cap,
			const char **name)
{
	const char *dot = strchr(qualified, '.');

	if (!dot || (size_t)(dot - qualified) >= cap)
		return false;
	memcpy(schema, qualified, (size_t)(dot - qualified));
	schema[dot - qualified] = '\0';
	*name = dot + 1;
	return true;
}

/* Whether the job's destination is its own source. */
static bool is_own_source(const struct publish *p)
{
	char schema[128];
	const char *name;

	if (!split_table(p->job->source_table, schema, sizeof(schema), &name))
		return false;
	return !strcmp(schema, p->cfg->output_schema) &&
	       !strcmp(name, p->job->destination_table);
}

static int exec(struct publish *p, const char *sql, struct buf *err)
{
	return db_exec(p->conn, sql, 0, NULL, NULL, err);
}

/*
 * Checks the destination against the published_tables rule (the same
 * verdict the submission got); a refusal sets *code to destination_exists
 * with a message saying why.
 */
static int check_destination(struct publish *p, const char **code,
			     struct buf *err)
{
	const char *schema = p->cfg->output_schema;
	const char *name = p->job->destination_table;
	const char *mode = p->job->mode;
	const char *verb = !strcmp(mode, "replace") ? "replace" : "append to";
	struct db_catalog_dest dest;
	int rc;

	rc = db_catalog_dest_lookup(p->conn, schema, name, &dest, err);
	if (rc < 0)
		return rc;
	switch (db_catalog_dest_verdict(&dest, mode, is_own_source(p),
					p->job->user_id, p->is_admin)) {
	case DB_DEST_OK:
		return 0;
	case DB_DEST_EXISTS:
		buf_errf(err,
			 "%s.%s already exists; mode create never writes "
			 "over a table",
			 schema, name);
		break;
	case DB_DEST_IS_SOURCE:
		buf_errf(err,
			 "%s.%s is the job's source; a job may not %s its "
			 "own source",
			 schema, name, verb);
		break;
	case DB_DEST_NOT_OURS:
		buf_errf(err,
			 "%s.%s is not a table Tablewright created; mode "
			 "%s only writes to tables that jobs created",
			 schema, name, mode);
		break;
	case DB_DEST_NOT_OWNER:
		buf_errf(err,
			 "%s.%s was created by another user's job; only "
			 "its owner (or an admin) may %s it",
			 schema, name, verb);
		break;
	}
	*code = "destination_exists";
	return TW_ECONFLICT;
}

int publish_open(struct publish *p, PGconn *conn, const struct cfg *cfg,
		 const struct queue_job *job, const char **code,
		 struct buf *err)
{
	static const char admin_sql[] = "SELECT role = 'admin' FROM users "
					"WHERE id = $1::bigint";
	const char *dest = job->destination_table;
	char suser[24];
	const char *params[1] = { suser };
	PGresult *res = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	p->conn = conn;
	p->cfg = cfg;
	p->job = job;
	p->rows_out = -1;
	*code = "internal";
	snprintf(p->stage, sizeof(p->stage), DB_PUBLISH_STAGE_PREFIX "%" PRId64,
		 job->id);
	if (!db_catalog_name_valid(dest) ||
	    !strncmp(dest, DB_PUBLISH_STAGE_PREFIX,
		     strlen(DB_PUBLISH_STAGE_PREFIX))) {
		buf_errf(err,
			 "the destination \"%s\" is not a name a job may "
			 "write (" DB_CATALOG_NAME_RULE
			 ", not starting with " DB_PUBLISH_STAGE_PREFIX ")",
			 dest);
		*code = "destination_exists";
		rc = TW_EVALIDATION;
		goto out;
	}
	snprintf(suser, sizeof(suser), "%" PRId64, job->user_id);
	rc = db_exec(conn, admin_sql, 1, params, &res, err);
	if (rc < 0)
		goto out;
	p->is_admin = PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't';
	rc = exec(p, "BEGIN", err);
	if (rc < 0)
		goto out;
	p->in_tx = true;
	/* Early, without the lock, so a doomed job does not run: the final
	 * word is publish_finish()'s. */
	rc = check_destination(p, code, err);
out:
	PQclear(res);
	if (rc < 0)
		publish_abort(p);
	return rc;
}

/* A type from the runner's schema that is safe to put into SQL as it is:
 * lower-case words and an optional "(p)" or "(p,s)". db_output_type()
 * has checked the pair; this only keeps the DDL text sound. */
static bool type_text_ok(const char *t)
{
	const char *s = t;

	if (!*s)
		return false;
	while ((*s >= 'a' && *s <= 'z') || *s == ' ')
		s++;
	if (*s == '(') {
		s++;
		while ((*s >= '0' && *s <= '9') || *s == ',')
			s++;
		if (*s++ != ')')
			return false;
	}
	return *s == '\0' && t[0] != ' ';
}

/* "schema"."stage" ("a" type, ...) */
static int stage_ddl(struct publish *p, const struct db_columns *out,
		     struct buf *sql, struct buf *err)
{
	size_t i;
	int rc;

	rc = db_publish_qualify(p->conn, sql, p->cfg->output_schema, p->stage,
				err);
	if (rc < 0)
		return rc;
	buf_adds(sql, " (");
	for (i = 0; i < out->n; i++) {
		const struct db_column *c = &out->items[i];
		char *q = PQescapeIdentifier(p->conn, c->name, strlen(c->name));

		if (!q || !str_ident_valid(c->name) || !type_text_ok(c->type)) {
			PQfreemem(q);
			buf_errf(err,
				 "output column \"%s\" of type \"%s\" "
				 "cannot be created",
				 c->name, c->type);
			return TW_EINTERNAL;
		}
		buf_addf(sql, "%s%s %s", i ? ", " : "", q, c->type);
		PQfreemem(q);
	}
	buf_addch(sql, ')');
	return 0;
}

int publish_stage(struct publish *p, const struct db_columns *out,
		  const char **code, struct buf *err)
{
	struct buf sql = BUF_INIT((size_t)1024 * 1024);
	struct buf cols = BUF_INIT((size_t)1024 * 1024);
	struct db_catalog_dest dest;
	PGresult *res = NULL;
	int rc;

	*code = "internal";
	if (!p->in_tx || p->copying || out->n == 0) {
		buf_errf(err, "publish_stage() out of order, or no columns");
		rc = TW_EINTERNAL;
		goto out;
	}
	buf_adds(&sql, "CREATE TABLE ");
	rc = stage_ddl(p, out, &sql, err);
	if (rc == 0)
		rc = exec(p, sql.ptr, err);
	if (rc == TW_ECONFLICT)
		buf_errf(err,
			 " (a table named %s.%s is in the way of the "
			 "job's staging table)",
			 p->cfg->output_schema, p->stage);
	if (rc < 0)
		goto out;
	p->ncols = out->n;
	if (!strcmp(p->job->mode, "append")) {
		rc = db_catalog_dest_lookup(p->conn, p->cfg->output_schema,
					    p->job->destination_table, &dest,
					    err);
		if (rc == 0 && dest.exists)
			rc = db_publish_append_check(p->conn,
						     p->cfg->output_schema,
						     p->job->destination_table,
						     p->stage, err);
		if (rc == TW_EVALIDATION)
			*code = "schema_mismatch";
		if (rc < 0)
			goto out;
	}
	buf_reset(&sql);
	buf_adds(&sql, "COPY ");
	rc = db_publish_qualify(p->conn, &sql, p->cfg->output_schema, p->stage,
				err);
	if (rc < 0)
		goto out;
	buf_adds(&sql, " FROM STDIN (FORMAT binary)");
	res = PQexec(p->conn, sql.ptr);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		rc = db_result_check(res, err);
		if (rc == 0)
			rc = TW_EDB;
		goto out;
	}
	p->copying = true;
	rc = publish_put(p, copy_header, sizeof(copy_header), err);
out:
	PQclear(res);
	buf_release(&sql);
	buf_release(&cols);
	return rc;
}

int publish_put(struct publish *p, const char *data, size_t len,
		struct buf *err)
{
	const size_t step = (size_t)1 << 30;

	if (!p->copying) {
		buf_errf(err, "publish_put() without a COPY in progress");
		return TW_EINTERNAL;
	}
	/* PQputCopyData takes an int length. */
	while (len > 0) {
		size_t n = len < step ? len : step;

		if (PQputCopyData(p->conn, data, (int)n) != 1) {
			buf_errf(err, "could not send rows to the database: ");
			buf_adds(err, PQerrorMessage(p->conn));
			buf_trim(err);
			return TW_EUNAVAIL;
		}
		data += n;
		len -= n;
	}
	return 0;
}

/* Ends the COPY (with abort_msg: aborts it) and reads its result. */
static int end_copy(struct publish *p, const char *abort_msg, struct buf *err)
{
	PGresult *res;
	int rc = 0;

	p->copying = false;
	if (PQputCopyEnd(p->conn, abort_msg) != 1) {
		buf_errf(err, "could not end the COPY: %s",
			 PQerrorMessage(p->conn));
		rc = TW_EUNAVAIL;
	}
	while ((res = PQgetResult(p->conn)) != NULL) {
		int r = db_result_check(res, err);

		if (rc == 0)
			rc = r;
		PQclear(res);
	}
	return rc;
}

int publish_finish(struct publish *p, int64_t rows_out, const char **code,
		   struct buf *err)
{
	struct db_publish_rec rec;
	int version = 0;
	int rc;

	*code = "internal";
	if (!p->in_tx || !p->copying) {
		buf_errf(err, "publish_finish() out of order");
		rc = TW_EINTERNAL;
		goto out;
	}
	rc = publish_put(p, copy_trailer, sizeof(copy_trailer), err);
	if (rc == 0)
		rc = end_copy(p, NULL, err);
	if (rc < 0) {
		buf_errf(err, " (while writing the result)");
		goto out;
	}
	/* From here to the commit, no one else changes the destination. */
	rc = db_publish_lock(p->conn, p->cfg->output_schema,
			     p->job->destination_table, err);
	if (rc == 0)
		rc = check_destination(p, code, err);
	if (rc < 0)
		goto out;
	memset(&rec, 0, sizeof(rec));
	rec.app_schema = p->cfg->app_schema;
	rec.schema = p->cfg->output_schema;
	rec.name = p->job->destination_table;
	rec.mode = p->job->mode;
	rec.job_id = p->job->id;
	rec.user_id = p->job->user_id;
	rec.script_id = p->job->script_id;
	rec.script_version = p->job->script_version;
	rec.source_table = p->job->source_table;
	rec.rows = rows_out;
	rec.keep_versions = p->cfg->keep_versions;
	rc = db_publish_install(p->conn, &rec, p->stage, &version, err);
	if (rc == TW_ECONFLICT)
		*code = "destination_exists";
	else if (rc == TW_EVALIDATION)
		*code = "schema_mismatch";
	if (rc < 0)
		goto out;
	p->rows_out = rows_out;
	p->version = version;
	log_info(LOG_WORKER,
		 "job %" PRId64 ": %s %s.%s, version %d, %" PRId64
		 " rows; visible once the job's outcome commits",
		 p->job->id, rec.mode, rec.schema, rec.name, version, rows_out);
out:
	return rc;
}

int publish_commit(struct publish *p, struct buf *err)
{
	PGresult *res;
	int rc;

	if (!p->in_tx || p->copying) {
		buf_errf(err, "publish_commit() out of order");
		publish_abort(p);
		return TW_EINTERNAL;
	}
	p->in_tx = false;
	res = PQexec(p->conn, "COMMIT");
	rc = db_result_check(res, err);
	/* COMMIT of a transaction that failed rolls back, without an error. */
	if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		buf_errf(err, "the job's transaction was rolled back");
		rc = TW_EDB;
	}
	PQclear(res);
	return rc;
}

void publish_abort(struct publish *p)
{
	struct buf ignored = BUF_INIT(4096);

	if (!p->conn)
		return;
	if (p->copying)
		end_copy(p, "the job failed", &ignored);
	if (p->in_tx && PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		exec(p, "ROLLBACK", &ignored);
	p->in_tx = false;
	buf_release(&ignored);
}
