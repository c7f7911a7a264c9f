/*
 * test_jwt.c - HS256 login tokens (src/auth/jwt.c).
 *
 * Tokens for the refusal cases are built here from JSON texts with the
 * test's own base64url and HMAC helpers, so each case says exactly which
 * header and payload it sends. Known-answer tokens were computed with
 * Python's hmac and base64 modules (and checked with PyJWT), independently
 * of this code; tests/integration/test_jwt_pyjwt.py cross-checks many more.
 */
#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define KEY "tablewright-unit-test-key-0123456789abcdef"
#define KEY_LEN (sizeof(KEY) - 1)
/* "now" of every decode below; iat is 100 s before, exp an hour after. */
#define NOW INT64_C(1700000100)
#define I64MAX "9223372036854775807"

#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
/* The defaults of the payload's time claims, as JSON texts. */
#define IAT0 "1700000000"
#define EXP0 "1700003700"
#define CLAIMS_TAIL "\"iat\":" IAT0 ",\"exp\":" EXP0 ",\"tv\":3"
#define PAYLOAD "{\"sub\":\"42\",\"role\":\"analyst\"," CLAIMS_TAIL "}"
/* Payloads varying one thing; the arguments are JSON texts. */
#define SUB_ROLE(sub, role) \
	"{\"sub\":" sub ",\"role\":" role "," CLAIMS_TAIL "}"
#define WITH_SUB(sub) SUB_ROLE(sub, "\"analyst\"")
#define WITH_ROLE(role) SUB_ROLE("\"42\"", role)
#define TIMES(t) "{\"sub\":\"42\",\"role\":\"analyst\"," t "}"
#define IET(iat, exp, tv) TIMES("\"iat\":" iat ",\"exp\":" exp ",\"tv\":" tv)
/* PAYLOAD with more members before the claims. */
#define MAX_PAYLOAD                                                            \
	"{\"sub\":\"" I64MAX "\",\"role\":\"admin\",\"iat\":0,\"exp\":" I64MAX \
	",\"tv\":0}"
#define PLUS(members) \
	"{\"sub\":\"42\",\"role\":\"analyst\"," members "," CLAIMS_TAIL "}"

/* PyJWT-checked token for sub 42, analyst, iat 1700000000, exp +8 h, tv 3. */
static const char kat_token[] =
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInJvbGUiOiJhbmFseXN0IiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMjg4MDAsInR2IjozfQ.u-McEOqSryakr3DWJnQmUGUa2A5UchKUYVNkCRQxzCY";
/* The same claims signed with the 100-byte key 01 02 ... 64 (hex). */
static const char kat_long_key_sig[] =
	"Q1bhecnrgx0arMqCxw3X_ucr_sqqcW8tgfDhj9cXQHg";

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character. */
static int b64_value(char c)
{
	const char *p = strchr(b64url_alphabet, c);

	assert_non_null(p);
	return (int)(p - b64url_alphabet);
}

static void b64_add(struct buf *out, const void *bin, size_t len)
{
	size_t enc = sodium_base64_ENCODED_LEN(len, VARIANT);
	char *tmp = xmalloc(enc);

	sodium_bin2base64(tmp, enc, bin, len, VARIANT);
	assert_int_equal(buf_adds(out, tmp), 0);
	free(tmp);
}

/* Appends "." and the HMAC-SHA256 of everything in tok so far. */
static void sign_add(struct buf *tok, const void *key, size_t key_len)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok->ptr,
				      tok->len);
	crypto_auth_hmacsha256_final(&st, mac);
	assert_int_equal(buf_addch(tok, '.'), 0);
	b64_add(tok, mac, sizeof(mac));
}

/* A token from a header and a payload JSON text, signed with key. */
static char *make_key(const char *header, const char *payload, const void *key,
		      size_t key_len)
{
	struct buf tok = BUF_INIT(1 << 20);

	b64_add(&tok, header, strlen(header));
	assert_int_equal(buf_addch(&tok, '.'), 0);
	b64_add(&tok, payload, strlen(payload));
	sign_add(&tok, key, key_len);
	return buf_detach(&tok, NULL);
}

static char *make(const char *header, const char *payload)
{
	return make_key(header, payload, KEY, KEY_LEN);
}

/* header.payload. and the given text as the third part. */
static char *make_sig(const char *header, const char *payload, const char *sig)
{
	struct buf tok = BUF_INIT(1 << 20);

	b64_add(&tok, header, strlen(header));
	assert_int_equal(buf_addch(&tok, '.'), 0);
	b64_add(&tok, payload, strlen(payload));
	assert_int_equal(buf_addch(&tok, '.'), 0);
	assert_int_equal(buf_adds(&tok, sig), 0);
	return buf_detach(&tok, NULL);
}

/* A reason is one non-empty line of printable ASCII. */
static void check_reason(const struct buf *err)
{
	size_t i;

	assert_true(err->len > 0);
	assert_int_equal(strlen(err->ptr), err->len);
	for (i = 0; i < err->len; i++) {
		unsigned char c = (unsigned char)err->ptr[i];

		assert_true(c >= 0x20 && c < 0x7f);
	}
}

static bool claims_zero(const struct auth_claims *c)
{
	static const struct auth_claims zero;

	return !memcmp(c, &zero, sizeof(zero));
}

/*
 * expect_reject() decodes token at NOW under KEY and wants TW_EUNAUTH,
 * a reason containing want, zeroed claims, and the same answer with a NULL
 * err.
 */
static void expect_reject_at(const char *token, int64_t now, const char *want)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_claims c;
	int rc;

	memset(&c, 0x5a, sizeof(c));
	rc = auth_jwt_decode(token, KEY, KEY_LEN, now, &c, &err);
	if (rc != TW_EUNAUTH || !strstr(err.ptr, want))
		fail_msg("token %.200s: rc %d, reason \"%s\", wanted \"%s\"",
			 token ? token : "(null)", rc, err.ptr, want);
	check_reason(&err);
	assert_true(claims_zero(&c));
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(auth_jwt_decode(token, KEY, KEY_LEN, now, &c, NULL),
			 TW_EUNAUTH);
	assert_true(claims_zero(&c));
	buf_release(&err);
}

static void expect_reject(const char *token, const char *want)
{
	expect_reject_at(token, NOW, want);
}

static void expect_ok(const char *token, struct auth_claims *c)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	rc = auth_jwt_decode(token, KEY, KEY_LEN, NOW, c, &err);
	if (rc != 0)
		fail_msg("token %.200s refused: %s", token, err.ptr);
	assert_int_equal(err.len, 0);
	buf_release(&err);
}

static void set_claims(struct auth_claims *c, int64_t sub, const char *role,
		       int64_t iat, int64_t exp, int64_t tv)
{
	memset(c, 0, sizeof(*c));
	c->sub = sub;
	snprintf(c->role, sizeof(c->role), "%s", role);
	c->iat = iat;
	c->exp = exp;
	c->tv = tv;
}

static void assert_claims_equal(const struct auth_claims *a,
				const struct auth_claims *b)
{
	assert_int_equal(a->sub, b->sub);
	assert_string_equal(a->role, b->role);
	assert_int_equal(a->iat, b->iat);
	assert_int_equal(a->exp, b->exp);
	assert_int_equal(a->tv, b->tv);
}

static void test_role_bit(void **state)
{
	(void)state;
	assert_int_equal(auth_role_bit("admin"), AUTH_ROLE_ADMIN);
	assert_int_equal(auth_role_bit("analyst"), AUTH_ROLE_ANALYST);
	assert_int_equal(auth_role_bit("viewer"), AUTH_ROLE_VIEWER);
	assert_int_equal(auth_role_bit("Admin"), 0);
	assert_int_equal(auth_role_bit("admin "), 0);
	assert_int_equal(auth_role_bit(""), 0);
	assert_int_equal(auth_role_bit("root"), 0);
	assert_int_equal(auth_role_bit(NULL), 0);
}

static void test_encode_known_answer(void **state)
{
	struct buf out = BUF_INIT(AUTH_JWT_MAX_LEN);
	struct auth_claims c, d;
	unsigned char long_key[100];
	const char *sig;
	size_t i;

	(void)state;
	set_claims(&c, 42, "analyst", 1700000000, 1700028800, 3);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, NULL), 0);
	assert_string_equal(out.ptr, kat_token);
	/* And the Python-made token decodes to the same claims. */
	expect_ok(kat_token, &d);
	assert_claims_equal(&c, &d);

	/* A key longer than SHA-256's block is hashed first (RFC 2104). */
	for (i = 0; i < sizeof(long_key); i++)
		long_key[i] = (unsigned char)(i + 1);
	buf_reset(&out);
	assert_int_equal(
		auth_jwt_encode(&c, long_key, sizeof(long_key), &out, NULL), 0);
	sig = strrchr(out.ptr, '.') + 1;
	assert_string_equal(sig, kat_long_key_sig);
	buf_release(&out);
}

/* With a 32-byte key, libsodium's one-shot HMAC gives the same signature. */
static void test_encode_matches_oneshot_hmac(void **state)
{
	struct buf out = BUF_INIT(AUTH_JWT_MAX_LEN);
	struct buf want = BUF_INIT(256);
	unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	struct auth_claims c;
	const char *dot2;

	(void)state;
	randombytes_buf(key, sizeof(key));
	set_claims(&c, 7, "viewer", 1, 2, 0);
	assert_int_equal(auth_jwt_encode(&c, key, sizeof(key), &out, NULL), 0);
	dot2 = strrchr(out.ptr, '.');
	crypto_auth_hmacsha256(mac, (const unsigned char *)out.ptr,
			       (size_t)(dot2 - out.ptr), key);
	b64_add(&want, mac, sizeof(mac));
	assert_string_equal(dot2 + 1, want.ptr);
	buf_release(&out);
	buf_release(&want);
}

static void test_encode_layout(void **state)
{
	struct buf out = BUF_INIT(AUTH_JWT_MAX_LEN);
	struct auth_claims c;
	unsigned char bin[512];
	const char *dot1, *dot2;
	size_t n = 0;

	(void)state;
	set_claims(&c, INT64_MAX, "admin", 0, INT64_MAX, INT64_MAX);
	assert_int_equal(buf_adds(&out, "Bearer "), 0);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, NULL), 0);
	/* The token is appended to what out held. */
	assert_memory_equal(out.ptr,
			    "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 44);
	dot1 = strchr(out.ptr, '.');
	dot2 = strrchr(out.ptr, '.');
	assert_int_equal(sodium_base642bin(bin, sizeof(bin) - 1, dot1 + 1,
					   (size_t)(dot2 - dot1 - 1), NULL, &n,
					   NULL, VARIANT),
			 0);
	bin[n] = '\0';
	assert_string_equal((char *)bin,
			    "{\"sub\":\"" I64MAX "\",\"role\":\"admin\","
			    "\"iat\":0,"
			    "\"exp\":" I64MAX ",\"tv\":" I64MAX "}");
	assert_int_equal(strlen(dot2 + 1), 43);
	buf_release(&out);
}

static void test_encode_refuses_bad_claims(void **state)
{
	struct buf out = BUF_INIT(AUTH_JWT_MAX_LEN);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_claims c;

	(void)state;
	set_claims(&c, 0, "admin", 1, 2, 0);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, &err),
			 TW_EINVAL);
	assert_non_null(strstr(err.ptr, "user id 0"));
	set_claims(&c, -1, "admin", 1, 2, 0);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, NULL),
			 TW_EINVAL);
	set_claims(&c, 1, "root", 1, 2, 0);
	buf_reset(&err);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, &err),
			 TW_EINVAL);
	assert_non_null(strstr(err.ptr, "unknown role"));
	/* A role without its NUL is not read past its end. */
	set_claims(&c, 1, "admin", 1, 2, 0);
	memset(c.role, 'a', sizeof(c.role));
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, NULL),
			 TW_EINVAL);
	set_claims(&c, 1, "admin", 2, 2, 0);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, NULL),
			 TW_EINVAL);
	set_claims(&c, 1, "admin", -5, 2, 0);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, NULL),
			 TW_EINVAL);
	set_claims(&c, 1, "admin", 1, 2, -1);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, NULL),
			 TW_EINVAL);
	assert_int_equal(out.len, 0);
	buf_release(&out);
	buf_release(&err);
}

static void test_encode_output_cap(void **state)
{
	struct buf out = BUF_INIT(100);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_claims c;

	(void)state;
	set_claims(&c, 42, "viewer", 1700000000, 1700028800, 3);
	assert_int_equal(buf_adds(&out, "keep"), 0);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, &err),
			 TW_ETOOBIG);
	check_reason(&err);
	/* Nothing of the token is left behind. */
	assert_string_equal(out.ptr, "keep");
	buf_release(&out);
	buf_release(&err);
}

static void test_round_trips(void **state)
{
	static const char *roles[] = { "admin", "analyst", "viewer" };
	struct buf out = BUF_INIT(AUTH_JWT_MAX_LEN);
	struct auth_claims c, d;
	unsigned char key[200];
	size_t key_len;
	int i;

	(void)state;
	for (i = 0; i < 500; i++) {
		int64_t iat;

		randombytes_buf(key, sizeof(key));
		key_len = 1 + randombytes_uniform(sizeof(key));
		iat = (int64_t)randombytes_uniform(2000000000);
		set_claims(&c, 1 + (int64_t)randombytes_uniform(UINT32_MAX),
			   roles[randombytes_uniform(3)], iat,
			   iat + 1 + (int64_t)randombytes_uniform(604800),
			   (int64_t)randombytes_uniform(1000));
		if (i % 7 == 0)
			c.sub = INT64_MAX - (int64_t)randombytes_uniform(10);
		buf_reset(&out);
		assert_int_equal(auth_jwt_encode(&c, key, key_len, &out, NULL),
				 0);
		assert_true(out.len <= AUTH_JWT_MAX_LEN);
		memset(&d, 0, sizeof(d));
		/* Valid from iat up to exp - 1. */
		assert_int_equal(auth_jwt_decode(out.ptr, key, key_len, c.iat,
						 &d, NULL),
				 0);
		assert_claims_equal(&c, &d);
		assert_int_equal(auth_jwt_decode(out.ptr, key, key_len,
						 c.exp - 1, &d, NULL),
				 0);
		assert_int_equal(auth_jwt_decode(out.ptr, key, key_len, c.exp,
						 &d, NULL),
				 TW_EUNAUTH);
	}
	/* The extremes. */
	set_claims(&c, INT64_MAX, "admin", 0, INT64_MAX, INT64_MAX);
	buf_reset(&out);
	assert_int_equal(auth_jwt_encode(&c, KEY, KEY_LEN, &out, NULL), 0);
	assert_int_equal(auth_jwt_decode(out.ptr, KEY, KEY_LEN, 0, &d, NULL),
			 0);
	assert_claims_equal(&c, &d);
	expect_reject_at(out.ptr, INT64_MAX, "token expired");
	expect_reject_at(out.ptr, INT64_MIN, "issued in the future");
	buf_release(&out);
}

static void test_accepted_variants(void **state)
{
	static const char *headers[] = {
		"{\"alg\":\"HS256\"}",
		"{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
		"{\"typ\":\"jwt\",\"alg\":\"HS256\"}",
		"{\"alg\":\"HS256\",\"typ\":\"Jwt\"}",
		"{\"alg\":\"HS256\",\"kid\":\"k1\",\"x\":[1,{}]}",
		" { \"alg\" : \"HS256\" } ",
	};
	static const char *payloads[] = {
		PAYLOAD,
		/* Other claims are ignored. */
		PLUS("\"jti\":\"abc\",\"iss\":\"x\""),
		PLUS("\"extra\":{\"a\":[null,1.5,true]}"),
		/* Leeway: iat and nbf up to 30 s ahead. */
		IET("1700000130", EXP0, "3"),
		PLUS("\"nbf\":1700000130"),
		PLUS("\"nbf\":1000"),
		IET("1700000099", "1700000101", "0"),
		IET("1", "1700000101", "9223372036854775807"),
		/* The largest values. */
		MAX_PAYLOAD,
	};
	struct auth_claims c;
	char *tok;
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(headers); i++) {
		tok = make(headers[i], PAYLOAD);
		expect_ok(tok, &c);
		assert_int_equal(c.sub, 42);
		assert_string_equal(c.role, "analyst");
		assert_int_equal(c.iat, 1700000000);
		assert_int_equal(c.exp, 1700003700);
		assert_int_equal(c.tv, 3);
		free(tok);
	}
	for (i = 0; i < TW_ARRAY_SIZE(payloads); i++) {
		tok = make(HDR, payloads[i]);
		expect_ok(tok, &c);
		free(tok);
	}
	/* c holds the last payload's claims. */
	assert_int_equal(c.sub, INT64_MAX);
	assert_string_equal(c.role, "admin");
	assert_int_equal(c.exp, INT64_MAX);
}

struct reject_case {
	const char *json;
	const char *want;
};

static void test_rejected_headers(void **state)
{
	static const struct reject_case cases[] = {
		{ "{\"alg\":\"none\",\"typ\":\"JWT\"}", "\"none\" is not" },
		{ "{\"alg\":\"None\"}", "algorithm \"None\"" },
		{ "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "\"HS512\" is not" },
		{ "{\"alg\":\"HS384\"}", "algorithm \"HS384\"" },
		{ "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "\"RS256\" is not" },
		{ "{\"alg\":\"ES256\"}", "algorithm \"ES256\"" },
		{ "{\"alg\":\"hs256\"}", "algorithm \"hs256\" is not HS256" },
		{ "{\"alg\":\"HS256 \"}", "algorithm \"HS256 \"" },
		{ "{\"alg\":\"\"}", "algorithm \"\"" },
		{ "{\"typ\":\"JWT\"}", "token header has no alg" },
		{ "{}", "token header has no alg" },
		{ "{\"alg\":256}", "alg is not a string" },
		{ "{\"alg\":null}", "alg is not a string" },
		{ "{\"alg\":[\"HS256\"]}", "alg is not a string" },
		{ "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "\"JWS\" is not JWT" },
		{ "{\"alg\":\"HS256\",\"typ\":\"application/jwt\"}", "JWT" },
		{ "{\"alg\":\"HS256\",\"typ\":\"\"}", "is not JWT" },
		{ "{\"alg\":\"HS256\",\"typ\":1}", "typ is not a string" },
		{ "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "crit" },
		{ "{\"alg\":\"HS256\",\"crit\":[]}", "crit" },
		{ "{\"alg\":\"HS256\",\"crit\":null}", "crit" },
		/* Duplicate keys, even with the same value. */
		{ "{\"alg\":\"HS256\",\"alg\":\"none\"}", "duplicate" },
		{ "{\"alg\":\"none\",\"alg\":\"HS256\"}", "duplicate" },
		{ "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"alg\":\"HS256\"}",
		  "duplicate" },
		{ "[\"HS256\"]", "header is not a JSON object" },
		{ "\"HS256\"", "header is not valid JSON" },
		{ "null", "header is not valid JSON" },
		{ "{\"alg\":\"HS256\"}x", "header is not valid JSON" },
		{ "{\"alg\":\"HS256\"}{}", "header is not valid JSON" },
		{ "{\"alg\":\"HS256\",}", "header is not valid JSON" },
		{ "{'alg':'HS256'}", "header is not valid JSON" },
		{ "{\"alg\":\"HS256\"", "header is not valid JSON" },
		{ "HS256", "header is not valid JSON" },
		/* Not UTF-8; an escaped NUL. */
		{ "{\"alg\":\"HS256\",\"kid\":\"\xff\"}", "not valid JSON" },
		{ "{\"alg\":\"HS256\",\"kid\":\"\xc3\"}", "not valid JSON" },
		{ "{\"alg\":\"HS256\\u0000\"}", "header is not valid JSON" },
	};
	size_t i;
	char *tok;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(cases); i++) {
		tok = make(cases[i].json, PAYLOAD);
		expect_reject(tok, cases[i].want);
		free(tok);
	}
}

static void test_rejected_algorithms_shapes(void **state)
{
	unsigned char mac[crypto_auth_hmacsha512_BYTES];
	unsigned char rnd[256];
	struct buf sig = BUF_INIT(1024);
	crypto_auth_hmacsha512_state st;
	char *tok;

	(void)state;
	/* alg none: with an empty signature and with our HS256 one. */
	tok = make_sig("{\"alg\":\"none\"}", PAYLOAD, "");
	expect_reject(tok, "algorithm \"none\"");
	free(tok);
	tok = make("{\"alg\":\"none\"}", PAYLOAD);
	expect_reject(tok, "algorithm \"none\"");
	free(tok);
	/* HS512 under our key: a real 64-byte HMAC-SHA512. */
	crypto_auth_hmacsha512_init(&st, (const unsigned char *)KEY, KEY_LEN);
	crypto_auth_hmacsha512_update(&st, (const unsigned char *)"x", 1);
	crypto_auth_hmacsha512_final(&st, mac);
	b64_add(&sig, mac, sizeof(mac));
	tok = make_sig("{\"alg\":\"HS512\"}", PAYLOAD, sig.ptr);
	expect_reject(tok, "algorithm \"HS512\"");
	free(tok);
	/* An HS512-sized signature on an HS256 header. */
	tok = make_sig(HDR, PAYLOAD, sig.ptr);
	expect_reject(tok, "signature is 86 characters, not 43");
	free(tok);
	/* RS256 with a 256-byte random "signature". */
	randombytes_buf(rnd, sizeof(rnd));
	buf_reset(&sig);
	b64_add(&sig, rnd, sizeof(rnd));
	tok = make_sig("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", PAYLOAD, sig.ptr);
	expect_reject(tok, "algorithm \"RS256\"");
	free(tok);
	buf_release(&sig);
}

static void test_rejected_payloads(void **state)
{
	static const struct reject_case cases[] = {
		/* Duplicates. */
		{ PLUS("\"sub\":\"1\""), "JSON: duplicate" },
		{ PLUS("\"exp\":9999999999"), "duplicate" },
		{ PLUS("\"role\":\"admin\""), "duplicate" },
		/* Missing claims. */
		{ "{\"role\":\"analyst\"," CLAIMS_TAIL "}", "no sub claim" },
		{ "{\"sub\":\"42\"," CLAIMS_TAIL "}", "no role claim" },
		{ TIMES("\"exp\":" EXP0 ",\"tv\":3"), "no iat claim" },
		{ TIMES("\"iat\":" IAT0 ",\"tv\":3"), "no exp claim" },
		{ TIMES("\"iat\":" IAT0 ",\"exp\":" EXP0), "has no tv claim" },
		{ "{}", "token has no sub claim" },
		/* sub: a string of a positive id in canonical decimal. */
		{ WITH_SUB("42"), "sub is not a string" },
		{ WITH_SUB("null"), "sub is not a string" },
		{ WITH_SUB("[\"42\"]"), "sub is not a string" },
		{ WITH_SUB("\"0\""), "sub is not a positive decimal user id" },
		{ WITH_SUB("\"-1\""), "sub is not a positive" },
		{ WITH_SUB("\"+1\""), "sub is not a positive" },
		{ WITH_SUB("\"01\""), "sub is not a positive" },
		{ WITH_SUB("\"\""), "sub is not a positive" },
		{ WITH_SUB("\" 1\""), "sub is not a positive" },
		{ WITH_SUB("\"1 \""), "sub is not a positive" },
		{ WITH_SUB("\"1.0\""), "sub is not a positive" },
		{ WITH_SUB("\"1e3\""), "sub is not a positive" },
		{ WITH_SUB("\"0x10\""), "sub is not a positive" },
		/* Arabic-Indic digit one. */
		{ WITH_SUB("\"\xd9\xa1\""), "sub is not a positive" },
		/* 20 digits; INT64_MAX + 1; 19 nines. */
		{ WITH_SUB("\"12345678901234567890\""), "not a positive" },
		{ WITH_SUB("\"9223372036854775808\""), "not a positive" },
		{ WITH_SUB("\"9999999999999999999\""), "not a positive" },
		/* role */
		{ WITH_ROLE("\"root\""), "role \"root\" is unknown" },
		{ WITH_ROLE("\"Admin\""), "role \"Admin\" is unknown" },
		{ WITH_ROLE("\"admin \""), "is unknown" },
		{ WITH_ROLE("\"\""), "role \"\" is unknown" },
		{ WITH_ROLE("4"), "role is not a string" },
		{ WITH_ROLE("[\"admin\"]"), "role is not a string" },
		{ WITH_ROLE("\"admin\\u0000x\""), "payload is not valid JSON" },
		/* Types of the integer claims. */
		{ IET("1700000000.0", EXP0, "3"), "iat is not an integer" },
		{ IET("true", EXP0, "3"), "iat is not an integer" },
		{ IET("\"1700000000\"", EXP0, "3"), "iat is not an integer" },
		{ IET("null", EXP0, "3"), "iat is not an integer" },
		{ IET(IAT0, "1.7000037e9", "3"), "exp is not an integer" },
		{ IET(IAT0, "false", "3"), "exp is not an integer" },
		{ IET(IAT0, EXP0, "false"), "tv is not an integer" },
		{ IET(IAT0, EXP0, "\"3\""), "tv is not an integer" },
		{ IET(IAT0, EXP0, "3.0"), "tv is not an integer" },
		{ PLUS("\"nbf\":1.5"), "nbf is not an integer" },
		{ PLUS("\"nbf\":\"0\""), "nbf is not an integer" },
		{ IET("-1", EXP0, "3"), "iat is negative" },
		{ IET(IAT0, EXP0, "-1"), "tv is negative" },
		{ IET(IAT0, "99999999999999999999", "3"), "not valid JSON" },
		/* Times: exp == now, exp < now. */
		{ IET(IAT0, "1700000100", "3"), "token expired" },
		{ IET(IAT0, "1700000099", "3"), "token expired" },
		{ IET("1", "2", "3"), "token expired" },
		{ IET("1700009999", "1700009999", "3"), "expires before it" },
		{ IET("1700009999", "1700000200", "3"), "expires before it" },
		/* iat and nbf 31 s ahead, past the leeway. */
		{ IET("1700000131", EXP0, "3"), "issued in the future" },
		{ IET("1800000000", "1800003700", "3"), "issued in the "
							"future" },
		{ PLUS("\"nbf\":1700000131"), "not yet valid" },
		{ PLUS("\"nbf\":9223372036854775807"), "not yet valid" },
		/* An audience we are not. */
		{ PLUS("\"aud\":\"tablewright\""), "aud claim" },
		/* Not an object, not JSON, not UTF-8 (a lone surrogate). */
		{ "[\"42\",\"analyst\"]", "payload is not a JSON object" },
		{ "42", "payload is not valid JSON" },
		{ PAYLOAD " x", "payload is not valid JSON" },
		{ PLUS("\"x\":\"\xff\""), "payload is not valid JSON" },
		{ PLUS("\"x\":\"\xed\xa0\x80\""), "payload is not valid JSON" },
	};
	size_t i;
	char *tok;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(cases); i++) {
		tok = make(HDR, cases[i].json);
		expect_reject(tok, cases[i].want);
		free(tok);
	}
}

static void test_rejected_shapes(void **state)
{
	struct buf b = BUF_INIT(1 << 16);
	char *good = make(HDR, PAYLOAD);
	char *tok;
	const char *dot1 = strchr(good, '.');
	const char *dot2 = strrchr(good, '.');
	size_t hlen = (size_t)(dot1 - good);

	(void)state;
	expect_ok(good, &(struct auth_claims){ 0 });
	expect_reject(NULL, "token is missing");
	expect_reject("", "token is empty");
	expect_reject("abc", "not 3 dot-separated parts (found 1)");
	expect_reject("a.b", "not 3 dot-separated parts (found 2)");
	expect_reject("a.b.c.d", "not 3 dot-separated parts (found 4)");
	expect_reject("..", "token header is empty");
	expect_reject(".eyJ9.abc", "token header is empty");
	expect_reject("eyJ9..abc", "token payload is empty");

	/* A valid token with a fourth part, or an extra dot. */
	buf_reset(&b);
	buf_addf(&b, "%s.%s", good, "abc");
	expect_reject(b.ptr, "not 3 dot-separated parts (found 4)");
	buf_reset(&b);
	buf_addf(&b, "%s.", good);
	expect_reject(b.ptr, "not 3 dot-separated parts (found 4)");
	buf_reset(&b);
	buf_add(&b, good, (size_t)(dot2 - good) + 1);
	expect_reject(b.ptr, "token signature is empty");

	/* Padding, anywhere. */
	buf_reset(&b);
	buf_addf(&b, "%s=", good);
	expect_reject(b.ptr, "base64 padding");
	buf_reset(&b);
	buf_add(&b, good, hlen);
	buf_addf(&b, "==%s", dot1);
	expect_reject(b.ptr, "base64 padding");

	/* White space and other bytes outside base64url. */
	buf_reset(&b);
	buf_addf(&b, " %s", good);
	expect_reject(b.ptr, "byte outside base64url at offset 0");
	buf_reset(&b);
	buf_addf(&b, "%s\n", good);
	expect_reject(b.ptr, "byte outside base64url");
	buf_reset(&b);
	buf_addf(&b, "%s\r\n", good);
	expect_reject(b.ptr, "byte outside base64url");
	buf_reset(&b);
	buf_add(&b, good, hlen);
	buf_addf(&b, "\t%s", dot1);
	expect_reject(b.ptr, "byte outside base64url");
	buf_reset(&b);
	buf_add(&b, good, 10);
	buf_addf(&b, " %s", good + 10);
	expect_reject(b.ptr, "byte outside base64url at offset 10");
	/* Standard base64's + and /. */
	tok = xstrdup(good);
	tok[5] = '+';
	expect_reject(tok, "byte outside base64url at offset 5");
	tok[5] = '/';
	expect_reject(tok, "byte outside base64url at offset 5");
	/* Bytes that are not UTF-8, or not ASCII. */
	tok[5] = (char)0xff;
	expect_reject(tok, "byte outside base64url at offset 5");
	tok[5] = (char)0xc3;
	expect_reject(tok, "byte outside base64url");
	free(tok);
	buf_release(&b);
	free(good);
}

/* Base64url that libsodium would not produce is refused, even when signed. */
static void test_rejected_noncanonical(void **state)
{
	struct buf b = BUF_INIT(1 << 16);
	char *good = make(HDR, PAYLOAD);
	const char *dot1 = strchr(good, '.');
	const char *dot2 = strrchr(good, '.');
	char *tok;
	size_t n;
	char *last;

	(void)state;
	/* A header of 4k + 1 characters, signed. */
	buf_add(&b, good, (size_t)(dot1 - good));
	buf_addf(&b, "A");
	buf_add(&b, dot1, (size_t)(dot2 - dot1));
	sign_add(&b, KEY, KEY_LEN);
	expect_reject(b.ptr, "token header is not canonical base64url");

	/*
	 * The payload PAYLOAD " " is 2 mod 3 bytes long, so the last character
	 * of its base64url carries 2 unused bits. Setting one still decodes to
	 * the same bytes with a lenient decoder; the token is signed over the
	 * altered text, so only the decoder can refuse it.
	 */
	buf_reset(&b);
	b64_add(&b, HDR, strlen(HDR));
	buf_addch(&b, '.');
	n = strlen(PAYLOAD " ");
	assert_int_equal(n % 3, 2);
	b64_add(&b, PAYLOAD " ", n);
	last = &b.ptr[b.len - 1];
	assert_int_equal(b64_value(*last) & 3, 0);
	*last = b64url_alphabet[b64_value(*last) | 1];
	sign_add(&b, KEY, KEY_LEN);
	expect_reject(b.ptr, "token payload is not canonical base64url");

	/* The signature's last character carries 2 unused bits, too. */
	tok = xstrdup(good);
	last = &tok[strlen(tok) - 1];
	*last = b64url_alphabet[b64_value(*last) ^ 1];
	expect_reject(tok, "token signature is not canonical base64url");
	free(tok);

	/* Wrong signature lengths. */
	buf_reset(&b);
	buf_add(&b, good, strlen(good) - 1);
	expect_reject(b.ptr, "token signature is 42 characters, not 43");
	buf_reset(&b);
	buf_addf(&b, "%sA", good);
	expect_reject(b.ptr, "token signature is 44 characters, not 43");
	buf_release(&b);
	free(good);
}

static void test_rejected_tampering(void **state)
{
	char *good = make(HDR, PAYLOAD);
	size_t len = strlen(good), i, j;
	char *tok = xstrdup(good);
	char *dot1 = strchr(good, '.');
	int rejected = 0;

	(void)state;
	/* One payload byte changed. */
	tok[(size_t)(dot1 - good) + 5] ^= 'A' ^ 'B';
	expect_reject(tok, "token signature does not match");
	memcpy(tok, good, len);
	/* One signature byte changed. */
	tok[len - 10] = tok[len - 10] == 'x' ? 'y' : 'x';
	expect_reject(tok, "token signature does not match");
	memcpy(tok, good, len);

	/*
	 * The payload is not even looked at before the signature matches: a
	 * payload that is not JSON under a wrong signature is a signature
	 * failure.
	 */
	free(tok);
	tok = make_sig(HDR, "not JSON",
		       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	expect_reject(tok, "token signature does not match");
	free(tok);
	tok = xstrdup(good);

	/* Every single-character substitution anywhere is refused. */
	for (i = 0; i < len; i++) {
		for (j = 0; j < sizeof(b64url_alphabet); j++) {
			char c = j < sizeof(b64url_alphabet) - 1
					 ? b64url_alphabet[j]
					 : '.';
			struct auth_claims cl;

			if (c == good[i])
				continue;
			tok[i] = c;
			assert_int_equal(auth_jwt_decode(tok, KEY, KEY_LEN, NOW,
							 &cl, NULL),
					 TW_EUNAUTH);
			rejected++;
		}
		tok[i] = good[i];
	}
	assert_true(rejected > 60 * (int)len);
	/* Truncated at every length. */
	for (i = 0; i < len; i++) {
		tok[i] = '\0';
		expect_reject(tok, "token");
		tok[i] = good[i];
	}
	free(tok);
	free(good);
}

static void test_rejected_wrong_key(void **state)
{
	static const char other[] =
		"tablewright-unit-test-key-0123456789abcdeF";
	struct auth_claims c;
	char *tok;

	(void)state;
	tok = make_key(HDR, PAYLOAD, other, sizeof(other) - 1);
	expect_reject(tok, "token signature does not match");
	free(tok);
	/* A prefix of the key, and the key with one more byte. */
	tok = make_key(HDR, PAYLOAD, KEY, KEY_LEN - 1);
	expect_reject(tok, "token signature does not match");
	free(tok);
	tok = make_key(HDR, PAYLOAD, KEY "x", KEY_LEN + 1);
	expect_reject(tok, "token signature does not match");
	free(tok);
	/*
	 * HMAC pads keys of up to 64 bytes with zeros (RFC 2104), so the key
	 * plus a NUL byte signs alike. TW_SECRET_KEY is a string without
	 * NULs (the configuration refuses control characters), so this
	 * property of HMAC cannot make two configured keys equivalent.
	 */
	tok = make_key(HDR, PAYLOAD, KEY "\0", KEY_LEN + 1);
	expect_ok(tok, &c);
	free(tok);
	/* The right key verifies. */
	tok = make_key(HDR, PAYLOAD, KEY, KEY_LEN);
	expect_ok(tok, &c);
	free(tok);
}

/* Tokens around AUTH_JWT_MAX_LEN, padded with an ignored claim. */
static char *make_of_length(size_t want)
{
	struct buf payload = BUF_INIT(1 << 16);
	size_t pad;

	for (pad = 0; pad < 8000; pad++) {
		char *tok;

		buf_reset(&payload);
		buf_addf(&payload,
			 "{\"sub\":\"42\",\"role\":\"analyst\"," CLAIMS_TAIL
			 ",\"pad\":\"%*s\"}",
			 (int)pad, "");
		tok = make(HDR, payload.ptr);
		if (strlen(tok) == want) {
			buf_release(&payload);
			return tok;
		}
		free(tok);
	}
	buf_release(&payload);
	fail_msg("no token of %zu bytes", want);
	return NULL;
}

static void test_length_limit(void **state)
{
	struct auth_claims c;
	char *tok, *raw;

	(void)state;
	tok = make_of_length(AUTH_JWT_MAX_LEN);
	expect_ok(tok, &c);
	assert_int_equal(c.sub, 42);
	free(tok);
	tok = make_of_length(AUTH_JWT_MAX_LEN + 1);
	expect_reject(tok, "token is longer than 4096 bytes");
	free(tok);
	tok = make_of_length(5000);
	expect_reject(tok, "token is longer than 4096 bytes");
	free(tok);
	/*
	 * The length is checked before anything else and without reading more
	 * than AUTH_JWT_MAX_LEN + 1 bytes: here no NUL follows them, and ASan
	 * would see a read past the allocation.
	 */
	raw = xmalloc(AUTH_JWT_MAX_LEN + 1);
	memset(raw, 'A', AUTH_JWT_MAX_LEN + 1);
	expect_reject(raw, "token is longer than 4096 bytes");
	free(raw);
}

static void test_reasons_are_safe_to_log(void **state)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_claims c;
	char *tok;

	(void)state;
	/* A control character and a quote in alg are escaped. */
	tok = make("{\"alg\":\"HS256\\n\\\"x\"}", PAYLOAD);
	assert_int_equal(auth_jwt_decode(tok, KEY, KEY_LEN, NOW, &c, &err),
			 TW_EUNAUTH);
	assert_string_equal(err.ptr, "token algorithm \"HS256\\x0a\\x22x\" is "
				     "not HS256");
	free(tok);
	/* Non-ASCII is escaped byte by byte; long values are cut. */
	buf_reset(&err);
	tok = make("{\"alg\":\"\xc3\xa9"
		   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		   PAYLOAD);
	assert_int_equal(auth_jwt_decode(tok, KEY, KEY_LEN, NOW, &c, &err),
			 TW_EUNAUTH);
	assert_string_equal(err.ptr, "token algorithm "
				     "\"\\xc3\\xa9AAAAAAAAAAAAAAAAAAAAAAAAAA"
				     "AAAA...\" is not HS256");
	check_reason(&err);
	free(tok);
	/* Reasons are appended to what err holds. */
	buf_reset(&err);
	buf_adds(&err, "login: ");
	assert_int_equal(auth_jwt_decode("x", KEY, KEY_LEN, NOW, &c, &err),
			 TW_EUNAUTH);
	assert_memory_equal(err.ptr, "login: ", 7);
	assert_string_equal(err.ptr + 7, "token is not 3 dot-separated parts "
					 "(found 1)");
	/* Nothing is appended on success. */
	buf_reset(&err);
	assert_int_equal(auth_jwt_decode(kat_token, KEY, KEY_LEN, 1700000000,
					 &c, &err),
			 0);
	assert_int_equal(err.len, 0);
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_role_bit),
		cmocka_unit_test(test_encode_known_answer),
		cmocka_unit_test(test_encode_matches_oneshot_hmac),
		cmocka_unit_test(test_encode_layout),
		cmocka_unit_test(test_encode_refuses_bad_claims),
		cmocka_unit_test(test_encode_output_cap),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_accepted_variants),
		cmocka_unit_test(test_rejected_headers),
		cmocka_unit_test(test_rejected_algorithms_shapes),
		cmocka_unit_test(test_rejected_payloads),
		cmocka_unit_test(test_rejected_shapes),
		cmocka_unit_test(test_rejected_noncanonical),
		cmocka_unit_test(test_rejected_tampering),
		cmocka_unit_test(test_rejected_wrong_key),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_reasons_are_safe_to_log),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
