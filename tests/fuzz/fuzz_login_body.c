/*
 * fuzz_login_body.c - libFuzzer target for the login body parser,
 * api_login_parse() (src/api/auth.c), which sees every byte a client sends
 * to POST /api/v1/auth/login before anything else does.
 *
 * Besides memory errors it checks the parser's promises: the result is 0,
 * TW_EINVAL or TW_EVALIDATION; an error comes with a one-line message of
 * printable characters and leaves both outputs empty; an accepted email is
 * already normalised (auth_check_email() gives it back unchanged) and an
 * accepted password is 1 to API_LOGIN_PASSWORD_MAX bytes without NUL.
 *
 * Build with cmake -DTW_FUZZ=ON (clang), then run, for example:
 *	./fuzz_login_body -runs=200000 tests/fuzz/corpus/login_body
 */
#include "core/compat.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "core/buf.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A message is one line of printable text. */
static void check_message(const struct buf *err)
{
	size_t i;

	if (!err->len || strlen(err->ptr) != err->len)
		abort();
	for (i = 0; i < err->len; i++) {
		unsigned char c = (unsigned char)err->ptr[i];

		if (c < 0x20 || c == 0x7F)
			abort();
	}
}

static void check_email(const struct buf *email)
{
	struct buf again = BUF_INIT(AUTH_EMAIL_MAX + 1);

	if (email->len < 3 || email->len > AUTH_EMAIL_MAX ||
	    strlen(email->ptr) != email->len)
		abort();
	if (auth_check_email(email->ptr, &again, NULL) != 0 ||
	    strcmp(again.ptr, email->ptr) != 0)
		abort();
	buf_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf email = BUF_INIT(AUTH_EMAIL_MAX + 1);
	struct buf password = BUF_INIT(API_LOGIN_PASSWORD_MAX + 1);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	rc = api_login_parse((const char *)data, size, &email, &password, &err);
	if (rc != 0 && rc != TW_EINVAL && rc != TW_EVALIDATION)
		abort();
	if (rc == 0) {
		if (err.len)
			abort();
		check_email(&email);
		if (password.len < 1 || password.len > API_LOGIN_PASSWORD_MAX ||
		    strlen(password.ptr) != password.len)
			abort();
	} else {
		check_message(&err);
		if (email.len || password.len)
			abort();
	}
	buf_release(&email);
	buf_release(&password);
	buf_release(&err);
	return 0;
}
