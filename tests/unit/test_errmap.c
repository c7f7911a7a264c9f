#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/http.h"
#include "http/http_int.h"

/* Whether code is snake_case: [a-z][a-z_]*. */
static bool snake_case(const char *code)
{
	const char *p;

	if (!code || !(*code >= 'a' && *code <= 'z'))
		return false;
	for (p = code; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
			return false;
	}
	return true;
}

/*
 * Every code from -1 down to TW_E_LAST (core/err.h) has a row of its own in
 * http/errmap.c, a name of its own in core/err.c (TW_EINTERNAL's is the
 * fallback's), a 4xx or 5xx status and a snake_case API code. The fallback
 * would give an unmapped code 500 internal, so the first check is the one
 * that catches a code added to err.h but not to the table.
 */
static void test_every_code_has_a_row(void **state)
{
	int rc;

	(void)state;
	for (rc = -1; rc >= TW_E_LAST; rc--) {
		int status = http_status_for(rc);

		if (!http__errmap_has(rc))
			fail_msg("code %d (%s) has no row in http/errmap.c", rc,
				 err_name(rc));
		if (rc != TW_EINTERNAL && strcmp(err_name(rc), "internal") == 0)
			fail_msg("code %d has no name in core/err.c", rc);
		if (status < 400 || status > 599)
			fail_msg("%s: status %d", err_name(rc), status);
		if (!snake_case(http_code_for(rc)))
			fail_msg("%s: code \"%s\"", err_name(rc),
				 http_code_for(rc));
	}
	/* TW_E_LAST is the last code: err.c names none beyond it. */
	assert_string_equal(err_name(TW_E_LAST - 1), "internal");
	assert_false(http__errmap_has(TW_E_LAST - 1));
	assert_false(http__errmap_has(TW_OK));
}

static void test_the_api_vocabulary(void **state)
{
	static const struct {
		int rc;
		int status;
		const char *code;
	} want[] = {
		{ TW_EINVAL, 400, "bad_request" },
		{ TW_EVALIDATION, 422, "validation_failed" },
		{ TW_EUNAUTH, 401, "unauthorized" },
		{ TW_EFORBIDDEN, 403, "forbidden" },
		{ TW_ENOTFOUND, 404, "not_found" },
		{ TW_ECONFLICT, 409, "conflict" },
		{ TW_ETOOBIG, 413, "payload_too_large" },
		{ TW_ETOOMANY, 429, "too_many_requests" },
		{ TW_EUNAVAIL, 503, "unavailable" },
		{ TW_ETIMEOUT, 503, "unavailable" },
		{ TW_EINTERNAL, 500, "internal" },
		{ TW_EIO, 500, "internal" },
		{ TW_EDB, 500, "internal" },
		{ TW_ECONFIG, 500, "internal" },
		{ TW_ENOTIMPL, 500, "internal" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(want); i++) {
		assert_int_equal(http_status_for(want[i].rc), want[i].status);
		assert_string_equal(http_code_for(want[i].rc), want[i].code);
	}
}

static void test_unknown_codes_are_internal(void **state)
{
	static const int odd[] = { TW_OK, 1, 42, -16, -999, INT_MIN, INT_MAX };
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(odd); i++) {
		assert_int_equal(http_status_for(odd[i]), 500);
		assert_string_equal(http_code_for(odd[i]), "internal");
		assert_true(http__hides_detail(odd[i]));
	}
}

static void test_internal_never_leaks(void **state)
{
	static const char detail[] = "could not open \"/srv/secret\": "
				     "password=hunter2 host=db.internal";
	int rc;

	(void)state;
	for (rc = -1; rc >= TW_E_LAST; rc--) {
		const char *msg = http__client_message(rc, detail);
		bool server_side = http_status_for(rc) >= 500;

		assert_non_null(msg);
		if (server_side != http__hides_detail(rc))
			fail_msg("%s: 5xx and hidden detail disagree",
				 err_name(rc));
		if (server_side && strstr(msg, "hunter2"))
			fail_msg("%s leaks its detail", err_name(rc));
		if (!server_side)
			assert_string_equal(msg, detail);
	}
	assert_string_equal(http__client_message(TW_EINTERNAL, detail),
			    "internal "
			    "error");
	assert_string_equal(http__client_message(TW_EINVAL, NULL), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_a_row),
		cmocka_unit_test(test_the_api_vocabulary),
		cmocka_unit_test(test_unknown_codes_are_internal),
		cmocka_unit_test(test_internal_never_leaks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
