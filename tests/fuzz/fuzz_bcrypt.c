/*
 * fuzz_bcrypt.c - libFuzzer target for auth_bcrypt_verify() and
 * auth_bcrypt_cost(), the parsers of stored hashes.
 *
 * An input is a hash string, a newline, then the password (no newline: the
 * whole input is a hash that is checked against the empty password). Each
 * part is copied into a buffer of its exact size, so a read past the end is
 * caught by ASan. Besides memory errors and undefined behaviour, it checks
 * the promises callers rely on: verify answers 0, TW_EUNAUTH or TW_EINVAL
 * only; TW_EINVAL exactly when auth_bcrypt_cost() says -1 (one parser);
 * a match only for a hash whose salt is written canonically. Inputs whose
 * cost parses above 6 are skipped, to keep every run fast.
 *
 * Build with cmake -DTW_FUZZ=ON (clang), then run, for example:
 *	./fuzz_bcrypt -runs=50000 tests/fuzz/corpus/bcrypt
 */
#include "core/compat.h"

#include "auth/auth.h"
#include "core/err.h"
#include "core/mem.h"

/* Every cost runs the same code; higher ones only take longer. */
#ifndef FUZZ_MAX_COST
#define FUZZ_MAX_COST 4
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hash_len = nl ? (size_t)(nl - data) : size;
	size_t pw_len = nl ? size - hash_len - 1 : 0;
	char *hash = xmalloc(hash_len + 1);
	char *pw = xmalloc(pw_len + 1);
	int cost, rc;

	memcpy(hash, data, hash_len);
	hash[hash_len] = '\0';
	if (pw_len)
		memcpy(pw, nl + 1, pw_len);
	pw[pw_len] = '\0';

	cost = auth_bcrypt_cost(hash);
	if (cost > FUZZ_MAX_COST)
		goto out;
	if (cost != -1 && cost < AUTH_BCRYPT_MIN_COST)
		abort();
	rc = auth_bcrypt_verify(pw, hash);
	if (rc != 0 && rc != TW_EUNAUTH && rc != TW_EINVAL)
		abort();
	if ((rc == TW_EINVAL) != (cost == -1))
		abort();
	if (rc == 0 &&
	    (strlen(hash) != AUTH_BCRYPT_HASH_LEN || !strchr(".Oeu", hash[28])))
		abort();

out:
	free(hash);
	free(pw);
	return 0;
}
