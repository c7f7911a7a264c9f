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

/*
 * The length of the well-formed UTF-8 sequence at s (at most n bytes), or
 * 0 when there is none (RFC 3629, table 3-7 of the Unicode standard).
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (s[0] >= 0x01 && s[0] <= 0x7F)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

int str_utf8_clean(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0;
	int rc = 0;

	while (i < len && rc == 0) {
		size_t n = utf8_seq_len(p + i, len - i);

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
		size_t n = utf8_seq_len(p + i, len - i);
		long cp = -1;
		const char *put = NULL; /* what replaces the character */
		bool keep;

		if (n == 1)
			cp = p[i];
		else if (n == 2)
			cp = (long)(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
		else if (n > 2)
			cp = 0x800; /* no control past U+07FF matters here */
		if (esc_step(&st, cp)) {
			keep = false;
		} else if (cp < 0 || cp == 0) {
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
