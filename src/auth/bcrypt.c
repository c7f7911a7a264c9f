/*
 * bcrypt.c - bcrypt password hashes ("$2b$"), written from the published
 * algorithm: Provos and Mazieres, "A Future-Adaptable Password Scheme"
 * (USENIX 1999), with the string format and key handling of OpenBSD's
 * bcrypt.c and of libxcrypt (glibc's libcrypt on Debian), the two
 * implementations everything else is compared with.
 *
 *	state = EksBlowfishSetup(cost, salt, key):
 *		state = Blowfish's initial state (the digits of pi)
 *		ExpandKey(state, salt, key)
 *		repeat 2^cost times:
 *			ExpandKey(state, 0, key)
 *			ExpandKey(state, 0, salt)
 *	ctext = "OrpheanBeholderScryDoubt", encrypted 64 times in ECB mode
 *	hash = "$2b$" cost "$" base64(salt, 16 bytes) base64(ctext, 23 bytes)
 *
 * The key is the password followed by its terminating NUL, repeated until
 * 72 bytes (18 words of the P-array) are filled; a password of 72 bytes or
 * more is therefore its first 72 bytes and nothing else. The base64 is
 * bcrypt's own: alphabet "./A-Za-z0-9", no padding; 16 salt bytes give 22
 * characters and, as in the original implementation, only 23 of the 24
 * ciphertext bytes are encoded (31 characters).
 *
 * Minor versions, as libxcrypt treats them today:
 *
 *  - "$2b$" (OpenBSD, 2014) is the reference. It fixed OpenBSD's "$2a$"
 *    code, which kept the key length in an 8-bit variable, so that a
 *    password of 255 bytes or more wrapped around: length n was hashed as
 *    the first (n + 1) mod 256 bytes cycled, without the NUL. OpenBSD still
 *    reproduces that wraparound for "$2a$".
 *  - "$2y$" (crypt_blowfish, 2011) marks hashes made by a corrected
 *    crypt_blowfish; its algorithm is exactly "$2b$"'s.
 *  - "$2x$" marks hashes made by crypt_blowfish before 1.1, which
 *    sign-extended bytes >= 0x80 while building the key words (CVE-2011-2483).
 *    We refuse it (TW_EINVAL): no hash of ours was ever made that way.
 *  - "$2a$" is, in libxcrypt and crypt_blowfish, "$2b$" with one safety
 *    measure against that bug: when a password would give the same key words
 *    with and without sign extension although a byte >= 0x80 was
 *    sign-extended past the first byte of a word (only possible with runs of
 *    0xff bytes, e.g. "\xff\xff\xa3"), bit 16 of the first key word is
 *    flipped in the initial ExpandKey, so that such a password cannot
 *    collide with a "$2x$" hash of another. Without that condition "$2a$" is
 *    "$2b$". libxcrypt does not reproduce OpenBSD's wraparound, and neither
 *    do we: "$2a$" passwords of 255 bytes or more hash like their first 72
 *    bytes, as with "$2b$". Since the API refuses passwords over 72 bytes,
 *    only hashes imported from an OpenBSD system could ever tell the
 *    difference.
 *
 * Salt decoding follows libxcrypt too: the 22nd salt character carries 2
 * bits, and a stored hash whose last salt character has other bits set
 * (not one of ".Oeu") is accepted as input but, since a hash is always
 * written with the canonical character, can never match: verify answers
 * TW_EUNAUTH, as a crypt()-and-compare does with libxcrypt or OpenBSD.
 *
 * The Blowfish state (4168 bytes) and the key words live on the stack and
 * are wiped with sodium_memzero() before returning; nothing global is
 * written, so every function here is thread-safe.
 */
#include "core/compat.h"

#include <sodium.h>

#include "auth/auth.h"
#include "auth/blowfish_tables.h"
#include "core/buf.h"
#include "core/err.h"

#define BCRYPT_SALT_LEN 16
#define BCRYPT_KEY_WORDS 18 /* the P-array: 72 bytes */
#define BCRYPT_SALT_CHARS 22
#define BCRYPT_SETTING_LEN (7 + BCRYPT_SALT_CHARS)

struct bf_state {
	uint32_t p[18];
	uint32_t s[4][256];
};

/* Everything secret in one place, so that one sodium_memzero() wipes it. */
struct bcrypt_work {
	struct bf_state st;
	uint32_t key[BCRYPT_KEY_WORDS];
	uint32_t salt[4];
	uint32_t ctext[6];
	unsigned char keybytes[BCRYPT_KEY_WORDS * 4];
	unsigned char raw[24];
};

static const char bcrypt_alphabet[] =
	"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* The 24 bytes encrypted at the end, read as six big-endian words. */
static const char bcrypt_magic[] = "OrpheanBeholderScryDoubt";

/* bcrypt's base64 value of c, or -1 outside the alphabet. */
static int b64_value(unsigned char c)
{
	if (c == '.')
		return 0;
	if (c == '/')
		return 1;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 2;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 28;
	if (c >= '0' && c <= '9')
		return c - '0' + 54;
	return -1;
}

/*
 * b64_encode() writes the bcrypt base64 of len bytes to dst: 4 characters
 * for every 3 bytes, 2 or 3 for a tail of 1 or 2 bytes, no padding and no
 * NUL. The unused low bits of the last character are zero.
 */
static void b64_encode(char *dst, const unsigned char *src, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c1 = src[i++];

		*dst++ = bcrypt_alphabet[c1 >> 2];
		c1 = (c1 & 0x03) << 4;
		if (i >= len) {
			*dst++ = bcrypt_alphabet[c1];
			break;
		}
		c1 |= (unsigned)src[i] >> 4;
		*dst++ = bcrypt_alphabet[c1];
		c1 = ((unsigned)src[i++] & 0x0f) << 2;
		if (i >= len) {
			*dst++ = bcrypt_alphabet[c1];
			break;
		}
		c1 |= (unsigned)src[i] >> 6;
		*dst++ = bcrypt_alphabet[c1];
		*dst++ = bcrypt_alphabet[src[i++] & 0x3f];
	}
}

/*
 * b64_decode_salt() reads the 22 salt characters at src into 16 bytes. The
 * caller has checked that they are all in the alphabet. The low 4 bits of
 * the last character do not fit in 16 bytes and are dropped, as libxcrypt
 * and OpenBSD drop them.
 */
static void b64_decode_salt(unsigned char *dst, const char *src)
{
	unsigned char *end = dst + BCRYPT_SALT_LEN;
	unsigned c[4];
	int k;

	for (;;) {
		for (k = 0; k < 4; k++)
			c[k] = (unsigned)b64_value((unsigned char)src[k]);
		*dst++ = (unsigned char)((c[0] << 2) | (c[1] >> 4));
		if (dst == end)
			break;
		*dst++ = (unsigned char)(((c[1] & 0x0f) << 4) | (c[2] >> 2));
		*dst++ = (unsigned char)(((c[2] & 0x03) << 6) | c[3]);
		src += 4;
	}
}

static uint32_t load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t bf_f(const struct bf_state *st, uint32_t x)
{
	return ((st->s[0][x >> 24] + st->s[1][(x >> 16) & 0xff]) ^
		st->s[2][(x >> 8) & 0xff]) +
	       st->s[3][x & 0xff];
}

/* Encrypts the 64-bit block (*l, *r) with Blowfish's 16 rounds. */
static void bf_encrypt(const struct bf_state *st, uint32_t *l, uint32_t *r)
{
	uint32_t xl = *l, xr = *r;
	int i;

	for (i = 0; i < 16; i += 2) {
		xl ^= st->p[i];
		xr ^= bf_f(st, xl);
		xr ^= st->p[i + 1];
		xl ^= bf_f(st, xr);
	}
	xl ^= st->p[16];
	xr ^= st->p[17];
	*l = xr;
	*r = xl;
}

/*
 * bf_rekey() is the second half of ExpandKey: it encrypts a running block,
 * XORed first with the next two words of data (data_words of them, cycled;
 * none when data is NULL), and replaces the P-array and then the S-boxes
 * with the results, two words at a time.
 */
static void bf_rekey(struct bf_state *st, const uint32_t *data,
		     size_t data_words)
{
	uint32_t l = 0, r = 0;
	size_t j = 0, i;
	uint32_t *words[5] = { st->p, st->s[0], st->s[1], st->s[2], st->s[3] };
	size_t counts[5] = { 18, 256, 256, 256, 256 };
	size_t t;

	for (t = 0; t < 5; t++) {
		for (i = 0; i < counts[t]; i += 2) {
			if (data) {
				l ^= data[j];
				r ^= data[(j + 1) % data_words];
				j = (j + 2) % data_words;
			}
			bf_encrypt(st, &l, &r);
			words[t][i] = l;
			words[t][i + 1] = r;
		}
	}
}

/* P[i] ^= key[i] for the 18 words of the P-array. */
static void bf_xor_p(struct bf_state *st, const uint32_t *key, size_t n)
{
	size_t i;

	for (i = 0; i < BCRYPT_KEY_WORDS; i++)
		st->p[i] ^= key[i % n];
}

/*
 * make_key() fills w->key with the 18 key words: the first len bytes of
 * password, then a NUL, cycled to 72 bytes. For minor 'a' it returns the
 * value to XOR into the first word of the initial ExpandKey only: 0x10000
 * when libxcrypt's safety measure applies (see the top of this file), else
 * 0. It uses no branch on the password's bytes.
 */
static uint32_t make_key(struct bcrypt_work *w, const char *password,
			 size_t len, char minor)
{
	uint32_t diff = 0, sign = 0, flip;
	size_t i, k = 0;

	for (i = 0; i < sizeof(w->keybytes); i++) {
		w->keybytes[i] = k < len ? (unsigned char)password[k] : 0;
		k = k < len ? k + 1 : 0;
	}
	for (i = 0; i < BCRYPT_KEY_WORDS; i++) {
		uint32_t good = 0, bad = 0;
		int j;

		for (j = 0; j < 4; j++) {
			uint32_t b = w->keybytes[4 * i + (size_t)j];
			/* What a signed char would have become. */
			uint32_t ext = b | (0u - (b >> 7)) << 8;

			good = good << 8 | b;
			bad = bad << 8 | ext;
			if (j)
				sign |= b & 0x80;
		}
		w->key[i] = good;
		diff |= good ^ bad;
	}
	/* flip = 0x10000 iff minor is 'a', sign != 0 and diff == 0. */
	diff = (diff | diff >> 16) & 0xffff;
	diff = (diff + 0xffff) & 0x10000; /* 0x10000 iff diff != 0 */
	flip = (sign << 9) & ~diff & 0x10000;
	return minor == 'a' ? flip : 0;
}

/*
 * bcrypt_raw() runs EksBlowfishSetup and the 64 encryptions, and writes the
 * 60-character hash (no NUL) to out.
 */
static void bcrypt_raw(struct bcrypt_work *w, const char *password, size_t len,
		       int cost, const unsigned char salt[16], char minor,
		       char out[AUTH_BCRYPT_HASH_LEN])
{
	uint32_t flip, rounds, n;
	int i;

	flip = make_key(w, password, len, minor);
	for (i = 0; i < 4; i++)
		w->salt[i] = load_be32(salt + 4 * i);

	memcpy(w->st.p, blowfish_init_p, sizeof(w->st.p));
	memcpy(w->st.s, blowfish_init_s, sizeof(w->st.s));
	bf_xor_p(&w->st, w->key, BCRYPT_KEY_WORDS);
	w->st.p[0] ^= flip;
	bf_rekey(&w->st, w->salt, 4);

	rounds = (uint32_t)1 << cost;
	for (n = 0; n < rounds; n++) {
		bf_xor_p(&w->st, w->key, BCRYPT_KEY_WORDS);
		bf_rekey(&w->st, NULL, 0);
		bf_xor_p(&w->st, w->salt, 4);
		bf_rekey(&w->st, NULL, 0);
	}

	for (i = 0; i < 6; i++)
		w->ctext[i] =
			load_be32((const unsigned char *)bcrypt_magic + 4 * i);
	for (i = 0; i < 6; i += 2) {
		int k;

		for (k = 0; k < 64; k++)
			bf_encrypt(&w->st, &w->ctext[i], &w->ctext[i + 1]);
	}
	for (i = 0; i < 6; i++)
		store_be32(w->raw + 4 * i, w->ctext[i]);

	out[0] = '$';
	out[1] = '2';
	out[2] = minor;
	out[3] = '$';
	out[4] = (char)('0' + cost / 10);
	out[5] = (char)('0' + cost % 10);
	out[6] = '$';
	b64_encode(out + 7, salt, BCRYPT_SALT_LEN);
	b64_encode(out + BCRYPT_SETTING_LEN, w->raw, 23);
}

/* A parsed "$2?$NN$" + salt + hash string. */
struct bcrypt_parsed {
	char minor;
	int cost;
	unsigned char salt[BCRYPT_SALT_LEN];
};

/*
 * parse_hash() checks hash strictly: exactly 60 characters, "$2", a minor
 * of 'a', 'b' or 'y', "$", a two-digit cost from 04 to 31, "$", then 53
 * characters of the bcrypt alphabet. TW_EINVAL otherwise.
 */
static int parse_hash(const char *hash, struct bcrypt_parsed *ph)
{
	size_t i;

	if (!hash ||
	    strnlen(hash, AUTH_BCRYPT_HASH_LEN + 1) != AUTH_BCRYPT_HASH_LEN)
		return TW_EINVAL;
	if (hash[0] != '$' || hash[1] != '2' || hash[3] != '$' ||
	    hash[6] != '$')
		return TW_EINVAL;
	if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y')
		return TW_EINVAL;
	if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9')
		return TW_EINVAL;
	ph->minor = hash[2];
	ph->cost = (hash[4] - '0') * 10 + (hash[5] - '0');
	if (ph->cost < AUTH_BCRYPT_MIN_COST || ph->cost > AUTH_BCRYPT_MAX_COST)
		return TW_EINVAL;
	for (i = 7; i < AUTH_BCRYPT_HASH_LEN; i++)
		if (b64_value((unsigned char)hash[i]) < 0)
			return TW_EINVAL;
	b64_decode_salt(ph->salt, hash + 7);
	return 0;
}

/*
 * auth_bcrypt_hash_salt() appends the hash of the first password_len bytes
 * of password (only the first 72 count) to out. TW_EINVAL for a cost outside
 * 4..31, a minor other than 'a', 'b' or 'y' or a password containing a NUL
 * (C-string implementations stop there, so such a hash could never be
 * verified); TW_ETOOBIG when out's cap is too small.
 */
int auth_bcrypt_hash_salt(const char *password, size_t password_len, int cost,
			  const unsigned char salt[16], char minor,
			  struct buf *out, struct buf *err)
{
	struct bcrypt_work w;
	char hash[AUTH_BCRYPT_HASH_LEN];
	size_t len = password_len;
	int rc;

	if (cost < AUTH_BCRYPT_MIN_COST || cost > AUTH_BCRYPT_MAX_COST) {
		buf_errf(err, "bcrypt cost must be between %d and %d, got %d",
			 AUTH_BCRYPT_MIN_COST, AUTH_BCRYPT_MAX_COST, cost);
		return TW_EINVAL;
	}
	if (minor != 'a' && minor != 'b' && minor != 'y') {
		buf_errf(err, "bcrypt version must be 2a, 2b or 2y");
		return TW_EINVAL;
	}
	if (!salt || (!password && password_len)) {
		buf_errf(err, "bcrypt needs a password and a salt");
		return TW_EINVAL;
	}
	if (password_len && memchr(password, '\0', password_len)) {
		buf_errf(err, "password contains a NUL byte");
		return TW_EINVAL;
	}
	if (len > AUTH_BCRYPT_MAX_PASSWORD)
		len = AUTH_BCRYPT_MAX_PASSWORD;

	bcrypt_raw(&w, password, len, cost, salt, minor, hash);
	sodium_memzero(&w, sizeof(w));
	rc = buf_add(out, hash, sizeof(hash));
	if (rc < 0)
		buf_errf(err, "no room for a bcrypt hash in the output buffer");
	sodium_memzero(hash, sizeof(hash));
	return rc;
}

/*
 * auth_bcrypt_hash() appends a "$2b$" hash of password with 16 fresh bytes
 * of salt from the system's CSPRNG (libsodium).
 */
int auth_bcrypt_hash(const char *password, int cost, struct buf *out,
		     struct buf *err)
{
	unsigned char salt[BCRYPT_SALT_LEN];
	int rc;

	if (!password) {
		buf_errf(err, "bcrypt needs a password");
		return TW_EINVAL;
	}
	/* Idempotent and thread-safe: it only does work on the first call. */
	if (sodium_init() < 0) {
		buf_errf(err, "could not initialise libsodium");
		return TW_EINTERNAL;
	}
	randombytes_buf(salt, sizeof(salt));
	rc = auth_bcrypt_hash_salt(password,
				   strnlen(password, AUTH_BCRYPT_MAX_PASSWORD),
				   cost, salt, 'b', out, err);
	sodium_memzero(salt, sizeof(salt));
	return rc;
}

/*
 * auth_bcrypt_verify() recomputes the hash with the stored minor, cost and
 * salt and compares all 60 characters in constant time.
 */
int auth_bcrypt_verify(const char *password, const char *hash)
{
	struct bcrypt_parsed ph;
	struct bcrypt_work w;
	char mine[AUTH_BCRYPT_HASH_LEN];
	int rc;

	if (!password || parse_hash(hash, &ph) < 0)
		return TW_EINVAL;
	bcrypt_raw(&w, password, strnlen(password, AUTH_BCRYPT_MAX_PASSWORD),
		   ph.cost, ph.salt, ph.minor, mine);
	sodium_memzero(&w, sizeof(w));
	rc = sodium_memcmp(mine, hash, sizeof(mine)) == 0 ? 0 : TW_EUNAUTH;
	sodium_memzero(mine, sizeof(mine));
	sodium_memzero(&ph, sizeof(ph));
	return rc;
}

int auth_bcrypt_cost(const char *hash)
{
	struct bcrypt_parsed ph;

	if (parse_hash(hash, &ph) < 0)
		return -1;
	return ph.cost;
}
