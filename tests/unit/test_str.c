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

static void test_utf8_decode(void **state)
{
	uint32_t cp = 0;

	(void)state;
	assert_int_equal(str_utf8_decode("A", 1, &cp), 1);
	assert_int_equal(cp, 0x41);
	assert_int_equal(str_utf8_decode("", 1, &cp), 1); /* U+0000 */
	assert_int_equal(cp, 0);
	assert_int_equal(str_utf8_decode("\xC3\xA9", 2, &cp), 2);
	assert_int_equal(cp, 0xE9);
	assert_int_equal(str_utf8_decode("\xE2\x82\xAC", 3, &cp), 3);
	assert_int_equal(cp, 0x20AC);
	assert_int_equal(str_utf8_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
	assert_int_equal(cp, 0x1F600);
	/* The edges: U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10FFFF. */
	assert_int_equal(str_utf8_decode("\x7F", 1, &cp), 1);
	assert_int_equal(str_utf8_decode("\xC2\x80", 2, &cp), 2);
	assert_int_equal(cp, 0x80);
	assert_int_equal(str_utf8_decode("\xDF\xBF", 2, &cp), 2);
	assert_int_equal(cp, 0x7FF);
	assert_int_equal(str_utf8_decode("\xE0\xA0\x80", 3, &cp), 3);
	assert_int_equal(cp, 0x800);
	assert_int_equal(str_utf8_decode("\xEF\xBF\xBF", 3, &cp), 3);
	assert_int_equal(cp, 0xFFFF);
	assert_int_equal(str_utf8_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
	assert_int_equal(cp, 0x10FFFF);
	/* Surrogates around: U+D7FF and U+E000 pass, U+D800 does not. */
	assert_int_equal(str_utf8_decode("\xED\x9F\xBF", 3, NULL), 3);
	assert_int_equal(str_utf8_decode("\xEE\x80\x80", 3, NULL), 3);
	assert_int_equal(str_utf8_decode("\xED\xA0\x80", 3, NULL), 0);
	/* Overlong, past U+10FFFF, bad leads, cut short by n. */
	assert_int_equal(str_utf8_decode("\xC1\xBF", 2, NULL), 0);
	assert_int_equal(str_utf8_decode("\xE0\x9F\xBF", 3, NULL), 0);
	assert_int_equal(str_utf8_decode("\xF0\x8F\xBF\xBF", 4, NULL), 0);
	assert_int_equal(str_utf8_decode("\xF4\x90\x80\x80", 4, NULL), 0);
	assert_int_equal(str_utf8_decode("\xF5\x80\x80\x80", 4, NULL), 0);
	assert_int_equal(str_utf8_decode("\x80", 1, NULL), 0);
	assert_int_equal(str_utf8_decode("\xE2\x82\xAC", 2, NULL), 0);
	assert_int_equal(str_utf8_decode("\xE2\x28\xAC", 3, NULL), 0);
}

/*
 * The validator auth_check_email() had before it used str_utf8_valid():
 * decode by masks, then refuse overlongs, surrogates and what is past
 * U+10FFFF by value. An independent second reading of RFC 3629.
 */
static bool old_email_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			len = 2;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

/*
 * str_utf8_valid() agrees with the old email validator on every string of
 * up to four bytes drawn from the bytes where the rules change.
 */
static void test_utf8_valid_agrees_with_old_email_check(void **state)
{
	static const unsigned char edge[] = {
		0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
		0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
		0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
	};
	const size_t ne = sizeof(edge);
	unsigned char s[4];
	size_t len, idx, total, k;
	size_t valid = 0;

	(void)state;
	for (len = 1; len <= 4; len++) {
		total = 1;
		for (k = 0; k < len; k++)
			total *= ne;
		for (idx = 0; idx < total; idx++) {
			size_t x = idx;
			bool want;

			for (k = 0; k < len; k++) {
				s[k] = edge[x % ne];
				x /= ne;
			}
			want = old_email_utf8_valid(s, len);
			if (str_utf8_valid((const char *)s, len) != want)
				fail_msg("disagree on %zu bytes %02x %02x "
					 "%02x %02x",
					 len, s[0], len > 1 ? s[1] : 0,
					 len > 2 ? s[2] : 0,
					 len > 3 ? s[3] : 0);
			valid += want;
		}
	}
	/* Both sides were exercised. */
	assert_true(valid > 1000);
	assert_true(str_utf8_valid("", 0));
	assert_false(str_utf8_valid("caf\xC3", 4));
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
		cmocka_unit_test(test_utf8_decode),
		cmocka_unit_test(test_utf8_valid_agrees_with_old_email_check),
		cmocka_unit_test(test_text_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
