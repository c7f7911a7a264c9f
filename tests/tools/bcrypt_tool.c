/*
 * bcrypt_tool.c - auth_bcrypt_hash() and auth_bcrypt_verify() behind a line
 * protocol, so tests/integration/test_bcrypt_python.py can compare them
 * with Python's bcrypt.
 *
 *	bcrypt_tool hash COST   stdin: one password per line, in hex
 *	                        stdout: its "$2b$" hash, or "invalid"
 *	bcrypt_tool verify      stdin: "HEXPASSWORD HASH" per line (the empty
 *	                        password is an empty HEXPASSWORD)
 *	                        stdout: "ok", "mismatch" or "invalid"
 *
 * Passwords travel in hex so that any byte but NUL can be tested; a line
 * that is not even-length hex, decodes to a NUL byte or lacks the space is
 * "invalid", as is a hash auth_bcrypt_verify() calls malformed. One output
 * line per input line, in order. Exit status: 0, 1 when standard output
 * failed, 2 for a usage error.
 */
#include "core/compat.h"

#include "auth/auth.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#define LINE_CAP ((size_t)64 * 1024)

static int usage(void)
{
	fputs("usage: bcrypt_tool hash COST < hex-passwords\n"
	      "       bcrypt_tool verify < \"HEXPASSWORD HASH\" lines\n",
	      stderr);
	return 2;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes the len hex digits at hex into out (NUL-terminated). TW_EINVAL
 * for an odd length, a non-hex digit or a decoded NUL byte.
 */
static int unhex(const char *hex, size_t len, struct buf *out)
{
	size_t i;
	int rc = 0;

	if (len % 2)
		return TW_EINVAL;
	for (i = 0; i < len && rc == 0; i += 2) {
		int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			rc = TW_EINVAL;
		else
			rc = buf_addch(out, hi << 4 | lo);
	}
	return rc;
}

static void hash_line(const char *line, int cost)
{
	struct buf pw = BUF_INIT(LINE_CAP), out = BUF_INIT(128);

	if (unhex(line, strlen(line), &pw) < 0 ||
	    auth_bcrypt_hash(pw.ptr, cost, &out, NULL) < 0)
		puts("invalid");
	else
		puts(out.ptr);
	buf_release(&pw);
	buf_release(&out);
}

static void verify_line(const char *line)
{
	struct buf pw = BUF_INIT(LINE_CAP);
	const char *space = strchr(line, ' ');
	int rc;

	if (!space || unhex(line, (size_t)(space - line), &pw) < 0)
		rc = TW_EINVAL;
	else
		rc = auth_bcrypt_verify(pw.ptr, space + 1);
	puts(rc == 0 ? "ok" : rc == TW_EUNAUTH ? "mismatch" : "invalid");
	buf_release(&pw);
}

int main(int argc, char **argv)
{
	struct buf line = BUF_INIT(LINE_CAP);
	long cost = 0;
	bool hash;
	int rc;

	if (argc < 2)
		return usage();
	hash = !strcmp(argv[1], "hash");
	if (hash && (argc != 3 || str_to_long(argv[2], AUTH_BCRYPT_MIN_COST,
					      AUTH_BCRYPT_MAX_COST, &cost) < 0))
		return usage();
	if (!hash && (strcmp(argv[1], "verify") != 0 || argc != 2))
		return usage();
	for (;;) {
		buf_reset(&line);
		rc = buf_getline(&line, stdin, NULL);
		if (rc == TW_EIO)
			break;
		if (rc == TW_ETOOBIG)
			puts("invalid");
		else if (hash)
			hash_line(line.ptr, (int)cost);
		else
			verify_line(line.ptr);
	}
	buf_release(&line);
	if (fflush(stdout) != 0 || ferror(stdout))
		return 1;
	return 0;
}
