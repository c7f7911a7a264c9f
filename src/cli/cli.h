/*
 * cli.h - what the `tablewright` commands share: the parsed command line and
 * the database session of a command. main.c dispatches; the database part
 * lives in cli/db.c and the `user` commands and the first admin in
 * cli/user.c.
 */
#ifndef TW_CLI_CLI_H
#define TW_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/buf.h"
#include "db/db.h"

#define CLI_MAX_FLAGS 16
#define CLI_EXIT_USAGE 2

struct cli {
	const char *command;	/* "serve", "user", ... */
	const char *subcommand; /* "add" in `user add` */
	const char *env_file;
	/* user commands */
	const char *email;
	const char *role;
	bool password_stdin; /* --password-stdin, --admin-password-stdin */
	const char *rows;    /* seed-demo --rows N */
	/*
	 * Set by main() from the command table: with TW_DATABASE_URL unset,
	 * cli_db_open() may use the private cluster (see below).
	 */
	bool embedded;
	/* TW_ flag values in command-line order, applied after cfg_load() */
	const char *flag_key[CLI_MAX_FLAGS];
	const char *flag_value[CLI_MAX_FLAGS];
	const char *flag_name[CLI_MAX_FLAGS];
	size_t nflags;
};

/* A command's database: the pool, and the embedded cluster if it started it. */
struct cli_db {
	struct db_pool *pool;
	bool cluster_started;
};

/*
 * cli_db_open() opens the pool. With embedded and TW_DATABASE_URL unset, the
 * private cluster under TW_PG_DIR is used (started when it is not running;
 * cfg->database_url is set to its URL). cli_db_close() closes the pool and
 * stops the cluster only when cli_db_open() started it, so a `user add` next
 * to a running `tablewright run` leaves its database alone.
 */
int cli_db_open(struct cfg *cfg, bool embedded, struct cli_db *db,
		struct buf *err);
void cli_db_close(struct cfg *cfg, struct cli_db *db);

/* Applies the migrations not yet applied; logs how many. */
int cli_migrate(struct db_pool *pool, const struct cfg *cfg, struct buf *err);

/*
 * cli_check_schema() refuses (TW_ECONFIG, "run `tablewright migrate`") a
 * database whose schema is older than this build.
 */
int cli_check_schema(struct db_pool *pool, struct buf *err);

/*
 * cli_read_password() reads a password: one line of standard input with
 * --password-stdin, else from the terminal without echo, asked twice when
 * confirm. Fails when neither is possible.
 */
int cli_read_password(const struct cli *cli, const char *prompt, bool confirm,
		      struct buf *out, struct buf *err);

/*
 * cli_ensure_admin() creates the first administrator when the database has
 * none: TW_ADMIN_EMAIL or admin@localhost, with the password from
 * --admin-password-stdin, TW_ADMIN_PASSWORD, or a generated one that is
 * printed once on standard output. *created (may be NULL) says whether it
 * did: a fresh installation.
 */
int cli_ensure_admin(struct db_pool *pool, const struct cfg *cfg,
		     const struct cli *cli, bool *created, struct buf *err);

/* A file compiled into the binary by cmake/embed.cmake (MODE files). */
struct cli_file {
	const char *name; /* "orders.sql" */
	const char *data; /* NUL-terminated */
	size_t len;
};

/* The example scripts (examples/NAME.py) and demo tables
 * (examples/data/NAME.sql), by file name. */
extern const struct cli_file cli_examples[];
extern const size_t cli_examples_count;
extern const struct cli_file cli_demo_tables[];
extern const size_t cli_demo_tables_count;

#define CLI_DEMO_ROWS_DEFAULT 100000
#define CLI_DEMO_ROWS_MAX 50000000

/*
 * cli_seed_demo() creates the demo tables that do not exist yet in the first
 * data schema (orders with rows rows, customers and events sized from it)
 * and saves each example that the first admin does not have yet as that
 * admin's script. Existing tables and scripts are left as they are.
 */
int cli_seed_demo(struct db_pool *pool, const struct cfg *cfg, long rows,
		  struct buf *err);

/*
 * `tablewright user add|set-password|disable|enable|list`; the database of
 * the private cluster when cli->embedded and TW_DATABASE_URL is unset.
 */
int cli_user(const struct cli *cli, struct cfg *cfg, struct buf *err);

/*
 * `tablewright rollback SCHEMA.TABLE` (cli/rollback.c): puts back the newest
 * kept version of a table a replace job swapped out, as an admin may
 * (db_publish_rollback()), and prints what it did. SCHEMA must be the output
 * schema. A missing or malformed argument is CLI_EXIT_USAGE.
 */
int cli_rollback(const struct cli *cli, struct cfg *cfg, struct buf *err);

#endif
