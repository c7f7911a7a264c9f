/*
 * jwt_tool.c - auth_jwt_encode() and auth_jwt_decode() behind a line
 * protocol, so tests/integration/test_jwt_pyjwt.py can compare them with
 * PyJWT.
 *
 *	jwt_tool encode KEY        stdin: "SUB ROLE IAT EXP TV" per line
 *	                           stdout: the token, or "error <reason>"
 *	jwt_tool decode KEY NOW    stdin: one token per line
 *	                           stdout: "ok SUB ROLE IAT EXP TV" or
 *	                                   "rejected <reason>"
 *
 * KEY is used as its raw bytes, as TW_SECRET_KEY is. One output line per
 * input line, in order. Having the key on the command line is fine for a
 * test tool only. Exit status: 0, 1 when standard output failed, 2 for a
 * usage error.
 */
#include "core/compat.h"

#include <sodium.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

/* Longer than any token we accept, so overlong tokens reach the decoder. */
#define LINE_CAP ((size_t)1 << 20)
/* SUB ROLE IAT EXP TV */
#define CLAIMS_FMT "%" PRId64 " %s %" PRId64 " %" PRId64 " %" PRId64

static int usage(void)
{
	fputs("usage: jwt_tool encode KEY < claims\n"
	      "       jwt_tool decode KEY NOW < tokens\n",
	      stderr);
	return 2;
}

/* Parses "SUB ROLE IAT EXP TV" (single spaces, nothing else) into *c. */
static int parse_claims(const char *line, struct auth_claims *c)
{
	int64_t sub, iat, exp, tv;
	char role[16];
	int end = -1;

	memset(c, 0, sizeof(*c));
	if (sscanf(line,
		   "%" SCNd64 " %15s %" SCNd64 " %" SCNd64 " %" SCNd64 "%n",
		   &sub, role, &iat, &exp, &tv, &end) != 5 ||
	    end < 0 || line[end] != '\0')
		return TW_EINVAL;
	c->sub = sub;
	snprintf(c->role, sizeof(c->role), "%s", role);
	c->iat = iat;
	c->exp = exp;
	c->tv = tv;
	return 0;
}

static void encode_line(const char *line, const char *key)
{
	struct buf out = BUF_INIT(AUTH_JWT_MAX_LEN);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_claims c;

	if (parse_claims(line, &c) < 0)
		printf("error expected \"SUB ROLE IAT EXP TV\"\n");
	else if (auth_jwt_encode(&c, key, strlen(key), &out, &err) < 0)
		printf("error %s\n", err.ptr);
	else
		printf("%s\n", out.ptr);
	buf_release(&out);
	buf_release(&err);
}

static void decode_line(const char *line, const char *key, int64_t now)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_claims c;

	if (auth_jwt_decode(line, key, strlen(key), now, &c, &err) < 0)
		printf("rejected %s\n", err.ptr);
	else
		printf("ok " CLAIMS_FMT "\n", c.sub, c.role, c.iat, c.exp,
		       c.tv);
	buf_release(&err);
}

int main(int argc, char **argv)
{
	struct buf line = BUF_INIT(LINE_CAP);
	bool encode;
	long long now = 0;
	char *end;
	int rc;

	if (argc < 3 || !argv[2][0])
		return usage();
	encode = !strcmp(argv[1], "encode");
	if (encode && argc != 3)
		return usage();
	if (!encode) {
		if (strcmp(argv[1], "decode") != 0 || argc != 4)
			return usage();
		errno = 0;
		now = strtoll(argv[3], &end, 10);
		if (errno || end == argv[3] || *end)
			return usage();
	}
	if (sodium_init() < 0) {
		fputs("jwt_tool: could not initialise libsodium\n", stderr);
		return 1;
	}
	for (;;) {
		buf_reset(&line);
		rc = buf_getline(&line, stdin, NULL);
		if (rc == TW_EIO)
			break;
		if (rc == TW_ETOOBIG)
			printf("%s line too long\n",
			       encode ? "error" : "rejected");
		else if (encode)
			encode_line(line.ptr, argv[2]);
		else
			decode_line(line.ptr, argv[2], (int64_t)now);
	}
	buf_release(&line);
	if (fflush(stdout) != 0 || ferror(stdout))
		return 1;
	return 0;
}
