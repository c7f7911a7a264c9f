/*
 * envfile.c - the .env parser.
 *
 * The input is untrusted bytes of a given length (it is fuzzed by
 * tests/fuzz/fuzz_envfile.c): every read is bounded by that length, never by
 * a terminating NUL, keys and values are capped, and an error names the line
 * but never quotes its text (the line may hold a secret).
 */
#include "core/compat.h"
#include "config/config.h"
#include "core/err.h"

/* Longest key and value accepted. */
#define ENVFILE_KEY_MAX 128
#define ENVFILE_VALUE_MAX ((size_t)64 * 1024)

/* White space inside a line; '\r' counts so CRLF files and strays work. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_key_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_key_char(char c)
{
	return is_key_start(c) || (c >= '0' && c <= '9');
}

/* Appends "line N: what" to err. Always returns TW_ECONFIG. */
static int syntax_error(struct buf *err, int line, const char *what)
{
	if (err)
		buf_addf(err, "line %d: %s", line, what);
	return TW_ECONFIG;
}

static int too_long(struct buf *err, int line)
{
	return syntax_error(err, line, "value is longer than 65536 bytes");
}

/*
 * Checks what follows a closing quote: only white space and an optional
 * comment may.
 */
static int after_quote(const char *s, size_t n, size_t i, int line,
		       struct buf *err)
{
	while (i < n && is_blank(s[i]))
		i++;
	if (i < n && s[i] != '#')
		return syntax_error(err, line,
				    "unexpected text after the closing quote");
	return 0;
}

/* Parses the inside of "..." starting after the opening quote at s[i]. */
static int parse_double(const char *s, size_t n, size_t i, int line,
			struct buf *val, struct buf *err)
{
	char c;

	for (;;) {
		if (i >= n)
			return syntax_error(err, line,
					    "unterminated double-quoted value");
		c = s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= n)
				return syntax_error(err, line,
						    "unterminated "
						    "double-quoted value");
			switch (s[i + 1]) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '\\':
				c = '\\';
				break;
			case '"':
				c = '"';
				break;
			default:
				return syntax_error(err, line,
						    "unknown escape sequence "
						    "in a "
						    "double-quoted value (use "
						    "\\n, \\t, "
						    "\\\\ or \\\"; or single "
						    "quotes for a "
						    "literal value)");
			}
			i++;
		}
		if (buf_addch(val, c) < 0)
			return too_long(err, line);
		i++;
	}
	return after_quote(s, n, i + 1, line, err);
}

/* Parses the inside of '...' starting after the opening quote at s[i]. */
static int parse_single(const char *s, size_t n, size_t i, int line,
			struct buf *val, struct buf *err)
{
	const char *end = memchr(s + i, '\'', n - i);

	if (!end)
		return syntax_error(err, line,
				    "unterminated single-quoted value");
	if (buf_add(val, s + i, (size_t)(end - (s + i))) < 0)
		return too_long(err, line);
	return after_quote(s, n, (size_t)(end - s) + 1, line, err);
}

/*
 * Parses a bare value from s[i]: up to a '#' that follows white space (a
 * comment), without trailing white space. blank_before says whether white
 * space separated the value from '='.
 */
static int parse_bare(const char *s, size_t n, size_t i, bool blank_before,
		      int line, struct buf *val, struct buf *err)
{
	size_t j, end = n;

	for (j = i; j < n; j++) {
		if (s[j] != '#')
			continue;
		if (j == i ? blank_before : is_blank(s[j - 1])) {
			end = j;
			break;
		}
	}
	while (end > i && is_blank(s[end - 1]))
		end--;
	if (buf_add(val, s + i, end - i) < 0)
		return too_long(err, line);
	return 0;
}

/*
 * Parses one line (s, n bytes, no '\n'). Returns 1 with key and val filled
 * for a KEY=VALUE line, 0 for a blank or comment line, TW_ECONFIG on a
 * syntax error.
 */
static int parse_line(const char *s, size_t n, int line, struct buf *key,
		      struct buf *val, struct buf *err)
{
	size_t i = 0, k;
	bool blank_before;
	int rc;

	buf_reset(key);
	buf_reset(val);
	while (i < n && is_blank(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	if (n - i > 6 && !memcmp(s + i, "export", 6) &&
	    (s[i + 6] == ' ' || s[i + 6] == '\t')) {
		i += 6;
		while (i < n && is_blank(s[i]))
			i++;
	}
	if (i == n || !is_key_start(s[i]))
		return syntax_error(err, line, "expected KEY=VALUE");
	for (k = i; k < n && is_key_char(s[k]); k++)
		;
	if (k - i > ENVFILE_KEY_MAX)
		return syntax_error(err, line,
				    "key is longer than 128 characters");
	buf_add(key, s + i, k - i);
	i = k;
	while (i < n && is_blank(s[i]))
		i++;
	if (i == n || s[i] != '=')
		return syntax_error(err, line, "expected KEY=VALUE");
	i++;
	k = i;
	while (i < n && is_blank(s[i]))
		i++;
	blank_before = i > k;
	/* Make the value a string even when it is empty. */
	buf_add(val, "", 0);
	if (i < n && s[i] == '"')
		rc = parse_double(s, n, i + 1, line, val, err);
	else if (i < n && s[i] == '\'')
		rc = parse_single(s, n, i + 1, line, val, err);
	else
		rc = parse_bare(s, n, i, blank_before, line, val, err);
	return rc < 0 ? rc : 1;
}

int envfile_parse(const char *text, size_t len,
		  int (*cb)(void *ctx, const char *key, const char *value,
			    int line),
		  void *ctx, struct buf *err)
{
	struct buf key = BUF_INIT(ENVFILE_KEY_MAX);
	struct buf val = BUF_INIT(ENVFILE_VALUE_MAX);
	const char *nul, *nl;
	size_t pos = 0, end, next, i;
	int line = 0, rc = 0;

	if (len && !text)
		TW_BUG("envfile_parse: NULL text");
	nul = len ? memchr(text, '\0', len) : NULL;
	if (nul) {
		line = 1;
		for (i = 0; i < (size_t)(nul - text); i++)
			line += text[i] == '\n';
		rc = syntax_error(err, line, "the file contains a NUL byte");
		goto out;
	}
	if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
		pos = 3;
	while (pos < len) {
		if (line == INT_MAX) {
			rc = syntax_error(err, line, "too many lines");
			goto out;
		}
		line++;
		nl = memchr(text + pos, '\n', len - pos);
		end = nl ? (size_t)(nl - text) : len;
		next = nl ? end + 1 : len;
		rc = parse_line(text + pos, end - pos, line, &key, &val, err);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			rc = cb(ctx, key.ptr, val.ptr, line);
			if (rc)
				goto out;
		}
		rc = 0;
		pos = next;
	}
out:
	/* Values may be secrets: wipe them before the memory is reused. */
	buf_release_secret(&val);
	buf_release(&key);
	return rc;
}
