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
	/* TW_DATABASE_URL; NULL: unset */
	char *database_url;
	/* TW_SECRET_KEY, signs login tokens; NULL: unset */
	char *secret_key;
	/* TW_BIND, default 127.0.0.1:8080; port 0: any free port */
	char *bind_host;
	int bind_port;
	/* TW_DATA_SCHEMAS, default public */
	char *data_schemas[CFG_MAX_SCHEMAS];
	size_t n_data_schemas;
	/* TW_OUTPUT_SCHEMA, default public */
	char *output_schema;
	/* TW_APP_SCHEMA, default tablewright */
	char *app_schema;
	/* TW_LOG_DIR (default logs), TW_LOG_LEVEL (error|warn|info|debug,
	 * default info), TW_LOG_MAX_BYTES (10 MiB), TW_LOG_MAX_FILES (5) */
	char *log_dir;
	char *log_level;
	long log_max_bytes;
	long log_max_files;
	/* TW_SANDBOX_DIR, default sandbox_temp */
	char *sandbox_dir;
	/* TW_PYTHON; NULL: the sandbox venv's python */
	char *python;
	/* TW_WEB_DIR, default web/dist */
	char *web_dir;
	/* TW_PG_DIR: the embedded cluster, default var/pg */
	char *pg_dir;
	/* TW_PG_BIN: directory of initdb and pg_ctl; NULL: PATH and the usual
	 * install places */
	char *pg_bin;
	/* TW_JOB_TIMEOUT_S (60), TW_JOB_MEMORY_MB (2048),
	 * TW_MAX_OUTPUT_ROWS (50,000,000) */
	long job_timeout_s;
	long job_memory_mb;
	long max_output_rows;
	/* TW_CHUNK_ROWS (100,000): rows per batch through a chunked
	 * transform */
	long chunk_rows;
	/* TW_KEEP_VERSIONS (1): earlier versions of a replaced table kept for
	 * rollback */
	long keep_versions;
	/* TW_PREVIEW_TIMEOUT_S (20): the wall limit of one preview;
	 * TW_PREVIEW_POOL (2): runners the server keeps started for previews
	 * (0: start one per request) */
	long preview_timeout_s;
	long preview_pool;
	/* TW_JOB_CPU_PERCENT (150) sustained for TW_JOB_CPU_GRACE_S (10;
	 * 0: no runaway check) kills a job as cpu_limit */
	long job_cpu_percent;
	long job_cpu_grace_s;
	/* TW_JOB_LEASE_S (30): a running job whose heartbeat is older is
	 * recovered as worker_lost (or re-queued, TW_JOB_MAX_ATTEMPTS > 1) */
	long job_lease_s;
	long job_max_attempts;
	/* TW_JOB_LOG_MAX_BYTES (1 MiB): the cap on a job's stored log */
	long job_log_max_bytes;
	/* TW_SANDBOX_COMMAND: the child a job runs, words separated by
	 * spaces, double quotes grouping (plat_split_command); NULL: the
	 * Python sandbox runner */
	char *sandbox_command;
	/* TW_SANDBOX_USER (nobody): the user a worker running as root starts
	 * its sandbox children as (POSIX) */
	char *sandbox_user;
	/* TW_WORKER_CONCURRENCY; 0: the number of cores */
	long worker_concurrency;
	/* TW_WORKER_STOP_S (30): on shutdown, how long running jobs may go
	 * on before they are cancelled */
	long worker_stop_s;
	/* TW_MAX_QUEUED_PER_USER (100): queued jobs one user may have; one
	 * more is 429 */
	long max_queued_per_user;
	/* TW_MAX_STREAMS_PER_USER (8): open event streams per user; one more
	 * is 429 */
	long max_streams_per_user;
	/* TW_HTTP_THREADS (8), TW_DB_POOL_SIZE (10) */
	long http_threads;
	long db_pool_size;
	/* TW_HTTP_MAX_CONNECTIONS_PER_ADDR (128); TW_HTTP_HEAD_TIMEOUT_S (10)
	 * and TW_HTTP_BODY_TIMEOUT_S (60), deadlines for a request's head and
	 * body */
	long http_max_connections_per_addr;
	long http_head_timeout_s;
	long http_body_timeout_s;
	/* TW_BCRYPT_COST, 10 to 14, default 12 */
	long bcrypt_cost;
	/* TW_JWT_TTL_S: login token lifetime, default 8 h */
	long jwt_ttl_s;
	/* TW_LOGIN_MAX_FAILURES (5) failed logins per (email, client
	 * address), TW_LOGIN_MAX_ADDRESS_FAILURES (50) per client address,
	 * within TW_LOGIN_WINDOW_S (900) before 429; TW_LOGIN_MAX_DELAY_MS
	 * (2000) caps the slow-down of an email with many failures */
	long login_max_failures;
	long login_window_s;
	long login_max_addr_failures;
	long login_max_delay_ms;
	/* TW_ADMIN_EMAIL, TW_ADMIN_PASSWORD: the admin `init` creates */
	char *admin_email;
	char *admin_password;
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
 * cfg_require() fails with a message naming the first missing key; with
 * CFG_NEED_SECRET it checks the secret key's strength (at least 32
 * characters, and enough variety: no "aaaa...", "0123...", "abcabc..." or
 * few different characters). Always, it refuses a data or output schema
 * that is the app schema or one of PostgreSQL's own.
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
