/*
 * jwt.c - HS256 login tokens: the JWS compact serialisation of RFC 7515 with
 * the claims of RFC 7519, signed with HMAC-SHA256 (libsodium) and parsed
 * with jansson.
 *
 * A token is base64url(header) "." base64url(payload) "." base64url(mac),
 * without padding. The key is the raw bytes of TW_SECRET_KEY, of any length
 * (HMAC hashes keys longer than 64 bytes, RFC 2104), so PyJWT given the same
 * string makes and checks the same tokens.
 *
 * Decoding is deliberately narrow: one algorithm (HS256, named exactly so in
 * the header; the header's alg is read before anything else and the
 * signature is verified before the payload is parsed), canonical base64url
 * only, strict JSON objects without duplicate keys, and exactly the claims we
 * issue with exactly the types we issue them with. Every refusal is
 * TW_EUNAUTH with one short, distinct reason for the log; whatever part of
 * the token a reason quotes is escaped and cut short, so a token cannot
 * forge log lines.
 *
 * libsodium must have been initialised (sodium_init(), done by main) before
 * these functions are called.
 */
#include "core/compat.h"

#include <jansson.h>
#include <sodium.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define SIG_LEN crypto_auth_hmacsha256_BYTES
/* 32 bytes in base64url without padding: ceil(32 * 8 / 6). */
#define SIG_B64_LEN 43
/* The largest decoded header or payload a token under the cap can carry. */
#define PART_MAX (AUTH_JWT_MAX_LEN / 4 * 3 + 3)
/* INT64_MAX has 19 decimal digits. */
#define SUB_MAX_DIGITS 19
/* How much of a token-supplied string a reason quotes. */
#define QUOTE_MAX 32

static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

unsigned auth_role_bit(const char *role)
{
	if (!role)
		return 0;
	if (!strcmp(role, "admin"))
		return AUTH_ROLE_ADMIN;
	if (!strcmp(role, "analyst"))
		return AUTH_ROLE_ANALYST;
	if (!strcmp(role, "viewer"))
		return AUTH_ROLE_VIEWER;
	return 0;
}

static bool is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * quote() writes at most QUOTE_MAX bytes of s to dst (of size dstsz >=
 * QUOTE_MAX * 4 + 4) for an error message: printable ASCII other than the
 * double quote and the backslash as is, every other byte as \xNN, and
 * "..." when s was cut.
 */
static void quote(char *dst, size_t dstsz, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (dstsz < QUOTE_MAX * 4 + 4)
		TW_BUG("quote() needs %d bytes", QUOTE_MAX * 4 + 4);
	for (i = 0; i < len && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (i < len) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* Appends base64url (no padding) of bin to out: 0 or TW_ETOOBIG. */
static int b64_add(struct buf *out, const void *bin, size_t len)
{
	/* enc counts the NUL that sodium_bin2base64() writes. */
	size_t enc = sodium_base64_ENCODED_LEN(len, B64_VARIANT);
	int rc;

	rc = buf_grow(out, enc - 1);
	if (rc < 0)
		return rc;
	sodium_bin2base64(out->ptr + out->len, enc, bin, len, B64_VARIANT);
	out->len += enc - 1;
	return 0;
}

/*
 * b64_decode() decodes exactly len characters of canonical base64url
 * without padding into bin (at most max bytes): 0, or -1 for any other
 * character, a length of 1 modulo 4, or non-zero unused trailing bits
 * (libsodium refuses all three), or a result longer than max.
 */
static int b64_decode(const char *s, size_t len, unsigned char *bin, size_t max,
		      size_t *bin_len)
{
	int rc;

	rc = sodium_base642bin(bin, max, s, len, NULL, bin_len, NULL,
			       B64_VARIANT);
	return rc == 0 ? 0 : -1;
}

/*
 * hmac() computes HMAC-SHA256 of msg under a key of any length (the
 * init/update/final interface; crypto_auth_hmacsha256() itself wants a
 * 32-byte key) and wipes the intermediate state.
 */
static void hmac(const void *key, size_t key_len, const void *msg, size_t len,
		 unsigned char mac[SIG_LEN])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

/*
 * later_than() says whether t is more than AUTH_JWT_LEEWAY_S after now,
 * without overflowing for any pair of values.
 */
static bool later_than(int64_t t, int64_t now)
{
	return t > now && (uint64_t)t - (uint64_t)now > AUTH_JWT_LEEWAY_S;
}

/*
 * load_object() decodes one base64url part (what names it in messages)
 * and parses it as a strict JSON object: UTF-8, no duplicate keys, nothing
 * after the value. 0 with *out set (the caller json_decref()s it), or
 * TW_EUNAUTH.
 */
static int load_object(const char *b64, size_t len, const char *what,
		       json_t **out, struct buf *err)
{
	unsigned char bin[PART_MAX];
	char q[QUOTE_MAX * 4 + 4];
	json_error_t jerr;
	size_t n = 0;
	json_t *v;

	*out = NULL;
	if (b64_decode(b64, len, bin, sizeof(bin), &n) < 0) {
		buf_errf(err, "token %s is not canonical base64url", what);
		return TW_EUNAUTH;
	}
	v = json_loadb((const char *)bin, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		quote(q, sizeof(q), jerr.text, strlen(jerr.text));
		buf_errf(err, "token %s is not valid JSON: %s", what, q);
		return TW_EUNAUTH;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		buf_errf(err, "token %s is not a JSON object", what);
		return TW_EUNAUTH;
	}
	*out = v;
	return 0;
}

/*
 * check_header() accepts a header whose alg is exactly "HS256", whose typ,
 * when present, is "JWT" in any case (a media type, RFC 7515 4.1.9), and
 * that has no crit (we understand no extension). Other members, such as
 * kid, are ignored.
 */
static int check_header(const char *b64, size_t len, struct buf *err)
{
	char q[QUOTE_MAX * 4 + 4];
	json_t *h = NULL, *alg, *typ;
	int rc;

	rc = load_object(b64, len, "header", &h, err);
	if (rc < 0)
		goto out;
	rc = TW_EUNAUTH;
	alg = json_object_get(h, "alg");
	if (!alg) {
		buf_errf(err, "token header has no alg");
		goto out;
	}
	if (!json_is_string(alg)) {
		buf_errf(err, "token header alg is not a string");
		goto out;
	}
	if (strcmp(json_string_value(alg), "HS256") != 0) {
		quote(q, sizeof(q), json_string_value(alg),
		      json_string_length(alg));
		buf_errf(err, "token algorithm \"%s\" is not HS256", q);
		goto out;
	}
	typ = json_object_get(h, "typ");
	if (typ && !json_is_string(typ)) {
		buf_errf(err, "token header typ is not a string");
		goto out;
	}
	if (typ && !str_eq_nocase(json_string_value(typ), "JWT")) {
		quote(q, sizeof(q), json_string_value(typ),
		      json_string_length(typ));
		buf_errf(err, "token type \"%s\" is not JWT", q);
		goto out;
	}
	if (json_object_get(h, "crit")) {
		buf_errf(err, "token header has a crit member");
		goto out;
	}
	rc = 0;
out:
	json_decref(h);
	return rc;
}

/*
 * get_sub() reads sub, which we issue as a JSON string of the user id in
 * canonical decimal (RFC 7519 makes sub a StringOrURI): 1 to 19 digits, no
 * sign, no leading zero, at most INT64_MAX. A JSON number is refused.
 */
static int get_sub(json_t *payload, int64_t *out, struct buf *err)
{
	json_t *v = json_object_get(payload, "sub");
	const char *s;
	size_t len, i;
	uint64_t n = 0;

	if (!v) {
		buf_errf(err, "token has no sub claim");
		return TW_EUNAUTH;
	}
	if (!json_is_string(v)) {
		buf_errf(err, "token sub is not a string");
		return TW_EUNAUTH;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len < 1 || len > SUB_MAX_DIGITS || s[0] == '0')
		goto bad;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	/* 19 digits fit in uint64_t; only INT64_MAX needs checking. */
	if (n > INT64_MAX)
		goto bad;
	*out = (int64_t)n;
	return 0;
bad:
	buf_errf(err, "token sub is not a positive decimal user id");
	return TW_EUNAUTH;
}

/*
 * get_int() reads a claim that must be a JSON integer (not a real, not a
 * boolean, not a string) and not negative. *present (may be NULL when the
 * claim is required) says whether an optional claim was there.
 */
static int get_int(json_t *payload, const char *name, bool *present,
		   int64_t *out, struct buf *err)
{
	json_t *v = json_object_get(payload, name);
	json_int_t n;

	if (present)
		*present = v != NULL;
	if (!v) {
		if (present)
			return 0;
		buf_errf(err, "token has no %s claim", name);
		return TW_EUNAUTH;
	}
	if (!json_is_integer(v)) {
		buf_errf(err, "token %s is not an integer", name);
		return TW_EUNAUTH;
	}
	n = json_integer_value(v);
	if (n < 0) {
		buf_errf(err, "token %s is negative", name);
		return TW_EUNAUTH;
	}
	*out = (int64_t)n;
	return 0;
}

static int get_role(json_t *payload, char *role, size_t size, struct buf *err)
{
	json_t *v = json_object_get(payload, "role");
	char q[QUOTE_MAX * 4 + 4];
	const char *s;

	if (!v) {
		buf_errf(err, "token has no role claim");
		return TW_EUNAUTH;
	}
	if (!json_is_string(v)) {
		buf_errf(err, "token role is not a string");
		return TW_EUNAUTH;
	}
	s = json_string_value(v);
	if (!auth_role_bit(s)) {
		quote(q, sizeof(q), s, json_string_length(v));
		buf_errf(err, "token role \"%s\" is unknown", q);
		return TW_EUNAUTH;
	}
	/* A known role is at most "analyst": it fits. */
	snprintf(role, size, "%s", s);
	return 0;
}

/*
 * check_payload() parses the (already authenticated) payload into *c and
 * checks the times against now. Unknown claims are ignored, except aud:
 * RFC 7519 4.1.3 says to refuse an audience we do not identify with, and
 * our tokens carry none.
 */
static int check_payload(const char *b64, size_t len, int64_t now,
			 struct auth_claims *c, struct buf *err)
{
	json_t *p = NULL;
	int64_t nbf = 0;
	bool has_nbf = false;
	int rc;

	rc = load_object(b64, len, "payload", &p, err);
	if (rc < 0)
		goto out;
	rc = get_sub(p, &c->sub, err);
	if (rc < 0)
		goto out;
	rc = get_role(p, c->role, sizeof(c->role), err);
	if (rc < 0)
		goto out;
	rc = get_int(p, "iat", NULL, &c->iat, err);
	if (rc < 0)
		goto out;
	rc = get_int(p, "exp", NULL, &c->exp, err);
	if (rc < 0)
		goto out;
	rc = get_int(p, "tv", NULL, &c->tv, err);
	if (rc < 0)
		goto out;
	rc = get_int(p, "nbf", &has_nbf, &nbf, err);
	if (rc < 0)
		goto out;
	rc = TW_EUNAUTH;
	if (json_object_get(p, "aud")) {
		buf_errf(err, "token has an aud claim");
		goto out;
	}
	if (c->exp <= c->iat) {
		buf_errf(err, "token expires before it was issued");
		goto out;
	}
	if (c->exp <= now) {
		buf_errf(err, "token expired");
		goto out;
	}
	if (later_than(c->iat, now)) {
		buf_errf(err, "token issued in the future");
		goto out;
	}
	if (has_nbf && later_than(nbf, now)) {
		buf_errf(err, "token not yet valid (nbf)");
		goto out;
	}
	rc = 0;
out:
	json_decref(p);
	return rc;
}

/*
 * split() checks the token's shape before anything is decoded: at most
 * AUTH_JWT_MAX_LEN bytes, only base64url characters and exactly two dots,
 * a non-empty header and payload. dot1 and dot2 receive the offsets of the
 * dots.
 */
static int split(const char *token, size_t *len_out, size_t *dot1, size_t *dot2,
		 struct buf *err)
{
	size_t len, i, dots = 0;

	if (!token) {
		buf_errf(err, "token is missing");
		return TW_EUNAUTH;
	}
	len = strnlen(token, AUTH_JWT_MAX_LEN + 1);
	if (!len) {
		buf_errf(err, "token is empty");
		return TW_EUNAUTH;
	}
	if (len > AUTH_JWT_MAX_LEN) {
		buf_errf(err, "token is longer than %d bytes",
			 AUTH_JWT_MAX_LEN);
		return TW_EUNAUTH;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)token[i];

		if (c == '.') {
			if (dots == 0)
				*dot1 = i;
			else if (dots == 1)
				*dot2 = i;
			dots++;
		} else if (c == '=') {
			buf_errf(err, "token has base64 padding");
			return TW_EUNAUTH;
		} else if (!is_b64url(c)) {
			buf_errf(err,
				 "token has a byte outside base64url at "
				 "offset %zu",
				 i);
			return TW_EUNAUTH;
		}
	}
	if (dots != 2) {
		buf_errf(err, "token is not 3 dot-separated parts (found %zu)",
			 dots + 1);
		return TW_EUNAUTH;
	}
	if (*dot1 == 0) {
		buf_errf(err, "token header is empty");
		return TW_EUNAUTH;
	}
	if (*dot2 == *dot1 + 1) {
		buf_errf(err, "token payload is empty");
		return TW_EUNAUTH;
	}
	*len_out = len;
	return 0;
}

/*
 * check_signature() verifies the third part (starting at sig, sig_len
 * characters) against HMAC-SHA256 of the signing input, the token up to
 * its second dot. The comparison is constant-time.
 */
static int check_signature(const char *input, size_t input_len, const char *sig,
			   size_t sig_len, const void *key, size_t key_len,
			   struct buf *err)
{
	unsigned char got[SIG_LEN], want[SIG_LEN];
	size_t n = 0;
	int rc = TW_EUNAUTH;

	if (!sig_len) {
		buf_errf(err, "token signature is empty");
		goto out;
	}
	if (sig_len != SIG_B64_LEN) {
		buf_errf(err, "token signature is %zu characters, not %d",
			 sig_len, SIG_B64_LEN);
		goto out;
	}
	if (b64_decode(sig, sig_len, got, sizeof(got), &n) < 0 ||
	    n != SIG_LEN) {
		buf_errf(err, "token signature is not canonical base64url");
		goto out;
	}
	hmac(key, key_len, input, input_len, want);
	if (sodium_memcmp(got, want, SIG_LEN) != 0) {
		buf_errf(err, "token signature does not match");
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(want, sizeof(want));
	return rc;
}

int auth_jwt_decode(const char *token, const void *key, size_t key_len,
		    int64_t now, struct auth_claims *claims, struct buf *err)
{
	struct auth_claims c;
	size_t len = 0, dot1 = 0, dot2 = 0;
	int rc;

	if (!key || !key_len)
		TW_BUG("auth_jwt_decode() without a key");
	if (!claims)
		TW_BUG("auth_jwt_decode() without claims");
	memset(&c, 0, sizeof(c));
	rc = split(token, &len, &dot1, &dot2, err);
	if (rc < 0)
		goto out;
	/* The algorithm first: nothing else is trusted until it is HS256. */
	rc = check_header(token, dot1, err);
	if (rc < 0)
		goto out;
	rc = check_signature(token, dot2, token + dot2 + 1, len - dot2 - 1, key,
			     key_len, err);
	if (rc < 0)
		goto out;
	rc = check_payload(token + dot1 + 1, dot2 - dot1 - 1, now, &c, err);
out:
	/* A refused token leaves nothing behind that looks like a user. */
	if (rc < 0)
		memset(&c, 0, sizeof(c));
	*claims = c;
	return rc;
}

/* Checks that claims are something auth_jwt_decode() would accept. */
static int check_claims(const struct auth_claims *c, struct buf *err)
{
	if (c->sub <= 0) {
		buf_errf(err, "cannot sign a token for user id %" PRId64,
			 c->sub);
		return TW_EINVAL;
	}
	if (!memchr(c->role, '\0', sizeof(c->role)) ||
	    !auth_role_bit(c->role)) {
		buf_errf(err, "cannot sign a token for an unknown role");
		return TW_EINVAL;
	}
	if (c->iat < 0 || c->tv < 0 || c->exp <= c->iat) {
		buf_errf(err,
			 "cannot sign a token with iat %" PRId64
			 ", exp %" PRId64 ", tv %" PRId64,
			 c->iat, c->exp, c->tv);
		return TW_EINVAL;
	}
	return 0;
}

int auth_jwt_encode(const struct auth_claims *claims, const void *key,
		    size_t key_len, struct buf *out, struct buf *err)
{
	struct buf payload = BUF_INIT(AUTH_JWT_MAX_LEN);
	unsigned char mac[SIG_LEN];
	size_t start = out->len;
	int rc;

	if (!key || !key_len)
		TW_BUG("auth_jwt_encode() without a key");
	rc = check_claims(claims, err);
	if (rc < 0)
		goto fail;
	rc = buf_addf(&payload,
		      "{\"sub\":\"%" PRId64
		      "\",\"role\":\"%s\",\"iat\":%" PRId64 ",\"exp\":%" PRId64
		      ",\"tv\":%" PRId64 "}",
		      claims->sub, claims->role, claims->iat, claims->exp,
		      claims->tv);
	if (rc < 0)
		goto toobig;
	rc = b64_add(out, jwt_header, sizeof(jwt_header) - 1);
	if (rc < 0)
		goto toobig;
	rc = buf_addch(out, '.');
	if (rc < 0)
		goto toobig;
	rc = b64_add(out, payload.ptr, payload.len);
	if (rc < 0)
		goto toobig;
	hmac(key, key_len, out->ptr + start, out->len - start, mac);
	rc = buf_addch(out, '.');
	if (rc < 0)
		goto toobig;
	rc = b64_add(out, mac, sizeof(mac));
	if (rc < 0)
		goto toobig;
	sodium_memzero(mac, sizeof(mac));
	buf_release(&payload);
	return 0;
toobig:
	buf_errf(err, "token does not fit in the output buffer");
fail:
	sodium_memzero(mac, sizeof(mac));
	buf_setlen(out, start);
	buf_release(&payload);
	return rc;
}
