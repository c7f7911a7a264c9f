/*
 * config.h - Tablewright's settings.
 *
 * Precedence, lowest first: built-in defaults, the .env file (in the working
 * directory, or the one named by --env-file), the process environment, then
 * command-line flags. Every key is prefixed TW_. A malformed value stops
 * start-up: cfg_set() fails with one line that names the key, the value's
 * source and what was expected. docs/configuration.md lists every key.
 */
#ifndef TW_CONFIG_CONFIG_H
#define TW_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define CFG_MAX_SCHEMAS 16

struct cfg {
	char *database_url; /* TW_DATABASE_URL; NULL: unset */
	char *secret_key;   /* TW_SECRET_KEY; NULL: unset */
	char *bind_host;    /* TW_BIND host part, default 127.0.0.1 */
	int bind_port;	    /* TW_BIND port part, default 8080; 0: any */
	char *data_schemas[CFG_MAX_SCHEMAS]; /* TW_DATA_SCHEMAS, default public
					      */
	size_t n_data_schemas;
	char *output_schema; /* TW_OUTPUT_SCHEMA, default public */
	char *app_schema;    /* TW_APP_SCHEMA, default tablewright */
	char *log_dir;	     /* TW_LOG_DIR, default logs */
	char *log_level; /* TW_LOG_LEVEL: error|warn|info|debug, default info */
	long log_max_bytes;   /* TW_LOG_MAX_BYTES, default 10 MiB */
	long log_max_files;   /* TW_LOG_MAX_FILES, default 5 */
	char *sandbox_dir;    /* TW_SANDBOX_DIR, default sandbox_temp */
	char *python;	      /* TW_PYTHON; NULL: the sandbox venv's python */
	char *web_dir;	      /* TW_WEB_DIR, default web/dist */
	char *pg_dir;	      /* TW_PG_DIR: embedded cluster, default var/pg */
	long job_timeout_s;   /* TW_JOB_TIMEOUT_S, default 60 */
	long job_memory_mb;   /* TW_JOB_MEMORY_MB, default 2048 */
	long max_output_rows; /* TW_MAX_OUTPUT_ROWS, default 50,000,000 */
	long worker_concurrency; /* TW_WORKER_CONCURRENCY; 0: number of cores */
	long http_threads;	 /* TW_HTTP_THREADS, default 8 */
	long db_pool_size;	 /* TW_DB_POOL_SIZE, default 10 */
	char *admin_email;	 /* TW_ADMIN_EMAIL, used by init */
	char *admin_password;	 /* TW_ADMIN_PASSWORD, used by init */
	char *pg_bin;		 /* TW_PG_BIN: directory of initdb and pg_ctl;
				  * NULL: PATH and the usual install places */
};

/* Fills cfg with the built-in defaults. Release with cfg_release(). */
void cfg_init(struct cfg *cfg);
void cfg_release(struct cfg *cfg);

/*
 * cfg_set() validates and stores one setting. source names where it came
 * from (".env line 4", "environment", "--bind") for the error message.
 * An unknown TW_ key is TW_ECONFIG. Returns 0 or TW_ECONFIG with err set to
 * one line such as:
 *   TW_BIND (environment): expected HOST:PORT with a port from 0 to 65535,
 *   got "localhost:http"
 */
int cfg_set(struct cfg *cfg, const char *key, const char *value,
	    const char *source, struct buf *err);

/*
 * cfg_load() applies the .env file and then the environment over the
 * defaults already in cfg. env_file NULL means ".env" in the working
 * directory, which may be absent; a file named explicitly must exist.
 * Unknown TW_ keys in the .env file are errors (typos must not pass
 * silently); in the environment they are ignored.
 */
int cfg_load(struct cfg *cfg, const char *env_file, struct buf *err);

/* What a command needs; checked by cfg_require(). */
enum cfg_need {
	CFG_NEED_DATABASE = 1 << 0,
	CFG_NEED_SECRET = 1 << 1,
};

/*
 * cfg_require() fails with a message naming the first missing key, and
 * checks the secret key's strength (at least 32 characters).
 */
int cfg_require(const struct cfg *cfg, unsigned need, struct buf *err);

/*
 * envfile_parse() parses .env text: KEY=VALUE lines, blank lines and #
 * comments, an optional "export " prefix, values bare (trailing white space
 * and " #comment" removed), 'single-quoted' (literal) or "double-quoted"
 * (with \n \t \\ \" escapes). Keys match [A-Za-z_][A-Za-z0-9_]*. cb is
 * called for each pair in order; a nonzero return stops parsing and is
 * returned. A syntax error returns TW_ECONFIG with "line N: ..." in err.
 * Text containing a NUL byte is rejected.
 */
int envfile_parse(const char *text, size_t len,
		  int (*cb)(void *ctx, const char *key, const char *value,
			    int line),
		  void *ctx, struct buf *err);

#endif
