#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/str.h"

static void test_ident_rule(void **state)
{
	static const char *good[] = { "a",
				      "_",
				      "orders",
				      "Orders_2024",
				      "_x9",
				      "a234567890123456789012345678901234567890"
				      "12345678901234"
				      "567890123" };
	static const char *bad[] = { "",
				     "1a",
				     "a-b",
				     "a b",
				     "a;",
				     "\"a\"",
				     "a.b",
				     "é",
				     "a\xc3\xa9",
				     "..",
				     "pg_catalog;--",
				     "a2345678901234567890123456789012345678901"
				     "23456789012345678"
				     "901234" };
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(good); i++)
		assert_true(str_ident_valid(good[i]));
	for (i = 0; i < TW_ARRAY_SIZE(bad); i++)
		assert_false(str_ident_valid(bad[i]));
	assert_false(str_ident_valid(NULL));
	/* 63 characters is the limit (PostgreSQL's NAMEDATALEN - 1). */
	assert_int_equal(strlen(good[5]), 63);
	assert_int_equal(strlen(bad[11]), 64);
}

static void test_to_long(void **state)
{
	long v = 0;

	(void)state;
	assert_int_equal(str_to_long("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(str_to_long("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(str_to_long("101", 0, 100, &v), TW_EINVAL);
	assert_int_equal(str_to_long("", 0, 100, &v), TW_EINVAL);
	assert_int_equal(str_to_long(" 1", 0, 100, &v), TW_EINVAL);
	assert_int_equal(str_to_long("1 ", 0, 100, &v), TW_EINVAL);
	assert_int_equal(str_to_long("1x", 0, 100, &v), TW_EINVAL);
	assert_int_equal(str_to_long("99999999999999999999999", 0, LONG_MAX,
				     &v),
			 TW_EINVAL);
	assert_int_equal(str_to_long(NULL, 0, 1, &v), TW_EINVAL);
}

static void test_affixes_and_case(void **state)
{
	(void)state;
	assert_true(str_starts_with("/api/v1/jobs", "/api/"));
	assert_false(str_starts_with("/ap", "/api/"));
	assert_true(str_ends_with("index.html", ".html"));
	assert_false(str_ends_with("html", ".html"));
	assert_true(str_eq_nocase("Content-Type", "content-type"));
	assert_false(str_eq_nocase("Content-Type", "content-typ"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ident_rule),
		cmocka_unit_test(test_to_long),
		cmocka_unit_test(test_affixes_and_case),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
