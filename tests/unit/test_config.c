#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"

/* Every key cfg_load() reads from the environment. */
static const char *const all_keys[] = {
	"TW_DATABASE_URL",
	"TW_SECRET_KEY",
	"TW_BIND",
	"TW_DATA_SCHEMAS",
	"TW_OUTPUT_SCHEMA",
	"TW_APP_SCHEMA",
	"TW_LOG_DIR",
	"TW_LOG_LEVEL",
	"TW_LOG_MAX_BYTES",
	"TW_LOG_MAX_FILES",
	"TW_SANDBOX_DIR",
	"TW_PYTHON",
	"TW_WEB_DIR",
	"TW_PG_DIR",
	"TW_PG_BIN",
	"TW_JOB_TIMEOUT_S",
	"TW_JOB_MEMORY_MB",
	"TW_MAX_OUTPUT_ROWS",
	"TW_WORKER_CONCURRENCY",
	"TW_HTTP_THREADS",
	"TW_DB_POOL_SIZE",
	"TW_ADMIN_EMAIL",
	"TW_ADMIN_PASSWORD",
};

static void clear_env(void)
{
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(all_keys); i++)
		unsetenv(all_keys[i]);
}

/* Runs cfg_set on a fresh cfg and checks rc and the message. */
static void expect_set(const char *key, const char *value, int want_rc,
		       const char *want_err)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	cfg_init(&cfg);
	rc = cfg_set(&cfg, key, value, "test", &err);
	if (rc != want_rc || (want_err && strcmp(err.ptr, want_err) != 0))
		fail_msg("cfg_set(%s, \"%s\"): rc %d, err \"%s\"; want %d "
			 "\"%s\"",
			 key, value, rc, err.ptr, want_rc,
			 want_err ? want_err : "");
	if (rc == 0)
		assert_int_equal(err.len, 0);
	cfg_release(&cfg);
	buf_release(&err);
}

static void expect_ok(const char *key, const char *value)
{
	expect_set(key, value, 0, NULL);
}

static void expect_bad(const char *key, const char *value, const char *msg)
{
	expect_set(key, value, TW_ECONFIG, msg);
}

static void test_defaults(void **state)
{
	struct cfg cfg;

	(void)state;
	cfg_init(&cfg);
	assert_null(cfg.database_url);
	assert_null(cfg.secret_key);
	assert_string_equal(cfg.bind_host, "127.0.0.1");
	assert_int_equal(cfg.bind_port, 8080);
	assert_int_equal(cfg.n_data_schemas, 1);
	assert_string_equal(cfg.data_schemas[0], "public");
	assert_null(cfg.data_schemas[1]);
	assert_string_equal(cfg.output_schema, "public");
	assert_string_equal(cfg.app_schema, "tablewright");
	assert_string_equal(cfg.log_dir, "logs");
	assert_string_equal(cfg.log_level, "info");
	assert_int_equal(cfg.log_max_bytes, 10 * 1024 * 1024);
	assert_int_equal(cfg.log_max_files, 5);
	assert_string_equal(cfg.sandbox_dir, "sandbox_temp");
	assert_null(cfg.python);
	assert_string_equal(cfg.web_dir, "web/dist");
	assert_string_equal(cfg.pg_dir, "var/pg");
	assert_null(cfg.pg_bin);
	assert_int_equal(cfg.job_timeout_s, 60);
	assert_int_equal(cfg.job_memory_mb, 2048);
	assert_int_equal(cfg.max_output_rows, 50000000);
	assert_int_equal(cfg.worker_concurrency, 0);
	assert_int_equal(cfg.http_threads, 8);
	assert_int_equal(cfg.db_pool_size, 10);
	assert_null(cfg.admin_email);
	assert_null(cfg.admin_password);
	cfg_release(&cfg);
	/* Released twice is harmless: everything was reset. */
	cfg_release(&cfg);
}

static void test_bind(void **state)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *general = "expected HOST:PORT with a port from 0 to 65535";
	const char *host = "expected HOST:PORT with a host name or an IP "
			   "address (an IPv6 address in brackets, as in "
			   "[::1]:8080)";
	char want[512];
	static const char *const bad_general[] = {
		"localhost:http", "localhost", ":8080", "host:65536",
		"host:-1",	  "host:+80",  "host:", "[::1]8080",
		"host:080000",	  "[::1]",
	};
	static const char *const bad_host[] = { "::1:8080",  "a b:80",
						"[zz]:80",   "[]:80",
						"[::1%]:80", "[::1:80" };
	size_t i;

	(void)state;
	cfg_init(&cfg);
	assert_int_equal(cfg_set(&cfg, "TW_BIND", "0.0.0.0:0", "t", &err), 0);
	assert_string_equal(cfg.bind_host, "0.0.0.0");
	assert_int_equal(cfg.bind_port, 0);
	assert_int_equal(cfg_set(&cfg, "TW_BIND", "[::1]:65535", "t", &err), 0);
	assert_string_equal(cfg.bind_host, "::1");
	assert_int_equal(cfg.bind_port, 65535);
	assert_int_equal(
		cfg_set(&cfg, "TW_BIND", "[fe80::1%eth0]:80", "t", &err), 0);
	assert_string_equal(cfg.bind_host, "fe80::1%eth0");
	assert_int_equal(cfg_set(&cfg, "TW_BIND", "db-1.example.com:5000", "t",
				 &err),
			 0);
	assert_string_equal(cfg.bind_host, "db-1.example.com");
	/* A failure leaves the previous value in place. */
	assert_int_equal(cfg_set(&cfg, "TW_BIND", "x:y", "t", &err),
			 TW_ECONFIG);
	assert_string_equal(cfg.bind_host, "db-1.example.com");
	assert_int_equal(cfg.bind_port, 5000);
	cfg_release(&cfg);
	buf_release(&err);

	expect_bad("TW_BIND", "localhost:http",
		   "TW_BIND (test): expected HOST:PORT with a port from 0 to "
		   "65535, got \"localhost:http\"");
	for (i = 0; i < TW_ARRAY_SIZE(bad_general); i++) {
		snprintf(want, sizeof(want), "TW_BIND (test): %s, got \"%s\"",
			 general, bad_general[i]);
		expect_bad("TW_BIND", bad_general[i], want);
	}
	for (i = 0; i < TW_ARRAY_SIZE(bad_host); i++) {
		snprintf(want, sizeof(want), "TW_BIND (test): %s, got \"%s\"",
			 host, bad_host[i]);
		expect_bad("TW_BIND", bad_host[i], want);
	}
	expect_bad("TW_BIND", "",
		   "TW_BIND (test): expected HOST:PORT with a "
		   "port from 0 to 65535, got an empty value");
}

static void test_schemas(void **state)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf many = BUF_INIT(4096);
	const char *what = "TW_DATA_SCHEMAS (test): expected a comma-separated "
			   "list of at most 16 SQL identifiers, got ";
	char want[512];
	int i;

	(void)state;
	cfg_init(&cfg);
	assert_int_equal(cfg_set(&cfg, "TW_DATA_SCHEMAS", " sales , hr,_x9",
				 "t", &err),
			 0);
	assert_int_equal(cfg.n_data_schemas, 3);
	assert_string_equal(cfg.data_schemas[0], "sales");
	assert_string_equal(cfg.data_schemas[1], "hr");
	assert_string_equal(cfg.data_schemas[2], "_x9");
	assert_null(cfg.data_schemas[3]);
	for (i = 0; i < CFG_MAX_SCHEMAS; i++)
		buf_addf(&many, "%ss%d", i ? "," : "", i);
	assert_int_equal(cfg_set(&cfg, "TW_DATA_SCHEMAS", many.ptr, "t", &err),
			 0);
	assert_int_equal(cfg.n_data_schemas, CFG_MAX_SCHEMAS);
	buf_adds(&many, ",s99");
	assert_int_equal(cfg_set(&cfg, "TW_DATA_SCHEMAS", many.ptr, "t", &err),
			 TW_ECONFIG);
	assert_int_equal(cfg.n_data_schemas, CFG_MAX_SCHEMAS);
	assert_string_equal(cfg.data_schemas[15], "s15");
	cfg_release(&cfg);
	buf_release(&err);
	buf_release(&many);

	snprintf(want, sizeof(want), "%s\"a,,b\"", what);
	expect_bad("TW_DATA_SCHEMAS", "a,,b", want);
	snprintf(want, sizeof(want), "%s\"a,\"", what);
	expect_bad("TW_DATA_SCHEMAS", "a,", want);
	snprintf(want, sizeof(want), "%s\"public,my-schema\"", what);
	expect_bad("TW_DATA_SCHEMAS", "public,my-schema", want);
	snprintf(want, sizeof(want), "%san empty value", what);
	expect_bad("TW_DATA_SCHEMAS", "", want);
	expect_bad("TW_DATA_SCHEMAS", "a,b,a",
		   "TW_DATA_SCHEMAS (test): schema \"a\" is listed twice");
}

static void test_identifiers(void **state)
{
	const char *what = "expected an SQL identifier (a letter or "
			   "underscore, then letters, digits or underscores, "
			   "at most 63 in all)";
	char want[512];
	char long_name[65];

	(void)state;
	expect_ok("TW_OUTPUT_SCHEMA", "out_1");
	expect_ok("TW_APP_SCHEMA", "_tw");
	snprintf(want, sizeof(want), "TW_OUTPUT_SCHEMA (test): %s, got \"%s\"",
		 what, "1st");
	expect_bad("TW_OUTPUT_SCHEMA", "1st", want);
	snprintf(want, sizeof(want), "TW_APP_SCHEMA (test): %s, got \"%s\"",
		 what, "tw\\\"; drop");
	expect_bad("TW_APP_SCHEMA", "tw\"; drop", want);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	snprintf(want, sizeof(want), "TW_APP_SCHEMA (test): %s, got \"%s\"",
		 what, long_name);
	expect_bad("TW_APP_SCHEMA", long_name, want);
	long_name[63] = '\0';
	expect_ok("TW_APP_SCHEMA", long_name);
}

static void test_log_level(void **state)
{
	struct cfg cfg;

	(void)state;
	cfg_init(&cfg);
	assert_int_equal(cfg_set(&cfg, "TW_LOG_LEVEL", "DEBUG", "t", NULL), 0);
	assert_string_equal(cfg.log_level, "debug");
	assert_int_equal(cfg_set(&cfg, "TW_LOG_LEVEL", "warn", "t", NULL), 0);
	assert_string_equal(cfg.log_level, "warn");
	cfg_release(&cfg);
	expect_ok("TW_LOG_LEVEL", "error");
	expect_bad("TW_LOG_LEVEL", "verbose",
		   "TW_LOG_LEVEL (test): expected one of error, warn, info, "
		   "debug, got \"verbose\"");
	expect_bad("TW_LOG_LEVEL", "warning",
		   "TW_LOG_LEVEL (test): expected one of error, warn, info, "
		   "debug, got \"warning\"");
}

struct range {
	const char *key;
	long min, max;
	size_t off;
};

static void test_numbers(void **state)
{
	static const struct range ranges[] = {
		{ "TW_JOB_TIMEOUT_S", 1, 86400,
		  offsetof(struct cfg, job_timeout_s) },
		{ "TW_JOB_MEMORY_MB", 64, 1048576,
		  offsetof(struct cfg, job_memory_mb) },
		{ "TW_WORKER_CONCURRENCY", 0, 256,
		  offsetof(struct cfg, worker_concurrency) },
		{ "TW_HTTP_THREADS", 1, 256,
		  offsetof(struct cfg, http_threads) },
		{ "TW_DB_POOL_SIZE", 1, 200,
		  offsetof(struct cfg, db_pool_size) },
		{ "TW_LOG_MAX_FILES", 1, 100,
		  offsetof(struct cfg, log_max_files) },
		{ "TW_LOG_MAX_BYTES", 4096,
		  (long)((1LL << 40) > LONG_MAX ? LONG_MAX : (1LL << 40)),
		  offsetof(struct cfg, log_max_bytes) },
		{ "TW_MAX_OUTPUT_ROWS", 1,
		  (long)(1000000000000LL > LONG_MAX ? LONG_MAX
						    : 1000000000000LL),
		  offsetof(struct cfg, max_output_rows) },
	};
	char v[64], want[512];
	size_t i;
	struct cfg cfg;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(ranges); i++) {
		const struct range *r = &ranges[i];

		cfg_init(&cfg);
		snprintf(v, sizeof(v), "%ld", r->min);
		assert_int_equal(cfg_set(&cfg, r->key, v, "t", NULL), 0);
		assert_int_equal(*(long *)(void *)((char *)&cfg + r->off),
				 r->min);
		snprintf(v, sizeof(v), "%ld", r->max);
		assert_int_equal(cfg_set(&cfg, r->key, v, "t", NULL), 0);
		assert_int_equal(*(long *)(void *)((char *)&cfg + r->off),
				 r->max);
		cfg_release(&cfg);

		snprintf(v, sizeof(v), "%ld", r->min - 1);
		snprintf(want, sizeof(want),
			 "%s (test): expected an integer from %ld to %ld, got "
			 "\"%s\"",
			 r->key, r->min, r->max, v);
		expect_bad(r->key, v, want);
		snprintf(v, sizeof(v), "%lld", (long long)r->max + 1);
		snprintf(want, sizeof(want),
			 "%s (test): expected an integer from %ld to %ld, got "
			 "\"%s\"",
			 r->key, r->min, r->max, v);
		expect_bad(r->key, v, want);
		snprintf(want, sizeof(want),
			 "%s (test): expected an integer from %ld to %ld, got "
			 "\"12abc\"",
			 r->key, r->min, r->max);
		expect_bad(r->key, "12abc", want);
	}
	expect_bad("TW_JOB_TIMEOUT_S", " 5",
		   "TW_JOB_TIMEOUT_S (test): expected an integer from 1 to "
		   "86400, got \" 5\"");
	expect_bad("TW_JOB_TIMEOUT_S", "99999999999999999999999",
		   "TW_JOB_TIMEOUT_S (test): expected an integer from 1 to "
		   "86400, got \"99999999999999999999999\"");
}

static void test_paths_and_strings(void **state)
{
	static const char *const paths[] = { "TW_LOG_DIR", "TW_SANDBOX_DIR",
					     "TW_PYTHON",  "TW_WEB_DIR",
					     "TW_PG_DIR",  "TW_PG_BIN" };
	char want[256];
	size_t i;
	struct cfg cfg;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(paths); i++) {
		expect_ok(paths[i], "C:\\Program Files\\x y");
		snprintf(want, sizeof(want),
			 "%s (test): expected a non-empty path, got an empty "
			 "value",
			 paths[i]);
		expect_bad(paths[i], "", want);
	}
	cfg_init(&cfg);
	assert_int_equal(cfg_set(&cfg, "TW_PG_BIN",
				 "/usr/lib/postgresql/15/bin", "t", NULL),
			 0);
	assert_string_equal(cfg.pg_bin, "/usr/lib/postgresql/15/bin");
	assert_int_equal(cfg_set(&cfg, "TW_ADMIN_EMAIL", "admin@example.com",
				 "t", NULL),
			 0);
	assert_string_equal(cfg.admin_email, "admin@example.com");
	cfg_release(&cfg);

	expect_bad("TW_ADMIN_EMAIL", "admin",
		   "TW_ADMIN_EMAIL (test): expected an email address such as "
		   "admin@example.com, got \"admin\"");
	expect_bad("TW_ADMIN_EMAIL", "a@b@c.d",
		   "TW_ADMIN_EMAIL (test): expected an email address such as "
		   "admin@example.com, got \"a@b@c.d\"");
	expect_bad("TW_ADMIN_EMAIL", "a b@c.d",
		   "TW_ADMIN_EMAIL (test): expected an email address such as "
		   "admin@example.com, got \"a b@c.d\"");
	expect_ok("TW_DATABASE_URL", "postgresql://u:p@localhost/tw");
	expect_ok("TW_DATABASE_URL", "postgres://localhost");
	expect_ok("TW_DATABASE_URL", "host=/tmp dbname=tw");
	expect_ok("TW_SECRET_KEY", "short is fine here");
	expect_ok("TW_ADMIN_PASSWORD", "x");
}

/* An error about a secret key never contains the secret. */
static void test_secrets_not_echoed(void **state)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	(void)state;
	expect_bad("TW_DATABASE_URL", "mysql://root:hunter2@db",
		   "TW_DATABASE_URL (test): expected a postgresql:// URL or a "
		   "libpq connection string such as \"host=localhost "
		   "dbname=tablewright\", got a malformed value");
	expect_bad("TW_DATABASE_URL", "",
		   "TW_DATABASE_URL (test): expected a postgresql:// URL or a "
		   "libpq connection string such as \"host=localhost "
		   "dbname=tablewright\", got an empty value");
	expect_bad("TW_SECRET_KEY", "hunter2\nhunter2",
		   "TW_SECRET_KEY (test): expected a non-empty key of "
		   "printable "
		   "characters, got a malformed value");
	expect_bad("TW_ADMIN_PASSWORD", "",
		   "TW_ADMIN_PASSWORD (test): expected a non-empty password, "
		   "got an empty value");

	cfg_init(&cfg);
	assert_int_equal(cfg_set(&cfg, "TW_DATABASE_URL",
				 "postgresql://u:hunter2\x01@h/db", "t", &err),
			 TW_ECONFIG);
	assert_null(strstr(err.ptr, "hunter2"));
	assert_null(cfg.database_url);
	cfg_release(&cfg);
	buf_release(&err);
}

static void test_unknown_and_huge(void **state)
{
	struct buf big = BUF_INIT(128 * 1024);

	(void)state;
	expect_bad("TW_BINDD", "x",
		   "TW_BINDD (test): unknown setting; did you mean TW_BIND?");
	expect_bad("TW_LOGLEVEL", "x",
		   "TW_LOGLEVEL (test): unknown setting; did you mean "
		   "TW_LOG_LEVEL?");
	expect_bad("tw_bind", "x",
		   "tw_bind (test): not a Tablewright setting (those start "
		   "with TW_); did you mean TW_BIND?");
	expect_bad("TW_QUEUE", "redis://x", "TW_QUEUE (test): unknown setting");
	expect_bad("PATH", "/bin",
		   "PATH (test): not a Tablewright setting (those start with "
		   "TW_)");
	while (big.len <= 64 * 1024)
		buf_adds(&big, "abcdefgh");
	expect_bad("TW_LOG_DIR", big.ptr,
		   "TW_LOG_DIR (test): expected at most 65536 bytes, got "
		   "65544");
	buf_release(&big);
}

static void test_message_escapes_value(void **state)
{
	(void)state;
	expect_bad("TW_LOG_LEVEL", "a\nb\"c\\\x7f\xc3\xa9",
		   "TW_LOG_LEVEL (test): expected one of error, warn, info, "
		   "debug, got \"a\\x0ab\\\"c\\\\\\x7f\\xc3\\xa9\"");
}

static void test_source_null(void **state)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	(void)state;
	cfg_init(&cfg);
	assert_int_equal(cfg_set(&cfg, "TW_HTTP_THREADS", "0", NULL, &err),
			 TW_ECONFIG);
	assert_string_equal(err.ptr, "TW_HTTP_THREADS: expected an integer "
				     "from 1 to 256, got \"0\"");
	cfg_release(&cfg);
	buf_release(&err);
}

static void test_require(void **state)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	(void)state;
	cfg_init(&cfg);
	assert_int_equal(cfg_require(&cfg, 0, &err), 0);
	assert_int_equal(cfg_require(&cfg, CFG_NEED_DATABASE | CFG_NEED_SECRET,
				     &err),
			 TW_ECONFIG);
	assert_string_equal(err.ptr, "TW_DATABASE_URL is not set (put it in "
				     ".env or the "
				     "environment, or run `tablewright run` to "
				     "use the "
				     "embedded database)");
	buf_reset(&err);
	assert_int_equal(cfg_require(&cfg, CFG_NEED_SECRET, &err), TW_ECONFIG);
	assert_string_equal(err.ptr, "TW_SECRET_KEY is not set (run "
				     "`tablewright init` "
				     "to create .env with a fresh key)");
	buf_reset(&err);
	assert_int_equal(cfg_set(&cfg, "TW_SECRET_KEY",
				 "0123456789abcdef0123456789abcde", "t", &err),
			 0);
	assert_int_equal(cfg_require(&cfg, CFG_NEED_SECRET, &err), TW_ECONFIG);
	assert_string_equal(err.ptr, "TW_SECRET_KEY is too short: it needs at "
				     "least 32 "
				     "characters (256 bits as 64 hex digits "
				     "are "
				     "generated by `tablewright init`)");
	assert_null(strstr(err.ptr, "0123456789abcdef"));
	buf_reset(&err);
	/* 32 random hex digits: the shortest key that passes. */
	assert_int_equal(cfg_set(&cfg, "TW_SECRET_KEY",
				 "9f3c1be07a5d42e8b6c0f17a93d5e2b4", "t", &err),
			 0);
	assert_int_equal(cfg_require(&cfg, CFG_NEED_SECRET, &err), 0);
	assert_int_equal(cfg_set(&cfg, "TW_DATABASE_URL", "postgresql:///tw",
				 "t", &err),
			 0);
	assert_int_equal(cfg_require(&cfg, CFG_NEED_DATABASE | CFG_NEED_SECRET,
				     &err),
			 0);
	assert_int_equal(err.len, 0);
	cfg_release(&cfg);
	buf_release(&err);
}

/* Keys long enough but with too little variety are refused, unquoted. */
static void test_require_weak_secret(void **state)
{
	static const char *const weak[] = {
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"0123456789abcdef0123456789abcdef",
		"abcabcabcabcabcabcabcabcabcabcabcabc",
		"Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3",
		"zyxwvutsrqponmlkjihgfedcba9876543210",
		"ababababababababababababababababababababab",
		"x9Kq2mWp7Lz4Rt8v00000000000000000000000000",
	};
	static const char *const strong[] = {
		"9f3c1be07a5d42e8b6c0f17a93d5e2b4",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"q7M2tXv9Lr4KpZ8wN3bY6cH1jF5sD0gA-_uEoRiTnBl",
	};
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(weak); i++) {
		cfg_init(&cfg);
		assert_int_equal(
			cfg_set(&cfg, "TW_SECRET_KEY", weak[i], "t", &err), 0);
		assert_int_equal(cfg_require(&cfg, CFG_NEED_SECRET, &err),
				 TW_ECONFIG);
		assert_non_null(strstr(err.ptr, "TW_SECRET_KEY is too simple"));
		assert_non_null(strstr(err.ptr, "tablewright init"));
		assert_null(strstr(err.ptr, weak[i]));
		buf_reset(&err);
		cfg_release(&cfg);
	}
	for (i = 0; i < TW_ARRAY_SIZE(strong); i++) {
		cfg_init(&cfg);
		assert_int_equal(cfg_set(&cfg, "TW_SECRET_KEY", strong[i], "t",
					 &err),
				 0);
		assert_int_equal(cfg_require(&cfg, CFG_NEED_SECRET, &err), 0);
		cfg_release(&cfg);
	}
	buf_release(&err);
}

/* Data and output must never be the app schema or PostgreSQL's own. */
static void test_require_schemas(void **state)
{
	static const struct {
		const char *key, *value, *word;
	} bad[] = {
		{ "TW_OUTPUT_SCHEMA", "tablewright", "TW_APP_SCHEMA" },
		{ "TW_OUTPUT_SCHEMA", "TableWright", "TW_APP_SCHEMA" },
		{ "TW_DATA_SCHEMAS", "public, tablewright", "TW_APP_SCHEMA" },
		{ "TW_DATA_SCHEMAS", "pg_catalog", "PostgreSQL's own" },
		{ "TW_OUTPUT_SCHEMA", "information_schema",
		  "PostgreSQL's own" },
		{ "TW_OUTPUT_SCHEMA", "pg_toast", "PostgreSQL's own" },
		{ "TW_APP_SCHEMA", "public", "TW_APP_SCHEMA" },
	};
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(bad); i++) {
		cfg_init(&cfg);
		assert_int_equal(
			cfg_set(&cfg, bad[i].key, bad[i].value, "t", &err), 0);
		assert_int_equal(cfg_require(&cfg, 0, &err), TW_ECONFIG);
		assert_non_null(strstr(err.ptr, bad[i].word));
		assert_null(strchr(err.ptr, '\n'));
		buf_reset(&err);
		cfg_release(&cfg);
	}
	cfg_init(&cfg);
	assert_int_equal(cfg_set(&cfg, "TW_DATA_SCHEMAS", "public, sales", "t",
				 &err),
			 0);
	assert_int_equal(
		cfg_set(&cfg, "TW_OUTPUT_SCHEMA", "results", "t", &err), 0);
	assert_int_equal(cfg_require(&cfg, 0, &err), 0);
	cfg_release(&cfg);
	buf_release(&err);
}

/* --- envfile_parse ------------------------------------------------------ */

struct pairs {
	struct buf out;
	int stop_at; /* stop with rc 7 at this pair number; 0: never */
	int n;
};

/* Collects "line:KEY=VALUE|" for each pair. */
static int collect(void *ctx, const char *key, const char *value, int line)
{
	struct pairs *p = ctx;

	buf_addf(&p->out, "%d:%s=%s|", line, key, value);
	if (++p->n == p->stop_at)
		return 7;
	return 0;
}

/* Parses text (len bytes) and checks the collected pairs or the error. */
static void expect_parse_n(const char *text, size_t len, int want_rc,
			   const char *want)
{
	struct pairs p = { BUF_INIT(1024 * 1024), 0, 0 };
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	rc = envfile_parse(text, len, collect, &p, &err);
	if (rc != want_rc ||
	    (want && strcmp(want_rc ? err.ptr : p.out.ptr, want)))
		fail_msg("envfile_parse: rc %d, pairs \"%s\", err \"%s\"; "
			 "want %d \"%s\"",
			 rc, p.out.ptr, err.ptr, want_rc, want);
	buf_release(&p.out);
	buf_release(&err);
}

static void expect_parse(const char *text, int want_rc, const char *want)
{
	expect_parse_n(text, strlen(text), want_rc, want);
}

static void test_envfile_basics(void **state)
{
	(void)state;
	expect_parse("", 0, "");
	expect_parse("\n\n   \n\t\n", 0, "");
	expect_parse("A=1\nB=2", 0, "1:A=1|2:B=2|");
	expect_parse("# comment\n  # indented comment\nA=1\n", 0, "3:A=1|");
	expect_parse("A=1 # comment\nB=x#y\nC= #only a comment\nD=#x\n", 0,
		     "1:A=1|2:B=x#y|3:C=|4:D=#x|");
	expect_parse("A =  spaced value  \t\nB\t=\tv\n", 0,
		     "1:A=spaced value|2:B=v|");
	expect_parse("export A=1\nexport\tB=2\nexport=3\n", 0,
		     "1:A=1|2:B=2|3:export=3|");
	expect_parse("A=\nB=''\nC=\"\"\n", 0, "1:A=|2:B=|3:C=|");
	expect_parse("_k9=v", 0, "1:_k9=v|");
	expect_parse("URL=postgresql://u:p@h/db?sslmode=require", 0,
		     "1:URL=postgresql://u:p@h/db?sslmode=require|");
}

static void test_envfile_quotes(void **state)
{
	(void)state;
	expect_parse("A='a #b \\n \"c\"'\n", 0, "1:A=a #b \\n \"c\"|");
	expect_parse("A=\"x\\ny\\tz\\\\w\\\"q\" # c\n", 0,
		     "1:A=x\ny\tz\\w\"q|");
	expect_parse("A=\"#not a comment\"", 0, "1:A=#not a comment|");
	expect_parse("A=\"v\"#c", 0, "1:A=v|");
	expect_parse("A=\"v\"x", TW_ECONFIG,
		     "line 1: unexpected text after the closing quote");
	expect_parse("A='v' x", TW_ECONFIG,
		     "line 1: unexpected text after the closing quote");
	expect_parse("A=1\nB=2\n\n\nC=\"abc\n", TW_ECONFIG,
		     "line 5: unterminated double-quoted value");
	expect_parse("C=\"abc\\\"", TW_ECONFIG,
		     "line 1: unterminated double-quoted value");
	expect_parse("C=\"abc\\", TW_ECONFIG,
		     "line 1: unterminated double-quoted value");
	expect_parse("X=1\nC='abc\n'", TW_ECONFIG,
		     "line 2: unterminated single-quoted value");
	expect_parse("C=\"C:\\Users\"", TW_ECONFIG,
		     "line 1: unknown escape sequence in a double-quoted "
		     "value (use \\n, \\t, \\\\ or \\\"; or single quotes for "
		     "a literal value)");
	/* Quotes inside a bare value are literal. */
	expect_parse("A=it's\n", 0, "1:A=it's|");
}

static void test_envfile_line_endings(void **state)
{
	(void)state;
	expect_parse("A=1\r\nB=\"2\"\r\nC='3' \r\n# c\r\n\r\n", 0,
		     "1:A=1|2:B=2|3:C=3|");
	expect_parse("\xEF\xBB\xBF"
		     "A=1\n",
		     0, "1:A=1|");
	/* A BOM anywhere else is not white space. */
	expect_parse("A=1\n\xEF\xBB\xBF"
		     "B=2\n",
		     TW_ECONFIG, "line 2: expected KEY=VALUE");
	expect_parse("A=1\nB=2", 0, "1:A=1|2:B=2|");
	expect_parse("A=1\n\n", 0, "1:A=1|");
}

static void test_envfile_errors(void **state)
{
	struct buf big = BUF_INIT(200 * 1024);
	char text[300];

	(void)state;
	expect_parse("A=1\njust words\n", TW_ECONFIG,
		     "line 2: expected KEY=VALUE");
	expect_parse("1A=x", TW_ECONFIG, "line 1: expected KEY=VALUE");
	expect_parse("TW-BIND=x", TW_ECONFIG, "line 1: expected KEY=VALUE");
	expect_parse("=x", TW_ECONFIG, "line 1: expected KEY=VALUE");
	expect_parse("export \n", TW_ECONFIG, "line 1: expected KEY=VALUE");
	expect_parse("A\n", TW_ECONFIG, "line 1: expected KEY=VALUE");
	/* The line is never quoted: it may hold a secret. */
	expect_parse("TW_SECRET_KEY hunter2", TW_ECONFIG,
		     "line 1: expected KEY=VALUE");
	expect_parse_n("A=1\nB=x\0y\n", 10, TW_ECONFIG,
		       "line 2: the file contains a NUL byte");
	expect_parse_n("\0", 1, TW_ECONFIG,
		       "line 1: the file contains a NUL byte");

	memset(text, 'K', 129);
	memcpy(text + 129, "=v", 3);
	expect_parse(text, TW_ECONFIG,
		     "line 1: key is longer than 128 characters");
	text[128] = '=';
	text[129] = 'v';
	text[130] = '\0';
	expect_parse(text, 0, NULL);

	buf_adds(&big, "A=");
	while (big.len < 64 * 1024 + 2)
		buf_addch(&big, 'v');
	expect_parse_n(big.ptr, big.len, 0, NULL);
	buf_addch(&big, 'v');
	expect_parse(big.ptr, TW_ECONFIG,
		     "line 1: value is longer than 65536 bytes");
	buf_reset(&big);
	buf_adds(&big, "A=\"");
	while (big.len < 64 * 1024 + 10)
		buf_addch(&big, 'v');
	buf_addch(&big, '"');
	expect_parse(big.ptr, TW_ECONFIG,
		     "line 1: value is longer than 65536 bytes");
	buf_release(&big);
}

static void test_envfile_callback_stops(void **state)
{
	struct pairs p = { BUF_INIT(1024), 2, 0 };
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	(void)state;
	assert_int_equal(
		envfile_parse("A=1\nB=2\nC=3\n", 12, collect, &p, &err), 7);
	assert_string_equal(p.out.ptr, "1:A=1|2:B=2|");
	assert_int_equal(err.len, 0);
	/* Bytes past len are never read. */
	buf_reset(&p.out);
	p.stop_at = 0;
	assert_int_equal(envfile_parse("A=1\nB=2", 6, collect, &p, &err), 0);
	assert_string_equal(p.out.ptr, "1:A=1|2:B=|");
	assert_int_equal(envfile_parse(NULL, 0, collect, &p, &err), 0);
	buf_release(&p.out);
	buf_release(&err);
}

/* --- cfg_load ----------------------------------------------------------- */

static char tmpdir[256];
static char oldcwd[4096];

static int enter_tmpdir(void **state)
{
	(void)state;
	clear_env();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tw_test_config_XXXXXX");
	if (!mkdtemp(tmpdir) || !getcwd(oldcwd, sizeof(oldcwd)) ||
	    chdir(tmpdir) != 0)
		return -1;
	return 0;
}

static int leave_tmpdir(void **state)
{
	(void)state;
	clear_env();
	unlink(".env");
	unlink("other.env");
	rmdir("dir.env");
	if (chdir(oldcwd) != 0)
		return -1;
	return rmdir(tmpdir);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
}

static void test_load_without_env_file(void **state)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	(void)state;
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, NULL, &err), 0);
	assert_int_equal(cfg.bind_port, 8080);
	assert_int_equal(cfg_load(&cfg, "missing.env", &err), TW_ECONFIG);
	assert_string_equal(err.ptr, "could not read settings file "
				     "\"missing.env\": no such file");
	buf_reset(&err);
	assert_int_equal(mkdir("dir.env", 0700), 0);
	assert_int_equal(cfg_load(&cfg, "dir.env", &err), TW_ECONFIG);
	assert_string_equal(err.ptr, "could not read settings file "
				     "\"dir.env\": it is a directory");
	cfg_release(&cfg);
	buf_release(&err);
}

static void test_load_precedence(void **state)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	(void)state;
	write_text(".env", "\xEF\xBB\xBF# settings\r\n"
			   "export TW_BIND=0.0.0.0:9000\r\n"
			   "TW_LOG_LEVEL='debug'\r\n"
			   "TW_HTTP_THREADS=\"4\" # four\r\n"
			   "PGPASSWORD=ignored\r\n"
			   "TW_APP_SCHEMA=from_env_file");
	setenv("TW_BIND", "127.0.0.2:9001", 1);
	setenv("TW_NOT_A_KEY", "ignored in the environment", 1);
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, NULL, &err), 0);
	assert_string_equal(err.ptr, "");
	assert_string_equal(cfg.bind_host, "127.0.0.2");
	assert_int_equal(cfg.bind_port, 9001);
	assert_string_equal(cfg.log_level, "debug");
	assert_int_equal(cfg.http_threads, 4);
	assert_string_equal(cfg.app_schema, "from_env_file");
	cfg_release(&cfg);

	/* A named file replaces .env. */
	write_text("other.env", "TW_HTTP_THREADS=2\n");
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, "other.env", &err), 0);
	assert_int_equal(cfg.http_threads, 2);
	assert_string_equal(cfg.log_level, "info");
	cfg_release(&cfg);
	unsetenv("TW_NOT_A_KEY");
	buf_release(&err);
}

static void test_load_errors(void **state)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	(void)state;
	write_text(".env", "TW_BIND=0.0.0.0:9000\n\nTW_BINDD=1\n");
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, NULL, &err), TW_ECONFIG);
	assert_string_equal(err.ptr, "TW_BINDD (.env line 3): unknown setting; "
				     "did you mean TW_BIND?");
	cfg_release(&cfg);

	buf_reset(&err);
	write_text(".env",
		   "TW_BIND=0.0.0.0:9000\n\n\nTW_BIND=localhost:http\n");
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, NULL, &err), TW_ECONFIG);
	assert_string_equal(err.ptr, "TW_BIND (.env line 4): expected "
				     "HOST:PORT with a "
				     "port from 0 to 65535, got "
				     "\"localhost:http\"");
	cfg_release(&cfg);

	buf_reset(&err);
	write_text(".env", "TW_BIND=0.0.0.0:9000\n\nTW_SECRET_KEY hunter2\n");
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, NULL, &err), TW_ECONFIG);
	assert_string_equal(err.ptr, ".env line 3: expected KEY=VALUE");
	cfg_release(&cfg);

	buf_reset(&err);
	write_text("other.env", "TW_SECRET_KEY=\"unterminated hunter2\n");
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, "other.env", &err), TW_ECONFIG);
	assert_string_equal(err.ptr, "other.env line 1: unterminated "
				     "double-quoted value");
	cfg_release(&cfg);

	/* The environment is checked as strictly as the file. */
	buf_reset(&err);
	unlink(".env");
	setenv("TW_JOB_TIMEOUT_S", "0", 1);
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, NULL, &err), TW_ECONFIG);
	assert_string_equal(err.ptr, "TW_JOB_TIMEOUT_S (environment): expected "
				     "an "
				     "integer from 1 to 86400, got \"0\"");
	cfg_release(&cfg);
	unsetenv("TW_JOB_TIMEOUT_S");

	buf_reset(&err);
	setenv("TW_DATABASE_URL", "mysql://root:hunter2@db", 1);
	cfg_init(&cfg);
	assert_int_equal(cfg_load(&cfg, NULL, &err), TW_ECONFIG);
	assert_null(strstr(err.ptr, "hunter2"));
	assert_non_null(strstr(err.ptr, "TW_DATABASE_URL (environment): "));
	cfg_release(&cfg);
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bind),
		cmocka_unit_test(test_schemas),
		cmocka_unit_test(test_identifiers),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_paths_and_strings),
		cmocka_unit_test(test_secrets_not_echoed),
		cmocka_unit_test(test_unknown_and_huge),
		cmocka_unit_test(test_message_escapes_value),
		cmocka_unit_test(test_source_null),
		cmocka_unit_test(test_require),
		cmocka_unit_test(test_require_weak_secret),
		cmocka_unit_test(test_require_schemas),
		cmocka_unit_test(test_envfile_basics),
		cmocka_unit_test(test_envfile_quotes),
		cmocka_unit_test(test_envfile_line_endings),
		cmocka_unit_test(test_envfile_errors),
		cmocka_unit_test(test_envfile_callback_stops),
		cmocka_unit_test_setup_teardown(test_load_without_env_file,
						enter_tmpdir, leave_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_precedence,
						enter_tmpdir, leave_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_errors, enter_tmpdir,
						leave_tmpdir),
	};

	clear_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
