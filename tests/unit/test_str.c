#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

static void test_ident_rule(void **state)
{
	static const char *good[] = {
		"a",
		"_",
		"orders",
		"Orders_2024",
		"_x9",
		"a23456789012345678901234567890123456789012345678901234567890123"
	};
	static const char *bad[] = {
		"",
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
		"a234567890123456789012345678901234567890123456789012345678901234"
	};
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

/* Cleans s (n bytes) and compares with want (NUL-terminated). */
static void check_clean(const char *s, size_t n, const char *want)
{
	struct buf b = BUF_INIT(1024);

	assert_int_equal(str_utf8_clean(&b, s, n), 0);
	assert_string_equal(b.ptr, want);
	assert_int_equal(b.len, strlen(want));
	buf_release(&b);
}

#define REPL "\xEF\xBF\xBD"

static void test_utf8_clean(void **state)
{
	(void)state;
	check_clean("", 0, "");
	check_clean("plain ascii\n", 12, "plain ascii\n");
	/* Well-formed 2, 3 and 4 byte sequences pass untouched. */
	check_clean("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 9,
		    "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
	/* A NUL, a stray continuation byte, an invalid lead byte. */
	check_clean("a\0b", 3, "a" REPL "b");
	check_clean("\x80x", 2, REPL "x");
	check_clean("\xFF\xFE", 2, REPL REPL);
	/* Overlong forms, a surrogate, past U+10FFFF. */
	check_clean("\xC0\xAF", 2, REPL REPL);
	check_clean("\xE0\x80\xAF", 3, REPL REPL REPL);
	check_clean("\xED\xA0\x80", 3, REPL REPL REPL);
	check_clean("\xF4\x90\x80\x80", 4, REPL REPL REPL REPL);
	/* A sequence cut off at the end, and one cut off by ASCII. */
	check_clean("ok\xE2\x82", 4, "ok" REPL REPL);
	check_clean("\xE2\x82z", 3, REPL REPL "z");
}

/* Cleans s (n bytes) as text and compares with want (NUL-terminated). */
static void check_text(const char *s, size_t n, const char *want)
{
	struct buf b = BUF_INIT(1024);

	assert_int_equal(str_text_clean(&b, s, n), 0);
	assert_string_equal(b.ptr, want);
	assert_int_equal(b.len, strlen(want));
	buf_release(&b);
}

/* A string literal and its length, NUL bytes inside included. */
#define LIT(s) s, sizeof(s) - 1

static void test_text_clean(void **state)
{
	(void)state;
	check_text(LIT(""), "");
	check_text(LIT("a\tb\n\xC3\xA9\n"), "a\tb\n\xC3\xA9\n");
	/* Colours and cursor moves go whole, text stays. */
	check_text(LIT("\x1b[31mred\x1b[0m \x1b[2;5H."), "red .");
	/* A window title (OSC, ended by BEL or ESC \), a charset switch. */
	check_text(LIT("\x1b]0;owned\x07x\x1b]2;t\x1b\\y\x1b(Bz"), "xyz");
	/* \r alone is a line end, before \n it goes; \b and BEL go. */
	check_text(LIT("50%\r100%\r\n"), "50%\n100%\n");
	check_text(LIT("ab\bc\x07\x7f!"), "abc!");
	/* C1 controls, CSI and OSC among them; U+00A0 is not one. */
	check_text(LIT("\xC2\x85x\xC2\x9B"
		       "1mq\xC2\x9Dt\xC2\x9C!\xC2\xA0"),
		   "xq!\xC2\xA0");
	/* A sequence cut by a line end keeps the line end; a lone ESC. */
	check_text(LIT("\x1b]0;x\ny\x1b"), "\ny");
	/* NUL and malformed bytes as in str_utf8_clean(). */
	check_text(LIT("a\0\xFF\x1b[\xFFm"), "a" REPL REPL REPL "m");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ident_rule),
		cmocka_unit_test(test_to_long),
		cmocka_unit_test(test_affixes_and_case),
		cmocka_unit_test(test_utf8_clean),
		cmocka_unit_test(test_text_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
