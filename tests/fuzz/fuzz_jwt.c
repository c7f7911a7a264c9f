/*
 * fuzz_jwt.c - libFuzzer target for auth_jwt_decode() (src/auth/jwt.c).
 *
 * Each input is decoded twice, under a fixed key at a fixed time:
 *
 *  1. as a token, byte for byte (an interior NUL ends it, as it would a C
 *     string), which exercises the shape, base64url, header and signature
 *     checks;
 *  2. when it contains a newline, as "HEADER-JSON\nPAYLOAD-JSON": both parts
 *     are base64url-encoded and signed with the key here, so the payload
 *     parser is reached, which a random token almost never does.
 *
 * Besides memory errors and undefined behaviour, it checks the promises
 * callers rely on: the answer is 0 or TW_EUNAUTH; a refusal comes with one
 * non-empty line of printable ASCII and zeroed claims; an acceptance leaves
 * err empty, and re-encoding the claims gives a token that decodes to the
 * same claims.
 *
 * Build with cmake -DTW_FUZZ=ON (clang), then run, for example:
 *	./fuzz_jwt -runs=200000 -max_len=4096 tests/fuzz/corpus/jwt
 */
#include "core/compat.h"

#include <sodium.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

#define FUZZ_KEY "fuzz-key-for-tablewright-0123456789abcdef"
#define FUZZ_NOW INT64_C(1700000100)
#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const struct buf *err)
{
	size_t i;

	if (!err->len || strlen(err->ptr) != err->len)
		abort();
	for (i = 0; i < err->len; i++) {
		unsigned char c = (unsigned char)err->ptr[i];

		if (c < 0x20 || c >= 0x7f)
			abort();
	}
}

static bool same_claims(const struct auth_claims *a,
			const struct auth_claims *b)
{
	return a->sub == b->sub && !strcmp(a->role, b->role) &&
	       a->iat == b->iat && a->exp == b->exp && a->tv == b->tv;
}

static void check_decode(const char *token)
{
	static const struct auth_claims zero;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf again = BUF_INIT(AUTH_JWT_MAX_LEN);
	struct auth_claims c, d;
	int rc;

	memset(&c, 0x5a, sizeof(c));
	rc = auth_jwt_decode(token, FUZZ_KEY, strlen(FUZZ_KEY), FUZZ_NOW, &c,
			     &err);
	if (rc != 0 && rc != TW_EUNAUTH)
		abort();
	if (rc < 0) {
		check_message(&err);
		if (memcmp(&c, &zero, sizeof(c)) != 0)
			abort();
		goto out;
	}
	if (err.len || !auth_role_bit(c.role) || c.sub <= 0 || c.exp <= c.iat)
		abort();
	/* What we accept, we can issue again, and it means the same. */
	if (auth_jwt_encode(&c, FUZZ_KEY, strlen(FUZZ_KEY), &again, NULL) != 0)
		abort();
	if (auth_jwt_decode(again.ptr, FUZZ_KEY, strlen(FUZZ_KEY), FUZZ_NOW, &d,
			    NULL) != 0)
		abort();
	if (!same_claims(&c, &d))
		abort();
out:
	buf_release(&again);
	buf_release(&err);
}

static void b64_add(struct buf *b, const void *bin, size_t len)
{
	size_t enc = sodium_base64_ENCODED_LEN(len, VARIANT);
	char *tmp = xmalloc(enc);

	sodium_bin2base64(tmp, enc, bin, len, VARIANT);
	buf_adds(b, tmp);
	free(tmp);
}

/* "HEADER\nPAYLOAD" -> a token with a valid HS256 signature. */
static void check_signed(const uint8_t *data, size_t size, size_t nl)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	struct buf tok = BUF_INIT((size_t)1 << 16);

	b64_add(&tok, data, nl);
	buf_addch(&tok, '.');
	b64_add(&tok, data + nl + 1, size - nl - 1);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)FUZZ_KEY,
				    strlen(FUZZ_KEY));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok.ptr,
				      tok.len);
	crypto_auth_hmacsha256_final(&st, mac);
	buf_addch(&tok, '.');
	b64_add(&tok, mac, sizeof(mac));
	check_decode(tok.ptr);
	buf_release(&tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const uint8_t *nl;
	char *token;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = true;
	}
	/* Exactly the fuzzer's bytes plus a NUL, so overreads are caught. */
	token = xmalloc(size + 1);
	if (size)
		memcpy(token, data, size);
	token[size] = '\0';
	check_decode(token);
	free(token);

	nl = size ? memchr(data, '\n', size) : NULL;
	if (nl)
		check_signed(data, size, (size_t)(nl - data));
	return 0;
}
