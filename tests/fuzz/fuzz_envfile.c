/*
 * fuzz_envfile.c - libFuzzer target for the .env parser and the settings
 * validation behind it.
 *
 * Every input is parsed with envfile_parse() (over exactly the fuzzer's
 * bytes, so a read past the end is caught by ASan) and every pair is fed to
 * cfg_set(). Besides memory errors, it checks the promises callers rely on:
 * results are 0 or TW_ECONFIG, an error message is one non-empty line, and
 * the value of a secret key is never quoted in one.
 *
 * Build with cmake -DTW_FUZZ=ON (clang), then run, for example:
 *	./fuzz_envfile -runs=200000 tests/fuzz/corpus/envfile
 */
#include "core/compat.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_secret(const char *key)
{
	return !strcmp(key, "TW_SECRET_KEY") ||
	       !strcmp(key, "TW_DATABASE_URL") ||
	       !strcmp(key, "TW_ADMIN_PASSWORD");
}

static void check_message(const struct buf *err)
{
	if (!err->len || strchr(err->ptr, '\n') || strlen(err->ptr) != err->len)
		abort();
}

static int apply(void *ctx, const char *key, const char *value, int line)
{
	struct cfg *cfg = ctx;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	if (line < 1 || !key[0])
		abort();
	rc = cfg_set(cfg, key, value, ".env", &err);
	if (rc != 0 && rc != TW_ECONFIG)
		abort();
	if (rc == 0 && err.len)
		abort();
	if (rc < 0) {
		check_message(&err);
		/* A secret is only ever described, never quoted. */
		if (is_secret(key) && strstr(err.ptr, "got \""))
			abort();
	}
	buf_release(&err);
	/* Keep going: every pair is exercised. */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	cfg_init(&cfg);
	rc = envfile_parse((const char *)data, size, apply, &cfg, &err);
	if (rc != 0 && rc != TW_ECONFIG)
		abort();
	if (rc < 0) {
		check_message(&err);
		if (strncmp(err.ptr, "line ", 5) != 0)
			abort();
	}
	/* Whatever was accepted must satisfy the settings' invariants. */
	if (cfg.n_data_schemas < 1 || cfg.n_data_schemas > CFG_MAX_SCHEMAS ||
	    cfg.bind_port < 0 || cfg.bind_port > 65535 || !cfg.bind_host[0])
		abort();
	cfg_require(&cfg, CFG_NEED_DATABASE | CFG_NEED_SECRET, NULL);
	cfg_release(&cfg);
	buf_release(&err);
	return 0;
}
