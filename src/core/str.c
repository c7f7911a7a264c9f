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
