#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

static void test_empty_is_never_null(void **state)
{
	struct buf b = BUF_INIT(16);

	(void)state;
	assert_non_null(b.ptr);
	assert_string_equal(b.ptr, "");
	buf_release(&b);
	assert_non_null(b.ptr);
	assert_int_equal(b.len, 0);
}

static void test_add_and_format(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	assert_int_equal(buf_adds(&b, "abc"), 0);
	assert_int_equal(buf_addch(&b, '-'), 0);
	assert_int_equal(buf_addf(&b, "%d/%s", 42, "x"), 0);
	assert_string_equal(b.ptr, "abc-42/x");
	assert_int_equal(b.len, 8);
	buf_setlen(&b, 3);
	assert_string_equal(b.ptr, "abc");
	buf_reset(&b);
	assert_string_equal(b.ptr, "");
	buf_release(&b);
}

static void test_cap_is_enforced_and_content_kept(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	assert_int_equal(buf_adds(&b, "12345678"), 0);
	assert_int_equal(buf_addch(&b, '9'), TW_ETOOBIG);
	assert_int_equal(buf_addf(&b, "%s", "more"), TW_ETOOBIG);
	assert_string_equal(b.ptr, "12345678");
	assert_int_equal(b.len, 8);
	buf_release(&b);
}

static void test_cap_overflow_arithmetic(void **state)
{
	struct buf b = BUF_INIT(SIZE_MAX - 1);

	(void)state;
	assert_int_equal(buf_adds(&b, "x"), 0);
	/* len + extra would wrap around: must be refused, not allocated. */
	assert_int_equal(buf_grow(&b, SIZE_MAX), TW_ETOOBIG);
	assert_int_equal(buf_grow(&b, SIZE_MAX - 1), TW_ETOOBIG);
	buf_release(&b);
}

static void test_detach_hands_over(void **state)
{
	struct buf b = BUF_INIT(64);
	size_t len = 99;
	char *s;

	(void)state;
	s = buf_detach(&b, &len);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	buf_adds(&b, "owned");
	s = buf_detach(&b, &len);
	assert_string_equal(s, "owned");
	assert_int_equal(len, 5);
	assert_string_equal(b.ptr, "");
	free(s);
}

static void test_binary_data_and_growth(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	char chunk[1000];
	int i;

	(void)state;
	memset(chunk, 0, sizeof(chunk));
	chunk[500] = 'z';
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_add(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 1000000);
	assert_int_equal(b.ptr[500 + 999 * 1000], 'z');
	assert_int_equal(b.ptr[b.len], '\0');
	buf_release(&b);
}

static void test_trim(void **state)
{
	struct buf b = BUF_INIT(64);

	(void)state;
	buf_adds(&b, " \t x y \n");
	buf_trim(&b);
	assert_string_equal(b.ptr, "x y");
	buf_reset(&b);
	buf_adds(&b, "   ");
	buf_trim(&b);
	assert_string_equal(b.ptr, "");
	buf_release(&b);
}

static void test_getline(void **state)
{
	struct buf b = BUF_INIT(8);
	struct buf err = BUF_INIT(256);
	FILE *f = tmpfile();

	(void)state;
	assert_non_null(f);
	fputs("one\r\ntwo\nmuch too long\nlast", f);
	rewind(f);
	assert_int_equal(buf_getline(&b, f, &err), 0);
	assert_string_equal(b.ptr, "one");
	buf_reset(&b);
	assert_int_equal(buf_getline(&b, f, &err), 0);
	assert_string_equal(b.ptr, "two");
	buf_reset(&b);
	assert_int_equal(buf_getline(&b, f, &err), TW_ETOOBIG);
	assert_non_null(strstr(err.ptr, "longer than 8 bytes"));
	buf_reset(&b);
	/* The overlong line was consumed whole. */
	assert_int_equal(buf_getline(&b, f, NULL), 0);
	assert_string_equal(b.ptr, "last");
	buf_reset(&b);
	assert_int_equal(buf_getline(&b, f, NULL), TW_EIO);
	fclose(f);
	buf_release(&b);
	buf_release(&err);
}

static jmp_buf oom_jmp;
static size_t oom_size;

static void oom_longjmp(size_t size)
{
	oom_size = size;
	longjmp(oom_jmp, 1);
}

static void test_nth_allocation_failure_reaches_handler(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	volatile int reached = 0;

	(void)state;
	mem_set_oom_handler(oom_longjmp);
	if (setjmp(oom_jmp) == 0) {
		mem_fail_after(1);
		buf_adds(&b, "this allocation fails");
	} else {
		reached = 1;
	}
	mem_set_oom_handler(NULL);
	mem_fail_after(0);
	assert_int_equal(reached, 1);
	assert_true(oom_size > 0);
	/* The buffer was not touched by the failed growth. */
	assert_string_equal(b.ptr, "");
	buf_release(&b);
}

static void test_wipe_zeroes_exactly_its_range(void **state)
{
	unsigned char b[64];
	size_t i;

	(void)state;
	memset(b, 0xA5, sizeof(b));
	mem_wipe(b + 8, 48);
	for (i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], i < 8 || i >= 56 ? 0xA5 : 0);
	/* Nothing to wipe is fine. */
	mem_wipe(NULL, 0);
	mem_wipe(b, 0);
	assert_int_equal(b[0], 0xA5);
}

/* What the wipe hook saw: one record per mem_wipe_free(). */
static size_t wiped_calls;
static size_t wiped_len;
static size_t wiped_nonzero;

static void record_wipe(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	wiped_calls++;
	wiped_len = n;
	wiped_nonzero = 0;
	for (i = 0; i < n; i++)
		wiped_nonzero += c[i] != 0;
}

static void test_secrets_are_wiped_before_free(void **state)
{
	struct buf b = BUF_INIT(1024);
	struct buf empty = BUF_INIT(1024);
	char *s = xstrdup("postgres://u:hunter2@db/x");

	(void)state;
	mem_set_wipe_hook(record_wipe);
	/* A string: every byte up to its NUL. */
	mem_free_secret(s);
	assert_int_equal(wiped_calls, 1);
	assert_int_equal(wiped_len, strlen("postgres://u:hunter2@db/x"));
	assert_int_equal(wiped_nonzero, 0);
	mem_free_secret(NULL);
	assert_int_equal(wiped_calls, 1);
	/* A buffer: the whole allocation, not only len bytes. */
	assert_int_equal(buf_adds(&b, "TW_SECRET_KEY=0123abcd"), 0);
	assert_true(b.alloc > b.len);
	memset(b.ptr + b.len, 'x', b.alloc - b.len);
	{
		size_t alloc = b.alloc;

		buf_release_secret(&b);
		assert_int_equal(wiped_calls, 2);
		assert_int_equal(wiped_len, alloc);
		assert_int_equal(wiped_nonzero, 0);
	}
	/* Empty and reusable afterwards, cap kept. */
	assert_ptr_equal(b.ptr, buf_slopbuf);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 1024);
	assert_int_equal(buf_adds(&b, "again"), 0);
	buf_release(&b);
	/* A buffer that never allocated frees nothing. */
	buf_release_secret(&empty);
	assert_int_equal(wiped_calls, 2);
	mem_set_wipe_hook(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_never_null),
		cmocka_unit_test(test_add_and_format),
		cmocka_unit_test(test_cap_is_enforced_and_content_kept),
		cmocka_unit_test(test_cap_overflow_arithmetic),
		cmocka_unit_test(test_detach_hands_over),
		cmocka_unit_test(test_binary_data_and_growth),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_getline),
		cmocka_unit_test(test_nth_allocation_failure_reaches_handler),
		cmocka_unit_test(test_wipe_zeroes_exactly_its_range),
		cmocka_unit_test(test_secrets_are_wiped_before_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
