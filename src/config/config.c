/*
 * config.c - defaults, validation and loading of Tablewright's settings.
 *
 * Every key is one row of cfg_keys[]: its name, the setter that validates
 * and stores it, the field it fills, a range for numbers, its default and
 * whether its value is secret. Adding a key is one row here, one field in
 * struct cfg and one line in docs/configuration.md. docs/internals/config.md
 * explains the design.
 */
#include "core/compat.h"
#include "config/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "platform/plat.h"

/* Longest value accepted from any source (the .env parser has the same). */
#define CFG_VALUE_MAX ((size_t)64 * 1024)
/* Largest .env file read. */
#define CFG_ENV_FILE_MAX ((size_t)1024 * 1024)
/* How much of a bad value an error message quotes. */
#define CFG_ECHO_MAX 120
/* Shortest acceptable TW_SECRET_KEY. */
#define CFG_SECRET_MIN 32
/* What a TW_SECRET_KEY must show of variety (secret_too_simple()). */
#define CFG_SECRET_MIN_BITS 80.0
#define CFG_SECRET_MIN_DISTINCT 8
#define CFG_SECRET_MAX_RUN 8

/* A bound that does not fit a 32-bit long (Windows) becomes LONG_MAX. */
#define CFG_LONG_CAP(v) ((v) > (long long)LONG_MAX ? LONG_MAX : (long)(v))

/*
 * One row per key. set validates value and stores it into cfg; on failure it
 * returns TW_ECONFIG and appends to why what was expected and what was got
 * (through add_got(), which knows not to quote secrets), leaving cfg as it
 * was.
 */
struct cfg_key {
	const char *name;
	int (*set)(struct cfg *cfg, const struct cfg_key *key,
		   const char *value, struct buf *why);
	size_t off;	 /* of the field in struct cfg (unused by some) */
	long min, max;	 /* for numbers */
	const char *def; /* default, applied by cfg_init(); NULL: unset */
	bool secret;	 /* never quoted in messages, wiped when freed */
};

static int set_database_url(struct cfg *, const struct cfg_key *, const char *,
			    struct buf *);
static int set_secret_key(struct cfg *, const struct cfg_key *, const char *,
			  struct buf *);
static int set_bind(struct cfg *, const struct cfg_key *, const char *,
		    struct buf *);
static int set_schemas(struct cfg *, const struct cfg_key *, const char *,
		       struct buf *);
static int set_ident(struct cfg *, const struct cfg_key *, const char *,
		     struct buf *);
static int set_level(struct cfg *, const struct cfg_key *, const char *,
		     struct buf *);
static int set_long(struct cfg *, const struct cfg_key *, const char *,
		    struct buf *);
static int set_path(struct cfg *, const struct cfg_key *, const char *,
		    struct buf *);
static int set_command(struct cfg *, const struct cfg_key *, const char *,
		       struct buf *);
static int set_email(struct cfg *, const struct cfg_key *, const char *,
		     struct buf *);
static int set_password(struct cfg *, const struct cfg_key *, const char *,
			struct buf *);

#define F(field) offsetof(struct cfg, field)

/* name, setter, field, min, max, default, secret */
static const struct cfg_key cfg_keys[] = {
	{ "TW_DATABASE_URL", set_database_url, F(database_url), 0, 0, NULL,
	  true },
	{ "TW_SECRET_KEY", set_secret_key, F(secret_key), 0, 0, NULL, true },
	{ "TW_BIND", set_bind, 0, 0, 0, "127.0.0.1:8080", false },
	{ "TW_DATA_SCHEMAS", set_schemas, 0, 0, 0, "public", false },
	{ "TW_OUTPUT_SCHEMA", set_ident, F(output_schema), 0, 0, "public",
	  false },
	{ "TW_APP_SCHEMA", set_ident, F(app_schema), 0, 0, "tablewright",
	  false },
	{ "TW_LOG_DIR", set_path, F(log_dir), 0, 0, "logs", false },
	{ "TW_LOG_LEVEL", set_level, F(log_level), 0, 0, "info", false },
	{ "TW_LOG_MAX_BYTES", set_long, F(log_max_bytes), 4096,
	  CFG_LONG_CAP(1LL << 40), "10485760", false },
	{ "TW_LOG_MAX_FILES", set_long, F(log_max_files), 1, 100, "5", false },
	{ "TW_SANDBOX_DIR", set_path, F(sandbox_dir), 0, 0, "sandbox_temp",
	  false },
	{ "TW_PYTHON", set_path, F(python), 0, 0, NULL, false },
	{ "TW_WEB_DIR", set_path, F(web_dir), 0, 0, "web/dist", false },
	{ "TW_PG_DIR", set_path, F(pg_dir), 0, 0, "var/pg", false },
	{ "TW_PG_BIN", set_path, F(pg_bin), 0, 0, NULL, false },
	{ "TW_JOB_TIMEOUT_S", set_long, F(job_timeout_s), 1, 86400, "60",
	  false },
	{ "TW_JOB_MEMORY_MB", set_long, F(job_memory_mb), 64, 1048576, "2048",
	  false },
	{ "TW_MAX_OUTPUT_ROWS", set_long, F(max_output_rows), 1,
	  CFG_LONG_CAP(1000000000000LL), "50000000", false },
	{ "TW_CHUNK_ROWS", set_long, F(chunk_rows), 1, 10000000, "100000",
	  false },
	{ "TW_KEEP_VERSIONS", set_long, F(keep_versions), 0, 100, "1", false },
	{ "TW_PREVIEW_TIMEOUT_S", set_long, F(preview_timeout_s), 1, 600, "20",
	  false },
	{ "TW_PREVIEW_POOL", set_long, F(preview_pool), 0, 64, "2", false },
	{ "TW_JOB_CPU_PERCENT", set_long, F(job_cpu_percent), 10, 100000, "150",
	  false },
	{ "TW_JOB_CPU_GRACE_S", set_long, F(job_cpu_grace_s), 0, 86400, "10",
	  false },
	{ "TW_JOB_LEASE_S", set_long, F(job_lease_s), 2, 3600, "30", false },
	{ "TW_JOB_MAX_ATTEMPTS", set_long, F(job_max_attempts), 1, 10, "1",
	  false },
	{ "TW_JOB_LOG_MAX_BYTES", set_long, F(job_log_max_bytes), 4096,
	  CFG_LONG_CAP(64LL << 20), "1048576", false },
	{ "TW_SANDBOX_COMMAND", set_command, F(sandbox_command), 0, 0, NULL,
	  false },
	{ "TW_SANDBOX_USER", set_path, F(sandbox_user), 0, 0, "nobody", false },
	{ "TW_WORKER_CONCURRENCY", set_long, F(worker_concurrency), 0, 256, "0",
	  false },
	{ "TW_WORKER_STOP_S", set_long, F(worker_stop_s), 0, 3600, "30",
	  false },
	{ "TW_MAX_QUEUED_PER_USER", set_long, F(max_queued_per_user), 1,
	  1000000, "100", false },
	{ "TW_MAX_STREAMS_PER_USER", set_long, F(max_streams_per_user), 1,
	  10000, "8", false },
	{ "TW_HTTP_THREADS", set_long, F(http_threads), 1, 256, "8", false },
	{ "TW_HTTP_MAX_CONNECTIONS_PER_ADDR", set_long,
	  F(http_max_connections_per_addr), 1, 512, "128", false },
	{ "TW_HTTP_HEAD_TIMEOUT_S", set_long, F(http_head_timeout_s), 1, 300,
	  "10", false },
	{ "TW_HTTP_BODY_TIMEOUT_S", set_long, F(http_body_timeout_s), 1, 3600,
	  "60", false },
	{ "TW_DB_POOL_SIZE", set_long, F(db_pool_size), 1, 200, "10", false },
	{ "TW_BCRYPT_COST", set_long, F(bcrypt_cost), 10, 14, "12", false },
	{ "TW_JWT_TTL_S", set_long, F(jwt_ttl_s), 60, 604800, "28800", false },
	{ "TW_LOGIN_MAX_FAILURES", set_long, F(login_max_failures), 1, 1000,
	  "5", false },
	{ "TW_LOGIN_WINDOW_S", set_long, F(login_window_s), 1, 86400, "900",
	  false },
	{ "TW_LOGIN_MAX_ADDRESS_FAILURES", set_long, F(login_max_addr_failures),
	  1, 100000, "50", false },
	{ "TW_LOGIN_MAX_DELAY_MS", set_long, F(login_max_delay_ms), 0, 10000,
	  "2000", false },
	{ "TW_ADMIN_EMAIL", set_email, F(admin_email), 0, 0, NULL, false },
	{ "TW_ADMIN_PASSWORD", set_password, F(admin_password), 0, 0, NULL,
	  true },
};

static char **str_field(struct cfg *cfg, const struct cfg_key *key)
{
	return (char **)(void *)((char *)cfg + key->off);
}

static long *long_field(struct cfg *cfg, const struct cfg_key *key)
{
	return (long *)(void *)((char *)cfg + key->off);
}

/* Replaces a string field with a copy of value. */
static void store_str(struct cfg *cfg, const struct cfg_key *key,
		      const char *value)
{
	char **field = str_field(cfg, key);

	if (key->secret)
		mem_free_secret(*field);
	else
		free(*field);
	*field = xstrdup(value);
}

/*
 * Appends s (at most max bytes of it) to b so that the result is one line of
 * printable ASCII: '"' and '\' are backslash-escaped, other bytes outside
 * 0x20..0x7e become \xNN, and a longer s ends in "...". For values.
 */
static void add_escaped(struct buf *b, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			buf_addf(b, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			buf_addf(b, "\\x%02x", c);
		else
			buf_addch(b, c);
	}
	if (s[i])
		buf_adds(b, "...");
}

/*
 * Appends s to b with only control characters escaped (\xNN), so a Windows
 * path or a UTF-8 file name stays readable and the message stays one line.
 * For key names and sources.
 */
static void add_plain(struct buf *b, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			buf_addf(b, "\\x%02x", c);
		else
			buf_addch(b, c);
	}
	if (s[i])
		buf_adds(b, "...");
}

/*
 * Appends ", got ..." to why: the value quoted and escaped, or for a secret
 * key only the fact that it was malformed, so a secret never reaches a log
 * or a terminal.
 */
static void add_got(struct buf *why, const struct cfg_key *key,
		    const char *value)
{
	if (!*value) {
		buf_adds(why, ", got an empty value");
	} else if (key->secret) {
		buf_adds(why, ", got a malformed value");
	} else {
		buf_adds(why, ", got \"");
		add_escaped(why, value, CFG_ECHO_MAX);
		buf_addch(why, '"');
	}
}

/* Fails with "expected <what>, got ...". Always returns TW_ECONFIG. */
static int expected(struct buf *why, const struct cfg_key *key,
		    const char *value, const char *what)
{
	buf_addf(why, "expected %s", what);
	add_got(why, key, value);
	return TW_ECONFIG;
}

static bool has_control(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

static int set_database_url(struct cfg *cfg, const struct cfg_key *key,
			    const char *value, struct buf *why)
{
	/* libpq accepts a URI or a key=value string; it checks the rest. */
	if (!*value || has_control(value) ||
	    !(str_starts_with(value, "postgresql://") ||
	      str_starts_with(value, "postgres://") || strchr(value, '=')))
		return expected(why, key, value,
				"a postgresql:// URL or a libpq connection "
				"string such as \"host=localhost "
				"dbname=tablewright\"");
	store_str(cfg, key, value);
	return 0;
}

static int set_secret_key(struct cfg *cfg, const struct cfg_key *key,
			  const char *value, struct buf *why)
{
	/* The length is checked by cfg_require(), which says how to fix it. */
	if (!*value || has_control(value))
		return expected(why, key, value,
				"a non-empty key of printable characters");
	store_str(cfg, key, value);
	return 0;
}

static bool is_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/*
 * Checks the inside of "[...]": hex digits, ':' and '.', at least one ':',
 * and an optional "%zone" of host characters.
 */
static bool ipv6_valid(const char *s, size_t n)
{
	size_t i;
	bool colon = false;

	for (i = 0; i < n && s[i] != '%'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ':')
			colon = true;
		else if (!isxdigit(c) && c != '.')
			return false;
	}
	if (i < n) {
		if (++i == n)
			return false;
		for (; i < n; i++) {
			if (!is_host_char((unsigned char)s[i]))
				return false;
		}
	}
	return colon;
}

/*
 * Parses TW_BIND: HOST:PORT, with an IPv6 host in brackets ([::1]:8080,
 * stored without the brackets) and a decimal port from 0 to 65535.
 */
static int set_bind(struct cfg *cfg, const struct cfg_key *key,
		    const char *value, struct buf *why)
{
	static const char general[] = "HOST:PORT with a port from 0 to 65535";
	static const char bad_host[] = "HOST:PORT with a host name or an IP "
				       "address (an IPv6 address "
				       "in brackets, as in [::1]:8080)";
	const char *host, *port, *p;
	size_t host_len, i;
	long port_num;

	if (*value == '[') {
		p = strchr(value, ']');
		if (!p)
			return expected(why, key, value, bad_host);
		host = value + 1;
		host_len = (size_t)(p - host);
		if (p[1] != ':')
			return expected(why, key, value, general);
		if (!ipv6_valid(host, host_len))
			return expected(why, key, value, bad_host);
		port = p + 2;
	} else {
		p = strrchr(value, ':');
		if (!p || p == value)
			return expected(why, key, value, general);
		host = value;
		host_len = (size_t)(p - value);
		for (i = 0; i < host_len; i++) {
			if (!is_host_char((unsigned char)host[i]))
				return expected(why, key, value, bad_host);
		}
		if (host_len > 253)
			return expected(why, key, value, bad_host);
		port = p + 1;
	}
	for (p = port; *p; p++) {
		if (*p < '0' || *p > '9')
			return expected(why, key, value, general);
	}
	if (p - port > 5 || str_to_long(port, 0, 65535, &port_num) < 0)
		return expected(why, key, value, general);

	free(cfg->bind_host);
	cfg->bind_host = xstrndup(host, host_len);
	cfg->bind_port = (int)port_num;
	return 0;
}

static bool is_list_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Parses TW_DATA_SCHEMAS: identifiers separated by commas (white space
 * around them allowed), at least one, at most CFG_MAX_SCHEMAS, no repeats.
 */
static int set_schemas(struct cfg *cfg, const struct cfg_key *key,
		       const char *value, struct buf *why)
{
	char *items[CFG_MAX_SCHEMAS];
	size_t n = 0, i, j;
	const char *p = value, *start, *end;
	int rc = 0;
	char what[128];

	snprintf(what, sizeof(what),
		 "a comma-separated list of at most %d SQL identifiers",
		 CFG_MAX_SCHEMAS);
	for (;;) {
		while (is_list_space(*p))
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && is_list_space(end[-1]))
			end--;
		if (n == CFG_MAX_SCHEMAS) {
			rc = expected(why, key, value, what);
			goto fail;
		}
		items[n++] = xstrndup(start, (size_t)(end - start));
		if (!str_ident_valid(items[n - 1])) {
			rc = expected(why, key, value, what);
			goto fail;
		}
		for (j = 0; j + 1 < n; j++) {
			if (!strcmp(items[j], items[n - 1])) {
				buf_addf(why, "schema \"%s\" is listed twice",
					 items[n - 1]);
				rc = TW_ECONFIG;
				goto fail;
			}
		}
		if (!*p)
			break;
		p++;
	}

	for (i = 0; i < cfg->n_data_schemas; i++)
		free(cfg->data_schemas[i]);
	for (i = 0; i < n; i++)
		cfg->data_schemas[i] = items[i];
	for (; i < CFG_MAX_SCHEMAS; i++)
		cfg->data_schemas[i] = NULL;
	cfg->n_data_schemas = n;
	return 0;

fail:
	for (i = 0; i < n; i++)
		free(items[i]);
	return rc;
}

static int set_ident(struct cfg *cfg, const struct cfg_key *key,
		     const char *value, struct buf *why)
{
	if (!str_ident_valid(value))
		return expected(why, key, value,
				"an SQL identifier (a letter or underscore, "
				"then letters, digits or underscores, at most "
				"63 in all)");
	store_str(cfg, key, value);
	return 0;
}

static int set_level(struct cfg *cfg, const struct cfg_key *key,
		     const char *value, struct buf *why)
{
	static const char *const levels[] = { "error", "warn", "info",
					      "debug" };
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(levels); i++) {
		if (str_eq_nocase(value, levels[i])) {
			store_str(cfg, key, levels[i]);
			return 0;
		}
	}
	return expected(why, key, value, "one of error, warn, info, debug");
}

static int set_long(struct cfg *cfg, const struct cfg_key *key,
		    const char *value, struct buf *why)
{
	long v;
	char what[96];

	if (str_to_long(value, key->min, key->max, &v) < 0) {
		snprintf(what, sizeof(what), "an integer from %ld to %ld",
			 key->min, key->max);
		return expected(why, key, value, what);
	}
	*long_field(cfg, key) = v;
	return 0;
}

static int set_path(struct cfg *cfg, const struct cfg_key *key,
		    const char *value, struct buf *why)
{
	if (!*value)
		return expected(why, key, value, "a non-empty path");
	store_str(cfg, key, value);
	return 0;
}

/*
 * A command line (TW_SANDBOX_COMMAND) split by plat_split_command()'s rule,
 * which the worker applies again when it starts: a quote left open is
 * refused here, when the settings are read, not when the first job runs.
 */
static int set_command(struct cfg *cfg, const struct cfg_key *key,
		       const char *value, struct buf *why)
{
	char **argv = NULL;
	int argc = 0;

	if (!*value)
		return expected(why, key, value, "a non-empty command");
	if (plat_split_command(value, &argv, &argc, NULL) < 0)
		return expected(why, key, value,
				"a command whose double quotes are closed");
	plat_argv_free(argv);
	store_str(cfg, key, value);
	return 0;
}

/*
 * A deliberately loose shape check (one '@', something on both sides, a dot
 * in the domain, no spaces or control characters): the address only names
 * the first administrator.
 */
static int set_email(struct cfg *cfg, const struct cfg_key *key,
		     const char *value, struct buf *why)
{
	const char *at = strchr(value, '@');
	const char *p;

	if (!at || at == value || strchr(at + 1, '@') || !at[1] ||
	    !strchr(at + 1, '.') || strlen(value) > 254)
		goto bad;
	for (p = value; *p; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			goto bad;
	}
	store_str(cfg, key, value);
	return 0;

bad:
	return expected(why, key, value,
			"an email address such as admin@example.com");
}

static int set_password(struct cfg *cfg, const struct cfg_key *key,
			const char *value, struct buf *why)
{
	if (!*value)
		return expected(why, key, value, "a non-empty password");
	store_str(cfg, key, value);
	return 0;
}

/* Whether the key's field is a char * that cfg owns. */
static bool key_is_string(const struct cfg_key *key)
{
	return key->set != set_long && key->set != set_bind &&
	       key->set != set_schemas;
}

static const struct cfg_key *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(cfg_keys); i++) {
		if (!strcmp(cfg_keys[i].name, name))
			return &cfg_keys[i];
	}
	return NULL;
}

/*
 * Case-insensitive Levenshtein distance of two short strings, for "did you
 * mean". Strings longer than 63 bytes are "far" (returns 99).
 */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t prev[64], cur[64];

	if (la > 63 || lb > 63)
		return 99;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] +
				     (tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? sub : del;
			if (ins < cur[j])
				cur[j] = ins;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

/* The known key closest to name, when it is a likely typo; else NULL. */
static const char *suggest_key(const char *name)
{
	const char *best = NULL;
	size_t best_d = 3, d, i;

	for (i = 0; i < TW_ARRAY_SIZE(cfg_keys); i++) {
		d = edit_distance(name, cfg_keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = cfg_keys[i].name;
		}
	}
	return best;
}

void cfg_init(struct cfg *cfg)
{
	struct buf why = BUF_INIT(BUF_SMALL_CAP);
	size_t i;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < TW_ARRAY_SIZE(cfg_keys); i++) {
		if (!cfg_keys[i].def)
			continue;
		rc = cfg_keys[i].set(cfg, &cfg_keys[i], cfg_keys[i].def, &why);
		if (rc < 0)
			TW_BUG("bad default for %s: %s", cfg_keys[i].name,
			       why.ptr);
	}
}

void cfg_release(struct cfg *cfg)
{
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(cfg_keys); i++) {
		const struct cfg_key *key = &cfg_keys[i];

		if (!key_is_string(key))
			continue;
		if (key->secret)
			mem_free_secret(*str_field(cfg, key));
		else
			free(*str_field(cfg, key));
	}
	free(cfg->bind_host);
	for (i = 0; i < cfg->n_data_schemas; i++)
		free(cfg->data_schemas[i]);
	memset(cfg, 0, sizeof(*cfg));
}

int cfg_set(struct cfg *cfg, const char *key, const char *value,
	    const char *source, struct buf *err)
{
	struct buf why = BUF_INIT(BUF_SMALL_CAP);
	struct buf where = BUF_INIT(BUF_SMALL_CAP);
	const struct cfg_key *k;
	const char *hint;
	int rc;

	if (!key || !value)
		TW_BUG("cfg_set without a key or a value");
	k = find_key(key);
	if (!k) {
		hint = suggest_key(key);
		if (!str_starts_with(key, "TW_"))
			buf_adds(&why, "not a Tablewright setting (those start "
				       "with TW_)");
		else
			buf_adds(&why, "unknown setting");
		if (hint)
			buf_addf(&why, "; did you mean %s?", hint);
		rc = TW_ECONFIG;
		goto out;
	}
	if (strlen(value) > CFG_VALUE_MAX) {
		buf_addf(&why, "expected at most %zu bytes, got %zu",
			 CFG_VALUE_MAX, strlen(value));
		rc = TW_ECONFIG;
		goto out;
	}
	rc = k->set(cfg, k, value, &why);

out:
	if (rc < 0 && err) {
		add_plain(&where, key, 64);
		if (source) {
			buf_adds(&where, " (");
			add_plain(&where, source, 1200);
			buf_addch(&where, ')');
		}
		buf_addf(err, "%s: %s", where.ptr, why.ptr);
	}
	buf_release(&where);
	buf_release(&why);
	return rc;
}

struct load_ctx {
	struct cfg *cfg;
	const char *path;
	struct buf *err;
};

/* Keys that look like Tablewright's, typos in case included. */
static bool looks_like_ours(const char *key)
{
	return (key[0] == 'T' || key[0] == 't') &&
	       (key[1] == 'W' || key[1] == 'w') && key[2] == '_';
}

/* envfile_parse() callback: applies one TW_ pair of the .env file. */
static int load_pair(void *vctx, const char *key, const char *value, int line)
{
	struct load_ctx *ctx = vctx;
	struct buf source = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	if (!looks_like_ours(key))
		return 0;
	add_plain(&source, ctx->path, 1000);
	buf_addf(&source, " line %d", line);
	rc = cfg_set(ctx->cfg, key, value, source.ptr, ctx->err);
	buf_release(&source);
	return rc;
}

/*
 * Reads and applies the .env file at path. A missing default file is
 * skipped; a missing named file is an error.
 */
static int load_env_file(struct cfg *cfg, const char *path, bool named,
			 struct buf *err)
{
	struct buf text = BUF_INIT(CFG_ENV_FILE_MAX);
	struct buf why = BUF_INIT(BUF_SMALL_CAP);
	struct buf shown = BUF_INIT(BUF_SMALL_CAP);
	struct load_ctx ctx = { cfg, path, err };
	int rc = 0;

	add_plain(&shown, path, 1000);
	if (!plat_is_file(path)) {
		if (plat_is_dir(path)) {
			buf_addf(&why, "it is a directory");
			rc = TW_ECONFIG;
		} else if (named) {
			buf_addf(&why, "no such file");
			rc = TW_ECONFIG;
		}
		if (rc < 0 && err)
			buf_addf(err, "could not read settings file \"%s\": %s",
				 shown.ptr, why.ptr);
		goto out;
	}
	rc = plat_read_file(path, &text, err);
	if (rc < 0)
		goto out;
	rc = envfile_parse(text.ptr, text.len, load_pair, &ctx, &why);
	if (rc < 0 && why.len && err)
		buf_addf(err, "%s %s", shown.ptr, why.ptr);
out:
	buf_release(&shown);
	buf_release(&why);
	/* The file holds secrets: do not leave them in freed memory. */
	buf_release_secret(&text);
	return rc;
}

/*
 * cfg_load() takes secrets (TW_DATABASE_URL, TW_SECRET_KEY,
 * TW_ADMIN_PASSWORD) out of the process environment once they are read:
 * plat_env_wipe() overwrites them in place and unsets them, so neither
 * /proc/<pid>/environ nor a child started later shows them. A second
 * cfg_load() in the same process therefore no longer sees them there.
 */
int cfg_load(struct cfg *cfg, const char *env_file, struct buf *err)
{
	const char *v;
	size_t i;
	int rc;

	rc = load_env_file(cfg, env_file ? env_file : ".env", env_file != NULL,
			   err);
	if (rc < 0)
		goto out;
	for (i = 0; i < TW_ARRAY_SIZE(cfg_keys); i++) {
		v = getenv(cfg_keys[i].name);
		if (!v)
			continue;
		rc = cfg_set(cfg, cfg_keys[i].name, v, "environment", err);
		if (rc < 0)
			goto out;
	}
out:
	/* Also when a setting failed, and when the .env file did. */
	for (i = 0; i < TW_ARRAY_SIZE(cfg_keys); i++) {
		if (cfg_keys[i].secret)
			plat_env_wipe(cfg_keys[i].name);
	}
	return rc;
}

/*
 * log2 of x >= 1 by repeated squaring, to about 1e-6: enough for the key
 * estimate below, and no libm (the Windows build would need it too).
 */
static double log2_of(double x)
{
	double r = 0, bit = 0.5;
	int i;

	while (x >= 2) {
		x /= 2;
		r += 1;
	}
	for (i = 0; i < 24; i++) {
		x *= x;
		if (x >= 2) {
			x /= 2;
			r += bit;
		}
		bit /= 2;
	}
	return r;
}

/*
 * Whether a secret key has too little variety to be a random key: fewer
 * than CFG_SECRET_MIN_BITS by the frequency of its characters (a key of
 * 32 random hex digits scores about 116 and at worst about 92 in 200,000
 * draws; "a" repeated scores 0), fewer than CFG_SECRET_MIN_DISTINCT
 * different characters, a run of CFG_SECRET_MAX_RUN characters in a
 * constant step ("aaaaaaaa", "01234567", "hgfedcba"), or the repetition of
 * a shorter block ("abcabcabc..."). It cannot prove a key random; it
 * refuses the keys people type instead of generating.
 */
static bool secret_too_simple(const char *key)
{
	size_t counts[256] = { 0 };
	size_t n = strlen(key), i, period, distinct = 0, stretch = 2;
	double bits;

	for (i = 0; i < n; i++)
		counts[(unsigned char)key[i]]++;
	bits = (double)n * log2_of((double)n);
	for (i = 0; i < 256; i++) {
		if (!counts[i])
			continue;
		distinct++;
		bits -= (double)counts[i] * log2_of((double)counts[i]);
	}
	if (bits < CFG_SECRET_MIN_BITS || distinct < CFG_SECRET_MIN_DISTINCT)
		return true;
	/* stretch: characters in the current run of one constant step. */
	for (i = 2; i < n; i++) {
		if (key[i] - key[i - 1] == key[i - 1] - key[i - 2])
			stretch++;
		else
			stretch = 2;
		if (stretch >= CFG_SECRET_MAX_RUN)
			return true;
	}
	for (period = 1; period <= n / 2; period++) {
		if (memcmp(key, key + period, n - period) == 0)
			return true;
	}
	return false;
}

/*
 * The schemas must keep Tablewright's own tables apart from data: the
 * explorer lists the data schemas and jobs write into the output schema,
 * so either one being the app schema (or PostgreSQL's own) would expose
 * or overwrite the users, jobs and login tables. Compared without regard
 * to case, so that no spelling slips past.
 */
static int check_schemas(const struct cfg *cfg, struct buf *err)
{
	const char *s = NULL, *key = NULL, *what = NULL;
	size_t i;

	for (i = 0; i <= cfg->n_data_schemas && !what; i++) {
		s = i < cfg->n_data_schemas ? cfg->data_schemas[i]
					    : cfg->output_schema;
		key = i < cfg->n_data_schemas ? "TW_DATA_SCHEMAS"
					      : "TW_OUTPUT_SCHEMA";
		if (!s)
			continue;
		if (cfg->app_schema && str_eq_nocase(s, cfg->app_schema))
			what = "Tablewright's own schema (TW_APP_SCHEMA)";
		else if (str_eq_nocase(s, "information_schema") ||
			 (tolower((unsigned char)s[0]) == 'p' &&
			  tolower((unsigned char)s[1]) == 'g' && s[2] == '_'))
			what = "one of PostgreSQL's own schemas";
	}
	if (!what)
		return 0;
	if (err)
		buf_addf(err,
			 "%s names \"%s\", which is %s: data and job output "
			 "must live in other schemas",
			 key, s, what);
	return TW_ECONFIG;
}

int cfg_require(const struct cfg *cfg, unsigned need, struct buf *err)
{
	int rc = TW_ECONFIG;

	if ((need & CFG_NEED_DATABASE) &&
	    (!cfg->database_url || !*cfg->database_url)) {
		if (err)
			buf_adds(err, "TW_DATABASE_URL is not set (put it in "
				      ".env or the environment, or run "
				      "`tablewright run` to use the embedded "
				      "database)");
		return rc;
	}
	if ((need & CFG_NEED_SECRET) &&
	    (!cfg->secret_key || !*cfg->secret_key)) {
		if (err)
			buf_adds(err, "TW_SECRET_KEY is not set (run "
				      "`tablewright init` to create .env with "
				      "a fresh key)");
		return rc;
	}
	if ((need & CFG_NEED_SECRET) &&
	    strlen(cfg->secret_key) < CFG_SECRET_MIN) {
		if (err)
			buf_adds(err, "TW_SECRET_KEY is too short: it needs at "
				      "least 32 characters (256 bits as 64 hex "
				      "digits are generated by `tablewright "
				      "init`)");
		return rc;
	}
	if ((need & CFG_NEED_SECRET) && secret_too_simple(cfg->secret_key)) {
		if (err)
			buf_adds(err, "TW_SECRET_KEY is too simple: it has too "
				      "few different characters or a repeated "
				      "or sequential pattern; use a random key "
				      "such as the 64 hex digits that "
				      "`tablewright init` writes to .env");
		return rc;
	}
	return check_schemas(cfg, err);
}
