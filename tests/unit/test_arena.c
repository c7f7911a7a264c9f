#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/arena.h"

static int hook_calls[3];
static int hook_order;

static void hook(void *p)
{
	int *slot = p;

	*slot = ++hook_order;
}

static void test_alloc_zeroed_and_aligned(void **state)
{
	struct arena *a = arena_new();
	int i;

	(void)state;
	for (i = 1; i < 200; i++) {
		unsigned char *p = arena_alloc(a, (size_t)i * 7);
		size_t j;

		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		for (j = 0; j < (size_t)i * 7; j++)
			assert_int_equal(p[j], 0);
		memset(p, 0xab, (size_t)i * 7);
	}
	assert_true(arena_used(a) >= 199 * 200 / 2 * 7);
	arena_free(a);
}

static void test_large_allocation(void **state)
{
	struct arena *a = arena_new();
	char *small1 = arena_strdup(a, "before");
	char *big = arena_alloc(a, 1 << 20);
	char *small2 = arena_strdup(a, "after");

	(void)state;
	memset(big, 'x', 1 << 20);
	assert_string_equal(small1, "before");
	assert_string_equal(small2, "after");
	arena_free(a);
}

static void test_strings(void **state)
{
	struct arena *a = arena_new();

	(void)state;
	assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
	assert_string_equal(arena_strndup(a, "ab", 10), "ab");
	assert_string_equal(arena_printf(a, "%s=%d", "rows", 7), "rows=7");
	arena_free(a);
}

static void test_hooks_run_newest_first(void **state)
{
	struct arena *a = arena_new();

	(void)state;
	hook_order = 0;
	arena_on_free(a, hook, &hook_calls[0]);
	arena_on_free(a, hook, &hook_calls[1]);
	arena_on_free(a, hook, &hook_calls[2]);
	arena_free(a);
	assert_int_equal(hook_calls[2], 1);
	assert_int_equal(hook_calls[1], 2);
	assert_int_equal(hook_calls[0], 3);
	arena_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_zeroed_and_aligned),
		cmocka_unit_test(test_large_allocation),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_hooks_run_newest_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
