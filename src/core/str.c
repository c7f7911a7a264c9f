#include "core/compat.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

bool str_ident_valid(const char *name)
{
	size_t i;

	if (!name || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
		return false;
	for (i = 1; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];

		if (i > 62 || c > 127 || !(isalnum(c) || c == '_'))
			return false;
	}
	return true;
}

bool str_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

int str_to_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return TW_EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return TW_EINVAL;
	*out = v;
	return 0;
}

bool str_eq_nocase(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
	}
	return *a == *b;
}

size_t str_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	/* The range of the second byte; table 3-7 narrows it for four leads. */
	unsigned char lo = 0x80, hi = 0xBF;
	uint32_t c;
	size_t len, i;

	if (u[0] <= 0x7F) {
		len = 1;
		c = u[0];
	} else if (u[0] >= 0xC2 && u[0] <= 0xDF) {
		len = 2;
		c = u[0] & 0x1F;
	} else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
		len = 3;
		c = u[0] & 0x0F;
	} else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
		len = 4;
		c = u[0] & 0x07;
	} else {
		return 0;
	}
	if (u[0] == 0xE0)
		lo = 0xA0; /* no overlong three-byte form */
	else if (u[0] == 0xED)
		hi = 0x9F; /* no surrogate */
	else if (u[0] == 0xF0)
		lo = 0x90; /* no overlong four-byte form */
	else if (u[0] == 0xF4)
		hi = 0x8F; /* nothing past U+10FFFF */
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if (u[i] < (i == 1 ? lo : 0x80) || u[i] > (i == 1 ? hi : 0xBF))
			return 0;
		c = c << 6 | (u[i] & 0x3F);
	}
	if (cp)
		*cp = c;
	return len;
}

size_t str_utf8_valid_prefix(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t len;

		if (n - i >= 8) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (!(w & UINT64_C(0x8080808080808080))) {
				i += 8;
				continue;
			}
		}
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		len = str_utf8_decode(s + i, n - i, NULL);
		if (!len)
			return i;
		i += len;
	}
	return n;
}

bool str_utf8_valid(const char *s, size_t n)
{
	return str_utf8_valid_prefix(s, n) == n;
}

int str_utf8_clean(struct buf *out, const char *s, size_t len)
{
	size_t i = 0, start = 0;
	int rc = 0;

	while (i < len && rc == 0) {
		/* NUL is well-formed, but not wanted in text. */
		size_t n = s[i] ? str_utf8_decode(s + i, len - i, NULL) : 0;

		if (n > 0) {
			i += n;
			continue;
		}
		rc = buf_add(out, s + start, i - start);
		if (rc == 0)
			rc = buf_add(out, "\xEF\xBF\xBD", 3);
		start = ++i;
	}
	if (rc == 0)
		rc = buf_add(out, s + start, i - start);
	return rc;
}

/* Where str_text_clean() is inside an escape sequence. */
enum esc_state {
	ESC_NONE,
	ESC_START, /* after ESC */
	ESC_CSI,   /* in parameters and intermediates, until a final byte */
	ESC_OSC,   /* in a string, until BEL, ST or ESC \ */
	ESC_OSC_ESC,
	ESC_NF /* ESC and intermediates, until a final byte */
};

/*
 * esc_step() feeds code point cp (-1: not a character) to the escape
 * sequence state machine. True when cp belongs to the sequence and is
 * dropped; false when the sequence has ended before cp, which is then
 * handled as ordinary text.
 */
static bool esc_step(enum esc_state *st, long cp)
{
	switch (*st) {
	case ESC_NONE:
		return false;
	case ESC_START:
		*st = ESC_NONE;
		if (cp == '[')
			*st = ESC_CSI;
		else if (cp == ']')
			*st = ESC_OSC;
		else if (cp >= 0x20 && cp <= 0x2F)
			*st = ESC_NF;
		else if (!(cp >= 0x30 && cp <= 0x7E))
			return false;
		return true;
	case ESC_CSI:
		if (cp >= 0x20 && cp <= 0x3F)
			return true;
		*st = ESC_NONE;
		return cp >= 0x40 && cp <= 0x7E;
	case ESC_NF:
		if (cp >= 0x20 && cp <= 0x2F)
			return true;
		*st = ESC_NONE;
		return cp >= 0x30 && cp <= 0x7E;
	case ESC_OSC:
		if (cp == 0x07 || cp == 0x9C) {
			*st = ESC_NONE;
			return true;
		}
		if (cp == 0x1B) {
			*st = ESC_OSC_ESC;
			return true;
		}
		if (cp == '\n' || cp < 0) {
			*st = ESC_NONE;
			return false;
		}
		return true;
	case ESC_OSC_ESC:
		*st = ESC_NONE;
		return cp == '\\';
	}
	return false;
}

int str_text_clean(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	enum esc_state st = ESC_NONE;
	size_t i = 0, start = 0;
	int rc = 0;

	while (i < len && rc == 0) {
		uint32_t u = 0;
		/* NUL is well-formed, but not wanted in text. */
		size_t n = p[i] ? str_utf8_decode(s + i, len - i, &u) : 0;
		long cp = n ? (long)u : -1; /* -1: not a character */
		const char *put = NULL;	    /* what replaces the character */
		bool keep;

		if (esc_step(&st, cp)) {
			keep = false;
		} else if (cp < 0) {
			keep = false;
			put = "\xEF\xBF\xBD";
			n = 1;
		} else if (cp == '\n' || cp == '\t') {
			keep = true;
		} else if (cp == '\r') {
			keep = false;
			if (i + 1 >= len || p[i + 1] != '\n')
				put = "\n";
		} else if (cp == 0x1B) {
			keep = false;
			st = ESC_START;
		} else if (cp == 0x9B || cp == 0x9D) {
			keep = false;
			st = cp == 0x9B ? ESC_CSI : ESC_OSC;
		} else {
			keep = !(cp < 0x20 || (cp >= 0x7F && cp <= 0x9F));
		}
		if (!keep) {
			rc = buf_add(out, s + start, i - start);
			if (rc == 0 && put)
				rc = buf_adds(out, put);
			start = i + (n ? n : 1);
		}
		i += n ? n : 1;
	}
	if (rc == 0)
		rc = buf_add(out, s + start, i - start);
	return rc;
}
