/*
 * publish.h - the versions and provenance of the tables jobs publish, shared
 * by the worker (its publishing step, src/worker/publish.c), the API (a
 * table's produced_by, the rollback route) and the command line
 * (`tablewright rollback`). The tables are table_versions and
 * table_publishes (migration 0005) next to published_tables (0004);
 * docs/internals/publish.md is the design.
 *
 * Every function runs on a connection whose search_path is the app schema
 * (a pooled connection outside any SET LOCAL of its own). Names of data
 * tables are always passed as parameters or quoted with PQescapeIdentifier.
 *
 * Publishing, inside the job's transaction:
 *	db_publish_lock()     serialises everything that changes one
 *	                      destination (publishes, rollbacks) until the
 *	                      transaction ends
 *	db_publish_install()  the filled staging table becomes the table's
 *	                      new version (create, replace) or is appended
 *	                      to it (append), the provenance row is written
 */
#ifndef TW_DB_PUBLISH_H
#define TW_DB_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/buf.h"

/* The prefixes of Tablewright's own tables beside the users' tables: a
 * job's staging table in the output schema, a kept version in the app
 * schema. A destination may not start with DB_PUBLISH_STAGE_PREFIX. */
#define DB_PUBLISH_STAGE_PREFIX "tw_stage_"
#define DB_PUBLISH_KEPT_PREFIX "tw_kept_"

/*
 * db_publish_qualify() appends "schema"."name", each quoted with
 * PQescapeIdentifier(), to out. TW_EINTERNAL when libpq refuses.
 */
int db_publish_qualify(PGconn *conn, struct buf *out, const char *schema,
		       const char *name, struct buf *err);

/*
 * db_publish_lock() takes the transaction-scoped advisory lock of
 * schema.name (pg_advisory_xact_lock on a hash of the name), waiting for
 * whoever holds it. conn must be inside a transaction (TW_EINTERNAL
 * otherwise). A hash collision only makes two destinations wait for each
 * other.
 */
int db_publish_lock(PGconn *conn, const char *schema, const char *name,
		    struct buf *err);

/* What one publish writes, and where. */
struct db_publish_rec {
	const char *app_schema; /* where kept versions go */
	const char *schema;	/* the output schema */
	const char *name;	/* the destination */
	const char *mode;	/* create | replace | append */
	int64_t job_id;
	int64_t user_id;
	int64_t script_id;
	int script_version;
	const char *source_table; /* "schema.name" */
	int64_t rows;		  /* the job's rows_out */
	long keep_versions;	  /* TW_KEEP_VERSIONS */
};

/*
 * db_publish_append_check() checks that the columns of the staging table
 * schema.stage fit schema.name for an append: every stage column exists in
 * the destination with a type PostgreSQL assigns to it (the rules of
 * INSERT, checked by planning the insert inside a savepoint), and every
 * destination column that is NOT NULL without a default (nor identity, nor
 * generated) is one of the stage's. TW_EVALIDATION with a message naming
 * the column when not; another code when the check itself failed.
 */
int db_publish_append_check(PGconn *conn, const char *schema, const char *name,
			    const char *stage, struct buf *err);

/*
 * db_publish_install() makes the filled staging table rec->schema.stage
 * the destination's content, in the caller's transaction, which must hold
 * db_publish_lock() of the destination and have checked the job may write
 * there (db_catalog_dest_verdict()). By what is under the name:
 *  - nothing (whatever the mode): the stage is renamed to the name and is
 *    version 1, or the next after a stale history (whose kept tables are
 *    dropped); published_tables gets the job's user as the owner;
 *  - replace: the current table is kept (moved to the app schema as
 *    DB_PUBLISH_KEPT_PREFIX<oid>; with keep_versions 0 dropped), kept
 *    versions beyond keep_versions are dropped, and the stage is renamed to
 *    the name as the next version;
 *  - append: db_publish_append_check(), then INSERT ... SELECT from the
 *    stage (PostgreSQL's assignment casts) and the stage is dropped; the
 *    version stays;
 * then the table_publishes row and published_tables.job_id. *version gets
 * the version written. TW_ECONFLICT with a message when the name holds a
 * relation that is not the one Tablewright published (dropped and made
 * again by hand), or anything at all in mode create; TW_EVALIDATION when
 * an append does not fit (the check's message, or a value the destination
 * refuses: a NULL in a NOT NULL column, a number out of range); another
 * code for anything else (a dependent view keeping an old version from
 * being dropped, say). On failure the transaction is left failed: roll it
 * back.
 */
int db_publish_install(PGconn *conn, const struct db_publish_rec *rec,
		       const char *stage, int *version, struct buf *err);

/* What a rollback did. */
struct db_rollback_result {
	int restored;	    /* the version now under the name */
	int dropped;	    /* the version it replaced (0: none recorded) */
	int64_t job_id;	    /* the job that last wrote the restored one */
	int kept_remaining; /* kept versions left after it */
};

/*
 * db_publish_rollback() puts back the newest kept version of schema.name,
 * in a transaction of its own (conn must be idle) under db_publish_lock():
 * the current table is dropped (its version becomes rolled_back), the kept
 * one is moved back under the name and becomes current, and
 * published_tables.job_id names the job that last wrote it. user_id and
 * is_admin are the caller's: an analyst may roll back only a table their
 * own jobs created. TW_ENOTFOUND when schema.name does not exist,
 * TW_EFORBIDDEN for another user's table, TW_ECONFLICT when it is not a
 * table Tablewright published or no earlier version is kept, TW_ETIMEOUT
 * when a lock it needs (the publishing lock, the table's, held by a job
 * reading it as its source) is not had within 10 s, each with a message
 * in err; nothing is changed then.
 */
int db_publish_rollback(PGconn *conn, const char *app_schema,
			const char *schema, const char *name, int64_t user_id,
			bool is_admin, struct db_rollback_result *out,
			struct buf *err);

/*
 * db_publish_provenance() sets *json to the provenance of schema.name as a
 * JSON object's text (malloc'd, the caller frees it), or NULL when the
 * relation under that name is not a version Tablewright published:
 *
 *	{"job_id", "script_id", "script_version", "source_table", "user_id",
 *	 "published_at", "mode", "rows", "version",
 *	 "versions": [{"version", "state", "job_id", "script_id",
 *	               "script_version", "source_table", "user_id",
 *	               "published_at", "mode", "rows"}, ...]}
 *
 * The top level is the newest publish into the current version; versions
 * lists the table's publishes, newest first, at most
 * DB_PUBLISH_HISTORY_MAX of them, each with its version's state (current,
 * kept, dropped, rolled_back).
 */
#define DB_PUBLISH_HISTORY_MAX 100
int db_publish_provenance(PGconn *conn, const char *schema, const char *name,
			  char **json, struct buf *err);

#endif
