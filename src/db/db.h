/*
 * db.h - PostgreSQL access: a libpq connection pool, the migrations runner,
 * the SQLSTATE -> error-code table, and the embedded local cluster used when
 * no database is configured.
 *
 * Pool lifecycle:
 *	db_pool_new()    connects one connection (fail fast at start-up)
 *	db_acquire()     a healthy connection, reconnecting a broken one
 *	db_release()     back to the pool (broken ones are reset on next use)
 *	db_pool_free()   closes everything
 * The pool is thread-safe. Every connection has search_path set to the app
 * schema (then pg_catalog), so Tablewright's own tables are named
 * unqualified; data tables are always schema-qualified and quoted.
 */
#ifndef TW_DB_DB_H
#define TW_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/buf.h"

struct db_pool;

struct db_pool_opts {
	const char *url;	      /* libpq URI or key=value string */
	const char *app_schema;	      /* validated identifier */
	int size;		      /* maximum connections */
	int connect_timeout_s;	      /* per connection attempt, default 5 */
	const char *application_name; /* shown in pg_stat_activity */
};

/*
 * db_pool_new() validates the URL with PQconninfoParse (TW_ECONFIG on
 * failure, with libpq's reason) and opens one connection (TW_EUNAVAIL with
 * libpq's reason, password never included, when that fails).
 */
int db_pool_new(struct db_pool **out, const struct db_pool_opts *opts,
		struct buf *err);
void db_pool_free(struct db_pool *pool);

/*
 * db_acquire() waits up to timeout_ms for a free connection and returns it
 * in *conn. A connection found broken is reset (PQreset); TW_EUNAVAIL when
 * the database cannot be reached, TW_ETIMEOUT when none frees up in time.
 */
int db_acquire(struct db_pool *pool, int timeout_ms, PGconn **conn,
	       struct buf *err);

/*
 * db_release() returns conn to the pool. Pass broken = true after an error
 * that may have left the session in an unknown state (it is closed and
 * reopened on next use). A connection left inside a transaction is rolled
 * back.
 */
void db_release(struct db_pool *pool, PGconn *conn, bool broken);

/*
 * db_ping() runs "SELECT 1" with a short statement timeout on a pooled
 * connection: 0 when the database answers, TW_EUNAVAIL otherwise.
 */
int db_ping(struct db_pool *pool, struct buf *err);

/* Number of connections currently open (for /healthz and tests). */
int db_pool_open_count(struct db_pool *pool);

/*
 * db_result_check() maps a PGresult to 0 (PGRES_COMMAND_OK, TUPLES_OK,
 * COPY_IN/OUT) or to a TW_E* code through the SQLSTATE table, appending the
 * server's primary message to err. res NULL is TW_EUNAVAIL.
 */
int db_result_check(const PGresult *res, struct buf *err);

/*
 * db_exec() runs one parameterised statement and checks it. *res receives
 * the result, which the caller frees with PQclear(); res may be NULL when
 * the caller does not need it.
 */
int db_exec(PGconn *conn, const char *sql, int nparams,
	    const char *const *params, PGresult **res, struct buf *err);

/* SQLSTATE (five characters) -> TW_E*: 23505 -> TW_ECONFLICT, ... */
int db_sqlstate_to_err(const char *sqlstate);

/* --- transactions (pool.c) ---------------------------------------------- */

/*
 * A unit of work on one connection: a transaction of its own, or a
 * savepoint inside the caller's (db_tx_begin_nested()). Lifecycle:
 *	db_tx_begin()     BEGIN (or the caller's opening SQL)
 *	db_tx_commit()    COMMIT; the unit is closed whatever the result
 *	db_tx_rollback()  ROLLBACK when still open; harmless otherwise
 * so a function opens with db_tx_begin(), leaves through one fail: label
 * that calls db_tx_rollback(), and commits last. Errors map through the
 * SQLSTATE table as db_exec()'s do. The struct lives on the caller's stack
 * and holds nothing to free.
 */
struct db_tx {
	PGconn *conn;
	const char *savepoint; /* NULL: a transaction of its own */
	bool open;
};

/*
 * db_tx_begin() sends BEGIN on conn. db_tx_begin_sql() sends sql instead,
 * which may be several statements that start with BEGIN ("BEGIN READ ONLY;
 * SET LOCAL ..."): it is sent with PQexec(), so it takes no parameters and
 * must be a constant of the program. On failure the unit is not open.
 */
int db_tx_begin(struct db_tx *tx, PGconn *conn, struct buf *err);
int db_tx_begin_sql(struct db_tx *tx, PGconn *conn, const char *sql,
		    struct buf *err);

/*
 * db_tx_begin_nested() is db_tx_begin() when conn is idle, and a savepoint
 * named savepoint (an identifier constant of the program) when the caller
 * already has a transaction open: committing releases the savepoint and
 * rolling back returns to it, leaving the caller's transaction to the
 * caller.
 */
int db_tx_begin_nested(struct db_tx *tx, PGconn *conn, const char *savepoint,
		       struct buf *err);

/* db_tx_commit() commits (or releases the savepoint); 0 or a TW_E* code. */
int db_tx_commit(struct db_tx *tx, struct buf *err);

/*
 * db_tx_rollback() rolls an open unit back, ignoring errors (the
 * connection may be gone; db_release() deals with it). A unit that is not
 * open, or a connection no longer in a transaction, is left alone.
 */
void db_tx_rollback(struct db_tx *tx);

/* --- reading results (pool.c) ------------------------------------------- */

/*
 * db_col_i64() reads the cell (row, col) of res as a whole base-10 int64,
 * as PostgreSQL prints an integer column. A NULL cell, or text that is not
 * such an integer (a column that is not an integer), is TW_EINTERNAL with
 * the column's name in err, and *out is 0.
 *
 * db_col_i64_or() is the same value, or fallback for a NULL or malformed
 * cell: for columns where NULL has a meaning (none yet, no limit).
 */
int db_col_i64(const PGresult *res, int row, int col, int64_t *out,
	       struct buf *err);
int64_t db_col_i64_or(const PGresult *res, int row, int col, int64_t fallback);

/* --- catalog rules (catalog.c) ------------------------------------------ */

/*
 * The rules about data tables that the API and the worker share: which
 * relations are visible, which schemas hold data, what a destination may be
 * named, and where a job may write (docs/internals/db.md, "Catalog rules").
 *
 * DB_CATALOG_VISIBLE is SQL for a WHERE clause over c (pg_class) and n
 * (pg_namespace): $1 the data schemas as a text[] (db_catalog_schemas()),
 * $2 the app schema, never shown. Tables, partitioned tables, views,
 * materialized views and foreign tables of those schemas that the
 * database lets the server's role read; never a system schema.
 */
#define DB_CATALOG_VISIBLE                                  \
	" n.nspname = ANY ($1::text[]) AND n.nspname <> $2" \
	" AND n.nspname NOT LIKE 'pg\\_%'"                  \
	" AND n.nspname <> 'information_schema'"            \
	" AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"       \
	" AND has_schema_privilege(n.oid, 'USAGE')"         \
	" AND has_table_privilege(c.oid, 'SELECT')"

/*
 * db_catalog_schemas() appends the n schema names (each already passed
 * str_ident_valid()) to out as a text[] literal for DB_CATALOG_VISIBLE's $1,
 * each element double-quoted ("{\"a\",\"b\"}"). out's cap must hold them.
 */
void db_catalog_schemas(struct buf *out, char *const *schemas, size_t n);

/*
 * db_catalog_is_data_schema() says whether schema is one of the n data
 * schemas and not the app schema (which is never data, whatever the
 * configuration lists).
 */
bool db_catalog_is_data_schema(const char *schema, char *const *schemas,
			       size_t n, const char *app_schema);

/*
 * db_catalog_source_visible() sets *visible to whether schema.name is a
 * relation DB_CATALOG_VISIBLE shows; schemas is db_catalog_schemas()'s
 * text. 0, or the query's TW_E* code.
 */
int db_catalog_source_visible(PGconn *conn, const char *schemas,
			      const char *app_schema, const char *schema,
			      const char *name, bool *visible, struct buf *err);

/*
 * The destination-name rule: a job's destination is a plain identifier
 * (str_ident_valid()) in the output schema. DB_CATALOG_NAME_RULE is the
 * rule as messages quote it.
 */
#define DB_CATALOG_NAME_RULE "^[A-Za-z_][A-Za-z0-9_]{0,62}$"
bool db_catalog_name_valid(const char *name);

/* What db_catalog_dest_lookup() found under a destination's name. */
struct db_catalog_dest {
	bool exists;	/* a relation of any kind has the name */
	bool is_table;	/* an ordinary or partitioned table */
	bool published; /* listed in published_tables: a job created it */
	int64_t owner;	/* published_tables.user_id when published */
};

/*
 * db_catalog_dest_lookup() looks up name in output_schema, whatever its
 * kind, with its published_tables row. 0, or the query's TW_E* code.
 */
int db_catalog_dest_lookup(PGconn *conn, const char *output_schema,
			   const char *name, struct db_catalog_dest *out,
			   struct buf *err);

/*
 * The published_tables rule: where a mode may write. Mode create writes
 * only a name nothing has; replace and append write only to a table a job
 * created (published), that the user's jobs made (any, for an admin), and
 * that is not the job's own source (is_source). The verdicts are checked
 * in this order and the first that applies is returned.
 */
enum db_catalog_verdict {
	DB_DEST_OK = 0,
	DB_DEST_EXISTS,	   /* mode create, and the name is taken */
	DB_DEST_IS_SOURCE, /* replace/append of the job's own source */
	DB_DEST_NOT_OURS,  /* not a table, or not one a job created */
	DB_DEST_NOT_OWNER, /* another user's job created it */
};

enum db_catalog_verdict
db_catalog_dest_verdict(const struct db_catalog_dest *dest, const char *mode,
			bool is_source, int64_t user_id, bool is_admin);

/* --- migrations (migrate.c) --------------------------------------------- */

struct db_migration {
	int version;	  /* from the file name: 0001_init.sql -> 1 */
	const char *name; /* "0001_init" */
	const char *sql;
};

/* The migrations compiled into the binary, in version order. */
extern const struct db_migration db_migrations[];
extern const size_t db_migrations_count;

/*
 * db_migrate() creates the app schema and schema_migrations if missing and
 * applies each migration not yet recorded, in order, each in its own
 * transaction together with its schema_migrations row, under an advisory
 * lock so two processes migrating at once do not collide. *applied gets the
 * number applied now (0 on a second run).
 */
int db_migrate(PGconn *conn, const char *app_schema, int *applied,
	       struct buf *err);

/* --- embedded cluster (cluster.c) --------------------------------------- */

/*
 * db_cluster_start() makes sure a private PostgreSQL cluster exists under
 * dir (initdb into dir/data on first use, with a random password for the
 * "tablewright" role kept in dir/password, readable by the owner only,
 * listening on 127.0.0.1 only), starts it with pg_ctl on a free port, and
 * creates the "tablewright" database if missing. url_out receives the
 * connection URL (it contains the password: never log it). The PostgreSQL
 * binaries are found via TW_PG_BIN, PATH, or the usual install locations.
 */
int db_cluster_start(const char *dir, struct buf *url_out, struct buf *err);

/* Stops the cluster started by db_cluster_start() (pg_ctl stop -m fast). */
int db_cluster_stop(const char *dir, struct buf *err);

/*
 * db_cluster_start_bin() and db_cluster_stop_bin() are db_cluster_start()
 * and db_cluster_stop() with the directory of initdb and pg_ctl given by the
 * caller (cfg->pg_bin, which may come from .env rather than the
 * environment). pg_bin NULL searches as the plain functions do: the
 * environment's TW_PG_BIN, then PATH and the usual install locations. A
 * stop with no cluster in dir, or none running, succeeds. *started (may be
 * NULL) says whether this call started the server, or found it running
 * (another tablewright process uses it: do not stop it then).
 */
int db_cluster_start_bin(const char *dir, const char *pg_bin,
			 struct buf *url_out, bool *started, struct buf *err);
int db_cluster_stop_bin(const char *dir, const char *pg_bin, struct buf *err);

#endif
