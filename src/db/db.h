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
