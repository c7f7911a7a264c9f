#include "core/compat.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "db/db.h"
#include "db/db_int.h"
#include "db/publish.h"

/*
 * publish.c - the versions and provenance of published tables: what the
 * worker's last step does inside the job's transaction, what a rollback
 * does, and what a table's produced_by shows (docs/internals/publish.md).
 *
 * Names of data tables travel as query parameters wherever SQL allows it;
 * DDL cannot take parameters, so there they are quoted with
 * PQescapeIdentifier() (they have passed str_ident_valid() anyway). Every
 * change to one destination happens under db_publish_lock(), so a publish
 * and a rollback, or two publishes, of the same name never interleave.
 */

/* pg_advisory_xact_lock(int4, int4)'s first key: "twpu" as an int4. */
#define LOCK_CLASS "1954050165"

/* Sizes of the SQL texts built here: a few quoted names, or the column
 * list of one table (1600 columns of at most 63 bytes, quoted). */
#define SQL_CAP ((size_t)256 * 1024)

/* How long a rollback waits for a lock before it gives up. */
#define ROLLBACK_LOCK_TIMEOUT "10s"

/* The oid of the relation schema.name, of any kind; NULL when none. */
#define RELID_SQL "to_regclass(quote_ident($1) || '.' || quote_ident($2))::oid"

static void fmt_i64(char *out, size_t cap, int64_t v)
{
	snprintf(out, cap, "%" PRId64, v);
}

int db_publish_qualify(PGconn *conn, struct buf *out, const char *schema,
		       const char *name, struct buf *err)
{
	char *qs = PQescapeIdentifier(conn, schema, strlen(schema));
	char *qn = PQescapeIdentifier(conn, name, strlen(name));
	int rc = 0;

	if (!qs || !qn) {
		buf_errf(err, "could not quote the name %s.%s", schema, name);
		rc = TW_EINTERNAL;
		goto out;
	}
	buf_addf(out, "%s.%s", qs, qn);
out:
	PQfreemem(qs);
	PQfreemem(qn);
	return rc;
}

int db_publish_lock(PGconn *conn, const char *schema, const char *name,
		    struct buf *err)
{
	static const char sql[] = "SELECT pg_advisory_xact_lock(" LOCK_CLASS
				  ", hashtext(quote_ident($1) || '.' || "
				  "quote_ident($2)))";
	const char *params[2];

	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		buf_errf(err, "the publishing lock needs a transaction");
		return TW_EINTERNAL;
	}
	params[0] = schema;
	params[1] = name;
	return db_exec(conn, sql, 2, params, NULL, err);
}

/* Runs one statement built here (DDL, no parameters). */
static int run(PGconn *conn, const struct buf *sql, struct buf *err)
{
	return db_exec(conn, sql->ptr, 0, NULL, NULL, err);
}

/* *oid gets the oid of the relation schema.name, 0 when there is none. */
static int relation_oid(PGconn *conn, const char *schema, const char *name,
			int64_t *oid, struct buf *err)
{
	static const char sql[] = "SELECT " RELID_SQL;
	const char *params[2] = { schema, name };
	PGresult *res = NULL;
	int rc;

	*oid = 0;
	rc = db_exec(conn, sql, 2, params, &res, err);
	if (rc == 0)
		*oid = db_col_i64_or(res, 0, 0, 0);
	PQclear(res);
	return rc;
}

/* The current version's row, locked: *version 0 when there is none. */
static int current_version(PGconn *conn, const char *schema, const char *name,
			   int *version, int64_t *relid, struct buf *err)
{
	static const char sql[] =
		"SELECT version, relid FROM table_versions WHERE schema_name "
		"= $1 AND table_name = $2 AND state = 'current' FOR UPDATE";
	const char *params[2] = { schema, name };
	PGresult *res = NULL;
	int rc;

	*version = 0;
	*relid = 0;
	rc = db_exec(conn, sql, 2, params, &res, err);
	if (rc == 0 && PQntuples(res) > 0) {
		*version = (int)db_col_i64_or(res, 0, 0, 0);
		*relid = db_col_i64_or(res, 0, 1, 0);
	}
	PQclear(res);
	return rc;
}

/*
 * Records the relation relid as schema.name's new current version (the
 * next number after any the name ever had) into *version.
 */
static int add_current(PGconn *conn, const char *schema, const char *name,
		       int64_t relid, int *version, struct buf *err)
{
	static const char sql[] =
		"INSERT INTO table_versions (schema_name, table_name, version, "
		"state, relid) SELECT $1, $2, coalesce(max(version), 0) + 1, "
		"'current', $3::oid FROM table_versions WHERE schema_name = $1 "
		"AND table_name = $2 RETURNING version";
	char srel[24];
	const char *params[3] = { schema, name, srel };
	PGresult *res = NULL;
	int rc;

	fmt_i64(srel, sizeof(srel), relid);
	rc = db_exec(conn, sql, 3, params, &res, err);
	if (rc == 0)
		*version = (int)db_col_i64_or(res, 0, 0, 0);
	PQclear(res);
	return rc;
}

/* Drops app.kept_name when it exists (a kept version being let go). */
static int drop_kept(PGconn *conn, const char *app_schema,
		     const char *kept_name, struct buf *err)
{
	struct buf sql = BUF_INIT(SQL_CAP);
	int rc;

	buf_adds(&sql, "DROP TABLE IF EXISTS ");
	rc = db_publish_qualify(conn, &sql, app_schema, kept_name, err);
	if (rc == 0)
		rc = run(conn, &sql, err);
	if (rc < 0)
		buf_errf(err, " (while dropping the kept version %s.%s)",
			 app_schema, kept_name);
	buf_release(&sql);
	return rc;
}

/*
 * Lets go of schema.name's kept versions beyond the newest keep (all of
 * them with keep 0; with keep < 0, all, and the current row too: a stale
 * history whose table is gone). Their tables are dropped, their rows
 * marked dropped.
 */
static int prune(PGconn *conn, const char *app_schema, const char *schema,
		 const char *name, long keep, struct buf *err)
{
	static const char list_sql[] =
		"SELECT version, kept_name FROM table_versions WHERE "
		"schema_name = $1 AND table_name = $2 AND state = 'kept' "
		"ORDER BY version DESC OFFSET $3::int";
	static const char mark_sql[] =
		"UPDATE table_versions SET state = 'dropped', kept_name = NULL, "
		"relid = NULL WHERE schema_name = $1 AND table_name = $2 AND "
		"version = $3::int";
	static const char stale_sql[] =
		"UPDATE table_versions SET state = 'dropped', relid = NULL "
		"WHERE schema_name = $1 AND table_name = $2 AND state = "
		"'current'";
	char skeep[24];
	const char *params[3] = { schema, name, skeep };
	PGresult *res = NULL;
	int rc, i;

	snprintf(skeep, sizeof(skeep), "%ld", keep < 0 ? 0 : keep);
	rc = db_exec(conn, list_sql, 3, params, &res, err);
	for (i = 0; rc == 0 && i < PQntuples(res); i++) {
		rc = drop_kept(conn, app_schema, PQgetvalue(res, i, 1), err);
		params[2] = PQgetvalue(res, i, 0);
		if (rc == 0)
			rc = db_exec(conn, mark_sql, 3, params, NULL, err);
	}
	if (rc == 0 && keep < 0)
		rc = db_exec(conn, stale_sql, 2, params, NULL, err);
	PQclear(res);
	return rc;
}

/* ALTER TABLE schema.from RENAME TO to. */
static int rename_table(PGconn *conn, const char *schema, const char *from,
			const char *to, struct buf *err)
{
	struct buf sql = BUF_INIT(SQL_CAP);
	char *qto = PQescapeIdentifier(conn, to, strlen(to));
	int rc;

	buf_adds(&sql, "ALTER TABLE ");
	rc = db_publish_qualify(conn, &sql, schema, from, err);
	if (rc == 0 && !qto) {
		buf_errf(err, "could not quote the name %s", to);
		rc = TW_EINTERNAL;
	}
	if (rc == 0) {
		buf_addf(&sql, " RENAME TO %s", qto);
		rc = run(conn, &sql, err);
	}
	PQfreemem(qto);
	buf_release(&sql);
	return rc;
}

/* ALTER TABLE from_schema.name SET SCHEMA to_schema. */
static int move_table(PGconn *conn, const char *from_schema, const char *name,
		      const char *to_schema, struct buf *err)
{
	struct buf sql = BUF_INIT(SQL_CAP);
	char *qto = PQescapeIdentifier(conn, to_schema, strlen(to_schema));
	int rc;

	buf_adds(&sql, "ALTER TABLE ");
	rc = db_publish_qualify(conn, &sql, from_schema, name, err);
	if (rc == 0 && !qto) {
		buf_errf(err, "could not quote the name %s", to_schema);
		rc = TW_EINTERNAL;
	}
	if (rc == 0) {
		buf_addf(&sql, " SET SCHEMA %s", qto);
		rc = run(conn, &sql, err);
	}
	PQfreemem(qto);
	buf_release(&sql);
	return rc;
}

/*
 * Renames the indexes and owned sequences of the relation relid (in
 * schema) to DB_PUBLISH_KEPT_PREFIX<their oid>: they move with the table
 * to the app schema, where an index or sequence of an earlier kept version
 * may already have the same name (a primary key's "t_pkey" on each).
 */
static int rename_parts(PGconn *conn, const char *schema, int64_t relid,
			struct buf *err)
{
	static const char sql[] =
		"SELECT 'INDEX', c.oid, c.relname FROM pg_index i JOIN pg_class "
		"c ON c.oid = i.indexrelid WHERE i.indrelid = $1::oid UNION ALL "
		"SELECT 'SEQUENCE', c.oid, c.relname FROM pg_depend d JOIN "
		"pg_class c ON c.oid = d.objid WHERE d.classid = "
		"'pg_class'::regclass AND d.refobjid = $1::oid AND d.deptype IN "
		"('a', 'i') AND c.relkind = 'S'";
	struct buf ddl = BUF_INIT(SQL_CAP);
	char srel[24];
	const char *params[1] = { srel };
	PGresult *res = NULL;
	int rc, i;

	fmt_i64(srel, sizeof(srel), relid);
	rc = db_exec(conn, sql, 1, params, &res, err);
	for (i = 0; rc == 0 && i < PQntuples(res); i++) {
		buf_reset(&ddl);
		buf_addf(&ddl, "ALTER %s ", PQgetvalue(res, i, 0));
		rc = db_publish_qualify(conn, &ddl, schema,
					PQgetvalue(res, i, 2), err);
		if (rc == 0) {
			buf_addf(&ddl,
				 " RENAME TO " DB_PUBLISH_KEPT_PREFIX "%s",
				 PQgetvalue(res, i, 1));
			rc = run(conn, &ddl, err);
		}
	}
	PQclear(res);
	buf_release(&ddl);
	return rc;
}

/*
 * Swaps the current table out: moved to the app schema as a kept version
 * (keep > 0) or dropped, its row updated to match.
 */
static int retire_current(PGconn *conn, const struct db_publish_rec *rec,
			  int version, int64_t relid, struct buf *err)
{
	static const char kept_sql[] =
		"UPDATE table_versions SET state = 'kept', kept_name = $4 "
		"WHERE schema_name = $1 AND table_name = $2 AND version = "
		"$3::int";
	static const char dropped_sql[] =
		"UPDATE table_versions SET state = 'dropped', relid = NULL "
		"WHERE schema_name = $1 AND table_name = $2 AND version = "
		"$3::int";
	struct buf sql = BUF_INIT(SQL_CAP);
	char kept[64], sver[16];
	const char *params[4] = { rec->schema, rec->name, sver, kept };
	int rc;

	snprintf(sver, sizeof(sver), "%d", version);
	snprintf(kept, sizeof(kept), DB_PUBLISH_KEPT_PREFIX "%" PRId64, relid);
	if (rec->keep_versions > 0) {
		/* Renamed first: the app schema may hold a table of the
		 * destination's name (a destination called "jobs"). */
		rc = rename_table(conn, rec->schema, rec->name, kept, err);
		if (rc == 0)
			rc = rename_parts(conn, rec->schema, relid, err);
		if (rc == 0)
			rc = move_table(conn, rec->schema, kept,
					rec->app_schema, err);
		if (rc == 0)
			rc = db_exec(conn, kept_sql, 4, params, NULL, err);
		goto out;
	}
	buf_adds(&sql, "DROP TABLE ");
	rc = db_publish_qualify(conn, &sql, rec->schema, rec->name, err);
	if (rc == 0)
		rc = run(conn, &sql, err);
	if (rc == 0)
		rc = db_exec(conn, dropped_sql, 3, params, NULL, err);
out:
	/* A name in the way here is ours to sort out, not the job's
	 * destination_exists. */
	if (rc == TW_ECONFLICT)
		rc = TW_EDB;
	if (rc < 0)
		buf_errf(err,
			 " (while setting the previous version of %s.%s "
			 "aside)",
			 rec->schema, rec->name);
	buf_release(&sql);
	return rc;
}

/* The stage's columns, quoted and comma-separated, in attnum order. */
static int stage_columns(PGconn *conn, const char *schema, const char *stage,
			 struct buf *out, struct buf *err)
{
	static const char sql[] =
		"SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) "
		"FROM pg_attribute WHERE attrelid = " RELID_SQL
		" AND attnum > 0 AND NOT attisdropped";
	const char *params[2] = { schema, stage };
	PGresult *res = NULL;
	int rc;

	rc = db_exec(conn, sql, 2, params, &res, err);
	if (rc == 0 && PQgetisnull(res, 0, 0)) {
		buf_errf(err, "the staging table %s.%s has no columns", schema,
			 stage);
		rc = TW_EINTERNAL;
	}
	if (rc == 0)
		buf_adds(out, PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* INSERT INTO schema.name (cols) SELECT cols FROM schema.stage, with
 * "EXPLAIN " in front when explain. */
static int insert_sql(PGconn *conn, const char *schema, const char *name,
		      const char *stage, bool explain, struct buf *sql,
		      struct buf *err)
{
	struct buf cols = BUF_INIT(SQL_CAP);
	int rc;

	rc = stage_columns(conn, schema, stage, &cols, err);
	if (rc < 0)
		goto out;
	buf_adds(sql, explain ? "EXPLAIN INSERT INTO " : "INSERT INTO ");
	rc = db_publish_qualify(conn, sql, schema, name, err);
	if (rc < 0)
		goto out;
	buf_addf(sql, " (%s) SELECT %s FROM ", cols.ptr, cols.ptr);
	rc = db_publish_qualify(conn, sql, schema, stage, err);
out:
	buf_release(&cols);
	return rc;
}

int db_publish_append_check(PGconn *conn, const char *schema, const char *name,
			    const char *stage, struct buf *err)
{
	/* A stage column the destination lacks, or a destination column
	 * that must be given and is not: the first, by kind then place. */
	static const char cols_sql[] =
		"SELECT k, attname FROM ("
		" SELECT 1 AS k, s.attname, s.attnum FROM pg_attribute s"
		" WHERE s.attrelid = to_regclass(quote_ident($1) || '.' || "
		"quote_ident($3)) AND s.attnum > 0 AND NOT s.attisdropped"
		" AND NOT EXISTS (SELECT 1 FROM pg_attribute d WHERE"
		" d.attrelid = " RELID_SQL " AND d.attname = s.attname"
		" AND d.attnum > 0 AND NOT d.attisdropped)"
		" UNION ALL"
		" SELECT 2, d.attname, d.attnum FROM pg_attribute d"
		" WHERE d.attrelid = " RELID_SQL
		" AND d.attnum > 0 AND NOT d.attisdropped AND d.attnotnull"
		" AND NOT d.atthasdef AND d.attidentity = '' AND"
		" d.attgenerated = ''"
		" AND NOT EXISTS (SELECT 1 FROM pg_attribute s WHERE"
		" s.attrelid = to_regclass(quote_ident($1) || '.' || "
		"quote_ident($3)) AND s.attname = d.attname AND s.attnum > 0"
		" AND NOT s.attisdropped)"
		") x ORDER BY k, attnum LIMIT 1";
	const char *params[3] = { schema, name, stage };
	struct buf sql = BUF_INIT(SQL_CAP);
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	PGresult *res = NULL;
	struct db_tx tx;
	int rc;

	rc = db_exec(conn, cols_sql, 3, params, &res, err);
	if (rc < 0)
		goto out;
	if (PQntuples(res) > 0) {
		if (!strcmp(PQgetvalue(res, 0, 0), "1"))
			buf_errf(err,
				 "the result's column \"%s\" is not a column "
				 "of %s.%s; mode append only adds rows to the "
				 "columns the table has",
				 PQgetvalue(res, 0, 1), schema, name);
		else
			buf_errf(err,
				 "column \"%s\" of %s.%s is NOT NULL and has "
				 "no default, and the result has no such "
				 "column",
				 PQgetvalue(res, 0, 1), schema, name);
		rc = TW_EVALIDATION;
		goto out;
	}
	/* Types: planning the insert applies PostgreSQL's own rules of
	 * assignment, and names the column that has no cast. */
	rc = insert_sql(conn, schema, name, stage, true, &sql, err);
	if (rc < 0)
		goto out;
	rc = db_tx_begin_nested(&tx, conn, "tw_append_check", err);
	if (rc < 0)
		goto out;
	rc = run(conn, &sql, &detail);
	/*
	 * Rolled back either way: planning the insert locked the destination
	 * (RowExclusiveLock), and a savepoint rolled back releases what it
	 * took. Kept, the lock would last the job's whole run (this check
	 * comes at publish_stage()) and make a replace or a rollback of the
	 * table wait for it, and deadlock with this job's own publishing lock.
	 */
	db_tx_rollback(&tx);
	if (rc < 0) {
		buf_errf(err, "the result does not fit %s.%s: %s", schema, name,
			 detail.ptr);
		rc = rc == TW_EUNAVAIL ? rc : TW_EVALIDATION;
	}
out:
	PQclear(res);
	buf_release(&sql);
	buf_release(&detail);
	return rc;
}

/* Appends the stage's rows to the destination, then drops the stage. */
static int append_rows(PGconn *conn, const struct db_publish_rec *rec,
		       const char *stage, struct buf *err)
{
	struct buf sql = BUF_INIT(SQL_CAP);
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	PGresult *res;
	const char *state = NULL;
	int rc;

	rc = db_publish_append_check(conn, rec->schema, rec->name, stage, err);
	if (rc < 0)
		goto out;
	rc = insert_sql(conn, rec->schema, rec->name, stage, false, &sql, err);
	if (rc < 0)
		goto out;
	/* PQexec by hand: a data error here is the job's (schema_mismatch),
	 * told apart from the rest by its SQLSTATE class. */
	res = PQexec(conn, sql.ptr);
	rc = db_result_check(res, &detail);
	if (rc < 0 && res)
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (rc < 0 && state &&
	    (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))) {
		buf_errf(err, "a row of the result does not fit %s.%s: %s",
			 rec->schema, rec->name, detail.ptr);
		rc = TW_EVALIDATION;
	} else if (rc < 0) {
		buf_errf(err, "could not append to %s.%s: %s", rec->schema,
			 rec->name, detail.ptr);
	}
	PQclear(res);
	if (rc < 0)
		goto out;
	buf_reset(&sql);
	buf_adds(&sql, "DROP TABLE ");
	rc = db_publish_qualify(conn, &sql, rec->schema, stage, err);
	if (rc == 0)
		rc = run(conn, &sql, err);
out:
	buf_release(&sql);
	buf_release(&detail);
	return rc;
}

/* The provenance row and published_tables, last in every publish. */
static int record(PGconn *conn, const struct db_publish_rec *rec, int version,
		  bool created, struct buf *err)
{
	static const char publish_sql[] =
		"INSERT INTO table_publishes (schema_name, table_name, version, "
		"job_id, script_id, script_version, source_table, user_id, "
		"mode, rows) VALUES ($1, $2, $3::int, $4::bigint, $5::bigint, "
		"$6::int, $7, $8::bigint, $9, $10::bigint)";
	/* A create takes over a stale row (its table was dropped by hand):
	 * the table is the new creator's. */
	static const char created_sql[] =
		"INSERT INTO published_tables (schema_name, table_name, "
		"user_id, job_id) VALUES ($1, $2, $3::bigint, $4::bigint) "
		"ON CONFLICT (schema_name, table_name) DO UPDATE SET user_id = "
		"EXCLUDED.user_id, job_id = EXCLUDED.job_id, created_at = "
		"now()";
	static const char wrote_sql[] =
		"UPDATE published_tables SET job_id = $4::bigint WHERE "
		"schema_name = $1 AND table_name = $2 AND $3::bigint IS NOT "
		"NULL";
	char sver[16], sjob[24], sscript[24], ssver[16], suser[24], srows[24];
	const char *params[10];
	int rc;

	snprintf(sver, sizeof(sver), "%d", version);
	fmt_i64(sjob, sizeof(sjob), rec->job_id);
	fmt_i64(sscript, sizeof(sscript), rec->script_id);
	snprintf(ssver, sizeof(ssver), "%d", rec->script_version);
	fmt_i64(suser, sizeof(suser), rec->user_id);
	fmt_i64(srows, sizeof(srows), rec->rows < 0 ? 0 : rec->rows);
	params[0] = rec->schema;
	params[1] = rec->name;
	params[2] = sver;
	params[3] = sjob;
	params[4] = sscript;
	params[5] = ssver;
	params[6] = rec->source_table;
	params[7] = suser;
	params[8] = rec->mode;
	params[9] = srows;
	rc = db_exec(conn, publish_sql, 10, params, NULL, err);
	params[2] = suser;
	if (rc == 0 && created)
		rc = db_exec(conn, created_sql, 4, params, NULL, err);
	else if (rc == 0)
		rc = db_exec(conn, wrote_sql, 4, params, NULL, err);
	return rc;
}

int db_publish_install(PGconn *conn, const struct db_publish_rec *rec,
		       const char *stage, int *version, struct buf *err)
{
	int64_t oid, cur_relid, new_oid;
	int cur;
	bool created = false;
	int rc;

	*version = 0;
	rc = relation_oid(conn, rec->schema, rec->name, &oid, err);
	if (rc == 0)
		rc = current_version(conn, rec->schema, rec->name, &cur,
				     &cur_relid, err);
	if (rc < 0)
		goto out;
	if (oid != 0 && !strcmp(rec->mode, "create")) {
		buf_errf(err, "%s.%s already exists", rec->schema, rec->name);
		rc = TW_ECONFLICT;
		goto out;
	}
	if (oid != 0 && cur != 0 && cur_relid != oid) {
		buf_errf(err,
			 "%s.%s is not the table Tablewright published under "
			 "that name (it was dropped and made again)",
			 rec->schema, rec->name);
		rc = TW_ECONFLICT;
		goto out;
	}
	if (oid != 0 && cur == 0) {
		/* Published before versions were recorded: adopt it. */
		rc = add_current(conn, rec->schema, rec->name, oid, &cur, err);
		if (rc < 0)
			goto out;
	}
	if (oid != 0 && !strcmp(rec->mode, "append")) {
		rc = append_rows(conn, rec, stage, err);
		*version = cur;
		goto recorded;
	}
	if (oid == 0) {
		/* Nothing under the name: whatever history it has is stale. */
		rc = prune(conn, rec->app_schema, rec->schema, rec->name, -1,
			   err);
		created = true;
	} else {
		/* Room first: the newest keep_versions - 1 stay, then the
		 * current one joins them. */
		rc = prune(conn, rec->app_schema, rec->schema, rec->name,
			   rec->keep_versions > 0 ? rec->keep_versions - 1 : 0,
			   err);
		if (rc == 0)
			rc = retire_current(conn, rec, cur, oid, err);
	}
	if (rc == 0)
		rc = rename_table(conn, rec->schema, stage, rec->name, err);
	if (rc == 0)
		rc = relation_oid(conn, rec->schema, rec->name, &new_oid, err);
	if (rc == 0)
		rc = add_current(conn, rec->schema, rec->name, new_oid, version,
				 err);
recorded:
	if (rc == 0)
		rc = record(conn, rec, *version, created, err);
out:
	return rc;
}

/* --- rollback ------------------------------------------------------------ */

/* What a rollback finds about schema.name, under the lock. */
struct rb_state {
	int64_t oid;	/* the relation under the name, 0: none */
	bool published; /* listed in published_tables */
	int64_t owner;
	int cur; /* the current version, 0: none recorded */
	int64_t cur_relid;
	int kept; /* the newest kept version whose table exists, 0: none */
	char kept_name[64];
	int kept_count; /* kept versions, the newest included */
};

static int rb_read(PGconn *conn, const char *app_schema, const char *schema,
		   const char *name, struct rb_state *st, struct buf *err)
{
	static const char owner_sql[] =
		"SELECT user_id FROM published_tables WHERE schema_name = $1 "
		"AND table_name = $2";
	/* A kept table someone dropped by hand is no version any more. */
	static const char gone_sql[] =
		"UPDATE table_versions SET state = 'dropped', kept_name = NULL, "
		"relid = NULL WHERE schema_name = $1 AND table_name = $2 AND "
		"state = 'kept' AND to_regclass(quote_ident($3) || '.' || "
		"quote_ident(kept_name)) IS NULL";
	static const char kept_sql[] =
		"SELECT version, kept_name, count(*) OVER () FROM "
		"table_versions WHERE schema_name = $1 AND table_name = $2 AND "
		"state = 'kept' ORDER BY version DESC LIMIT 1";
	const char *params[3] = { schema, name, app_schema };
	PGresult *res = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = relation_oid(conn, schema, name, &st->oid, err);
	if (rc == 0)
		rc = db_exec(conn, owner_sql, 2, params, &res, err);
	if (rc < 0)
		goto out;
	if (PQntuples(res) > 0) {
		st->published = true;
		st->owner = db_col_i64_or(res, 0, 0, 0);
	}
	PQclear(res);
	res = NULL;
	rc = current_version(conn, schema, name, &st->cur, &st->cur_relid, err);
	if (rc == 0)
		rc = db_exec(conn, gone_sql, 3, params, NULL, err);
	if (rc == 0)
		rc = db_exec(conn, kept_sql, 2, params, &res, err);
	if (rc == 0 && PQntuples(res) > 0) {
		st->kept = (int)db_col_i64_or(res, 0, 0, 0);
		snprintf(st->kept_name, sizeof(st->kept_name), "%s",
			 PQgetvalue(res, 0, 1));
		st->kept_count = (int)db_col_i64_or(res, 0, 2, 0);
	}
out:
	PQclear(res);
	return rc;
}

int db_publish_rollback(PGconn *conn, const char *app_schema,
			const char *schema, const char *name, int64_t user_id,
			bool is_admin, struct db_rollback_result *out,
			struct buf *err)
{
	static const char rolled_sql[] =
		"UPDATE table_versions SET state = 'rolled_back', relid = NULL "
		"WHERE schema_name = $1 AND table_name = $2 AND state = "
		"'current'";
	static const char restored_sql[] =
		"UPDATE table_versions SET state = 'current', kept_name = NULL "
		"WHERE schema_name = $1 AND table_name = $2 AND version = "
		"$3::int";
	static const char job_sql[] =
		"UPDATE published_tables SET job_id = (SELECT job_id FROM "
		"table_publishes WHERE schema_name = $1 AND table_name = $2 "
		"AND version = $3::int ORDER BY id DESC LIMIT 1) WHERE "
		"schema_name = $1 AND table_name = $2 RETURNING job_id";
	struct buf sql = BUF_INIT(SQL_CAP);
	struct rb_state st;
	struct db_tx tx;
	char sver[16];
	const char *params[3] = { schema, name, sver };
	PGresult *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	/* A job reading the table as its source holds it for its whole
	 * COPY: do not hang a request (or the readers queued behind the
	 * DROP's lock) on that. */
	rc = db_tx_begin_sql(
		&tx, conn,
		"BEGIN; SET LOCAL lock_timeout = '" ROLLBACK_LOCK_TIMEOUT "'",
		err);
	if (rc < 0)
		goto out;
	rc = db_publish_lock(conn, schema, name, err);
	if (rc == 0)
		rc = rb_read(conn, app_schema, schema, name, &st, err);
	if (rc < 0)
		goto out;
	if (st.oid == 0) {
		buf_errf(err, "there is no table %s.%s", schema, name);
		rc = TW_ENOTFOUND;
		goto out;
	}
	if (!st.published || (st.cur != 0 && st.cur_relid != st.oid)) {
		buf_errf(err,
			 "%s.%s is not a table Tablewright published; there "
			 "is nothing to roll back",
			 schema, name);
		rc = TW_ECONFLICT;
		goto out;
	}
	if (!is_admin && st.owner != user_id) {
		buf_errf(err,
			 "%s.%s was created by another user's job; only its "
			 "owner (or an admin) may roll it back",
			 schema, name);
		rc = TW_EFORBIDDEN;
		goto out;
	}
	if (st.kept == 0) {
		buf_errf(err,
			 "no earlier version of %s.%s is kept (a replace "
			 "keeps TW_KEEP_VERSIONS of them)",
			 schema, name);
		rc = TW_ECONFLICT;
		goto out;
	}
	/* The current table goes; the kept one comes back under the name
	 * (its kept name is unique: the oid of a table that exists). */
	buf_adds(&sql, "DROP TABLE ");
	rc = db_publish_qualify(conn, &sql, schema, name, err);
	if (rc == 0)
		rc = run(conn, &sql, err);
	if (rc == 0)
		rc = db_exec(conn, rolled_sql, 2, params, NULL, err);
	if (rc == 0)
		rc = move_table(conn, app_schema, st.kept_name, schema, err);
	if (rc == 0)
		rc = rename_table(conn, schema, st.kept_name, name, err);
	snprintf(sver, sizeof(sver), "%d", st.kept);
	if (rc == 0)
		rc = db_exec(conn, restored_sql, 3, params, NULL, err);
	if (rc == 0)
		rc = db_exec(conn, job_sql, 3, params, &res, err);
	if (rc < 0)
		goto out;
	out->restored = st.kept;
	out->dropped = st.cur;
	out->job_id = PQntuples(res) > 0 ? db_col_i64_or(res, 0, 0, 0) : 0;
	out->kept_remaining = st.kept_count - 1;
	rc = db_tx_commit(&tx, err);
out:
	if (rc == TW_ETIMEOUT)
		buf_errf(err,
			 " (%s.%s is in use, by a job reading or writing "
			 "it: try again later)",
			 schema, name);
	if (rc < 0)
		db_tx_rollback(&tx);
	PQclear(res);
	buf_release(&sql);
	return rc;
}

/* --- provenance ---------------------------------------------------------- */

#define UTC(col)                               \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define PUBLISH_FIELDS(p)                                                \
	"'job_id', " p ".job_id, 'script_id', " p ".script_id, "         \
	"'script_version', " p ".script_version, 'source_table', " p     \
	".source_table, 'user_id', " p ".user_id, 'published_at', " UTC( \
		p ".published_at") ", 'mode', " p ".mode, 'rows', " p    \
				   ".rows, 'version', " p ".version"

#define STR_(x) #x
#define STR(x) STR_(x)

/* The publishes of $1.$2, newest first, each with its version's state. */
#define HISTORY_SQL                                                                     \
	"(SELECT json_agg(json_build_object('state', h.state, " PUBLISH_FIELDS(         \
		"h") ") ORDER BY h.id DESC) FROM (SELECT p.*, "                         \
		     "v.state FROM table_publishes p JOIN table_versions v USING "      \
		     "(schema_name, table_name, version) WHERE p.schema_name = $1 AND " \
		     "p.table_name = $2 ORDER BY p.id DESC LIMIT " STR(                 \
			     DB_PUBLISH_HISTORY_MAX) ") h)"

/* The newest publish into the current version, if the relation under the
 * name is that version's. */
static const char provenance_sql[] =
	"WITH cur AS (SELECT version FROM table_versions WHERE schema_name = "
	"$1 AND table_name = $2 AND state = 'current' AND relid = " RELID_SQL
	"), last AS (SELECT p.* FROM table_publishes p JOIN cur USING "
	"(version) WHERE p.schema_name = $1 AND p.table_name = $2 ORDER BY "
	"p.id DESC LIMIT 1) SELECT json_build_object(" PUBLISH_FIELDS(
		"l") ", 'versions', " HISTORY_SQL ")::text FROM last l";

int db_publish_provenance(PGconn *conn, const char *schema, const char *name,
			  char **json, struct buf *err)
{
	const char *params[2] = { schema, name };
	PGresult *res = NULL;
	int rc;

	*json = NULL;
	rc = db_exec(conn, provenance_sql, 2, params, &res, err);
	if (rc == 0 && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		*json = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}
